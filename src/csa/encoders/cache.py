"""Embeddings cached on disk, so a second run never re-encodes the same data.

Encoding is the slow step of every experiment (minutes for a few thousand
images on a CPU); fitting CSA on the result takes seconds. A cache entry is keyed
by the encoder's name and the content fingerprint of the items (or a key the
caller vouches for), stored as a plain ``.npy`` (never pickle), and replaced
atomically by :func:`csa.files.atomic_write`, so an interrupted run leaves no
half-written entry and two processes racing on one key both end with a whole file.
The folder is ``<cache root>/embeddings`` (``$CSA_CACHE_DIR``, else ``~/.cache/csa``);
deleting it is always safe.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.encoders.base import Encoder, as_item_sequence, finish_output, resolve_progress
from csa.errors import EncoderError
from csa.files import atomic_write, cache_root, content_fingerprint

_SUBDIR = "embeddings"
# Bump when the layout or the fingerprint changes, so old entries are not misread.
_FORMAT = "csa-embeddings-v1"


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
    if key is not None:
        data_key = f"key:{key}"
    else:
        data_key = f"content:{content_fingerprint(as_item_sequence(items), namespace=_FORMAT)}"
    digest = hashlib.sha256(
        f"{_FORMAT}\0{encoder.name}\0{encoder.dim}\0{data_key}".encode()
    ).hexdigest()
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
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


def cached_encode(
    encoder: Encoder,
    items: Sequence[Any],
    *,
    key: str | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 32,
    show_progress: bool | None = None,
    show_progress_bar: bool | None = None,
    **output: Any,
) -> np.ndarray:
    """``encoder.encode(items)``, read from disk when this exact data was encoded before.

    ``key`` replaces the content fingerprint (faster for huge inputs, e.g.
    "fashion-mnist/train"); the caller then promises that the key changes whenever
    the items do. An entry that is unreadable or has the wrong shape is treated as
    a miss and rewritten. The cache holds the encoder's raw output; sentence-transformers'
    output keywords (``normalize_embeddings``, ``convert_to_tensor``) apply on the way out.
    """
    seq = as_item_sequence(items)
    show_progress = resolve_progress(show_progress, show_progress_bar)
    path = cache_path(encoder, seq, key=key, cache_dir=cache_dir)
    cached = _read(path, len(seq), encoder.dim)
    if cached is not None:
        return finish_output(cached, **output)
    arr = np.asarray(
        encoder.encode(seq, batch_size=batch_size, show_progress=show_progress), dtype=np.float32
    )
    atomic_write(
        path,
        lambda tmp: np.save(tmp, arr, allow_pickle=False),
        error=EncoderError,
        what="embedding cache entry",
    )
    return finish_output(arr, **output)
