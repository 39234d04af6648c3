"""Models fitted from streamed moments alone: CSA, CCA and the linear map.

They share the whole fitting life cycle: validate a chunk, turn it into moments,
merge, and solve once. ``fit``, ``partial_fit``, ``fit_chunks`` and ``fit_moments``
are four doors into that one path, so streaming, distributed and in-memory fits give
the same model by construction.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from typing import Any

import numpy as np

from csa.base import PairedModel
from csa.errors import ShapeError, TooFewPairsError
from csa.moments import MomentAccumulator, PairMoments, moments_of


class MomentModel(PairedModel):
    """A :class:`PairedModel` whose fit depends on the data only through moments."""

    chunk_size: int | None = None

    def _moment_options(self) -> dict[str, Any]:
        """How chunks become moments: block size, product precision and device.

        Read with defaults so models without ``precision``/``device`` parameters keep
        the plain float64 numpy path.
        """
        from csa.backends import check_device, product_dtype

        return {
            "chunk_size": self.chunk_size,
            "product_dtype": product_dtype(getattr(self, "precision", "float64")),
            "device": check_device(getattr(self, "device", None)),
        }

    def _reset(self) -> None:
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)

    def _ready(self) -> bool:
        return hasattr(self, "mean_a_")

    @property
    def n_pairs_seen_(self) -> int:
        moments = getattr(self, "moments_", None)
        return 0 if moments is None else moments.n

    def _fit_validated(self, a: np.ndarray, b: np.ndarray) -> None:
        self.fit_moments(moments_of(a, b, **self._moment_options()))

    def partial_fit(self, a: Any, b: Any) -> MomentModel:
        """Merge one more chunk of pairs and re-solve (the solve costs O(d^3), not O(n))."""
        a_arr, b_arr = self._check_training_pair(a, b, min_pairs=1)
        chunk = moments_of(a_arr, b_arr, **self._moment_options())
        seen = getattr(self, "moments_", None)
        self._accept(chunk if seen is None else seen.merge(chunk))
        return self

    def fit_chunks(self, chunks: Iterable[tuple[Any, Any]]) -> MomentModel:
        """Fit from an iterable of ``(a_chunk, b_chunk)`` pairs, solving once at the end.

        Memory stays O(d^2) plus one chunk however many rows stream through.
        """
        self._reset()
        running: MomentAccumulator | None = None
        for a_chunk, b_chunk in chunks:
            a_arr, b_arr = self._check_training_pair(a_chunk, b_chunk, min_pairs=1)
            if running is None:
                self.n_features_a_, self.n_features_b_ = a_arr.shape[1], b_arr.shape[1]
                running = MomentAccumulator(
                    a_arr.shape[1], b_arr.shape[1], **self._moment_options()
                )
            running.add(a_arr, b_arr)
        if running is None:
            raise TooFewPairsError("fit_chunks got no chunks at all")
        return self.fit_moments(running.moments())

    def fit_moments(self, moments: PairMoments) -> MomentModel:
        """Fit from precomputed moments (e.g. reduced across Dask workers)."""
        if moments.n < 2:
            raise TooFewPairsError(
                f"got {moments.n} pair(s); at least 2 are needed to estimate a covariance"
            )
        self._reset()
        self._accept(moments)
        return self

    def _accept(self, moments: PairMoments) -> None:
        """Record the moments; solve as soon as there are enough pairs to do so."""
        if hasattr(self, "n_features_a_") and (
            (self.n_features_a_, self.n_features_b_) != (moments.dim_a, moments.dim_b)
        ):
            raise ShapeError(
                f"moments have dims ({moments.dim_a}, {moments.dim_b}) but the model was "
                f"fitted with ({self.n_features_a_}, {self.n_features_b_})"
            )
        self.moments_ = moments
        self.n_features_a_, self.n_features_b_ = moments.dim_a, moments.dim_b
        if moments.n >= 2:
            self.mean_a_ = moments.mean_a
            self.mean_b_ = moments.mean_b
            self._solve(moments)

    @abstractmethod
    def _solve(self, moments: PairMoments) -> None: ...

    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._check_fitted()
        arrays = self.moments_.to_arrays()
        arrays.update(self._solution_arrays())
        return arrays, self._solution_scalars()

    def _restore(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        moments = PairMoments.from_arrays(arrays)
        self.moments_ = moments
        self.n_features_a_, self.n_features_b_ = moments.dim_a, moments.dim_b
        self.mean_a_, self.mean_b_ = moments.mean_a, moments.mean_b
        self._restore_solution(arrays, scalars)

    @abstractmethod
    def _solution_arrays(self) -> dict[str, np.ndarray]: ...

    def _solution_scalars(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    def _restore_solution(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None: ...
