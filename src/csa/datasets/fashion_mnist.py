"""Fashion-MNIST, read from the Debian package ``dataset-fashion-mnist``.

Images pair with captions built from their class name, so CSA sees an image side with
thousands of distinct items against a text side with ten; that imbalance is what the
two-sided ridge of the solver is for.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from csa.datasets.base import PairedDataset
from csa.datasets.idx import read_idx
from csa.errors import DatasetError

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")

#: Official class names, in label order.
CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

DEFAULT_CAPTION = "a photo of {article} {name}"

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def caption(name: str, template: str = DEFAULT_CAPTION) -> str:
    """Fill a caption template with a lower-cased class name and its article."""
    text = name.lower()
    article = "an" if text[0] in "aeiou" else "a"
    return template.format(name=text, article=article)


def _find(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise DatasetError(
        f"Fashion-MNIST file {stem}[.gz] not found in {root}. Install the Debian package "
        f"{DEBIAN_PACKAGE} (`sudo apt-get install {DEBIAN_PACKAGE}`, or `make setup`), "
        "or pass root= a folder holding the four idx files."
    )


@lru_cache(maxsize=4)
def _read_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Parsed once per process: the demo and tests load the same split many times."""
    image_stem, label_stem = _FILES[split]
    images = read_idx(_find(root, image_stem))
    labels = read_idx(_find(root, label_stem))
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(f"{root}: {image_stem} should hold uint8 images, got {images.shape}")
    if labels.shape != (images.shape[0],):
        raise DatasetError(
            f"{root}: {images.shape[0]} images but {labels.shape[0]} labels in the {split} split"
        )
    if labels.max() >= len(CLASS_NAMES):
        raise DatasetError(f"{root}: label {labels.max()} outside the 10 Fashion-MNIST classes")
    return images, labels


def load_fashion_mnist(
    split: str = "train",
    n: int | None = None,
    seed: int = 0,
    caption_template: str = DEFAULT_CAPTION,
    root: str | Path | None = None,
) -> PairedDataset:
    """Fashion-MNIST (image, caption) pairs: uint8 28x28 images, 60000 train / 10000 test.

    ``split`` is the official one ("train" or "test"); ``n`` draws a seeded stratified
    subsample of it. Captions are ``caption_template`` filled with the class name.
    """
    if split not in _FILES:
        raise DatasetError(f"Fashion-MNIST split must be 'train' or 'test', got {split!r}")
    folder = Path(root) if root is not None else DEFAULT_ROOT
    images, labels = _read_split(folder.resolve(), split)
    captions_per_class = [caption(name, caption_template) for name in CLASS_NAMES]
    data = PairedDataset(
        name=f"fashion-mnist/{split}",
        a=images,
        b=[captions_per_class[k] for k in labels.tolist()],
        modalities=("image", "text"),
        labels=labels.astype(np.int64),
        class_names=CLASS_NAMES,
        info={"source": str(folder), "caption_template": caption_template},
    )
    return data if n is None else data.subsample(n, seed=seed)
