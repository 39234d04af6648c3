"""``cached_encode``: an encoder's output, read back per item from the embedding store.

Encoding is the slow step of every experiment (minutes for a few thousand images on a
CPU); fitting CSA on the result takes seconds. :func:`cached_encode` looks every item up
in the per-item store (:mod:`csa.encoders.store`), encodes only the items it has never
seen (each distinct item once), and writes them batch by batch, so

- any subset, order or folder layout of items encoded before is read back;
- an interrupted pass (Ctrl-C, a crash) keeps every batch it finished;
- a damaged row is re-encoded, never served.

A store that cannot be used (its path taken by a folder or a FIFO, no permission, a
damaged file) does not stop the work: the items are encoded without it, with a
warning that names the path and the way out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.encoders.base import (
    Encoder,
    as_item_sequence,
    check_batch_size,
    check_output,
    finish_output,
    resolve_progress,
    wants_progress,
)
from csa.encoders.store import (
    CacheUnavailable,
    CacheWarning,
    EmbeddingStore,
    encoder_identity,
    item_key,
    item_keys,
    store_path,
)
from csa.errors import InputError, warn

_OUTPUT_OPTIONS = ("normalize_embeddings", "convert_to_numpy", "convert_to_tensor")


def cache_path(
    encoder: Encoder | None = None,
    items: Sequence[Any] | None = None,
    *,
    key: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """The store file :func:`cached_encode` reads and writes.

    Every encoder and item shares one file, so ``encoder``, ``items`` and ``key`` no
    longer change the answer; they stay accepted for code written for csa's first,
    whole-list cache.
    """
    del encoder, items, key
    return store_path(cache_dir)


def _check_output_options(output: dict[str, Any]) -> None:
    unknown = sorted(set(output) - set(_OUTPUT_OPTIONS))
    if unknown:
        raise InputError(
            f"cached_encode() got unknown keyword(s) {', '.join(unknown)}; output options are "
            f"{', '.join(_OUTPUT_OPTIONS)}"
        )


def _encode_checked(encoder: Encoder, batch: Sequence[Any], batch_size: int) -> np.ndarray:
    raw = encoder.encode(batch, batch_size=batch_size, show_progress=False)
    return check_output(raw, len(batch), int(encoder.dim), str(encoder.name))


def cached_encode(
    encoder: Encoder,
    items: Sequence[Any],
    *,
    key: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 32,
    show_progress: bool | None = None,
    show_progress_bar: bool | None = None,
    **output: Any,
) -> Any:
    """``encoder.encode(items)``, with every item encoded before read from the store.

    ``key`` replaces the per-item content fingerprint (faster for huge inputs, e.g.
    "fashion-mnist/train"): the caller then promises that the items under that key
    never change. The store holds the encoder's raw output; sentence-transformers'
    output keywords (``normalize_embeddings``, ``convert_to_tensor``) apply on the way
    out, the same whether a row was read or encoded.
    """
    seq = as_item_sequence(items)
    batch_size = check_batch_size(batch_size)
    show_progress = resolve_progress(show_progress, show_progress_bar)
    _check_output_options(output)
    n, dim = len(seq), int(encoder.dim)
    out = np.empty((n, dim), dtype=np.float32)
    if n == 0:
        return finish_output(out, **output)
    keys = _keys(seq, key, show_progress)
    try:
        store = EmbeddingStore(cache_dir)
    except CacheUnavailable as exc:
        warn(f"{exc}; encoding without the cache", CacheWarning)
        return finish_output(
            np.asarray(
                encoder.encode(seq, batch_size=batch_size, show_progress=show_progress),
                dtype=np.float32,
            ),
            **output,
        )
    with store:
        _fill(store, encoder, seq, keys, out, batch_size, show_progress)
    return finish_output(out, **output)


def _keys(seq: Sequence[Any], key: str | None, show_progress: bool | None) -> list[bytes]:
    """Every item's key; hashing thousands of image files is a wait worth a bar."""
    if key is not None:
        return item_keys(seq, key=key)
    from csa.progress import ProgressBar

    keys: list[bytes] = []
    # Only automatic (a terminal, a wait): a bar asked for is the encoding one.
    show = False if show_progress is False else None
    with ProgressBar(len(seq), "reading items for the cache", show=show) as bar:
        for i in range(len(seq)):
            keys.append(item_key(seq[i]))
            if i % 256 == 255 or i == len(seq) - 1:
                bar.advance(i % 256 + 1)
    return keys


def _fill(
    store: EmbeddingStore,
    encoder: Encoder,
    seq: Sequence[Any],
    keys: list[bytes],
    out: np.ndarray,
    batch_size: int,
    show_progress: bool | None,
) -> None:
    """Fill ``out`` row by row: stored rows first, then the missing ones, batch by batch."""
    from csa.progress import ProgressBar

    identity = encoder_identity(encoder)
    rows_of: dict[bytes, list[int]] = {}
    for row, k in enumerate(keys):
        rows_of.setdefault(k, []).append(row)
    writer: EmbeddingStore | None = store
    try:
        found, damaged = store.lookup(identity, rows_of)
    except CacheUnavailable as exc:
        warn(f"{exc}; encoding without the cache", CacheWarning)
        found, damaged, writer = {}, 0, None
    if damaged:
        warn(
            f"{damaged} damaged row(s) in the embedding cache {store.path} failed their "
            "checks; they are encoded again",
            CacheWarning,
        )
    for k, vector in found.items():
        out[rows_of[k]] = vector
    missing = [k for k in rows_of if k not in found]
    if not missing:
        return
    n_cached = len(keys) - sum(len(rows_of[k]) for k in missing)
    note = f"{n_cached} from cache" if n_cached else ""
    long = wants_progress(None, len(missing), batch_size)
    with ProgressBar(
        len(missing), f"encoding ({encoder.name})", show=show_progress, long=long, note=note
    ) as bar:
        for start in range(0, len(missing), batch_size):
            batch_keys = missing[start : start + batch_size]
            first_rows = [rows_of[k][0] for k in batch_keys]
            # An array of items stays an array (encoders may rely on it); others become lists.
            if isinstance(seq, np.ndarray):
                batch: Sequence[Any] = seq[np.asarray(first_rows)]
            else:
                batch = [seq[i] for i in first_rows]
            vectors = _encode_checked(encoder, batch, batch_size)
            for k, vector in zip(batch_keys, vectors, strict=True):
                out[rows_of[k]] = vector
            if writer is not None:
                try:
                    writer.put(identity, batch_keys, vectors)
                except CacheUnavailable as exc:
                    warn(f"{exc}; the rest is encoded without the cache", CacheWarning)
                    writer = None
            bar.advance(len(batch_keys))


__all__ = ["CacheWarning", "cache_path", "cached_encode"]
