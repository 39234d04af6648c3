"""Users' own images: a folder of image files plus a CSV of (file, caption[, label]).

Every problem is reported before any encoding starts, with the file and row at fault,
because a bad row found an hour into encoding wastes the hour.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from csa.datasets.base import PairedDataset, factorize_labels
from csa.datasets.splits import select_split
from csa.errors import DatasetError
from csa.extras import require

_SHOW = 5  # how many offending rows or files an error message names


def _read_rows(path: Path, required: tuple[str, ...], optional: str | None) -> list[dict[str, str]]:
    if not path.is_file():
        raise DatasetError(f"CSV file {path} not found")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise DatasetError(
                    f"{path}: missing column(s) {', '.join(map(repr, missing))}; "
                    f"the header has {', '.join(map(repr, header)) or 'no columns'}"
                )
            reader.fieldnames = header
            keep = [*required, *([optional] if optional in header else [])]
            rows = [{c: (row.get(c) or "").strip() for c in keep} for row in reader]
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text: {exc}") from exc
    except csv.Error as exc:
        raise DatasetError(f"{path} is not a readable CSV: {exc}") from exc
    if not rows:
        raise DatasetError(f"{path} has a header but no rows")
    for column in required:
        empty = [i + 2 for i, row in enumerate(rows) if not row[column]]  # +2: header, 1-based
        if empty:
            raise DatasetError(
                f"{path}: empty {column!r} on line(s) {_listing(empty)} "
                f"({len(empty)} row(s) in all)"
            )
    return rows


def _listing(items: list[Any]) -> str:
    shown = ", ".join(str(x) for x in items[:_SHOW])
    return shown + (", ..." if len(items) > _SHOW else "")


def _read_images(paths: list[Path], mode: str) -> list[np.ndarray]:
    pil = require("PIL.Image", extra="data", purpose="reading images", package="pillow")
    Image, UnidentifiedImageError = pil, pil.UnidentifiedImageError
    images = []
    for path in paths:
        try:
            with Image.open(path) as img:
                images.append(np.asarray(img.convert(mode)))
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise DatasetError(f"unreadable image {path}: {exc}") from exc
    return images


def load_image_folder(
    csv_path: str | Path,
    root: str | Path | None = None,
    split: str = "all",
    n: int | None = None,
    seed: int = 0,
    mode: str = "RGB",
    file_column: str = "file",
    caption_column: str = "caption",
    label_column: str = "label",
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> PairedDataset:
    """(image, caption) pairs from a CSV naming image files, relative to ``root``.

    ``root`` defaults to the CSV's folder. Images are decoded with Pillow into uint8
    arrays in ``mode`` (stacked into one array when they share a size). A label column,
    when present, gives integer labels with class names in sorted order.
    """
    csv_file = Path(csv_path)
    base = Path(root) if root is not None else csv_file.parent
    rows = _read_rows(csv_file, (file_column, caption_column), label_column)
    paths = [base / row[file_column] for row in rows]
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        raise DatasetError(
            f"{len(absent)} image file(s) listed in {csv_file} not found: {_listing(absent)}"
        )
    images = _read_images(paths, mode)
    same_shape = len({img.shape for img in images}) == 1
    labels = class_names = None
    if label_column in rows[0]:
        try:
            labels, class_names = factorize_labels([row[label_column] for row in rows])
        except DatasetError as exc:
            raise DatasetError(f"{csv_file}, column {label_column!r}: {exc}") from exc
    data = PairedDataset(
        name=f"image-folder:{csv_file.stem}",
        a=np.stack(images) if same_shape else images,
        b=[row[caption_column] for row in rows],
        modalities=("image", "text"),
        labels=labels,
        class_names=class_names,
        info={"source": str(csv_file)},
    )
    data = select_split(data, split, test_fraction, split_seed)
    return data if n is None else data.subsample(n, seed=seed)
