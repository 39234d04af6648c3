"""Raw items for one side of a fit, read so that row i can only ever be item i.

``csa embed`` and the one multimodal object turn a user's folder or table into a list of
items for an encoder. Every way this used to go wrong gave a healthy-looking fit with
wrong pairs (issue 9), so each is handled here, loudly:

- folders are read in natural order (``img_2`` before ``img_10``), the order a person
  numbering files expects and the order their caption lines follow;
- subfolders are read as the ImageFolder layout (the folder name is the class label)
  when the files sit only in them; loose files beside class folders, or stray files of
  another type, are refused with a message, never skipped;
- a Hugging Face ``metadata.csv`` (``file_name`` plus text columns) is read as such;
- in a CSV or parquet table, the column comes from the modality (the text column for a
  text encoder, the file column for an image or audio encoder) or from its name;
- an empty source, a blank caption line, a missing file, file paths given as text, or
  text given to an image encoder is an error naming what is wrong.

The ids (file names or row ids) come back with the items, so the caller can write the
file list next to the embeddings and anyone can check the pairing afterwards.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from csa.errors import DatasetError, InputError
from csa.extras import require

Modality = Literal["text", "image", "audio"]
MODALITIES: tuple[str, ...] = ("text", "image", "audio")
FILE_SUFFIXES: dict[str, frozenset[str]] = {
    "image": frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}),
    "audio": frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}),
    "text": frozenset({".txt"}),
}
METADATA_FILE = "metadata.csv"
# Column names tried, in order, when the caller names none.
FILE_COLUMNS = ("file_name", "filename", "file", "path", "filepath", "image", "audio")
TEXT_COLUMNS = ("text", "caption", "sentence", "title", "description", "prompt")
LABEL_COLUMNS = ("label", "class", "class_name", "category")
ID_COLUMNS = ("id", "image_id", "key")
_SHOW = 5


@dataclass(frozen=True)
class RawItems:
    """Items for one encoder, with what identifies each (and its class, when known)."""

    items: list[Any]
    ids: list[str]
    labels: list[str] | None
    modality: str
    source: str
    layout: str

    def __len__(self) -> int:
        return len(self.items)


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that orders embedded numbers by value: ``img_2`` before ``img_10``."""
    parts = re.split(r"(\d+)", text)
    return tuple((0, int(p), p) if p.isdigit() else (1, p.casefold(), p) for p in parts if p)


def _check_modality(modality: str) -> str:
    if modality not in MODALITIES:
        raise InputError(f"modality must be one of {MODALITIES}; got {modality!r}")
    return modality


def _show(values: Sequence[Any]) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:_SHOW])
    return shown + (f", ... ({len(values)} in all)" if len(values) > _SHOW else "")


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


# ---- folders -----------------------------------------------------------------------
def _media_files(folder: Path, modality: str) -> tuple[list[Path], list[Path]]:
    """Files of the modality in ``folder`` (natural order), and the other visible files."""
    wanted = FILE_SUFFIXES[modality]
    files = [p for p in folder.iterdir() if p.is_file() and _visible(p)]
    media = sorted(
        (p for p in files if p.suffix.lower() in wanted), key=lambda p: natural_key(p.name)
    )
    other = sorted((p for p in files if p.suffix.lower() not in wanted), key=lambda p: p.name)
    return media, other


def _read_folder(folder: Path, modality: str) -> RawItems:
    media, other = _media_files(folder, modality)
    classes = sorted(
        (p for p in folder.iterdir() if p.is_dir() and _visible(p)),
        key=lambda p: natural_key(p.name),
    )
    if media and classes:
        raise DatasetError(
            f"{folder} holds {len(media)} {modality} file(s) and also subfolders "
            f"({_show([c.name for c in classes])}); csa reads either a flat folder or one "
            "subfolder per class (ImageFolder layout), never a mix, so nothing is skipped. "
            "Move the loose files into a class folder, or the subfolders out"
        )
    if other and not media and not classes:
        kinds = [
            m for m in MODALITIES if m != modality and other[0].suffix.lower() in FILE_SUFFIXES[m]
        ]
        if kinds:
            raise InputError(
                f"{folder} holds {kinds[0]} files ({_show([p.name for p in other])}), not "
                f"{modality}: a {modality} encoder would embed their paths. Use an "
                f"{kinds[0]} encoder"
            )
    if other and (media or not classes):
        raise DatasetError(
            f"{folder} holds files that are not {modality} files: {_show([p.name for p in other])}"
            f" ({modality} files end in {', '.join(sorted(FILE_SUFFIXES[modality]))}); move "
            "them out so that no file is skipped silently and the rows stay in order"
        )
    if media:
        ids = [p.name for p in media]
        items = (
            [p.read_text(encoding="utf-8") for p in media]
            if modality == "text"
            else [str(p) for p in media]
        )
        return RawItems(items, ids, None, modality, str(folder), "folder")
    if not classes:
        raise DatasetError(f"{folder} is empty: no {modality} files to read")
    items, ids, labels = [], [], []
    for sub in classes:
        files, stray = _media_files(sub, modality)
        nested = [p.name for p in sub.iterdir() if p.is_dir() and _visible(p)]
        if stray or nested:
            raise DatasetError(
                f"class folder {sub} holds entries that are not {modality} files: "
                f"{_show([p.name for p in stray] + nested)}; an ImageFolder layout has only "
                f"{modality} files in each class folder"
            )
        if not files:
            raise DatasetError(f"class folder {sub} holds no {modality} files")
        for path in files:
            items.append(path.read_text(encoding="utf-8") if modality == "text" else str(path))
            ids.append(f"{sub.name}/{path.name}")
            labels.append(sub.name)
    return RawItems(items, ids, labels, modality, str(folder), "imagefolder")


# ---- tables ------------------------------------------------------------------------
def _csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            rows = [
                {k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader
            ]
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text: {exc}") from exc
    except csv.Error as exc:
        raise DatasetError(f"{path} is not a readable CSV file: {exc}") from exc
    return header, rows


def _parquet_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    pq = require("pyarrow.parquet", extra="scale", purpose="reading parquet", package="pyarrow")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DatasetError(f"{path} is not a readable parquet file: {exc}") from exc
    return list(table.column_names), table.to_pylist()


def _pick(header: list[str], preferred: tuple[str, ...]) -> str | None:
    lowered = {h.lower(): h for h in header}
    return next((lowered[name] for name in preferred if name in lowered), None)


def _resolve_file(value: Any, base: Path) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def _looks_like_files(values: Sequence[Any], base: Path) -> bool:
    """Whether a column holds file names: most values exist on disk or end in a media suffix."""
    sample = [v for v in values[:50] if isinstance(v, str) and v]
    if not sample:
        return False
    suffixes = frozenset().union(*FILE_SUFFIXES.values()) - FILE_SUFFIXES["text"]
    hits = sum(
        Path(v).suffix.lower() in suffixes or _resolve_file(v, base).is_file() for v in sample
    )
    return hits >= max(1, int(0.8 * len(sample)))


def _choose_column(
    header: list[str], rows: list[dict[str, Any]], modality: str, base: Path, source: Path
) -> str:
    values = {h: [row.get(h) for row in rows] for h in header}
    file_like = [h for h in header if _looks_like_files(values[h], base)]
    if modality == "text":
        named = _pick(header, TEXT_COLUMNS)
        if named is not None and named not in file_like:
            return named
        texty = [
            h
            for h in header
            if h not in file_like
            and h.lower() not in LABEL_COLUMNS + ID_COLUMNS
            and all(isinstance(v, str) for v in values[h])
        ]
        if len(texty) == 1:
            return texty[0]
        raise DatasetError(
            f"{source}: cannot tell which column holds the text ({_show(texty) or 'none'} "
            f"could); name it with column=... (columns: {header})"
        )
    named = _pick(header, FILE_COLUMNS)
    if named is not None:
        return named
    if len(file_like) == 1:
        return file_like[0]
    raise DatasetError(
        f"{source}: cannot tell which column holds the {modality} files "
        f"({_show(file_like) or 'no column looks like file names'}); name it with column=... "
        f"(columns: {header})"
    )


def _read_table(
    path: Path,
    modality: str,
    column: str | None,
    *,
    hf_metadata: bool = False,
    label_column: str | None = None,
    id_column: str | None = None,
) -> RawItems:
    if path.suffix.lower() == ".parquet":
        header, rows = _parquet_rows(path)
    else:
        header, rows = _csv_rows(path)
    if not rows:
        raise DatasetError(f"{path} holds no rows")
    base = path.parent
    if hf_metadata and "file_name" not in header:
        raise DatasetError(
            f"{path}: a Hugging Face metadata.csv needs a 'file_name' column; it has {header}"
        )
    if column is None:
        column = "file_name" if hf_metadata and modality != "text" else None
    if column is None:
        column = _choose_column(header, rows, modality, base, path)
    if column not in header:
        raise DatasetError(f"{path} has no column {column!r}; it has {header}")
    raw = [row.get(column) for row in rows]
    missing = [i for i, v in enumerate(raw) if v is None or (isinstance(v, str) and not v)]
    if missing:
        raise DatasetError(
            f"{path}: column {column!r} is empty in row(s) {_show(missing)} (0-based data rows);"
            " every row is one pair, so no row may be blank"
        )
    if modality == "text":
        items: list[Any] = [str(v) for v in raw]
    else:
        items = [str(_resolve_file(v, base)) for v in raw]
    id_col = id_column or ("file_name" if "file_name" in header else _pick(header, ID_COLUMNS))
    ids = [str(row.get(id_col)) for row in rows] if id_col else [str(i) for i in range(len(rows))]
    label_col = label_column or _pick(header, LABEL_COLUMNS)
    if label_column is not None and label_column not in header:
        raise DatasetError(f"{path} has no label column {label_column!r}; it has {header}")
    labels = [str(row.get(label_col)) for row in rows] if label_col else None
    layout = "hf-metadata" if hf_metadata else "table"
    return RawItems(items, ids, labels, modality, str(path), layout)


def _read_lines(path: Path, modality: str) -> RawItems:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text: {exc}") from exc
    while lines and not lines[-1].strip():
        lines.pop()  # a trailing newline is not an item
    if not lines:
        raise DatasetError(f"{path} is empty: no lines to read")
    blank = [i + 1 for i, line in enumerate(lines) if not line.strip()]
    if blank:
        raise DatasetError(
            f"{path}: line(s) {_show(blank)} are blank; each line is one item, so a blank "
            "line would shift every pair after it. Remove it or write a placeholder"
        )
    items = [line.strip() for line in lines]
    if modality != "text":
        items = [str(_resolve_file(line, path.parent)) for line in items]
    ids = [str(i) for i in range(len(items))]
    return RawItems(items, ids, None, modality, str(path), "lines")


# ---- modality checks ---------------------------------------------------------------
def _check_fit(found: RawItems) -> RawItems:
    if not found.items:
        raise DatasetError(f"{found.source} holds no items")
    if found.modality == "text":
        base = Path(found.source)
        base = base if base.is_dir() else base.parent
        if _looks_like_files(found.items, base):
            raise InputError(
                f"{found.source}: the items look like file paths ({_show(found.items)}); a text "
                "encoder would embed the path names as text. Use an image or audio encoder, "
                "or name the text column with column=..."
            )
        return found
    absent = [item for item in found.items if not Path(item).is_file()]
    if absent:
        raise InputError(
            f"{found.source}: {len(absent)} of {len(found.items)} {found.modality} item(s) are "
            f"not files ({_show(absent)}); an {found.modality} encoder needs files. If these "
            "are captions, give them to a text encoder"
        )
    if found.modality == "image":
        _check_image_headers(found)
    return found


def _check_image_headers(found: RawItems) -> None:
    """Refuse images that cannot be decoded before any model loads or any item is encoded.

    Only each file's header is read (a fraction of a millisecond a file), so a render too
    large to decode safely (openclipart ships PNGs of 600 megapixels) or a damaged file
    is named at once instead of minutes into an encoding pass.
    """
    Image = require("PIL.Image", extra="encoders", purpose="reading images", package="pillow")
    too_large, unreadable = [], []
    for item in found.items:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(item):
                    pass
        except Image.DecompressionBombError:
            too_large.append(Path(item).name)
        except (Image.UnidentifiedImageError, OSError, ValueError):
            unreadable.append(Path(item).name)
    if too_large:
        raise DatasetError(
            f"{found.source}: {len(too_large)} image file(s) too large to decode safely "
            f"(over {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels): {_show(too_large)}; downscale "
            "them, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust the files"
        )
    if unreadable:
        raise DatasetError(
            f"{found.source}: {len(unreadable)} file(s) cannot be read as images: "
            f"{_show(unreadable)}"
        )


def read_items(
    source: str | Path | Sequence[Any],
    modality: str = "text",
    *,
    column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
) -> RawItems:
    """Raw items for an encoder of ``modality``, with their ids and labels when known.

    ``source`` is a folder (flat, ImageFolder, or with a Hugging Face ``metadata.csv``),
    a ``.txt`` file (one item per line: text, or file paths for image/audio), a CSV/TSV
    or parquet table, or a list of items. ``column`` names the table column to read;
    otherwise it is chosen by ``modality``.
    """
    modality = _check_modality(modality)
    if not isinstance(source, str | Path):
        items = list(source)
        found = RawItems(items, [str(i) for i in range(len(items))], None, modality, "list", "list")
        return _check_fit(found)
    path = Path(source).expanduser()
    if path.is_dir():
        if (path / METADATA_FILE).is_file():
            found = _read_table(
                path / METADATA_FILE,
                modality,
                column,
                hf_metadata=True,
                label_column=label_column,
                id_column=id_column,
            )
        elif column is not None:
            raise InputError(f"column={column!r} applies to tables; {path} is a folder")
        else:
            found = _read_folder(path, modality)
        return _check_fit(found)
    if not path.is_file():
        raise DatasetError(f"{path} not found")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".parquet"):
        found = _read_table(
            path,
            modality,
            column,
            hf_metadata=path.name == METADATA_FILE,
            label_column=label_column,
            id_column=id_column,
        )
    elif suffix == ".txt":
        found = _read_lines(path, modality)
    elif suffix in FILE_SUFFIXES.get(modality, frozenset()):
        found = RawItems([str(path)], [path.name], None, modality, str(path), "file")
    else:
        raise DatasetError(
            f"{path}: cannot read {modality} items from a {suffix or 'suffix-less'} file; give a "
            "folder, a .txt file (one item per line), or a .csv/.tsv/.parquet table"
        )
    return _check_fit(found)


def match_labels(labels: Sequence[Any], class_names: Sequence[str]) -> np.ndarray:
    """Each label's index in ``class_names``, matched by name (never by sorted order).

    Names match exactly, else ignoring case and surrounding spaces. Integer labels are
    taken as indices when no class is named like a number. Unknown labels are an error
    that lists them.
    """
    names = [str(c) for c in class_names]
    if not names:
        raise InputError("class_names is empty")
    if len(set(names)) != len(names):
        raise InputError(f"class_names repeat a name: {_show(names)}")
    exact = {name: i for i, name in enumerate(names)}
    loose = {name.strip().casefold(): i for i, name in enumerate(names)}
    if len(loose) != len(names):
        loose = {}
    codes = np.empty(len(labels), dtype=np.int64)
    unknown: list[Any] = []
    numeric_names = any(name.strip().lstrip("-").isdigit() for name in names)
    for row, label in enumerate(labels):
        if (
            isinstance(label, int | np.integer)
            and not isinstance(label, bool)
            and not numeric_names
        ):
            if 0 <= int(label) < len(names):
                codes[row] = int(label)
                continue
            unknown.append(label)
            continue
        text = str(label)
        index = exact.get(text, loose.get(text.strip().casefold()))
        if index is None:
            unknown.append(label)
        else:
            codes[row] = index
    if unknown:
        distinct = sorted({str(u) for u in unknown})
        raise InputError(
            f"{len(unknown)} label(s) name no class: {_show(distinct)}; the classes are "
            f"{_show(names)}"
        )
    return codes


__all__ = ["MODALITIES", "RawItems", "match_labels", "natural_key", "read_items"]
