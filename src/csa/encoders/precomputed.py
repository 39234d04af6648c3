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

from csa.encoders.base import RegistryNamed, as_item_sequence, finish_output
from csa.errors import DatasetError, DtypeError, InputError, ShapeError
from csa.scale.features import FeatureFile


class PrecomputedEncoder(RegistryNamed):
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
        if self._path.suffix.lower() not in (".npy", ".parquet", ".pq"):
            raise DatasetError(f"{self._path}: precomputed features must be .npy or .parquet")
        if self._path.suffix.lower() == ".npy" and (id_column is not None or columns is not None):
            raise InputError("id_column= and columns= apply to .parquet files, not .npy")
        if ids is not None and id_column is not None:
            raise InputError("give ids= or id_column=, not both")
        exclude = () if id_column is None else (id_column,)
        self._file = FeatureFile(self._path, columns=columns, exclude=exclude)
        if self._file.n_rows == 0 or self._file.dim == 0:
            raise ShapeError(
                f"{self._path}: features array is empty ({self._file.n_rows} x {self._file.dim})"
            )
        self._file.check_finite()
        # A .npy file stays on disk (rows are looked up through a map); parquet is read once.
        self._features: Any = None if self._file.is_npy else self._file.read()
        id_list = list(ids) if ids is not None else None
        if id_column is not None:
            id_list = self._file.column(id_column)
        self._index = self._build_index(id_list)
        self._name = name if name is not None else f"precomputed:{self._path.resolve()}"

    def _build_index(self, id_list: list[Any] | None) -> dict[Any, int] | None:
        if id_list is None:
            return None
        if len(id_list) != len(self):
            raise ShapeError(f"{self._path}: {len(id_list)} ids for {len(self)} feature rows")
        index = {key: row for row, key in enumerate(id_list)}
        if len(index) != len(id_list):
            raise InputError(f"{self._path}: ids are not unique")
        return index

    @property
    def name(self) -> str:
        return self.registry_name or self._name

    @property
    def dim(self) -> int:
        return int(self._file.dim)

    def __len__(self) -> int:
        return int(self._file.n_rows)

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
        self,
        items: Sequence[Any],
        batch_size: int = 32,
        show_progress: bool | None = None,
        *,
        show_progress_bar: bool | None = None,
        **output: Any,
    ) -> np.ndarray:
        """Look the rows up; batching and progress do not apply to a table read.

        ``normalize_embeddings`` and ``convert_to_numpy``/``convert_to_tensor`` work as in
        sentence-transformers.
        """
        del batch_size, show_progress, show_progress_bar  # a lookup needs none of them
        seq = list(as_item_sequence(items))
        rows = self._rows(seq)
        values = self._file.take(rows) if self._features is None else self._features[rows]
        return finish_output(np.asarray(values, dtype=np.float32), **output)

    def __repr__(self) -> str:
        return f"PrecomputedEncoder(name={self._name!r}, rows={len(self)}, dim={self.dim})"
