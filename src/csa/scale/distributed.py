"""CSA past one machine: moments and embeddings computed on Dask partitions.

A fit depends on the data only through means and co-moments, which merge exactly
(Chan-Golub-LeVeque). So each partition is reduced to fold moments where it lives,
only d x d matrices travel, they are merged in a tree, and the one small solve runs on
the client. A row's held-out fold depends on its global row index, so each partition
is told the index of its first row: the folds, the chosen ridge and sim_dim, and the
rows named in a NaN error are the same as for an in-memory fit, whatever the
partitioning.

Works with any Dask scheduler: the threaded default, or a ``distributed.Client``
(local or a real cluster) made current before the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from csa.errors import DatasetError, ParameterError, ShapeError
from csa.moments import N_FOLDS, FoldMoments, auto_block_rows, moments_of
from csa.scale.features import table_matrix
from csa.scale.transaction import commit, fresh_copy
from csa.validation import check_pair

# Partial results merged per task in the reduction tree: few enough that a merge task
# holds little, many enough that the tree stays shallow.
_SPLIT_EVERY = 8


def _dask() -> tuple[Any, Any]:
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - dask is in the scale extra
        raise ParameterError("csa.scale.distributed needs dask: pip install 'csa[scale]'") from exc
    return dask, da


# ---- per-partition work (runs on workers) ------------------------------------------
_PRODUCT_DTYPES = {"auto": None, "float64": np.float64, "float32": np.float32}


def _options(precision: str, device: str | None, n_folds: int) -> dict[str, Any]:
    """Checked per-partition options, resolved on the client so workers never fail on them."""
    from csa.torch_backend import check_device

    if precision not in _PRODUCT_DTYPES:
        raise ParameterError(f"precision must be one of {list(_PRODUCT_DTYPES)}; got {precision!r}")
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 1:
        raise ParameterError(f"n_folds must be a positive integer; got {n_folds!r}")
    return {
        "product_dtype": _PRODUCT_DTYPES[precision],
        "device": check_device(device),
        "n_folds": n_folds,
    }


def _block_moments(a: Any, b: Any, first_row: int, options: dict[str, Any]) -> FoldMoments:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim == 2 and b.ndim == 2 and a.shape[0] == 0 and b.shape[0] == 0:
        return FoldMoments.empty(options["n_folds"], a.shape[1], b.shape[1])
    # Validation names bad rows by their global index, not their place in the partition.
    a_arr, b_arr = check_pair(a, b, min_pairs=1, first_row=first_row)
    return moments_of(a_arr, b_arr, first_row=first_row, **options)


def _merge_all(parts: Sequence[FoldMoments]) -> FoldMoments:
    return reduce(FoldMoments.merge, parts)


def _first_rows(lengths: Sequence[int]) -> list[int]:
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)[:-1]]).astype(int).tolist()


def _frame_matrix(frame: Any, columns: Sequence[str]) -> np.ndarray:
    """Columns of a pandas partition as ``(rows, dims)``, read by the one column reader."""
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(frame[list(columns)], preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DatasetError(
            f"columns {list(columns)} are not numbers or vectors of numbers of one type: {exc}"
        ) from exc
    try:
        return table_matrix(table, columns, "a data frame partition")
    except DatasetError as exc:
        if not any(pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                   for f in table.schema):  # fmt: skip
            raise
        raise DatasetError(
            f"{exc}; if the column held vectors, dask's 'dataframe.convert-string' turned them "
            "into text: store them as a parquet list column, or set "
            "dask.config.set({'dataframe.convert-string': False}) before building the frame"
        ) from exc


def _frame_moments(
    frame_a: Any,
    frame_b: Any,
    columns_a: Sequence[str],
    columns_b: Sequence[str],
    first_row: int,
    options: dict[str, Any],
) -> FoldMoments | None:
    if len(frame_a) != len(frame_b):
        raise ShapeError(
            f"a partition has {len(frame_a)} rows on side a but {len(frame_b)} on side b: "
            "the two data frames must be partitioned alike (same divisions and lengths)"
        )
    if len(frame_a) == 0:
        return None
    return _block_moments(
        _frame_matrix(frame_a, columns_a), _frame_matrix(frame_b, columns_b), first_row, options
    )


def _merge_present(parts: Sequence[FoldMoments | None]) -> FoldMoments | None:
    present = [p for p in parts if p is not None]
    return _merge_all(present) if present else None


# ---- graph building (runs on the client) -------------------------------------------
def _tree_reduce(parts: list[Any], merge: Any) -> Any:
    dask, _ = _dask()
    while len(parts) > 1:
        parts = [
            dask.delayed(merge)(parts[i : i + _SPLIT_EVERY])
            for i in range(0, len(parts), _SPLIT_EVERY)
        ]
    return parts[0]


def _aligned_blocks(a: Any, b: Any) -> tuple[list[Any], list[Any], list[int]]:
    """Row blocks of a and b that pair up, rechunking b onto a's rows where known."""
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"need 2-D dask arrays; got {a.ndim}-D and {b.ndim}-D")
    a = a.rechunk({1: -1})
    b = b.rechunk({1: -1})
    rows_known = not (np.isnan(a.shape[0]) or np.isnan(b.shape[0]))
    if rows_known and a.shape[0] != b.shape[0]:
        raise ShapeError(
            f"a has {a.shape[0]} rows but b has {b.shape[0]}: row i of each forms pair i"
        )
    if any(np.isnan(c) for c in a.chunks[0] + b.chunks[0]):
        # A partition's first global row must be known before it is reduced (its rows'
        # folds depend on it); this computes the blocks once to learn their lengths.
        a, b = a.compute_chunk_sizes(), b.compute_chunk_sizes()
        if a.shape[0] != b.shape[0]:
            raise ShapeError(
                f"a has {a.shape[0]} rows but b has {b.shape[0]}: row i of each forms pair i"
            )
    if a.chunks[0] != b.chunks[0]:
        b = b.rechunk({0: a.chunks[0]})
    return list(a.to_delayed().ravel()), list(b.to_delayed().ravel()), _first_rows(a.chunks[0])


def moments_from_dask(
    a: Any,
    b: Any,
    *,
    precision: str = "auto",
    device: str | None = None,
    n_folds: int = N_FOLDS,
) -> FoldMoments:
    """Merged fold moments of two row-aligned dask arrays, reduced across partitions.

    Each row block is validated and reduced to moments where it lives, told the global
    index of its first row. Blocks of unknown size are measured first (one extra pass);
    :func:`encode_dask` gives blocks of known size, so its output needs none.
    """
    dask, _ = _dask()
    options = _options(precision, device, n_folds)
    blocks_a, blocks_b, first_rows = _aligned_blocks(a, b)
    parts = [
        dask.delayed(_block_moments)(x, y, first, options)
        for x, y, first in zip(blocks_a, blocks_b, first_rows, strict=True)
    ]
    return _tree_reduce(parts, _merge_all).compute()


def _as_dask_array(data: Any, side: str) -> Any:
    """A dask array as it is; a numpy array as one, in row blocks; anything else refused."""
    _, da = _dask()
    if isinstance(data, da.Array):
        return data
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise ShapeError(f"{side} must be 2-D (rows x features); got shape {data.shape}")
        return da.from_array(data, chunks=(auto_block_rows(data.shape[1], 0), -1))
    raise ParameterError(
        f"fit_dask takes dask arrays, numpy arrays, dask data frames or parquet paths for "
        f"{side}; got {type(data).__name__}"
    )


def _as_frame(data: Any) -> Any:
    if isinstance(data, str | Path):
        import dask.dataframe as dd
        import pyarrow as pa

        if not Path(data).exists():
            raise DatasetError(f"no parquet file or folder at {data}")
        try:
            return dd.read_parquet(str(data))
        except (OSError, ValueError, TypeError, pa.ArrowException) as exc:
            raise DatasetError(f"cannot read {data} as parquet: {exc}") from exc
    return data


def _is_frame(data: Any) -> bool:
    return hasattr(data, "to_delayed") and hasattr(data, "columns")


def moments_from_frames(
    frame_a: Any,
    frame_b: Any | None = None,
    *,
    columns_a: Sequence[str],
    columns_b: Sequence[str],
    precision: str = "auto",
    device: str | None = None,
    n_folds: int = N_FOLDS,
) -> FoldMoments:
    """Merged fold moments of dask data frames (one holding both sides, or one per side).

    A side is one column of vectors or several numeric columns. Two frames must be
    partitioned alike, partition i of each holding the same pairs. Partition lengths
    are counted first (cheap next to the products) so each knows its first global row.
    """
    dask, _ = _dask()
    options = _options(precision, device, n_folds)
    frame_a = _as_frame(frame_a)
    frame_b = frame_a if frame_b is None else _as_frame(frame_b)
    for frame, cols, side in ((frame_a, columns_a, "a"), (frame_b, columns_b, "b")):
        missing = [c for c in cols if c not in frame.columns]
        if missing or not cols:
            raise ParameterError(
                f"columns_{side}={list(cols)} not all in the data frame; it has "
                f"{list(frame.columns)}"
            )
    parts_a = frame_a[list(columns_a)].to_delayed()
    parts_b = frame_b[list(columns_b)].to_delayed()
    if len(parts_a) != len(parts_b):
        raise ShapeError(
            f"side a has {len(parts_a)} partitions but side b has {len(parts_b)}; "
            "partition them alike"
        )
    lengths = frame_a.map_partitions(len).compute().tolist()
    parts = [
        dask.delayed(_frame_moments)(x, y, list(columns_a), list(columns_b), first, options)
        for x, y, first in zip(parts_a, parts_b, _first_rows(lengths), strict=True)
    ]
    total = _tree_reduce(parts, _merge_present).compute()
    if total is None:
        raise ShapeError("the data frames hold no rows")
    return total


def fit_dask(
    model: Any,
    a: Any,
    b: Any | None = None,
    *,
    columns_a: Sequence[str] | None = None,
    columns_b: Sequence[str] | None = None,
) -> Any:
    """Fit a moment model (CSA, CCA, LinearMap) on dask data; returns the model.

    ``a`` and ``b`` are dask (or numpy) arrays; or dask data frames (``b`` optional)
    with ``columns_a``/``columns_b``; or a parquet path or folder for ``a`` (and ``b``).
    The model's ``precision``, ``device`` and ``n_folds`` apply on the workers. Like
    ``fit``, it starts over, and a failure on any partition leaves ``model`` as it was.
    """
    fresh = fresh_copy(model, "fit_dask")
    if not hasattr(fresh, "fit_moments"):
        raise ParameterError(
            f"{type(model).__name__} is not fitted from moments, so it cannot be reduced "
            "across partitions (ASIF keeps every pair: fit it on a sample in memory)"
        )
    options = {"precision": fresh.precision, "device": fresh.device, "n_folds": fresh.n_folds}
    frame_a = _as_frame(a)
    if _is_frame(frame_a):
        if columns_a is None or columns_b is None:
            raise ParameterError("data frames need columns_a=[...] and columns_b=[...]")
        moments = moments_from_frames(
            frame_a, b, columns_a=columns_a, columns_b=columns_b, **options
        )
    else:
        if b is None:
            raise ParameterError("dask arrays need both a and b")
        moments = moments_from_dask(_as_dask_array(a, "a"), _as_dask_array(b, "b"), **options)
    return commit(model, fresh.fit_moments(moments))


# ---- encoding --------------------------------------------------------------------
def _count(items: Any) -> int:
    return len(list(items))


def _encode_partition(encoder: Any, items: Any, batch_size: int) -> np.ndarray:
    values = list(items)
    if not values:
        return np.zeros((0, int(encoder.dim)), dtype=np.float32)
    out = encoder.encode(values, batch_size=batch_size, show_progress=False)
    return np.asarray(out, dtype=np.float32)


def encode_dask(encoder: Any, items: Any, *, batch_size: int = 32) -> Any:
    """Embeddings of a dask bag or series as a lazy ``(n, encoder.dim)`` float32 dask array.

    The encoder is shipped to each worker once and mapped over partitions; row block
    i of the result is partition i. The partitions' lengths are counted first (reading
    the items, not encoding them), so the blocks have known sizes and
    :func:`moments_from_dask` knows each block's first global row without encoding twice.
    """
    dask, da = _dask()
    if not hasattr(items, "to_delayed"):
        raise ParameterError(f"encode_dask needs a dask bag or series; got {type(items).__name__}")
    parts = items.to_delayed()
    lengths = dask.compute(*[dask.delayed(_count)(part) for part in parts])
    shared = dask.delayed(encoder, pure=True)
    blocks = [
        da.from_delayed(
            dask.delayed(_encode_partition)(shared, part, batch_size),
            shape=(int(n), int(encoder.dim)),
            dtype=np.float32,
        )
        for part, n in zip(parts, lengths, strict=True)
    ]
    return da.concatenate(blocks, axis=0)
