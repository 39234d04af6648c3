"""The CSA estimator and its equal-weight twin, plain CCA.

CSA scores a pair by a cosine in the shared canonical space in which each dimension
is weighted by how strongly the two modalities agree on it (its canonical
correlation). Dimensions are nested, so the number used, ``sim_dim``, is a query-time
choice: one fit serves every ``sim_dim``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from csa.base import unit_rows
from csa.errors import SimDimError, TooFewPairsError
from csa.moment_model import MomentModel
from csa.moments import PairMoments
from csa.solver import RidgeSpec, solve_cca, split_ridge


class CSA(MomentModel):
    """Canonical Similarity Analysis.

    Parameters
    ----------
    sim_dim:
        Canonical dimensions used by default when scoring; ``None`` keeps all of them.
        Any query can override it without refitting.
    ridge:
        ``"auto"`` (Oracle Approximating Shrinkage, from the data), a number >= 0, or one
        per side ``(ridge_a, ridge_b)``. Numbers are in units of the side's mean
        variance, so ``0.1`` adds a tenth of the average feature variance to the
        diagonal; ``0`` is unregularised CCA.
    chunk_size:
        Rows per block when accumulating moments, to bound temporary memory.
    device:
        ``None`` runs the moment products in numpy; ``"cpu"`` or ``"cuda"`` runs them
        with torch there. Means, sums and the decomposition stay float64 on the host.
    precision:
        ``"float64"`` (default) or ``"float32"`` for the moment products only: about
        twice as fast on CPUs, far more on GPUs, at a relative error near 1e-6.

    Fitted attributes: ``canonical_correlations_`` (k,), ``projection_a_`` (d_a, k),
    ``projection_b_`` (d_b, k), ``mean_a_``, ``mean_b_``, ``ridge_`` (relative ridges
    used), ``n_components_`` (k), ``n_pairs_seen_``, ``moments_``.
    """

    def __init__(
        self,
        sim_dim: int | None = None,
        ridge: RidgeSpec = "auto",
        chunk_size: int | None = None,
        device: str | None = None,
        precision: str = "float64",
    ) -> None:
        self.sim_dim = sim_dim
        self.ridge = ridge
        self.chunk_size = chunk_size
        self.device = device
        self.precision = precision

    # ---- fitting ----------------------------------------------------------------
    def _solve(self, moments: PairMoments) -> None:
        split_ridge(self.ridge)
        solution = solve_cca(moments, self.ridge)
        self.projection_a_ = solution.proj_a
        self.projection_b_ = solution.proj_b
        self.canonical_correlations_ = solution.correlations
        self.ridge_ = (solution.ridge_a, solution.ridge_b)
        self.n_components_ = int(solution.correlations.shape[0])
        if self.sim_dim is not None:
            self._resolve_sim_dim(self.sim_dim)

    def _weights(self, sim_dim: int) -> np.ndarray:
        """Per-dimension weights of the score: the canonical correlations."""
        return self.canonical_correlations_[:sim_dim]

    def _resolve_sim_dim(self, sim_dim: int | None) -> int:
        if sim_dim is None:
            sim_dim = self.sim_dim if self.sim_dim is not None else self.n_components_
        if isinstance(sim_dim, bool) or not isinstance(sim_dim, int | np.integer):
            raise SimDimError(f"sim_dim must be a positive integer or None; got {sim_dim!r}")
        sim_dim = int(sim_dim)
        k = self.n_components_
        if 1 <= sim_dim <= k:
            return sim_dim
        if sim_dim < 1:
            raise SimDimError(f"sim_dim={sim_dim} must be at least 1")
        n = self.n_pairs_seen_
        if sim_dim > n - 1 and n - 1 < min(self.n_features_a_, self.n_features_b_):
            raise TooFewPairsError(
                f"sim_dim={sim_dim} needs at least {sim_dim + 1} pairs; this fit has {n}, "
                f"which give at most {k} canonical dimensions"
            )
        raise SimDimError(
            f"sim_dim={sim_dim} must be less or equal to the number of canonical "
            f"dimensions, {k} (features: a {self.n_features_a_}, b {self.n_features_b_}; "
            f"pairs: {n}; dimensions with zero correlation are dropped)"
        )

    # ---- scoring ----------------------------------------------------------------
    def transform_a(self, a: Any) -> np.ndarray:
        """Canonical coordinates ``(a - mean_a) @ projection_a`` of side a, ``(m, k)``."""
        self._check_fitted()
        return self._coords(self._validated(a, "a"), "a")

    def transform_b(self, b: Any) -> np.ndarray:
        """Canonical coordinates of side b, ``(m, k)``."""
        self._check_fitted()
        return self._coords(self._validated(b, "b"), "b")

    def _validated(self, x: Any, side: str) -> np.ndarray:
        from csa.validation import check_features

        dims = self.n_features_a_ if side == "a" else self.n_features_b_
        return check_features(x, side, n_features=dims)

    def _coords(self, x: np.ndarray, side: str, sim_dim: int | None = None) -> np.ndarray:
        if side == "a":
            mean, proj = self.mean_a_, self.projection_a_
        else:
            mean, proj = self.mean_b_, self.projection_b_
        if sim_dim is not None:
            proj = proj[:, :sim_dim]
        return (x - mean) @ proj

    def _embed(self, x: np.ndarray, side: str, sim_dim: int | None) -> np.ndarray:
        s = self._resolve_sim_dim(sim_dim)
        coords = unit_rows(self._coords(x, side, s))
        return coords * np.sqrt(self._weights(s))

    def _embed_a(self, a: np.ndarray, sim_dim: int | None = None) -> np.ndarray:
        return self._embed(a, "a", sim_dim)

    def _embed_b(self, b: np.ndarray, sim_dim: int | None = None) -> np.ndarray:
        return self._embed(b, "b", sim_dim)

    def similarity(self, a: Any, b: Any, sim_dim: int | None = None) -> np.ndarray:
        """CSA scores of every row of ``a`` against every row of ``b``, ``(m_a, m_b)``.

        ``sum_i rho_i za_i zb_i / (|za| |zb|)`` over the first ``sim_dim`` canonical
        dimensions; it lies in ``[-rho_1, rho_1]``.
        """
        return super().similarity(a, b, sim_dim=sim_dim)

    def score_pairs(self, a: Any, b: Any, sim_dim: int | None = None) -> np.ndarray:
        """CSA score of row i of ``a`` with row i of ``b``, ``(m,)``."""
        return super().score_pairs(a, b, sim_dim=sim_dim)

    # ---- persistence ------------------------------------------------------------
    def _solution_arrays(self) -> dict[str, np.ndarray]:
        return {
            "projection_a": self.projection_a_,
            "projection_b": self.projection_b_,
            "canonical_correlations": self.canonical_correlations_,
        }

    def _solution_scalars(self) -> dict[str, Any]:
        return {"ridge_": list(self.ridge_)}

    def _restore_solution(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        self.projection_a_ = arrays["projection_a"]
        self.projection_b_ = arrays["projection_b"]
        self.canonical_correlations_ = arrays["canonical_correlations"]
        self.n_components_ = int(self.canonical_correlations_.shape[0])
        self.ridge_ = tuple(scalars["ridge_"])
        expected = {
            "projection_a": (self.n_features_a_, self.n_components_),
            "projection_b": (self.n_features_b_, self.n_components_),
        }
        for key, shape in expected.items():
            if arrays[key].shape != shape:
                from csa.errors import ModelFileError

                raise ModelFileError(
                    f"{key} has shape {arrays[key].shape}, expected {shape}: the file is "
                    "inconsistent"
                )


class CCA(CSA):
    """Plain CCA cosine: the CSA fit with every canonical dimension weighted equally.

    The baseline that isolates what CSA's correlation weighting adds.
    """

    def _weights(self, sim_dim: int) -> np.ndarray:
        return np.ones(sim_dim)
