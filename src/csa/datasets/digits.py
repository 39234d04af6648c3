"""scikit-learn's bundled digits: 1797 8x8 images of handwritten digits, 10 classes.

Small enough to run a whole pipeline in seconds, so it is the data set of quick checks.
Pixels are rescaled from sklearn's 0..16 to uint8 0..255 so every image loader here hands
the encoders the same kind of array.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from csa.datasets.base import PairedDataset
from csa.datasets.splits import select_split
from csa.extras import require

#: Spelled out, so text encoders see words rather than lone digits.
CLASS_NAMES: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip

DEFAULT_CAPTION = "a handwritten digit {name}"


@lru_cache(maxsize=1)
def _read() -> tuple[np.ndarray, np.ndarray]:
    sk_datasets = require(
        "sklearn.datasets", extra="data", purpose="the digits data set", package="scikit-learn"
    )
    bunch = sk_datasets.load_digits()
    images = np.rint(np.asarray(bunch.images) * (255.0 / 16.0)).astype(np.uint8)
    images.flags.writeable = False
    labels = np.asarray(bunch.target, dtype=np.int64)
    labels.flags.writeable = False
    return images, labels


def load_digits(
    split: str = "all",
    n: int | None = None,
    seed: int = 0,
    caption_template: str = DEFAULT_CAPTION,
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> PairedDataset:
    """Digits (image, caption) pairs: uint8 8x8 images and captions from class names.

    "train"/"test" cut a seeded stratified split (``test_fraction``, ``split_seed``);
    ``n`` subsamples the chosen split with ``seed``.
    """
    images, labels = _read()
    captions = [caption_template.format(name=name) for name in CLASS_NAMES]
    data = PairedDataset(
        name="digits",
        a=images,
        b=[captions[k] for k in labels.tolist()],
        modalities=("image", "text"),
        labels=labels,
        class_names=CLASS_NAMES,
        info={"source": "sklearn.datasets.load_digits", "caption_template": caption_template},
    )
    data = select_split(data, split, test_fraction, split_seed)
    return data if n is None else data.subsample(n, seed=seed)
