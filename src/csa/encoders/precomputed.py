"""Features someone already computed, served through the Encoder interface.

This is how any modality enters csa without an encoder of ours: lidar, audio or
time-series embeddings from another pipeline are written to ``.npy`` or
``.parquet``, and the "items" become row numbers or ids into that table. Since
the arrays come from outside, they are checked here (shape, dtype, finiteness) so
a bad file fails at load with its path in the message.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.encoders.base import as_item_sequence
from csa.errors import DatasetError, DtypeError, InputError, NonFiniteError, ShapeError

# Finiteness is checked in slabs so a memory-mapped file is never copied whole.
_CHECK_ROWS = 65_536


def _check_matrix(arr: np.ndarray, path: Path) -> None:
    if arr.ndim != 2:
        raise ShapeError(f"{path}: features must be a 2-D (rows, dim) array; got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(f"{path}: features array is empty (shape {arr.shape})")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise DtypeError(f"{path}: features must be real numbers; got dtype {arr.dtype}")
    for start in range(0, arr.shape[0], _CHECK_ROWS):
        slab = np.asarray(arr[start : start + _CHECK_ROWS])
        if not np.isfinite(slab).all():
            row = start + int(np.flatnonzero(~np.isfinite(slab).all(axis=1))[0])
            raise NonFiniteError(f"{path}: NaN or infinite feature values, first in row {row}")


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle, which is refused
        raise DatasetError(f"{path}: not a plain numeric .npy file ({exc})") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read .npy file ({exc})") from exc


def _load_parquet(
    path: Path, id_column: str | None, columns: Sequence[str] | None
) -> tuple[np.ndarray, list[Any] | None]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends
        raise DatasetError(f"{path}: cannot read parquet file ({exc})") from exc
    ids = None
    if id_column is not None:
        if id_column not in frame.columns:
            raise DatasetError(
                f"{path}: no id column {id_column!r}; columns are {list(frame.columns)}"
            )
        ids = frame[id_column].tolist()
        frame = frame.drop(columns=[id_column])
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DatasetError(f"{path}: no column(s) {missing}; columns are {list(frame.columns)}")
        frame = frame[list(columns)]
    if frame.shape[1] == 0:
        raise ShapeError(f"{path}: no feature columns left")
    if frame.shape[1] == 1 and pd.api.types.is_object_dtype(frame.dtypes.iloc[0]):
        # one column holding a vector per row, the usual way embeddings are stored
        cells = frame.iloc[:, 0].tolist()
        lengths = {len(c) for c in cells}
        if len(lengths) > 1:
            raise ShapeError(f"{path}: vectors in column {frame.columns[0]!r} differ in length")
        try:
            return np.asarray(np.stack([np.asarray(c) for c in cells])), ids
        except (TypeError, ValueError) as exc:
            raise DtypeError(f"{path}: column {frame.columns[0]!r} is not numeric") from exc
    non_numeric = [c for c, t in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(t)]
    if non_numeric:
        raise DtypeError(
            f"{path}: non-numeric feature column(s) {non_numeric}; name the id column with "
            "id_column= or pick features with columns="
        )
    return frame.to_numpy(), ids


class PrecomputedEncoder:
    """Rows of a ``.npy`` or ``.parquet`` feature table, looked up by row number or id.

    ``ids`` (for ``.npy``) or ``id_column`` (for ``.parquet``) make the items ids;
    without them, items are row numbers ``0..n-1``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        ids: Sequence[Hashable] | None = None,
        id_column: str | None = None,
        columns: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        self._path = Path(path).expanduser()
        if not self._path.is_file():
            raise DatasetError(f"precomputed features file not found: {self._path}")
        suffix = self._path.suffix.lower()
        if suffix == ".npy":
            if id_column is not None or columns is not None:
                raise InputError("id_column= and columns= apply to .parquet files, not .npy")
            self._features = _load_npy(self._path)
            id_list = None if ids is None else list(ids)
        elif suffix in (".parquet", ".pq"):
            self._features, id_list = _load_parquet(self._path, id_column, columns)
            if ids is not None:
                if id_list is not None:
                    raise InputError("give ids= or id_column=, not both")
                id_list = list(ids)
        else:
            raise DatasetError(f"{self._path}: precomputed features must be .npy or .parquet")
        _check_matrix(self._features, self._path)
        self._index = self._build_index(id_list)
        self._name = name if name is not None else f"precomputed:{self._path.resolve()}"

    def _build_index(self, id_list: list[Any] | None) -> dict[Any, int] | None:
        if id_list is None:
            return None
        if len(id_list) != self._features.shape[0]:
            raise ShapeError(
                f"{self._path}: {len(id_list)} ids for {self._features.shape[0]} feature rows"
            )
        index = {key: row for row, key in enumerate(id_list)}
        if len(index) != len(id_list):
            raise InputError(f"{self._path}: ids are not unique")
        return index

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return int(self._features.shape[1])

    def __len__(self) -> int:
        return int(self._features.shape[0])

    @property
    def ids(self) -> list[Any] | None:
        """The ids in row order, or None when items are row numbers."""
        return None if self._index is None else list(self._index)

    def _rows(self, items: Sequence[Any]) -> np.ndarray:
        if self._index is not None:
            missing = [k for k in items if k not in self._index]
            if missing:
                raise InputError(
                    f"{len(missing)} id(s) not in {self._path.name}, e.g. {missing[:5]!r}"
                )
            return np.fromiter((self._index[k] for k in items), dtype=np.int64, count=len(items))
        rows = np.asarray(items)
        if rows.size and not np.issubdtype(rows.dtype, np.integer):
            raise DtypeError(
                f"items for {self._name!r} are row numbers (integers); got {rows.dtype}. "
                "To look rows up by id, pass ids= or id_column="
            )
        rows = rows.astype(np.int64).reshape(-1)
        n = len(self)
        bad = (rows < 0) | (rows >= n)
        if bad.any():
            raise ShapeError(
                f"row number {int(rows[bad][0])} out of range for {n} rows in {self._path.name}"
            )
        return rows

    def encode(
        self, items: Sequence[Any], batch_size: int = 32, show_progress: bool | None = None
    ) -> np.ndarray:
        """Look the rows up; batching and progress do not apply to a table read."""
        del batch_size, show_progress  # protocol arguments; a lookup needs neither
        seq = list(as_item_sequence(items))
        return np.asarray(self._features[self._rows(seq)], dtype=np.float32)

    def __repr__(self) -> str:
        return f"PrecomputedEncoder(name={self._name!r}, rows={len(self)}, dim={self.dim})"
