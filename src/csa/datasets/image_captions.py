"""Any image + caption table: a CSV, or a Hugging Face ``imagefolder`` with ``metadata.csv``.

``load("image-captions", path=P)`` where ``P`` is one of:

- a CSV file with an image column and a caption column::

      file_name,text,label
      images/0001.png,a red bicycle leaning on a wall,bicycle

- a JSON-lines file (``metadata.jsonl``) with the same fields per line;
- a folder holding ``metadata.csv`` or ``metadata.jsonl`` (Hugging Face's imagefolder
  layout), or split folders each holding one (``train/metadata.csv``,
  ``test/metadata.csv``): then ``split`` names the folder ("all" joins them).

Column names are found among the usual ones unless given: image ``file_name``, ``file``,
``image``, ``image_path``, ``filepath``, ``path``; caption ``text``, ``caption``,
``sentence``, ``description``; label ``label``, ``class``, ``category`` (optional).
File names are relative to the table's folder (the imagefolder rule) unless ``root`` is
given. Rows naming the same image share a ``groups`` id (several captions per image).
Items are image paths; pixels are read by the image encoder. Without split folders,
"train"/"test" cut a seeded split that keeps each image's captions together.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from csa.datasets.base import PairedDataset, factorize_labels
from csa.datasets.layout import check_files, listing, read_json_records
from csa.datasets.splits import select_split
from csa.errors import DatasetError

IMAGE_COLUMNS = ("file_name", "file", "image", "image_path", "filepath", "path")
CAPTION_COLUMNS = ("text", "caption", "sentence", "description")
LABEL_COLUMNS = ("label", "class", "category")
_TABLES = ("metadata.csv", "metadata.jsonl")
_LAYOUT = (
    "a CSV/JSONL with image and caption columns, or a folder with metadata.csv (or "
    "metadata.jsonl), or split folders (train/, test/) each holding one"
)


def _read_table(path: Path) -> list[dict[str, str]]:
    if path.suffix.lower() in (".jsonl", ".json"):
        return [
            {str(k): "" if v is None else str(v) for k, v in r.items()}
            for r in read_json_records(path)
        ]
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames:
                raise DatasetError(f"{path} is empty; expected a header row")
            reader.fieldnames = [h.strip() for h in reader.fieldnames]
            rows = [
                {k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader
            ]
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text: {exc}") from exc
    except csv.Error as exc:
        raise DatasetError(f"{path} is not a readable CSV: {exc}") from exc
    if not rows:
        raise DatasetError(f"{path} has a header but no rows")
    return rows


def _column(
    rows: list[dict[str, str]],
    given: str | None,
    options: tuple[str, ...],
    what: str,
    path: Path,
    required: bool = True,
) -> str | None:
    header = list(rows[0])
    if given is not None:
        if given not in header:
            raise DatasetError(f"{path}: no {what} column {given!r}; the header has {header}")
        return given
    found = next((c for c in options if c in header), None)
    if found is None and required:
        raise DatasetError(
            f"{path}: no {what} column; name one of {', '.join(options)} or pass the "
            f"column name; the header has {', '.join(header)}"
        )
    return found


def _tables(path: Path, split: str) -> list[tuple[str, Path]]:
    """(split name, table file) pairs to read, from a file or an imagefolder layout."""
    if path.is_file():
        return [("all", path)]
    if not path.is_dir():
        raise DatasetError(f"image-captions: {path} does not exist; expected {_LAYOUT}")
    for name in _TABLES:
        if (path / name).is_file():
            return [("all", path / name)]
    splits = sorted(
        (sub.name, sub / name)
        for sub in path.iterdir()
        if sub.is_dir()
        for name in _TABLES
        if (sub / name).is_file()
    )
    if not splits:
        raise DatasetError(
            f"image-captions: no {' or '.join(_TABLES)} in {path}; expected {_LAYOUT}"
        )
    if split == "all":
        return splits
    chosen = [s for s in splits if s[0] == split]
    if not chosen:
        raise DatasetError(
            f"image-captions: no split folder {split!r} in {path}; it has "
            f"{', '.join(s[0] for s in splits)}"
        )
    return chosen


def load_image_captions(
    path: str | Path,
    split: str = "all",
    n: int | None = None,
    seed: int = 0,
    root: str | Path | None = None,
    image_column: str | None = None,
    caption_column: str | None = None,
    label_column: str | None = None,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    check_images: bool = True,
) -> PairedDataset:
    """(image path, caption) pairs from a caption table or an imagefolder (module docstring)."""
    source = Path(path).expanduser()
    tables = _tables(source, split)
    images: list[str] = []
    captions: list[str] = []
    raw_labels: list[str] = []
    with_labels = None
    for _, table in tables:
        rows = _read_table(table)
        img_col = _column(rows, image_column, IMAGE_COLUMNS, "image", table)
        cap_col = _column(rows, caption_column, CAPTION_COLUMNS, "caption", table)
        lab_col = _column(rows, label_column, LABEL_COLUMNS, "label", table, required=False)
        if with_labels is None:
            with_labels = lab_col is not None
        elif with_labels != (lab_col is not None):
            raise DatasetError(f"{table}: some split tables have a label column and some not")
        empty = [i + 2 for i, r in enumerate(rows) if not r.get(img_col) or not r.get(cap_col)]
        if empty:
            raise DatasetError(f"{table}: empty image or caption on line(s) {listing(empty)}")
        base = Path(root) if root is not None else table.parent
        images.extend(str(base / r[img_col]) for r in rows)
        captions.extend(" ".join(r[cap_col].split()) for r in rows)
        if lab_col is not None:
            raw_labels.extend(r.get(lab_col, "") for r in rows)
    if check_images:
        check_files(dict.fromkeys(images), tables[0][1] if len(tables) == 1 else source)
    labels = class_names = None
    if with_labels:
        labels, class_names = factorize_labels(raw_labels)
    group_of: dict[str, int] = {}
    groups = np.array([group_of.setdefault(p, len(group_of)) for p in images], dtype=np.int64)
    info: dict[str, Any] = {"source": str(source), "tables": [str(t) for _, t in tables]}
    data = PairedDataset(
        name=f"image-captions:{source.stem}",
        a=images,
        b=captions,
        modalities=("image", "text"),
        labels=labels,
        class_names=class_names,
        groups=groups,
        info=info,
    )
    if tables[0][0] == "all" and split != "all":
        data = select_split(data, split, test_fraction, split_seed)
    return data if n is None else data.subsample(n, seed=seed)
