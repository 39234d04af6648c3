"""Flickr30k and COCO captions: several captions per image, as the paper's retrieval uses.

``load("flickr30k", root=DIR, split="test")`` and ``load("coco-captions", root=DIR,
split="test")`` (Karpathy splits) or ``split="val2017"`` (COCO's own annotation files).
Formats read:

- Karpathy's split file ``dataset_flickr30k.json`` / ``dataset_coco.json``::

      {"images": [{"filename": "1000092795.jpg", "split": "train", "filepath": "val2014",
                   "sentences": [{"raw": "Two young guys with shaggy hair ...", ...}, ...]}]}

  (``filepath`` only in COCO's), with the images in ``DIR/flickr30k-images/`` (or
  ``DIR/flickr30k_images``, ``DIR/images``, ``DIR``) and COCO's in ``DIR/<filepath>/``
  (or ``DIR/images/<filepath>/``). Splits: "train", "val", "test", "restval" (COCO),
  "train+restval", "all".
- COCO's ``captions_<split>.json`` (``annotations/captions_train2017.json``)::

      {"images": [{"id": 179765, "file_name": "000000179765.jpg"}],
       "annotations": [{"image_id": 179765, "id": 38, "caption": "A black Honda ..."}]}

  with the images in ``DIR/<split>/`` (or ``DIR/images/<split>/``), for any split name
  such as "train2017", "val2017", "train2014".

Each caption is one pair (image path, caption); the captions of one image share a
``groups`` id, so identical images count as one relevant item in retrieval and never
straddle a split. (No ``labels``: one class per image would make stratified sampling
cost O(pairs x images) and mean nothing.) ``n_images`` keeps a seeded sample of images
with their captions, ``captions_per_image`` the first k captions of each, ``n`` a seeded
sample of pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from csa.datasets.base import PairedDataset
from csa.datasets.layout import check_files, field, first_existing, read_json, require_root
from csa.errors import DatasetError

_KARPATHY_SPLITS = ("train", "val", "test", "restval", "train+restval", "all")
_FLICKR_LAYOUT = "dataset_flickr30k.json (Karpathy split) and flickr30k-images/*.jpg"
_COCO_LAYOUT = (
    "dataset_coco.json with train2014/ and val2014/, or annotations/captions_<split>.json "
    "with <split>/ (e.g. annotations/captions_val2017.json and val2017/)"
)

ImageCaptions = list[tuple[str, list[str]]]


def _clean(text: Any, source: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(f"{source}: empty or non-text caption {text!r}")
    return " ".join(text.split())


def read_karpathy(path: Path, split: str) -> list[tuple[str, str, list[str]]]:
    """(filepath, filename, captions) of the images in ``split`` of a Karpathy split file."""
    data = read_json(path)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise DatasetError(f"{path}: expected an object with an 'images' list (Karpathy split)")
    wanted = {"train+restval": {"train", "restval"}}.get(split, {split})
    out = []
    for i, entry in enumerate(images):
        where = f"{path}, image {i}"
        if not isinstance(entry, dict):
            raise DatasetError(f"{where}: not a JSON object")
        if split != "all" and field(entry, ("split",), where) not in wanted:
            continue
        sentences = field(entry, ("sentences",), where)
        if not isinstance(sentences, list) or not sentences:
            raise DatasetError(f"{where}: 'sentences' should be a non-empty list")
        captions = [_clean(field(s, ("raw",), where), where) for s in sentences]
        out.append(
            (str(entry.get("filepath", "")), str(field(entry, ("filename",), where)), captions)
        )
    if not out:
        raise DatasetError(f"{path}: no images in split {split!r}")
    return out


def read_coco_annotations(path: Path) -> list[tuple[str, list[str]]]:
    """(file_name, captions) per image of a COCO captions file, in image id order."""
    data = read_json(path)
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise DatasetError(f"{path}: expected COCO's 'images' and 'annotations' lists")
    names: dict[int, str] = {}
    for i, image in enumerate(data["images"]):
        where = f"{path}, images[{i}]"
        names[int(field(image, ("id",), where))] = str(field(image, ("file_name",), where))
    captions: dict[int, list[str]] = {}
    for i, ann in enumerate(data["annotations"]):
        where = f"{path}, annotations[{i}]"
        image_id = int(field(ann, ("image_id",), where))
        if image_id not in names:
            raise DatasetError(f"{where}: image_id {image_id} is not in the 'images' list")
        captions.setdefault(image_id, []).append(_clean(field(ann, ("caption",), where), where))
    if not captions:
        raise DatasetError(f"{path} holds no captions")
    return [(names[k], captions[k]) for k in sorted(captions)]


def _to_dataset(
    name: str,
    records: ImageCaptions,
    source: Path,
    n: int | None,
    n_images: int | None,
    seed: int,
    captions_per_image: int | None,
    check_images: bool,
) -> PairedDataset:
    if n_images is not None:
        if n_images < 1 or n_images > len(records):
            raise DatasetError(f"n_images={n_images} asked for, but {name} holds {len(records)}")
        keep = np.sort(np.random.default_rng(seed).permutation(len(records))[:n_images])
        records = [records[i] for i in keep.tolist()]
    if captions_per_image is not None and captions_per_image < 1:
        raise DatasetError(f"captions_per_image must be at least 1, got {captions_per_image}")
    if check_images:
        check_files((path for path, _ in records), source)
    images, captions, groups = [], [], []
    for group, (path, texts) in enumerate(records):
        for text in texts[:captions_per_image]:
            images.append(path)
            captions.append(text)
            groups.append(group)
    data = PairedDataset(
        name=name,
        a=images,
        b=captions,
        modalities=("image", "text"),
        groups=np.asarray(groups, dtype=np.int64),
        info={"source": str(source), "n_images": len(records)},
    )
    return data if n is None else data.subsample(n, seed=seed)


def load_flickr30k(
    root: str | Path | None = None,
    split: str = "test",
    n: int | None = None,
    seed: int = 0,
    n_images: int | None = None,
    captions_per_image: int | None = None,
    karpathy_json: str | Path | None = None,
    check_images: bool = True,
) -> PairedDataset:
    """Flickr30k (image path, caption) pairs of a Karpathy split: 5 captions per image."""
    if split not in _KARPATHY_SPLITS:
        raise DatasetError(f"Flickr30k split must be one of {', '.join(_KARPATHY_SPLITS)}")
    base = require_root(root, "Flickr30k", _FLICKR_LAYOUT)
    source = Path(karpathy_json) if karpathy_json else base / "dataset_flickr30k.json"
    if not source.is_file():
        raise DatasetError(f"Flickr30k split file {source} not found; expected {_FLICKR_LAYOUT}")
    folder = first_existing(
        [base / "flickr30k-images", base / "flickr30k_images", base / "images", base],
        "Flickr30k images",
        _FLICKR_LAYOUT,
        folder=True,
    )
    records = [(str(folder / fn), caps) for _, fn, caps in read_karpathy(source, split)]
    return _to_dataset(
        f"flickr30k/{split}", records, source, n, n_images, seed, captions_per_image, check_images
    )


def load_coco_captions(
    root: str | Path | None = None,
    split: str = "test",
    n: int | None = None,
    seed: int = 0,
    n_images: int | None = None,
    captions_per_image: int | None = None,
    annotations: str | Path | None = None,
    check_images: bool = True,
) -> PairedDataset:
    """COCO (image path, caption) pairs: a Karpathy split, or an official one ("val2017")."""
    base = require_root(root, "COCO captions", _COCO_LAYOUT)
    if split in _KARPATHY_SPLITS:
        source = Path(annotations) if annotations else base / "dataset_coco.json"
        if not source.is_file():
            raise DatasetError(
                f"COCO Karpathy split file {source} not found; expected {_COCO_LAYOUT}"
            )
        records = []
        folders: dict[str, Path] = {}  # one look-up per image folder, not per image
        for filepath, filename, caps in read_karpathy(source, split):
            if filepath not in folders:
                folders[filepath] = first_existing(
                    [base / filepath, base / "images" / filepath],
                    f"COCO {filepath} images",
                    _COCO_LAYOUT,
                    folder=True,
                )
            records.append((str(folders[filepath] / filename), caps))
    else:
        source = (
            Path(annotations)
            if annotations
            else first_existing(
                [base / "annotations" / f"captions_{split}.json", base / f"captions_{split}.json"],
                f"COCO captions of {split}",
                _COCO_LAYOUT,
            )
        )
        folder = first_existing(
            [base / split, base / "images" / split],
            f"COCO {split} images",
            _COCO_LAYOUT,
            folder=True,
        )
        records = [(str(folder / fn), caps) for fn, caps in read_coco_annotations(source)]
    return _to_dataset(
        f"coco-captions/{split}",
        records,
        source,
        n,
        n_images,
        seed,
        captions_per_image,
        check_images,
    )
