"""Linear map baseline: ridge least squares from side a into side b, then cosine.

The simplest way to align two embedding spaces; it uses side b's own geometry
unchanged, which is exactly what CSA avoids trusting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from csa.errors import ModelFileError, RankDeficientError
from csa.linalg import unit_rows
from csa.model import MomentModel, expect_shape
from csa.moments import N_FOLDS, FoldMoments, PairMoments
from csa.selection import RIDGE_WORDS, choose_linear_map_ridge
from csa.solver import side_rank
from csa.validation import check_ridge


class LinearMap(MomentModel):
    """Predict b from a with ridge least squares; score = cosine(prediction, b), both centred.

    ``ridge`` is ``"auto"`` (default: the held-out fold choice, as for :class:`csa.CSA`),
    ``"oas"`` (Oracle Approximating Shrinkage of side a) or a number >= 0 in units of
    side a's mean variance. Only side a is regularised, so a ``(ridge_a, ridge_b)`` pair
    is refused. Fitted from moments, so it streams and merges like CSA. Fitted:
    ``coef_`` (d_a, d_b), ``mean_a_``, ``mean_b_``, ``ridge_``, ``cv_results_``.
    """

    def __init__(
        self,
        ridge: Any = "auto",
        n_folds: int = N_FOLDS,
        chunk_size: int | None = None,
        device: str | None = None,
        precision: str = "auto",
    ) -> None:
        self.ridge = ridge
        self.n_folds = n_folds
        self.chunk_size = chunk_size
        self.device = device
        self.precision = precision

    def _check_params(self) -> None:
        check_ridge(self.ridge, words=RIDGE_WORDS, pair=False)
        self._check_moment_params()

    def _needs_folds(self) -> bool:
        return self.ridge == "auto"

    def _solve(self, moments: FoldMoments) -> dict[str, Any]:
        relative, results = choose_linear_map_ridge(moments, self.ridge)
        return {
            "coef_": linear_map_coef(moments.total, relative),
            "ridge_": relative,
            "cv_results_": results,
        }

    def _embed_a(self, a: np.ndarray, sim_dim: int | None) -> np.ndarray:
        return unit_rows((a - self.mean_a_) @ self.coef_)

    def _embed_b(self, b: np.ndarray, sim_dim: int | None) -> np.ndarray:
        return unit_rows(b - self.mean_b_)

    def _solution_arrays(self) -> dict[str, np.ndarray]:
        return {"coef": self.coef_}

    def _solution_scalars(self) -> dict[str, Any]:
        return {"ridge_": self.ridge_}

    def _restore_solution(
        self, arrays: dict[str, np.ndarray], scalars: dict[str, Any], dim_a: int, dim_b: int
    ) -> dict[str, Any]:
        ridge = scalars.get("ridge_")
        if isinstance(ridge, bool) or not isinstance(ridge, int | float) or not ridge >= 0:
            raise ModelFileError(f"the file's ridge_ {ridge!r} is not a number >= 0")
        return {
            "coef_": expect_shape(arrays, "coef", (dim_a, dim_b)),
            "ridge_": float(ridge),
            "cv_results_": None,
        }


def linear_map_coef(moments: PairMoments, relative_ridge: float) -> np.ndarray:
    """Ridge least-squares coefficients ``(C_aa + r mu I)^(-1) C_ab`` by one Cholesky solve.

    A fixed ridge needs no eigendecomposition: the factorisation costs a sixth of one
    (the held-out ridge search, which tries many ridges, rotates once per fold instead).
    """
    import scipy.linalg

    cov_aa, _, cov_ab = moments.covariances()
    d = cov_aa.shape[0]
    mean_var = float(np.trace(cov_aa)) / d
    rank = side_rank(moments, "a")
    if rank == 0:
        raise RankDeficientError("side a is constant (every row equal): nothing to map from")
    singular = (
        "side a's covariance is singular (constant or collinear features, or fewer pairs "
        "than features) and ridge=0 forbids regularising it; use ridge='auto' or a "
        "positive ridge"
    )
    if relative_ridge == 0 and rank < d:
        raise RankDeficientError(singular)
    shifted = cov_aa + np.diag(np.full(d, relative_ridge * mean_var))
    try:
        factor = scipy.linalg.cho_factor(shifted, lower=True, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise RankDeficientError(f"{singular} ({exc})") from exc
    return scipy.linalg.cho_solve(factor, cov_ab, check_finite=False)
