"""Open Clip Art drawings with their own titles and descriptions: real captioned images.

Read from the Debian packages ``openclipart-svg`` (the SVG files, whose Dublin Core
metadata carries ``dc:title``, ``dc:description`` and ``dc:subject`` keywords) and
``openclipart-png`` (a PNG render of every SVG, so no SVG rasteriser is needed: all 7458
SVG files of version 0.18 have a render). Pairs are (drawing, caption); the label is the
drawing's top-level category folder (22 of them, e.g. ``animals``, ``food``), so the same
data serve retrieval, out-of-context detection and zero-shot classification.

The metadata is noisy, so captions are built and filtered by these rules, in order:

1. The title is cleaned: HTML entities decoded, "Clipart by NAME - " prefixes and e-mail
   addresses removed, ``_``/``-`` and camelCase split into words, trailing numbers
   ("jigsaw_red_10") dropped.
2. A title is *boilerplate* when it is empty, names a collection ("Part of the Flat Icon
   Collection (...)", "Lemon SVG theme", "... sibmission", "Various Cliparts"), holds a
   ``HASH(0x...)`` string, or is shared by more than ``MAX_SHARED`` (25) drawings
   ("gramastar" on 1375 stars, "card" on 226). Such a drawing falls back to its file name
   ("ahead_only.svg" -> "ahead only"), less the tokens that abbreviate its creator's name
   ("acquila_architetto_franc_01" by Architetto Francesco Rollandin -> "acquila") and
   tokens that mix digits and letters ("star_49pt16step" -> "star").
3. A description is kept only when it says something about this drawing: it must not be
   empty, equal the title, hold an e-mail address, a URL, a ``HASH(0x...)`` string or
   "converted from", nor be shared by more than ``MAX_SHARED`` drawings (the fleet-flags
   history paragraph on 40 flags, "EPS converted from http://aiga.org" on 122).
4. Caption = title, plus ". " and the description when one is kept. A drawing with fewer
   than two letters of caption left is dropped.
5. Identical captions (case-folded) form one ``groups`` id, so splits never put the same
   caption on both sides and retrieval counts any of them as a match; a caption shared by
   more than ``max_per_caption`` (5) drawings keeps only the first 5 in path order, since
   a caption naming 1375 stars describes none of them.
6. The ``unsorted`` folder is left out by default: its label means nothing to zero-shot.

On the Debian package (0.18+dfsg-19) this keeps 5,203 of 7,458 drawings (4,073 distinct
captions, 21 categories): 254 have no caption left, 1,849 repeat a caption past the cap
of 5 (1,371 of them "star"), 135 are in ``unsorted``, and 17 renders are over
``MAX_RENDER_PIXELS`` (up to 231 megapixels). 3,986 titles fall back to the file name and
622 captions keep a description. ``info["filter_counts"]`` holds the counts of each load.

The PNG renders are mostly transparent (9 in 10 in a sample), and turning them into RGB
the plain way paints the background black; the loader therefore writes, once, a
``image_size`` square thumbnail of each kept drawing flattened on white (aspect ratio kept,
padded) under :func:`csa.files.cache_root`, and the items are those file paths. Cold load
(parse 7,458 SVGs, write 5,203 thumbnails, 87 MB) took 28 s on a quiet core and 71 s on a
busy one; warm, 0.6-1.3 s (``info["load_seconds"]``).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from csa import DatasetError
from csa.datasets import PairedDataset, select_split
from csa.extras import require

SVG_PACKAGE = "openclipart-svg"
PNG_PACKAGE = "openclipart-png"
DEFAULT_ROOT = Path("/usr/share/openclipart")
#: A title or description used by more drawings than this names a collection, not a drawing.
MAX_SHARED = 25
#: Renders larger than this are left out: decoding one costs seconds and a gigabyte.
MAX_RENDER_PIXELS = 40_000_000
_CACHE_FORMAT = 1

_WORK = re.compile(r"<cc:Work\b.*?</cc:Work>", re.S)
_AGENT = re.compile(r"<cc:Agent\b.*?</cc:Agent>", re.S)
_CREATOR = re.compile(r"<dc:creator>.*?<dc:title>(.*?)</dc:title>", re.S)
_LI = re.compile(r"<rdf:li>(.*?)</rdf:li>", re.S)
_EMAIL = re.compile(r"\(?\s*(?:e-?mail:?\s*)?[\w.+-]+@[\w-]+(?:\.[\w-]+)+\.?\s*\)?", re.I)
_URL = re.compile(r"https?://|www\.", re.I)
_HASH = re.compile(r"hash\(0x[0-9a-f]+\)", re.I)
_BY_PREFIX = re.compile(r"^\s*clip\s*art\s+by\s+[^-]+-\s*", re.I)
_COLLECTION = re.compile(
    r"collection|\btheme\b|icon\s*set|iconset|cliparts|\bsi?[ub]mission\b|^svg\b|\bicons\b", re.I
)
_TOOL_NOTE = re.compile(r"converted from|created? with|inkscape", re.I)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _tag(name: str, text: str) -> str:
    match = re.search(rf"<dc:{name}>(.*?)</dc:{name}>", text, re.S)
    return _squash(html.unescape(match.group(1))) if match else ""


def _squash(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Drawing:
    """One SVG's metadata, as written by its author (before any filtering)."""

    path: str  # relative to the svg folder, e.g. "animals/bat_orlando_karam_.svg"
    title: str
    description: str
    keywords: tuple[str, ...]
    creator: str

    @property
    def category(self) -> str:
        return self.path.split("/", 1)[0]


def parse_metadata(text: str, path: str) -> Drawing:
    """The Dublin Core fields of one SVG's ``cc:Work`` block (empty strings where absent).

    A regular expression, not an XML parser: a few of the files are not well-formed XML,
    yet their metadata block is intact.
    """
    work = _WORK.search(text)
    if work is None:
        return Drawing(path, "", "", (), "")
    block = work.group(0)
    creator = _CREATOR.search(block)
    own = _AGENT.sub("", block)  # drop agents: their dc:title is a person, not the drawing
    keywords = tuple(k for k in (_squash(html.unescape(x)) for x in _LI.findall(own)) if k)
    return Drawing(
        path=path,
        title=_tag("title", own),
        description=_tag("description", own),
        keywords=keywords,
        creator=_squash(html.unescape(creator.group(1))) if creator else "",
    )


def clean_title(title: str) -> str:
    """Rule 1 of the module docstring: a title as plain words."""
    text = _EMAIL.sub(" ", _BY_PREFIX.sub("", title))
    text = _CAMEL.sub(" ", text.replace("_", " "))
    text = re.sub(r"(?<=\w)-(?=\w)", " ", text)
    text = _squash(text)
    text = re.sub(r"(?:[\s#]*\d+[a-z]?)+$", "", text)  # trailing "10", " 01a", "08 4"
    text = re.sub(r"(?<=[A-Za-z])\d+$", "", text)  # "arrow08" -> "arrow"
    return text.strip(" .,;:-")


def name_from_file(path: str, creator: str) -> str:
    """Rule 2's fallback: the file name's words, less creator abbreviations and codes."""
    stem = Path(path).stem
    creator_words = [w for w in re.split(r"[^a-z]+", creator.lower()) if len(w) >= 3]
    words = []
    for token in re.split(r"[\s_\-.]+", _CAMEL.sub(" ", stem)):
        low = token.lower()
        if not low or any(ch.isdigit() for ch in low):
            continue  # "01", "49pt16step", "v0"
        if len(low) >= 3 and any(w.startswith(low) for w in creator_words):
            continue  # "architetto", "franc" of Architetto Francesco Rollandin
        if low in {"md", "svg", "the"} and words:
            continue
        words.append(token)
    return " ".join(words).strip()


def _is_boilerplate_title(cleaned: str, raw: str, shared: int) -> bool:
    return (
        not cleaned
        or shared > MAX_SHARED
        or bool(_COLLECTION.search(raw))
        or bool(_HASH.search(raw))
    )


def _keeps_description(desc: str, title: str, shared: int) -> bool:
    return not (
        not desc
        or clean_title(desc).casefold() == title.casefold()
        or shared > MAX_SHARED
        or _EMAIL.search(desc)
        or _URL.search(desc)
        or _HASH.search(desc)
        or _TOOL_NOTE.search(desc)
    )


def build_captions(drawings: list[Drawing]) -> tuple[list[str | None], Counter[str]]:
    """Rules 1-4: one caption (or ``None``, dropped) per drawing, and what each rule did."""
    title_share = Counter(clean_title(d.title).casefold() for d in drawings)
    desc_share = Counter(d.description.casefold() for d in drawings)
    counts: Counter[str] = Counter()
    captions: list[str | None] = []
    for d in drawings:
        title = clean_title(d.title)
        if _is_boilerplate_title(title, d.title, title_share[title.casefold()]):
            title = name_from_file(d.path, d.creator)
            counts["title from file name"] += 1
        desc = d.description
        if _keeps_description(desc, title, desc_share[desc.casefold()]):
            text = f"{title}. {desc}" if title else desc
            counts["with description"] += 1
        else:
            text = title
        if sum(ch.isalpha() for ch in text) < 2:
            captions.append(None)
            counts["dropped: no caption left"] += 1
            continue
        captions.append(text)
    return captions, counts


# ---- reading the packages, with a small cache ----------------------------------------
def _svg_files(svg_root: Path) -> list[str]:
    """Relative paths of the SVG files, symlinked copies (the same drawing filed twice) left out."""
    found = []
    for folder, _dirs, files in os.walk(svg_root):
        for name in files:
            full = Path(folder, name)
            if name.endswith(".svg") and not full.is_symlink():
                found.append(full.relative_to(svg_root).as_posix())
    return sorted(found)


def _listing_key(svg_root: Path, files: list[str]) -> str:
    h = hashlib.sha256(f"{_CACHE_FORMAT}\0{svg_root.resolve()}\0".encode())
    for rel in files:
        st = (svg_root / rel).stat()
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:16]


def _cache_dir() -> Path:
    from csa.files import cache_root

    return cache_root() / "datasets" / "openclipart"


def read_drawings(svg_root: Path) -> list[Drawing]:
    """Every SVG's metadata, parsed once and cached as JSON keyed by the file listing."""
    from csa.files import atomic_write

    files = _svg_files(svg_root)
    if not files:
        raise DatasetError(
            f"no SVG files under {svg_root}; expected category folders of .svg drawings "
            f"(install the Debian package {SVG_PACKAGE})"
        )
    cache_file = _cache_dir() / f"metadata-{_listing_key(svg_root, files)}.json"
    if cache_file.is_file():
        try:
            rows = json.loads(cache_file.read_text(encoding="utf-8"))
            return [Drawing(r[0], r[1], r[2], tuple(r[3]), r[4]) for r in rows]
        except (OSError, ValueError, IndexError, TypeError):
            pass  # a damaged cache is rebuilt below
    drawings = [
        parse_metadata((svg_root / rel).read_bytes().decode("utf-8", "replace"), rel)
        for rel in files
    ]
    rows = [[d.path, d.title, d.description, list(d.keywords), d.creator] for d in drawings]
    atomic_write(
        cache_file,
        lambda tmp: tmp.write_text(json.dumps(rows), encoding="utf-8"),
        error=DatasetError,
        what="Open Clip Art metadata cache",
    )
    return drawings


def flatten_on_white(source: Path, target: Path, size: int) -> None:
    """A ``size`` x ``size`` RGB PNG of ``source``: alpha composited on white, padded square."""
    from csa.files import atomic_write

    Image = require("PIL.Image", extra="data", purpose="Open Clip Art", package="pillow")

    try:
        with Image.open(source) as img:
            img.draft("RGB", (size, size))
            rgba = img.convert("RGBA")
    except (OSError, ValueError, SyntaxError) as exc:
        raise DatasetError(f"unreadable Open Clip Art render {source}: {exc}") from exc
    rgba.thumbnail((size, size), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(rgba, ((size - rgba.width) // 2, (size - rgba.height) // 2), rgba)
    atomic_write(
        target,
        lambda tmp: canvas.save(tmp, format="PNG", compress_level=1),
        error=DatasetError,
        what="Open Clip Art thumbnail",
    )


def _thumbnail_folder(png_root: Path, size: int) -> Path:
    tag = hashlib.sha256(str(png_root.resolve()).encode()).hexdigest()[:8]
    return _cache_dir() / f"thumbs-{size}-{tag}"


def _thumbnail(png_root: Path, folder: Path, rel_svg: str, size: int) -> str | None:
    """The cached thumbnail of one drawing, made on first use; ``None`` if its render is huge."""
    rel_png = rel_svg[: -len(".svg")] + ".png"
    target = folder / rel_png
    if target.is_file():
        return str(target)
    source = png_root / rel_png
    if not source.is_file():
        raise DatasetError(
            f"no PNG render {source} for the drawing {rel_svg}; install the Debian "
            f"package {PNG_PACKAGE} (renders of every SVG of {SVG_PACKAGE})"
        )
    Image = require("PIL.Image", extra="data", purpose="Open Clip Art", package="pillow")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                pixels = img.width * img.height
    except Image.DecompressionBombError:
        return None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DatasetError(f"unreadable Open Clip Art render {source}: {exc}") from exc
    if pixels > MAX_RENDER_PIXELS:
        return None
    flatten_on_white(source, target, size)
    return str(target)


def _check_root(root: Path) -> tuple[Path, Path]:
    svg_root, png_root = root / "svg", root / "png"
    missing = [
        f"{p} (Debian package {pkg})"
        for p, pkg in ((svg_root, SVG_PACKAGE), (png_root, PNG_PACKAGE))
        if not p.is_dir()
    ]
    if missing:
        raise DatasetError(
            f"Open Clip Art folder(s) missing: {'; '.join(missing)}. Expected {root}/svg/"
            f"<category>/.../*.svg and {root}/png/<category>/.../*.png; install with "
            f"`sudo apt-get install {SVG_PACKAGE} {PNG_PACKAGE}` or pass root="
        )
    return svg_root, png_root


def load_openclipart(
    split: str = "all",
    n: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    max_per_caption: int = 5,
    exclude_categories: tuple[str, ...] = ("unsorted",),
    image_size: int = 256,
    root: str | Path | None = None,
) -> PairedDataset:
    """Open Clip Art (drawing, caption) pairs, labelled by category (see the module docstring).

    Items of side a are paths of white-background PNG thumbnails (``image_size`` pixels
    square); side b holds the captions. "train"/"test" cut a seeded stratified split
    (``test_fraction``, ``split_seed``) that keeps each caption group on one side; ``n``
    then subsamples it with ``seed``.
    """
    if max_per_caption < 1:
        raise DatasetError(f"max_per_caption must be at least 1, got {max_per_caption}")
    if image_size < 16:
        raise DatasetError(f"image_size must be at least 16 pixels, got {image_size}")
    started = time.perf_counter()
    base = Path(root) if root is not None else DEFAULT_ROOT
    svg_root, png_root = _check_root(base)
    drawings = read_drawings(svg_root)
    captions, counts = build_captions(drawings)
    excluded = set(exclude_categories)
    thumbs = _thumbnail_folder(png_root, image_size)
    kept: list[tuple[Drawing, str, str]] = []
    per_caption: Counter[str] = Counter()
    for drawing, text in zip(drawings, captions, strict=True):
        if text is None:
            continue
        if drawing.category in excluded:
            counts["dropped: excluded category"] += 1
            continue
        key = text.casefold()
        per_caption[key] += 1
        if per_caption[key] > max_per_caption:
            counts["dropped: caption repeated past max_per_caption"] += 1
            continue
        image = _thumbnail(png_root, thumbs, drawing.path, image_size)
        if image is None:
            per_caption[key] -= 1
            counts["dropped: render over MAX_RENDER_PIXELS"] += 1
            continue
        kept.append((drawing, text, image))
    if not kept:
        raise DatasetError(f"no Open Clip Art drawing under {svg_root} kept a caption")
    categories = sorted({d.category for d, _, _ in kept})
    class_names = tuple(c.replace("_", " ") for c in categories)
    group_of: dict[str, int] = {}
    groups = np.array([group_of.setdefault(t.casefold(), len(group_of)) for _, t, _ in kept])
    counts["kept"] = len(kept)
    counts["drawings"] = len(drawings)
    info: dict[str, Any] = {
        "source": str(base),
        # Keyed by item, not by row, so it stays right after subset() and split().
        "svg_of": {image: d.path for d, _, image in kept},
        "filter_counts": dict(counts),
        "load_seconds": round(time.perf_counter() - started, 3),
    }
    data = PairedDataset(
        name="openclipart",
        a=[image for _, _, image in kept],
        b=[text for _, text, _ in kept],
        modalities=("image", "text"),
        labels=np.array([categories.index(d.category) for d, _, _ in kept], dtype=np.int64),
        class_names=class_names,
        groups=groups.astype(np.int64),
        info=info,
    )
    data = select_split(data, split, test_fraction, split_seed)
    return data if n is None else data.subsample(n, seed=seed)
