"""COSMOS out-of-context news images (Aneja et al., 2021), from the JSON files it ships as.

``load("cosmos", root=DIR, split="train"|"val"|"test")``. The layout::

    DIR/train_data.json   one JSON object a line:
                          {"img_local_path": "train/123.jpg",
                           "articles": [{"caption": "...", "caption_modified": "...", ...}]}
    DIR/val_data.json     the same
    DIR/test_data.json    {"img_local_path": "test/5.jpg", "caption1": "...",
                           "caption2": "...", "context_label": 1, ...}
    DIR/train/, DIR/val/, DIR/test/   the images named by img_local_path

(``train.json``/``val.json``/``test.json`` and a single JSON array are read too.)
Train and validation give one pair per (image, article caption); the captions of one image
share a ``groups`` id, so splits and retrieval treat them as one item. The test split gives
(image, caption1) pairs labelled 0 = not out of context, 1 = out of context (``label``
written as "ooc"/"not-ooc" is read too); the bilevel rule also needs each test image's
second caption: :func:`other_captions` returns it for any subset, and ``caption="caption2"``
loads the same rows with caption2 as side b. ``modified=True`` reads the captions with
named entities replaced by their type (``caption_modified``), as the COSMOS model saw them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from csa.datasets.base import PairedDataset
from csa.datasets.layout import check_files, field, first_existing, read_json_records, require_root
from csa.errors import DatasetError

CLASS_NAMES = ("not out-of-context", "out-of-context")
_LAYOUT = (
    "train_data.json, val_data.json, test_data.json (JSON lines with img_local_path and "
    "articles, or caption1/caption2/context_label) and the image folders they name"
)
_LABEL_WORDS = {"ooc": 1, "out-of-context": 1, "not-ooc": 0, "not_ooc": 0, "not-out-of-context": 0}


def _split_file(root: Path, split: str) -> Path:
    return first_existing(
        [root / f"{split}_data.json", root / f"{split}.json", root / f"{split}_data.jsonl"],
        f"COSMOS {split} split",
        _LAYOUT,
    )


def _text(value: Any, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{source}: empty or non-text caption {value!r}")
    return " ".join(value.split())


def _context_label(record: dict[str, Any], source: str) -> int:
    value = field(record, ("context_label", "label"), source)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("0", "1"):
            return int(word)
        if word in _LABEL_WORDS:
            return _LABEL_WORDS[word]
    raise DatasetError(f"{source}: context label {value!r} is not 0/1 or 'ooc'/'not-ooc'")


def _train_pairs(
    records: list[dict[str, Any]], root: Path, source: Path, key: str
) -> tuple[list[str], list[str], list[int]]:
    images, captions, groups = [], [], []
    for i, record in enumerate(records):
        where = f"{source}, record {i + 1}"
        image = str(root / str(field(record, ("img_local_path",), where)))
        articles = field(record, ("articles",), where)
        if not isinstance(articles, list) or not articles:
            raise DatasetError(f"{where}: 'articles' should be a non-empty list")
        for j, article in enumerate(articles):
            text = _text(field(article, (key,), f"{where}, article {j + 1}"), where)
            images.append(image)
            captions.append(text)
            groups.append(i)
    return images, captions, groups


def other_captions(data: PairedDataset) -> list[str]:
    """The other caption of each test row (caption2 when side b is caption1, and back)."""
    lookup = data.info.get("other_caption")
    if lookup is None:
        raise DatasetError(f"{data.name} is not a COSMOS test split; it has no second captions")
    return [lookup[(str(img), cap)] for img, cap in zip(data.a, data.b, strict=True)]


def load_cosmos(
    root: str | Path | None = None,
    split: str = "train",
    n: int | None = None,
    seed: int = 0,
    caption: str = "caption1",
    modified: bool = False,
    check_images: bool = True,
) -> PairedDataset:
    """COSMOS (news image path, caption) pairs; the test split carries context labels.

    ``n`` subsamples pairs with ``seed`` (stratified by context label on the test split).
    ``check_images=False`` skips checking that every image file exists (one stat each).
    """
    if split not in ("train", "val", "test"):
        raise DatasetError(f"COSMOS split must be 'train', 'val' or 'test', got {split!r}")
    if caption not in ("caption1", "caption2"):
        raise DatasetError(f"caption must be 'caption1' or 'caption2', got {caption!r}")
    base = require_root(root, "COSMOS", _LAYOUT)
    source = _split_file(base, split)
    records = read_json_records(source)
    suffix = "_modified" if modified else ""
    info: dict[str, Any] = {"source": str(source), "modified": modified}
    labels = class_names = groups = None
    if split == "test":
        images, side_b = [], []
        label_list = []
        other: dict[tuple[str, str], str] = {}
        other_key = "caption2" if caption == "caption1" else "caption1"
        for i, record in enumerate(records):
            where = f"{source}, record {i + 1}"
            image = str(base / str(field(record, ("img_local_path",), where)))
            this = _text(field(record, (caption + suffix,), where), where)
            that = _text(field(record, (other_key + suffix,), where), where)
            images.append(image)
            side_b.append(this)
            label_list.append(_context_label(record, where))
            other[(image, this)] = that
        labels = np.asarray(label_list, dtype=np.int64)
        class_names = CLASS_NAMES
        info["other_caption"] = other
        info["caption"] = caption
    else:
        images, side_b, group_list = _train_pairs(records, base, source, "caption" + suffix)
        groups = np.asarray(group_list, dtype=np.int64)
    if check_images:
        check_files(dict.fromkeys(images), source)
    data = PairedDataset(
        name=f"cosmos/{split}",
        a=images,
        b=side_b,
        modalities=("image", "text"),
        labels=labels,
        class_names=class_names,
        groups=groups,
        info=info,
    )
    return data if n is None else data.subsample(n, seed=seed)
