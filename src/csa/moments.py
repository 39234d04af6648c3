"""Sufficient statistics of paired features, streamed and merged exactly, per fold.

A CSA fit needs only the two means and three centred co-moment matrices. They are
sums over rows, so data can arrive in blocks, from many workers, in any order, and
never has to sit in memory all at once. Blocks are combined with the pairwise update
of Chan, Golub and LeVeque: each block is centred on its own mean and the correction
for the difference of means is added at merge time, which avoids the catastrophic
cancellation of accumulating raw ``X'X`` and subtracting ``n * mu mu'`` at the end.

For choosing the ridge and ``sim_dim`` on held-out data without keeping any data, rows
are dealt to K folds as they stream past, and each fold keeps its own moments (memory
K x d^2, still independent of n). A row's fold is a hash of its global row index, so
it does not depend on how the stream was cut into blocks: ``fit``, ``partial_fit``,
``fit_chunks``, file and Dask fits deal every row to the same fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from csa.errors import ShapeError
from csa.linalg import accumulator, add_cross, add_gram, symmetric, symmetrize_in_place

#: Folds dealt by default: five held-out fifths, as in 5-fold cross-validation.
N_FOLDS = 5
# Elements per side in one block of rows: a few MB of temporaries, whatever n is.
_BLOCK_ELEMENTS = 1 << 21
_MIN_BLOCK_ROWS = 256


def fold_of(rows: np.ndarray, n_folds: int) -> np.ndarray:
    """The fold of each global row index: a SplitMix64 hash of the index, modulo K.

    A hash rather than ``index % K`` keeps folds unrelated to any period in the data
    (pairs sorted by class, five captions per image in a row), and it depends on the
    index alone, so any chunking of the stream gives every row the same fold.
    """
    z = np.asarray(rows, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z % np.uint64(n_folds)).astype(np.intp)


def auto_block_rows(dim_a: int, dim_b: int) -> int:
    """Rows per block so that a block's temporaries stay a few MB (O(block x d))."""
    return max(_MIN_BLOCK_ROWS, _BLOCK_ELEMENTS // max(dim_a + dim_b, 1))


def _combined(
    sign: int, base: np.ndarray, other: np.ndarray, weight: float, u: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """``base + sign (other + weight u v')`` in one new matrix and two passes: the d x d
    comoments are the whole cost of merging moments or taking a part out."""
    out = np.add(base, other) if sign > 0 else np.subtract(base, other)
    out += np.outer(sign * weight * u, v)
    return out


@dataclass(frozen=True)
class PairMoments:
    """Row count, means and centred co-moments (sums, not averages) of paired data.

    ``comoment_ab[i, j] = sum_rows (a_i - mean_a_i) * (b_j - mean_b_j)``; divide by
    ``n`` for a covariance. Everything is float64 whatever the input precision.
    """

    n: int
    mean_a: np.ndarray
    mean_b: np.ndarray
    comoment_aa: np.ndarray
    comoment_bb: np.ndarray
    comoment_ab: np.ndarray

    @property
    def dim_a(self) -> int:
        return int(self.mean_a.shape[0])

    @property
    def dim_b(self) -> int:
        return int(self.mean_b.shape[0])

    @classmethod
    def empty(cls, dim_a: int, dim_b: int) -> PairMoments:
        """The identity of :meth:`merge`: no rows seen yet."""
        return cls(
            n=0,
            mean_a=np.zeros(dim_a),
            mean_b=np.zeros(dim_b),
            comoment_aa=np.zeros((dim_a, dim_a)),
            comoment_bb=np.zeros((dim_b, dim_b)),
            comoment_ab=np.zeros((dim_a, dim_b)),
        )

    @classmethod
    def from_chunk(
        cls, a: np.ndarray, b: np.ndarray, *, product_dtype: Any = np.float64
    ) -> PairMoments:
        """Moments of one in-memory chunk of validated ``(n, d_a)`` and ``(n, d_b)`` arrays."""
        if a.shape[0] != b.shape[0]:
            raise ShapeError(f"chunk has {a.shape[0]} rows in a but {b.shape[0]} in b")
        running = _RunningMoments(a.shape[1], b.shape[1])
        running.add_block(a, b, np.dtype(product_dtype))
        return running.snapshot()

    def merge(self, other: PairMoments) -> PairMoments:
        """Moments of the union of both row sets (Chan-Golub-LeVeque pairwise update)."""
        if (self.dim_a, self.dim_b) != (other.dim_a, other.dim_b):
            raise ShapeError(
                f"cannot merge moments of dims ({self.dim_a}, {self.dim_b}) with "
                f"({other.dim_a}, {other.dim_b})"
            )
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta_a = other.mean_a - self.mean_a
        delta_b = other.mean_b - self.mean_b
        weight = self.n * other.n / n
        return PairMoments(
            n=n,
            mean_a=self.mean_a + delta_a * (other.n / n),
            mean_b=self.mean_b + delta_b * (other.n / n),
            comoment_aa=_combined(1, self.comoment_aa, other.comoment_aa, weight, delta_a, delta_a),
            comoment_bb=_combined(1, self.comoment_bb, other.comoment_bb, weight, delta_b, delta_b),
            comoment_ab=_combined(1, self.comoment_ab, other.comoment_ab, weight, delta_a, delta_b),
        )

    def without(self, part: PairMoments) -> PairMoments:
        """Moments of these rows less ``part``'s, a subset of them: :meth:`merge` undone.

        One update instead of merging every other part: the held-out search needs the
        moments outside each fold, and with K folds this is K - 2 fewer d x d merges per
        fold. Subtracting a fifth of the rows loses at most a few units of round-off.
        """
        n = self.n - part.n
        if part.n == 0:
            return self
        if n <= 0:
            return PairMoments.empty(self.dim_a, self.dim_b)
        mean_a = (self.n * self.mean_a - part.n * part.mean_a) / n
        mean_b = (self.n * self.mean_b - part.n * part.mean_b) / n
        delta_a, delta_b = part.mean_a - mean_a, part.mean_b - mean_b
        weight = n * part.n / self.n
        return PairMoments(
            n=n,
            mean_a=mean_a,
            mean_b=mean_b,
            comoment_aa=_combined(-1, self.comoment_aa, part.comoment_aa, weight, delta_a, delta_a),
            comoment_bb=_combined(-1, self.comoment_bb, part.comoment_bb, weight, delta_b, delta_b),
            comoment_ab=_combined(-1, self.comoment_ab, part.comoment_ab, weight, delta_a, delta_b),
        )

    def covariances(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(C_aa, C_bb, C_ab)`` with the 1/n normalisation of the design."""
        if self.n == 0:
            raise ShapeError("no rows seen: covariances are undefined")
        return self.comoment_aa / self.n, self.comoment_bb / self.n, self.comoment_ab / self.n

    def to_arrays(self, prefix: str = "moments") -> dict[str, np.ndarray]:
        """Flat arrays for a model file (the row count travels as a one-element array)."""
        return {
            f"{prefix}.n": np.asarray([self.n], dtype=np.int64),
            f"{prefix}.mean_a": self.mean_a,
            f"{prefix}.mean_b": self.mean_b,
            f"{prefix}.comoment_aa": self.comoment_aa,
            f"{prefix}.comoment_bb": self.comoment_bb,
            f"{prefix}.comoment_ab": self.comoment_ab,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "moments") -> PairMoments:
        count = np.asarray(arrays[f"{prefix}.n"]).reshape(-1)
        if count.shape != (1,):
            raise ShapeError(f"{prefix}.n must hold one row count; it holds {count.size}")
        return cls(
            n=int(count[0]),
            mean_a=arrays[f"{prefix}.mean_a"],
            mean_b=arrays[f"{prefix}.mean_b"],
            comoment_aa=arrays[f"{prefix}.comoment_aa"],
            comoment_bb=arrays[f"{prefix}.comoment_bb"],
            comoment_ab=arrays[f"{prefix}.comoment_ab"],
        )


@dataclass(frozen=True)
class FoldMoments:
    """One :class:`PairMoments` per fold: everything a held-out selection needs.

    The moments of all rows are the merge of the folds; those of "every fold but k"
    train the model that fold k then scores.
    """

    folds: tuple[PairMoments, ...]

    @property
    def n_folds(self) -> int:
        return len(self.folds)

    @property
    def n(self) -> int:
        return sum(fold.n for fold in self.folds)

    @property
    def dim_a(self) -> int:
        return self.folds[0].dim_a

    @property
    def dim_b(self) -> int:
        return self.folds[0].dim_b

    @cached_property
    def total(self) -> PairMoments:
        """Moments of every row (the merge of all folds)."""
        return _merge_all(self.folds)

    def training(self, k: int, total: PairMoments | None = None) -> PairMoments:
        """Moments of every row outside fold ``k``; given :attr:`total` (computed once for
        every fold), one downdate of it instead of merging the other folds."""
        if total is not None:
            return total.without(self.folds[k])
        return _merge_all(self.folds[:k] + self.folds[k + 1 :])

    def merge(self, other: FoldMoments) -> FoldMoments:
        """Fold by fold union of two streams (e.g. two Dask partitions)."""
        if other.n_folds != self.n_folds:
            raise ShapeError(
                f"cannot merge moments dealt to {self.n_folds} folds with moments dealt "
                f"to {other.n_folds}"
            )
        return FoldMoments(tuple(a.merge(b) for a, b in zip(self.folds, other.folds, strict=True)))

    @classmethod
    def empty(cls, n_folds: int, dim_a: int, dim_b: int) -> FoldMoments:
        return cls(tuple(PairMoments.empty(dim_a, dim_b) for _ in range(n_folds)))

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for k, fold in enumerate(self.folds):
            arrays.update(fold.to_arrays(f"folds.{k}"))
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_folds: int) -> FoldMoments:
        return cls(tuple(PairMoments.from_arrays(arrays, f"folds.{k}") for k in range(n_folds)))


def _merge_all(parts: tuple[PairMoments, ...]) -> PairMoments:
    total = parts[0]
    for part in parts[1:]:
        total = total.merge(part)
    return total


class _RunningMoments:
    """Running moments of one fold, updated in place.

    The same Chan-Golub-LeVeque update as :meth:`PairMoments.merge`, arranged so that a
    block costs its three matrix products and nothing of size d x d beside them: each
    block is centred on its own mean, and the merge correction
    ``n_seen * n_block / n_total * delta delta'`` rides along as one extra row,
    ``sqrt(weight) * delta``, of the centred block. BLAS then adds ``block' block`` plus
    the correction straight into the float64 accumulators.
    """

    def __init__(self, dim_a: int, dim_b: int) -> None:
        self.n = 0
        self.mean_a = np.zeros(dim_a)
        self.mean_b = np.zeros(dim_b)
        self._aa = accumulator(dim_a, dim_a)  # upper triangle only
        self._bb = accumulator(dim_b, dim_b)
        self._ab = accumulator(dim_a, dim_b)

    def _advance(self, m: int, mean_a: np.ndarray, mean_b: np.ndarray) -> tuple[Any, Any, float]:
        """Count ``m`` more rows with these means; returns the mean differences (new minus
        running, before the update) and the merge weight ``n * m / total``."""
        total = self.n + m
        delta_a = mean_a - self.mean_a
        delta_b = mean_b - self.mean_b
        weight = self.n * m / total
        self.mean_a += delta_a * (m / total)
        self.mean_b += delta_b * (m / total)
        self.n = total
        return delta_a, delta_b, weight

    def add_block(self, a: np.ndarray, b: np.ndarray, dtype: np.dtype) -> None:
        m = a.shape[0]
        block_mean_a = a.mean(axis=0, dtype=np.float64)
        block_mean_b = b.mean(axis=0, dtype=np.float64)
        delta_a, delta_b, weight = self._advance(m, block_mean_a, block_mean_b)
        # Centre straight into the product dtype: one pass. In float32 the mean is rounded
        # to float32 first, so the subtraction runs as a plain float32 loop; centring on a
        # mean off by float32 rounding changes the co-moments only by m * error^2.
        ac = np.empty((m + 1, a.shape[1]), dtype=dtype)
        bc = np.empty((m + 1, b.shape[1]), dtype=dtype)
        np.subtract(a, block_mean_a.astype(dtype), out=ac[:m], casting="unsafe")
        np.subtract(b, block_mean_b.astype(dtype), out=bc[:m], casting="unsafe")
        ac[m] = np.sqrt(weight) * delta_a
        bc[m] = np.sqrt(weight) * delta_b
        self._aa = add_gram(self._aa, ac)
        self._bb = add_gram(self._bb, bc)
        self._ab = add_cross(self._ab, ac, bc)

    def add_moments(self, other: PairMoments) -> None:
        """Merge moments computed elsewhere (another device, another worker), in place.

        The accumulators keep only their upper triangles, so adding full symmetric
        matrices to them is exact where it is read.
        """
        if other.n == 0:
            return
        delta_a, delta_b, weight = self._advance(other.n, other.mean_a, other.mean_b)
        self._aa += other.comoment_aa
        self._aa += weight * np.outer(delta_a, delta_a)
        self._bb += other.comoment_bb
        self._bb += weight * np.outer(delta_b, delta_b)
        self._ab += other.comoment_ab
        self._ab += weight * np.outer(delta_a, delta_b)

    def finish(self) -> PairMoments:
        """The moments, handing over the accumulators themselves (no d x d copies).

        The running moments must not be added to afterwards.
        """
        return PairMoments(
            n=self.n,
            mean_a=self.mean_a,
            mean_b=self.mean_b,
            comoment_aa=symmetrize_in_place(self._aa),
            comoment_bb=symmetrize_in_place(self._bb),
            comoment_ab=self._ab,
        )

    def snapshot(self) -> PairMoments:
        return PairMoments(
            n=self.n,
            mean_a=self.mean_a.copy(),
            mean_b=self.mean_b.copy(),
            comoment_aa=symmetric(self._aa),
            comoment_bb=symmetric(self._bb),
            comoment_ab=np.ascontiguousarray(self._ab),
        )


class MomentAccumulator:
    """Moments of a stream of paired rows, dealt to folds, read in bounded row blocks.

    ``add(a, b, first_row=...)`` takes validated arrays of any length (in memory or
    memory-mapped) and walks them in blocks of ``block_rows`` rows, so temporaries stay
    O(block x d) whatever n is. ``product_dtype=None`` multiplies in the input's own
    precision (float32 embeddings at float32 speed, accumulated in float64 per block);
    ``device`` runs the products with torch (see :mod:`csa.torch_backend`).
    """

    def __init__(
        self,
        dim_a: int,
        dim_b: int,
        *,
        n_folds: int = N_FOLDS,
        block_rows: int | None = None,
        product_dtype: Any = None,
        device: str | None = None,
    ) -> None:
        self.dim_a, self.dim_b = dim_a, dim_b
        self.n_folds = n_folds
        self._folds = [_RunningMoments(dim_a, dim_b) for _ in range(n_folds)]
        # Each block is dealt to the folds, so a block of n_folds times the rows keeps every
        # fold's products as large as an unfolded fit's (small GEMMs ran 1.6x slower at
        # n = 1e5, d = 768 + 384); each fold's rows are copied and centred one fold at a
        # time, so the temporaries stay one fold's share.
        self._block_rows = block_rows or auto_block_rows(dim_a, dim_b) * n_folds
        self._dtype = None if product_dtype is None else np.dtype(product_dtype)
        self._device = device

    @property
    def n(self) -> int:
        return sum(fold.n for fold in self._folds)

    def add(self, a: np.ndarray, b: np.ndarray, *, first_row: int) -> MomentAccumulator:
        """Add validated paired rows; row i is row ``first_row + i`` of the whole stream."""
        if not self._folds:
            raise ShapeError("this accumulator was finished; start a new one to add rows")
        if (a.shape[1], b.shape[1]) != (self.dim_a, self.dim_b):
            raise ShapeError(
                f"rows have dims ({a.shape[1]}, {b.shape[1]}) but the accumulator holds "
                f"({self.dim_a}, {self.dim_b})"
            )
        n = a.shape[0]
        for start in range(0, n, self._block_rows):
            stop = min(start + self._block_rows, n)
            self._add_block(a[start:stop], b[start:stop], first_row + start)
        return self

    def _product_dtype(self, a: np.ndarray, b: np.ndarray) -> np.dtype:
        if self._dtype is not None:
            return self._dtype
        both32 = a.dtype == np.float32 and b.dtype == np.float32
        return np.dtype(np.float32 if both32 else np.float64)

    def _add_block(self, a: np.ndarray, b: np.ndarray, first_row: int) -> None:
        dtype = self._product_dtype(a, b)
        if self.n_folds == 1:
            self._add_to_fold(0, a, b, dtype)
            return
        folds = fold_of(np.arange(first_row, first_row + a.shape[0]), self.n_folds)
        for k in range(self.n_folds):
            rows = np.flatnonzero(folds == k)
            if rows.size:
                self._add_to_fold(k, a.take(rows, axis=0), b.take(rows, axis=0), dtype)

    def _add_to_fold(self, k: int, a: np.ndarray, b: np.ndarray, dtype: np.dtype) -> None:
        if self._device is None:
            self._folds[k].add_block(a, b, dtype)
            return
        from csa.torch_backend import block_products

        mean_a, mean_b, aa, bb, ab = block_products(a, b, device=self._device, dtype=dtype)
        self._folds[k].add_moments(PairMoments(a.shape[0], mean_a, mean_b, aa, bb, ab))

    def add_moments(self, other: FoldMoments) -> MomentAccumulator:
        """Merge fold moments computed elsewhere (another worker), fold by fold, in place."""
        if other.n_folds != self.n_folds or (other.dim_a, other.dim_b) != (
            self.dim_a,
            self.dim_b,
        ):
            raise ShapeError(
                f"cannot add moments of {other.n_folds} fold(s) and dims ({other.dim_a}, "
                f"{other.dim_b}) to an accumulator of {self.n_folds} fold(s) and dims "
                f"({self.dim_a}, {self.dim_b})"
            )
        for running, fold in zip(self._folds, other.folds, strict=True):
            running.add_moments(fold)
        return self

    def moments(self) -> FoldMoments:
        """The moments of every row added so far (a snapshot; adding more does not change it)."""
        return FoldMoments(tuple(fold.snapshot() for fold in self._folds))

    def finish(self) -> FoldMoments:
        """The moments of every row added, without copying the accumulators: the end of
        a fit, where a snapshot would double the peak memory. Adding more afterwards is
        refused."""
        moments = FoldMoments(tuple(fold.finish() for fold in self._folds))
        self._folds = []
        return moments


def moments_of(
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_folds: int = N_FOLDS,
    first_row: int = 0,
    block_rows: int | None = None,
    product_dtype: Any = None,
    device: str | None = None,
) -> FoldMoments:
    """Fold moments of validated arrays, e.g. one Dask partition whose first row is
    ``first_row`` of the whole data; merge partitions with :meth:`FoldMoments.merge`."""
    running = MomentAccumulator(
        a.shape[1],
        b.shape[1],
        n_folds=n_folds,
        block_rows=block_rows,
        product_dtype=product_dtype,
        device=device,
    )
    return running.add(a, b, first_row=first_row).finish()
