"""Linear map baseline: ridge least squares from side a into side b, then cosine.

The simplest way to align two embedding spaces; it uses side b's own geometry
unchanged, which is exactly what CSA avoids trusting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from csa.base import unit_rows
from csa.errors import RankDeficientError
from csa.linalg import matmul
from csa.moment_model import MomentModel
from csa.moments import PairMoments
from csa.solver import Ridge, oas_relative_ridge, side_spectrum, split_ridge


class LinearMap(MomentModel):
    """Predict b from a with ridge least squares; score = cosine(prediction, b), both centred.

    ``ridge`` is ``"auto"`` (Oracle Approximating Shrinkage) or a number >= 0 in units
    of side a's mean variance, as in :class:`csa.CSA`. Fitted from moments, so it
    streams and merges like CSA. Fitted: ``coef_`` (d_a, d_b), ``mean_a_``, ``mean_b_``.
    """

    def __init__(self, ridge: Ridge = "auto", chunk_size: int | None = None) -> None:
        self.ridge = ridge
        self.chunk_size = chunk_size

    def _solve(self, moments: PairMoments) -> None:
        spec, _ = split_ridge(self.ridge)
        cov_aa, _, cov_ab = moments.covariances()
        relative = oas_relative_ridge(cov_aa, moments.n) if spec == "auto" else float(spec)
        d = cov_aa.shape[0]
        mean_var = float(np.trace(cov_aa)) / d
        eigvals, eigvecs = side_spectrum(moments, "a")
        top = max(float(eigvals[-1]), 0.0)
        if top <= 0 or (relative == 0 and eigvals[0] <= 1e-10 * top):
            raise RankDeficientError(
                "side a's covariance is singular (constant or collinear features, or fewer "
                "pairs than features) and ridge=0 forbids regularising it; use ridge='auto'"
            )
        inverse_eigs = 1.0 / (np.maximum(eigvals, 0.0) + relative * mean_var)
        self.coef_ = matmul(eigvecs * inverse_eigs, matmul(eigvecs, cov_ab, trans_x=True))
        self.ridge_ = relative

    def _embed_a(self, a: np.ndarray) -> np.ndarray:
        return unit_rows((a - self.mean_a_) @ self.coef_)

    def _embed_b(self, b: np.ndarray) -> np.ndarray:
        return unit_rows(b - self.mean_b_)

    def _solution_arrays(self) -> dict[str, np.ndarray]:
        return {"coef": self.coef_}

    def _solution_scalars(self) -> dict[str, Any]:
        return {"ridge_": self.ridge_}

    def _restore_solution(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        self.coef_ = arrays["coef"]
        self.ridge_ = float(scalars["ridge_"])
