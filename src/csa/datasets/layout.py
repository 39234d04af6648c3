"""Checks shared by the readers of published data layouts (ImageNet, COSMOS, captions).

A user pointing a reader at the wrong folder should learn which file or folder is missing
and what the layout should look like, before anything is encoded; these helpers say so in
one voice for every reader.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from csa.errors import DatasetError

_SHOW = 5  # how many offending items an error names


def listing(items: Iterable[Any], show: int = _SHOW) -> str:
    """The first few items, comma-separated, with "..." when there are more."""
    items = list(items)
    text = ", ".join(str(x) for x in items[:show])
    return text + (f", ... ({len(items)} in all)" if len(items) > show else "")


def first_existing(
    candidates: Iterable[Path], what: str, layout: str, folder: bool = False
) -> Path:
    """The first candidate path that exists, or an error naming all of them and the layout."""
    tried = list(candidates)
    for path in tried:
        if path.is_dir() if folder else path.is_file():
            return path
    kind = "folder" if folder else "file"
    raise DatasetError(
        f"{what}: no {kind} found; looked for {', '.join(map(str, tried))}. "
        f"Expected layout: {layout}"
    )


def require_root(root: str | Path | None, dataset: str, layout: str) -> Path:
    """The data set's root folder, which the user must give (nothing is bundled)."""
    if root is None:
        raise DatasetError(f"{dataset} is not bundled: pass root= the folder holding {layout}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetError(f"{dataset} root {path} is not a folder; expected {layout}")
    return path


def check_files(paths: Iterable[str | Path], source: str | Path) -> None:
    """Fail, naming a few, when image files listed in ``source`` are absent."""
    absent = [str(p) for p in paths if not Path(p).is_file()]
    if absent:
        raise DatasetError(
            f"{len(absent)} image file(s) listed in {source} not found: {listing(absent)}"
        )


def read_json(path: Path) -> Any:
    """A whole JSON document, with the file named in any error."""
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from exc


def read_json_records(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file (one object a line) or of a JSON array of objects.

    COSMOS ships its splits as JSON lines under a ``.json`` name, other tools rewrite
    them as one array; both are accepted so that neither needs converting.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text: {exc}") from exc
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from exc
    else:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"{path}, line {number}: not a JSON object ({exc.msg}); expected one "
                    "record per line"
                ) from exc
    bad = [i + 1 for i, r in enumerate(records) if not isinstance(r, dict)]
    if bad:
        raise DatasetError(f"{path}: record(s) {listing(bad)} are not JSON objects")
    if not records:
        raise DatasetError(f"{path} holds no records")
    return records


def field(record: dict[str, Any], names: tuple[str, ...], source: str) -> Any:
    """The first of ``names`` present in ``record``; an error naming them all otherwise."""
    for name in names:
        if name in record:
            return record[name]
    raise DatasetError(
        f"{source}: missing field {' / '.join(map(repr, names))}; the record has "
        f"{', '.join(map(repr, record)) or 'no fields'}"
    )
