"""Out-of-core fits: paired features read from disk in row chunks.

A CSA fit needs only sums over rows, so a million pairs never have to be in memory
together. :func:`iter_pair_chunks` turns two feature files (or one parquet file
holding both sides) into an iterator of ``(a_chunk, b_chunk)`` pairs for
:meth:`csa.CSA.fit_chunks`, read through the one feature reader
(:mod:`csa.scale.features`); peak memory is then the d x d moments plus one chunk,
whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.errors import DatasetError, ParameterError, ShapeError, TooFewPairsError
from csa.scale.features import FeatureFile, default_feature_columns, is_parquet_path
from csa.scale.transaction import commit, fresh_copy

# Working memory aimed at per chunk: the chunk as read plus its centred copy, for both
# sides, counted at 8 bytes a value (float32 input needs half of it).
DEFAULT_CHUNK_BYTES = 256 * 2**20
_COPIES_PER_ROW = 2


def auto_chunk_rows(dim_a: int, dim_b: int, budget_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Rows per chunk so that the working copies of one chunk fit ``budget_bytes``."""
    per_row = _COPIES_PER_ROW * 8 * (dim_a + dim_b)
    return max(1024, int(budget_bytes // per_row))


def _check_chunk_rows(chunk_rows: int | None, dim_a: int, dim_b: int) -> int:
    if chunk_rows is None:
        return auto_chunk_rows(dim_a, dim_b)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int | np.integer):
        raise ParameterError(f"chunk_rows must be a positive integer or None; got {chunk_rows!r}")
    if chunk_rows < 1:
        raise ParameterError(f"chunk_rows={chunk_rows} must be at least 1")
    return int(chunk_rows)


def _paired_blocks(
    file_a: FeatureFile, file_b: FeatureFile, chunk_rows: int | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    if file_a.n_rows != file_b.n_rows:
        raise ShapeError(
            f"different row counts: {file_a.source} has {file_a.n_rows} rows but "
            f"{file_b.source} has {file_b.n_rows}; row i of each must form pair i"
        )
    rows = _check_chunk_rows(chunk_rows, file_a.dim, file_b.dim)
    # Both files are checked above, so a bad pair fails here rather than mid-fit.
    return zip(file_a.blocks(rows), file_b.blocks(rows), strict=True)


def iter_npy_chunks(
    path_a: str | Path, path_b: str | Path, chunk_rows: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Row chunks of two row-aligned ``.npy`` files, one chunk resident at a time."""
    return _paired_blocks(FeatureFile(path_a), FeatureFile(path_b), chunk_rows)


def iter_parquet_chunks(
    path_a: str | Path,
    path_b: str | Path | None = None,
    *,
    columns_a: Sequence[str] | None = None,
    columns_b: Sequence[str] | None = None,
    chunk_rows: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Row chunks from parquet: one file/dataset holding both sides, or one per side.

    A side is either one column of vectors (list or fixed-size list) or several
    numeric columns, concatenated in the order given. With one dataset, name the
    columns of each side (or give a dataset with exactly two feature columns: a, then
    b); with two, each defaults to its feature columns (vector columns if it has any,
    else numeric columns; id and label columns only when named).
    """
    if path_b is None:
        if columns_a is None or columns_b is None:
            both = FeatureFile(path_a)
            found = default_feature_columns(both._dataset.schema, both.source)
            if columns_a is None and columns_b is None and len(found) == 2:
                columns_a, columns_b = [found[0]], [found[1]]
            else:
                raise ParameterError(
                    f"{path_a} holds both sides: say which columns are side a and side b "
                    f"(columns_a=..., columns_b=...); feature columns found: {found}"
                )
        path_b = path_a
    return _paired_blocks(
        FeatureFile(path_a, columns=columns_a),
        FeatureFile(path_b, columns=columns_b),
        chunk_rows,
    )


def iter_pair_chunks(
    path_a: str | Path,
    path_b: str | Path | None = None,
    *,
    chunk_rows: int | None = None,
    columns_a: Sequence[str] | None = None,
    columns_b: Sequence[str] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Row chunks of paired features from ``.npy`` files or parquet files/datasets.

    Two ``.npy`` paths, two parquet paths, or one parquet path holding both sides.
    """
    first = Path(path_a)
    if first.suffix == ".npy":
        if path_b is None or Path(path_b).suffix != ".npy":
            raise ParameterError(
                f"{first} is a .npy file: pass a second .npy file with the other side"
            )
        if columns_a is not None or columns_b is not None:
            raise ParameterError("columns_a/columns_b apply to parquet input, not .npy")
        return iter_npy_chunks(first, path_b, chunk_rows)
    if is_parquet_path(first) and (path_b is None or is_parquet_path(path_b)):
        return iter_parquet_chunks(
            first, path_b, columns_a=columns_a, columns_b=columns_b, chunk_rows=chunk_rows
        )
    raise ParameterError(
        f"cannot read features from {first}"
        + ("" if path_b is None else f" and {path_b}")
        + ": use two .npy files, or parquet files or dataset folders"
    )


def fit_files(
    model: Any,
    path_a: str | Path,
    path_b: str | Path | None = None,
    *,
    chunk_rows: int | None = None,
    columns_a: Sequence[str] | None = None,
    columns_b: Sequence[str] | None = None,
) -> Any:
    """Fit ``model`` on paired features stored on disk, streaming them in row chunks.

    Models fitted from moments (CSA, CCA, LinearMap) hold only O(d^2) state plus one
    chunk, so files far larger than memory fit. ASIF keeps every pair as an anchor,
    so it is fed chunk by chunk but still ends up holding all rows. Like ``fit``, it
    starts over; a fit that fails half way (a NaN in a later chunk, an unreadable
    file) leaves ``model`` exactly as it was. Returns the model.
    """
    fresh = fresh_copy(model, "fit_files")
    chunks = iter_pair_chunks(
        path_a, path_b, chunk_rows=chunk_rows, columns_a=columns_a, columns_b=columns_b
    )
    if hasattr(fresh, "fit_chunks"):
        fresh.fit_chunks(chunks)
    else:
        for a_chunk, b_chunk in chunks:
            fresh.partial_fit(a_chunk, b_chunk)
        if not fresh.is_fitted:
            raise DatasetError(f"{path_a} holds no rows")
        if fresh.n_pairs_seen_ < 2:
            raise TooFewPairsError(f"{path_a} holds 1 pair; a fit needs at least 2")
    return commit(model, fresh)
