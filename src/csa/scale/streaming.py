"""Out-of-core fits: paired features read from disk in row chunks.

A CSA fit needs only sums over rows, so a million pairs never have to be in memory
together. These readers turn ``.npy`` files and parquet files or datasets into an
iterator of ``(a_chunk, b_chunk)`` pairs for :meth:`csa.CSA.fit_chunks`; peak memory
is then the d x d moments plus one chunk, whatever the number of rows.

``.npy`` files are read with plain positioned reads rather than a memory map: mapped
pages that have been touched stay resident in the process (and count in its RSS)
until the kernel reclaims them, so a memory-mapped pass over 8 GB of features looks
like an 8 GB process. Explicit reads keep the resident set at one chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.errors import DatasetError, ParameterError, ShapeError

# Working memory aimed at per chunk: the float64 copy made by validation plus the
# centred copy, for both sides.
DEFAULT_CHUNK_BYTES = 256 * 2**20
_FLOAT64_COPIES_PER_ROW = 2


def auto_chunk_rows(dim_a: int, dim_b: int, budget_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Rows per chunk so that the float64 working copies of one chunk fit ``budget_bytes``."""
    per_row = _FLOAT64_COPIES_PER_ROW * 8 * (dim_a + dim_b)
    return max(1024, int(budget_bytes // per_row))


def _check_chunk_rows(chunk_rows: int | None, dim_a: int, dim_b: int) -> int:
    if chunk_rows is None:
        return auto_chunk_rows(dim_a, dim_b)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int | np.integer):
        raise ParameterError(f"chunk_rows must be a positive integer or None; got {chunk_rows!r}")
    if chunk_rows < 1:
        raise ParameterError(f"chunk_rows={chunk_rows} must be at least 1")
    return int(chunk_rows)


# ---- .npy ------------------------------------------------------------------------
class NpyRowReader:
    """Row ranges of a 2-D C-ordered ``.npy`` file, read on demand without a memory map."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetError(f"feature file {self.path} not found")
        # Opening a memory map reads only the header (any .npy version); no data page is
        # touched, and the map is closed at once.
        try:
            mapped = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DatasetError(
                f"{self.path} is not a readable .npy file (pickled objects are refused, "
                f"and a truncated file is refused): {exc}"
            ) from exc
        shape, dtype = mapped.shape, mapped.dtype
        fortran = bool(mapped.flags.f_contiguous and not mapped.flags.c_contiguous)
        self._offset = int(mapped.offset)
        del mapped
        if dtype.hasobject:
            raise DatasetError(f"{self.path} holds Python objects (pickle); refusing to read it")
        if len(shape) != 2:
            raise DatasetError(
                f"{self.path} holds a {len(shape)}-D array of shape {shape}; features must be "
                "2-D (rows, dims)"
            )
        if fortran and shape[0] > 1 and shape[1] > 1:
            raise DatasetError(
                f"{self.path} is stored column-major (Fortran order), so a row chunk is not "
                "contiguous on disk; rewrite it with np.save(path, np.ascontiguousarray(x))"
            )
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = dtype
        self._row_bytes = self.shape[1] * dtype.itemsize
        expected = self._offset + self.shape[0] * self._row_bytes
        size = self.path.stat().st_size
        if size < expected:
            raise DatasetError(
                f"{self.path} is truncated: its header promises {self.shape} {dtype} "
                f"({expected} bytes) but the file has {size}"
            )

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a fresh in-memory array."""
        stop = min(stop, self.shape[0])
        count = max(0, stop - start) * self.shape[1]
        with self.path.open("rb") as handle:
            handle.seek(self._offset + start * self._row_bytes)
            flat = np.fromfile(handle, dtype=self.dtype, count=count)
        return flat.reshape(-1, self.shape[1])


def iter_array_chunks(
    a: Any, b: Any, chunk_rows: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Row chunks of two row-aligned arrays (in memory, memory-mapped, h5py, zarr...)."""
    if len(a.shape) != 2 or len(b.shape) != 2:
        raise ShapeError(f"need 2-D arrays; got shapes {a.shape} and {b.shape}")
    if a.shape[0] != b.shape[0]:
        raise ShapeError(
            f"a has {a.shape[0]} rows but b has {b.shape[0]}: row i of each forms pair i"
        )
    rows = _check_chunk_rows(chunk_rows, a.shape[1], b.shape[1])
    for start in range(0, a.shape[0], rows):
        yield np.asarray(a[start : start + rows]), np.asarray(b[start : start + rows])


def iter_npy_chunks(
    path_a: str | Path, path_b: str | Path, chunk_rows: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Row chunks of two row-aligned ``.npy`` files, one chunk resident at a time."""
    reader_a, reader_b = NpyRowReader(path_a), NpyRowReader(path_b)
    n_a, n_b = reader_a.shape[0], reader_b.shape[0]
    if n_a != n_b:
        raise ShapeError(f"{path_a} has {n_a} rows but {path_b} has {n_b}; they must pair up")
    rows = _check_chunk_rows(chunk_rows, reader_a.shape[1], reader_b.shape[1])
    for start in range(0, n_a, rows):
        yield reader_a.read(start, start + rows), reader_b.read(start, start + rows)


# ---- parquet ---------------------------------------------------------------------
def _arrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.dataset as ds
    except ImportError as exc:  # pragma: no cover - pyarrow is in the scale extra
        raise DatasetError("reading parquet needs pyarrow: pip install 'csa[scale]'") from exc
    return pa, ds


def _open_dataset(path: str | Path) -> Any:
    _, ds = _arrow()
    source = Path(path)
    if not source.exists():
        raise DatasetError(f"parquet file or dataset {source} not found")
    try:
        return ds.dataset(str(source), format="parquet")
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DatasetError(f"{source} is not a readable parquet file or dataset: {exc}") from exc


def _feature_columns(schema: Any, source: str) -> list[str]:
    """Columns that can hold features: numbers, or lists of numbers (one vector per row)."""
    pa, _ = _arrow()
    chosen = []
    for field in schema:
        kind = field.type
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            kind = kind.value_type
        elif pa.types.is_fixed_size_list(kind):
            kind = kind.value_type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            chosen.append(field.name)
    if not chosen:
        raise DatasetError(f"{source} has no numeric or vector columns")
    return chosen


def _column_matrix(column: Any, name: str, source: str) -> np.ndarray:
    """One arrow column as a 2-D float array: a vector column, or a scalar as one feature."""
    pa, _ = _arrow()
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if not (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ):
        return column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)[:, None]
    if column.null_count:
        raise DatasetError(f"{source}: column {name!r} has {column.null_count} missing vector(s)")
    n = len(column)
    values = column.flatten().to_numpy(zero_copy_only=False)
    if n and values.size % n == 0:
        dim = values.size // n
        if pa.types.is_fixed_size_list(kind):
            return values.reshape(n, dim)
        offsets = column.offsets.to_numpy()
        if np.all(np.diff(offsets) == dim):
            return values.reshape(n, dim)
    lengths = np.diff(column.offsets.to_numpy()) if n else np.array([])
    raise DatasetError(
        f"{source}: column {name!r} holds vectors of different lengths "
        f"({sorted(set(lengths.tolist()))[:5]}); every row must have the same dimension"
    )


def _batch_matrix(batch: Any, columns: Sequence[str], source: str) -> np.ndarray:
    parts = [_column_matrix(batch.column(name), name, source) for name in columns]
    return parts[0] if len(parts) == 1 else np.hstack(parts)


def _side_width(dataset: Any, columns: Sequence[str]) -> int | None:
    """Features per row of a side, from the schema alone when it says (None if not)."""
    pa, _ = _arrow()
    width = 0
    for name in columns:
        kind = dataset.schema.field(name).type
        if pa.types.is_fixed_size_list(kind):
            width += kind.list_size
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return None
        else:
            width += 1
    return width


def _parquet_chunk_rows(
    chunk_rows: int | None,
    dataset_a: Any,
    cols_a: Sequence[str],
    dataset_b: Any,
    cols_b: Sequence[str],
) -> int:
    width_a, width_b = _side_width(dataset_a, cols_a), _side_width(dataset_b, cols_b)
    if chunk_rows is None and (width_a is None or width_b is None):
        # Variable-length list columns hide the width until read; assume 1024 per side.
        return auto_chunk_rows(width_a or 1024, width_b or 1024)
    return _check_chunk_rows(chunk_rows, width_a or 1, width_b or 1)


def _check_columns(dataset: Any, columns: Sequence[str], source: str) -> list[str]:
    missing = [c for c in columns if c not in dataset.schema.names]
    if missing:
        raise DatasetError(
            f"{source} has no column(s) {missing}; it has {list(dataset.schema.names)}"
        )
    if not columns:
        raise ParameterError(f"no columns chosen for {source}")
    return list(columns)


def _dataset_blocks(
    dataset: Any, columns: Sequence[str], rows: int, source: str
) -> Iterator[np.ndarray]:
    for batch in dataset.to_batches(columns=list(columns), batch_size=rows):
        if batch.num_rows:
            yield _batch_matrix(batch, columns, source)


def rebatch(blocks: Iterable[np.ndarray], rows: int) -> Iterator[np.ndarray]:
    """Re-cut a stream of 2-D blocks into blocks of exactly ``rows`` rows (last shorter).

    Parquet batch sizes follow row groups and files, which differ between two
    datasets; re-cutting both streams to one size keeps their rows aligned.
    """
    pending: list[np.ndarray] = []
    held = 0
    for block in blocks:
        pending.append(block)
        held += block.shape[0]
        while held >= rows:
            merged = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield merged[:rows]
            rest = merged[rows:]
            pending, held = ([rest] if rest.shape[0] else []), rest.shape[0]
    if held:
        yield np.concatenate(pending) if len(pending) > 1 else pending[0]


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
    b); with two, each defaults to all of its numeric and vector columns.
    """
    source_a = str(path_a)
    dataset_a = _open_dataset(path_a)
    if path_b is None:
        if columns_a is None or columns_b is None:
            found = _feature_columns(dataset_a.schema, source_a)
            if columns_a is None and columns_b is None and len(found) == 2:
                columns_a, columns_b = [found[0]], [found[1]]
            else:
                raise ParameterError(
                    f"{source_a} holds both sides: say which columns are side a and side b "
                    f"(columns_a=..., columns_b=...); feature columns found: {found}"
                )
        cols_a = _check_columns(dataset_a, columns_a, source_a)
        cols_b = _check_columns(dataset_a, columns_b, source_a)
        rows = _parquet_chunk_rows(chunk_rows, dataset_a, cols_a, dataset_a, cols_b)
        for batch in dataset_a.to_batches(columns=cols_a + cols_b, batch_size=rows):
            if batch.num_rows:
                yield _batch_matrix(batch, cols_a, source_a), _batch_matrix(batch, cols_b, source_a)
        return
    source_b = str(path_b)
    dataset_b = _open_dataset(path_b)
    cols_a = _check_columns(
        dataset_a, columns_a or _feature_columns(dataset_a.schema, source_a), source_a
    )
    cols_b = _check_columns(
        dataset_b, columns_b or _feature_columns(dataset_b.schema, source_b), source_b
    )
    rows = _parquet_chunk_rows(chunk_rows, dataset_a, cols_a, dataset_b, cols_b)
    stream_a = rebatch(_dataset_blocks(dataset_a, cols_a, rows, source_a), rows)
    stream_b = rebatch(_dataset_blocks(dataset_b, cols_b, rows, source_b), rows)
    seen = 0
    while True:
        block_a = next(stream_a, None)
        block_b = next(stream_b, None)
        if block_a is None and block_b is None:
            return
        if block_a is None or block_b is None or block_a.shape[0] != block_b.shape[0]:
            raise ShapeError(
                f"{source_a} and {source_b} have different row counts (they diverge after "
                f"{seen} rows); row i of each must form pair i"
            )
        seen += block_a.shape[0]
        yield block_a, block_b


# ---- one entry point -------------------------------------------------------------
def _is_parquet(path: Path) -> bool:
    return path.suffix == ".parquet" or path.is_dir()


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
    if _is_parquet(first) and (path_b is None or _is_parquet(Path(path_b))):
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
    so it is fed chunk by chunk but still ends up holding all rows. Returns the model.
    """
    chunks = iter_pair_chunks(
        path_a, path_b, chunk_rows=chunk_rows, columns_a=columns_a, columns_b=columns_b
    )
    if hasattr(model, "fit_chunks"):
        return model.fit_chunks(chunks)
    fitted = False
    for a_chunk, b_chunk in chunks:
        if not fitted:
            model._reset()
            fitted = True
        model.partial_fit(a_chunk, b_chunk)
    if not fitted:
        raise DatasetError(f"{path_a} holds no rows")
    return model
