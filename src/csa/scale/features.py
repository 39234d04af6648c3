"""The one reader of feature files: ``.npy`` arrays and parquet files or dataset folders.

Out-of-core fits, Dask fits, the precomputed encoder and the embeddings data set all
read paired features from disk. They share this reader so that a file means the same
thing everywhere: the same columns are features, the same checks refuse a bad file,
and the same row blocks stream it.

Which parquet columns are features (issue 9: an ``id`` column next to the embedding
must never become a feature):

- columns named by the caller are the features, in the order given;
- otherwise, if the file has vector columns (list or fixed-size list of numbers), the
  vector columns are the features and every scalar column is metadata;
- otherwise the numeric scalar columns are, except those whose names say they are
  metadata (``id``, ``label``, ``*_id``, ... see :data:`METADATA_NAMES`); a remaining
  text column is an error, since it can only mean the layout was misread.

``.npy`` files are read with positioned reads rather than a memory map for streaming:
touched pages of a map stay resident in the process until the kernel reclaims them,
so a mapped pass over 8 GB of features looks like an 8 GB process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.errors import DatasetError, NonFiniteError, ParameterError

NPY_SUFFIXES = (".npy",)
PARQUET_SUFFIXES = (".parquet", ".pq")
# Scalar columns with these names (case-insensitive), or ending in "_id", describe a
# row rather than measure it; they are features only when named.
METADATA_NAMES = frozenset(
    {
        "id",
        "ids",
        "key",
        "index",
        "idx",
        "row",
        "label",
        "labels",
        "class",
        "class_name",
        "target",
        "y",
        "file",
        "file_name",
        "filename",
        "path",
        "__index_level_0__",
    }
)
# Rows read per block when checking or converting a whole file.
_SCAN_ROWS = 65_536


def is_metadata_name(name: str) -> bool:
    """Whether a column name marks row metadata (ids, labels, file names), not a feature."""
    lowered = str(name).lower()
    return lowered in METADATA_NAMES or lowered.endswith("_id")


def is_parquet_path(path: str | Path) -> bool:
    """A parquet file (by suffix) or a folder, which is read as a parquet dataset."""
    source = Path(path)
    return source.suffix.lower() in PARQUET_SUFFIXES or source.is_dir()


def _arrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.dataset as ds
    except ImportError as exc:  # pragma: no cover - pyarrow is in the scale extra
        raise DatasetError("reading parquet needs pyarrow: pip install 'csa[scale]'") from exc
    return pa, ds


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
                f"{self.path} is not a plain numeric .npy file (pickled objects are refused, "
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
        if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
            raise DatasetError(f"{self.path}: features must be real numbers; got dtype {dtype}")
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

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Arbitrary rows (in the order given), touching only their pages through a map."""
        mapped = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return np.array(mapped[rows])


# ---- arrow columns -> matrices -----------------------------------------------------
def _vector_value_type(pa: Any, kind: Any) -> Any | None:
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return kind.value_type
    return None


def _is_number(pa: Any, kind: Any) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def default_feature_columns(schema: Any, source: str, *, exclude: Iterable[str] = ()) -> list[str]:
    """The columns of ``schema`` that hold features by the rules in the module docstring."""
    pa, _ = _arrow()
    skip = set(exclude)
    vectors, scalars, other = [], [], []
    for field in schema:
        if field.name in skip:
            continue
        value_type = _vector_value_type(pa, field.type)
        if value_type is not None:
            if _is_number(pa, value_type):
                vectors.append(field.name)
            else:
                other.append(field.name)
        elif _is_number(pa, field.type):
            if not is_metadata_name(field.name):
                scalars.append(field.name)
        elif not is_metadata_name(field.name):
            other.append(field.name)
    if vectors:
        return vectors
    if other:
        raise DatasetError(
            f"{source}: non-numeric column(s) {', '.join(map(str, other))}; a feature file "
            "holds numeric columns or vector columns (plus id/label columns); choose the "
            "feature columns by name (columns=...)"
        )
    if not scalars:
        raise DatasetError(
            f"{source} has no feature columns: columns are {list(schema.names)} and id or "
            "label columns are features only when named (columns=...)"
        )
    return scalars


def column_matrix(column: Any, name: str, source: str) -> np.ndarray:
    """One arrow column as a 2-D array: a vector column, or a scalar as one feature."""
    pa, _ = _arrow()
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    kind = column.type
    value_type = _vector_value_type(pa, kind)
    if value_type is None:
        if not _is_number(pa, kind):
            raise DatasetError(
                f"{source}: column {name!r} has type {kind}, not numbers or vectors of numbers"
            )
        return column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)[:, None]
    if not _is_number(pa, value_type):
        raise DatasetError(f"{source}: column {name!r} holds vectors of {value_type}, not numbers")
    if column.null_count:
        raise DatasetError(f"{source}: column {name!r} has {column.null_count} missing vector(s)")
    n = len(column)
    if pa.types.is_fixed_size_list(kind):
        return column.flatten().to_numpy(zero_copy_only=False).reshape(n, kind.list_size)
    lengths = np.diff(column.offsets.to_numpy())
    if n and np.all(lengths == lengths[0]):
        return column.flatten().to_numpy(zero_copy_only=False).reshape(n, int(lengths[0]))
    if n == 0:
        return np.zeros((0, 0))
    raise DatasetError(
        f"{source}: column {name!r} holds vectors of different lengths "
        f"({sorted(set(lengths.tolist()))[:5]}); every row must have the same dimension"
    )


def table_matrix(table: Any, columns: Sequence[str], source: str) -> np.ndarray:
    """Columns of an arrow table or record batch side by side, as one ``(rows, dims)`` array."""
    parts = [column_matrix(table.column(name), name, source) for name in columns]
    return parts[0] if len(parts) == 1 else np.hstack(parts)


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


# ---- one feature file --------------------------------------------------------------
class FeatureFile:
    """Features stored on disk, one row per item: a ``.npy`` array or parquet columns.

    Parameters
    ----------
    path:
        A ``.npy`` file, a ``.parquet`` file or a folder of parquet files.
    columns:
        Parquet only: the feature columns, in order (default: see the module docstring).
    exclude:
        Parquet only: columns that are never features by default (the caller's id and
        label columns), on top of the metadata names.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        columns: Sequence[str] | None = None,
        exclude: Iterable[str] = (),
    ) -> None:
        self.path = Path(path).expanduser()
        self.source = str(self.path)
        suffix = self.path.suffix.lower()
        self._npy: NpyRowReader | None = None
        self._dataset: Any = None
        if suffix in NPY_SUFFIXES:
            if columns is not None:
                raise ParameterError(f"{self.path} is a .npy file: columns= applies to parquet")
            self._npy = NpyRowReader(self.path)
            self.columns: list[str] = []
            self.n_rows = self._npy.shape[0]
            self.dim = self._npy.shape[1]
            return
        if not is_parquet_path(self.path):
            if not self.path.exists():
                raise DatasetError(f"feature file {self.path} not found")
            raise DatasetError(
                f"{self.path}: unsupported file type {self.path.suffix!r}; feature files are "
                ".npy or .parquet (or a folder of parquet files)"
            )
        self._dataset = _open_dataset(self.path)
        names = list(self._dataset.schema.names)
        if columns is not None:
            columns = [columns] if isinstance(columns, str) else list(columns)
            missing = [c for c in columns if c not in names]
            if missing:
                raise DatasetError(f"{self.source} has no column(s) {missing}; it has {names}")
            if not columns:
                raise ParameterError(f"no feature columns chosen for {self.source}")
            self.columns = columns
        else:
            self.columns = default_feature_columns(
                self._dataset.schema, self.source, exclude=exclude
            )
        self.n_rows = int(self._dataset.count_rows())
        self.dim = self._parquet_width()

    def _parquet_width(self) -> int:
        pa, _ = _arrow()
        width = 0
        for name in self.columns:
            kind = self._dataset.schema.field(name).type
            if pa.types.is_fixed_size_list(kind):
                width += kind.list_size
            elif _vector_value_type(pa, kind) is not None:
                # A variable-length list column shows its width only in the data.
                head = self._dataset.head(1, columns=[name])
                width += column_matrix(head.column(name), name, self.source).shape[1]
            else:
                width += 1
        return width

    @property
    def is_npy(self) -> bool:
        return self._npy is not None

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        """The features in consecutive blocks of ``rows`` rows (the last may be shorter).

        ``.npy`` blocks keep the file's dtype (a float32 file streams float32); parquet
        blocks are float64 unless a vector column stores float32.
        """
        if self._npy is not None:
            for start in range(0, self.n_rows, rows):
                yield self._npy.read(start, start + rows)
            return
        raw = (
            table_matrix(batch, self.columns, self.source)
            for batch in self._dataset.to_batches(columns=self.columns, batch_size=rows)
            if batch.num_rows
        )
        yield from rebatch(raw, rows)

    def read(self) -> np.ndarray:
        """Every row as one in-memory array (for files known to fit in memory)."""
        if self.n_rows == 0:
            return np.zeros((0, self.dim))
        parts = list(self.blocks(_SCAN_ROWS))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The features of the given row numbers, in that order."""
        if self._npy is not None:
            return self._npy.take(rows)
        table = self._dataset.take(pa_indices(rows), columns=self.columns)
        return table_matrix(table, self.columns, self.source)

    def column(self, name: str) -> list[Any]:
        """A parquet column's values as a Python list (ids, labels, file names)."""
        if self._dataset is None:
            raise ParameterError(f"{self.path} is a .npy file; it has no named columns")
        if name not in self._dataset.schema.names:
            raise DatasetError(
                f"{self.source} has no column {name!r}; it has {list(self._dataset.schema.names)}"
            )
        return self._dataset.to_table(columns=[name]).column(name).to_pylist()

    def has_column(self, name: str) -> bool:
        return self._dataset is not None and name in self._dataset.schema.names

    def check_finite(self) -> None:
        """Refuse the file if any value is NaN or infinite, naming the rows (block by block)."""
        bad_rows: list[int] = []
        count = 0
        start = 0
        for block in self.blocks(_SCAN_ROWS):
            bad = ~np.isfinite(block).all(axis=1)
            if bad.any():
                found = np.flatnonzero(bad)
                count += int(found.size)
                bad_rows.extend((start + found[: 5 - len(bad_rows)]).tolist())
            start += block.shape[0]
        if count:
            raise NonFiniteError(
                f"{self.source}: {count} row(s) hold NaN or infinite values, first in row "
                f"{bad_rows[0]} (first rows {bad_rows[:5]})"
            )

    def __repr__(self) -> str:
        return f"FeatureFile({self.source!r}, rows={self.n_rows}, dim={self.dim})"


def pa_indices(rows: np.ndarray) -> Any:
    """Row numbers as an arrow int64 array (what ``Dataset.take`` expects)."""
    pa, _ = _arrow()
    return pa.array(np.asarray(rows, dtype=np.int64))


def _open_dataset(path: Path) -> Any:
    _, ds = _arrow()
    if not path.exists():
        raise DatasetError(f"parquet file or dataset {path} not found")
    try:
        return ds.dataset(str(path), format="parquet")
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DatasetError(f"{path} is not a readable parquet file or dataset: {exc}") from exc


__all__ = [
    "METADATA_NAMES",
    "FeatureFile",
    "NpyRowReader",
    "column_matrix",
    "default_feature_columns",
    "is_metadata_name",
    "is_parquet_path",
    "rebatch",
    "table_matrix",
]
