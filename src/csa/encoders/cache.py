"""Embeddings cached on disk, so a second run never re-encodes the same data.

Encoding is the slow step of every experiment (minutes for a few thousand
images on a CPU); fitting CSA on the result takes seconds. A cache entry is keyed
by the encoder's name and a fingerprint of the items' content (or a key the
caller vouches for), stored as a plain ``.npy`` (never pickle), and written to a
temporary file then renamed, so an interrupted run leaves no half-written entry
and two processes racing on one key both end with a whole file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.encoders.base import Encoder, as_item_sequence
from csa.errors import DtypeError

CACHE_ENV = "CSA_CACHE_DIR"
_SUBDIR = "embeddings"
# Bump when the layout or the fingerprint changes, so old entries are not misread.
_FORMAT = "csa-embeddings-v1"
# Strings no longer than this are checked for being a path to a file on disk.
_MAX_PATH_CHARS = 4096


def default_cache_dir() -> Path:
    """``$CSA_CACHE_DIR`` if set, else ``~/.cache/csa``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "csa"


def _hash_file(h: Any, path: Path) -> None:
    h.update(b"file\0")
    h.update(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)


def _is_file(text: str) -> bool:
    if len(text) > _MAX_PATH_CHARS or "\0" in text:
        return False
    try:
        return os.path.isfile(text)
    except (OSError, ValueError):
        return False


def _hash_item(h: Any, item: Any) -> None:
    """Feed one item's content into ``h``, tagged by kind so '1' and 1 differ."""
    if isinstance(item, os.PathLike):
        path = Path(item)
        if path.is_file():
            _hash_file(h, path)
        else:
            h.update(b"path\0" + os.fsencode(path))
    elif isinstance(item, str):
        # an image path's content matters, not its name; a caption is its own content
        if _is_file(item):
            _hash_file(h, Path(item))
        else:
            data = item.encode("utf-8", "surrogatepass")
            h.update(b"str\0" + str(len(data)).encode() + b"\0" + data)
    elif isinstance(item, bytes):
        h.update(b"bytes\0" + str(len(item)).encode() + b"\0" + item)
    elif isinstance(item, (bool, int, float, np.integer, np.floating)):
        h.update(b"num\0" + repr(item.item() if isinstance(item, np.generic) else item).encode())
    elif isinstance(item, np.ndarray):
        if item.dtype == object:
            raise DtypeError("cannot fingerprint an object array; pass key= to cached_encode")
        arr = np.ascontiguousarray(item)
        h.update(b"ndarray\0" + arr.dtype.str.encode() + repr(arr.shape).encode() + b"\0")
        h.update(arr.tobytes())
    elif _is_pil_image(item):
        h.update(b"pil\0" + item.mode.encode() + repr(item.size).encode() + b"\0")
        h.update(item.tobytes())
    else:
        raise DtypeError(
            f"cannot fingerprint items of type {type(item).__name__}; pass key= to cached_encode"
        )


def _is_pil_image(item: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow comes with the encoders extra
        return False
    return isinstance(item, Image.Image)


def fingerprint(items: Sequence[Any]) -> str:
    """A SHA-256 of the items' content, in order.

    A numeric array of items is hashed as one buffer, which is fast; the same
    images given as a list hash differently, which costs one cache miss, never a
    wrong hit.
    """
    h = hashlib.sha256(_FORMAT.encode() + b"\0")
    seq = as_item_sequence(items)
    h.update(b"n\0" + str(len(seq)).encode() + b"\0")
    if isinstance(seq, np.ndarray) and seq.dtype != object:
        _hash_item(h, seq)
    else:
        for item in seq:
            _hash_item(h, item)
    return h.hexdigest()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80] or "encoder"


def cache_path(
    encoder: Encoder,
    items: Sequence[Any],
    *,
    key: str | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Where :func:`cached_encode` keeps (or would keep) this encoder's embedding of ``items``."""
    data_key = f"key:{key}" if key is not None else f"content:{fingerprint(items)}"
    digest = hashlib.sha256(
        f"{_FORMAT}\0{encoder.name}\0{encoder.dim}\0{data_key}".encode()
    ).hexdigest()
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / _SUBDIR / f"{_slug(encoder.name)}-{digest[:40]}.npy"


def _read(path: Path, n_items: int, dim: int) -> np.ndarray | None:
    """A valid cached array, or None for a miss (absent, truncated, wrong shape)."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if arr.dtype != np.float32 or arr.shape != (n_items, dim) or not np.isfinite(arr).all():
        return None
    return arr


def _write_atomic(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_encode(
    encoder: Encoder,
    items: Sequence[Any],
    *,
    key: str | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 32,
    show_progress: bool | None = None,
) -> np.ndarray:
    """``encoder.encode(items)``, read from disk when this exact data was encoded before.

    ``key`` replaces the content fingerprint (faster for huge inputs, e.g.
    "fashion-mnist/train"); the caller then promises that the key changes whenever
    the items do. An entry that is unreadable or has the wrong shape is treated as
    a miss and rewritten.
    """
    seq = as_item_sequence(items)
    path = cache_path(encoder, seq, key=key, cache_dir=cache_dir)
    cached = _read(path, len(seq), encoder.dim)
    if cached is not None:
        return cached
    arr = np.asarray(
        encoder.encode(seq, batch_size=batch_size, show_progress=show_progress), dtype=np.float32
    )
    _write_atomic(path, arr)
    return arr
