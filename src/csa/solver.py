"""From moments to canonical projections: regularised whitening and one SVD.

Given covariances ``C_aa``, ``C_bb``, ``C_ab``, the canonical directions are found by
whitening each side with its ridge-regularised covariance and taking the SVD of the
whitened cross-covariance. Both sides are regularised, because either can be
degenerate (more features than pairs, collinear features, or a text side with only a
handful of distinct captions).

Any whitening ``W`` with ``W' (C + r mu I) W = I`` gives the same canonical directions,
so each side is whitened by the inverse transpose of its Cholesky factor rather than by
``(C + r mu I)^(-1/2)`` from an eigendecomposition: a Cholesky factorisation and the
triangular solves cost a small fraction of a symmetric eigensolve, which leaves the
SVD as the only O(d^3) decomposition of the fit.

Ridges are given relative to each side's average variance ``tr(C)/d``, so one value
means the same on embeddings of any scale, and the fit stays invariant to rescaling
either side.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from csa.errors import ParameterError, RankDeficientError, WeakFitWarning
from csa.linalg import matmul
from csa.moments import PairMoments

Ridge = float | Literal["auto"]
RidgeSpec = Ridge | tuple[Ridge, Ridge]

# Eigenvalues below this fraction of the largest count as zero when judging rank.
_RANK_RTOL = 1e-10
# Canonical correlations below this fraction of the largest carry no shared signal (and
# their directions, taken through a Gram matrix, would be imprecise).
_RHO_RTOL = 1e-6
# "auto" never goes below this relative ridge: a floor for round-off, not a prior.
_MIN_AUTO_RIDGE = 1e-6
# ...nor above this: past it the whitening is essentially the identity.
_MAX_AUTO_RIDGE = 1e3


@dataclass(frozen=True)
class CanonicalSolution:
    """Projections and correlations of a regularised CCA.

    ``proj_a`` is ``(d_a, k)`` and ``proj_b`` is ``(d_b, k)``: centred features times
    these give canonical coordinates with unit (ridge-shrunk) variance per dimension
    and correlation ``correlations[i]`` between matching dimensions.
    """

    proj_a: np.ndarray
    proj_b: np.ndarray
    correlations: np.ndarray
    ridge_a: float  # relative to side a's mean variance, "auto" resolved
    ridge_b: float
    rank_a: int
    rank_b: int


def split_ridge(ridge: RidgeSpec) -> tuple[Ridge, Ridge]:
    """Accept one ridge for both sides or a pair, and check each is usable."""
    if isinstance(ridge, tuple | list):
        if len(ridge) != 2:
            raise ParameterError(
                f"ridge as a sequence must have 2 entries (a, b); got {len(ridge)}"
            )
        pair = (ridge[0], ridge[1])
    else:
        pair = (ridge, ridge)
    for value in pair:
        if isinstance(value, str):
            if value != "auto":
                raise ParameterError(f"ridge must be 'auto' or a number >= 0; got {value!r}")
        elif not (np.isfinite(value) and value >= 0):
            raise ParameterError(f"ridge must be 'auto' or a finite number >= 0; got {value!r}")
    return pair


def oas_relative_ridge(cov: np.ndarray, n: int) -> float:
    """Ridge, relative to the mean variance, implied by Oracle Approximating Shrinkage.

    OAS (Chen, Wiesel, Eldar and Hero, 2010) picks the shrinkage of a sample
    covariance toward a scaled identity from ``n``, ``d``, ``tr(C)`` and ``tr(C^2)``
    alone, which is exactly what streamed moments provide. Shrinking by ``s`` towards
    ``mu I`` is ``(1 - s)`` times adding a ridge of ``s / (1 - s)`` times ``mu``, and the
    factor does not move the canonical directions.
    """
    d = cov.shape[0]
    mu = np.trace(cov) / d
    if mu <= 0:
        return _MAX_AUTO_RIDGE
    mean_sq = float(np.sum(cov * cov)) / d**2
    num = mean_sq + mu**2
    den = (n + 1.0) * (mean_sq - mu**2 / d)
    shrinkage = 1.0 if den <= 0 else min(num / den, 1.0)
    if shrinkage >= 1.0:
        return _MAX_AUTO_RIDGE
    return float(np.clip(shrinkage / (1.0 - shrinkage), _MIN_AUTO_RIDGE, _MAX_AUTO_RIDGE))


class _MomentsMemo:
    """Results computed from recently solved moments, keyed by the moments' identity.

    Fitting CSA and CCA on the same moments (they share one solution) then costs
    nothing, and a ridge search reuses each side's rank (and, for the linear map, its
    eigendecomposition). Moments are immutable, so identity is a safe key; only the last
    few are kept.
    """

    def __init__(self, kept: int = 16) -> None:
        self._kept = kept
        self._entries: list[tuple[PairMoments, Hashable, Any]] = []

    def get(self, moments: PairMoments, key: Hashable, compute: Callable[[], Any]) -> Any:
        for seen, seen_key, value in self._entries:
            if seen is moments and seen_key == key:
                return value
        value = compute()
        self._entries.append((moments, key, value))
        del self._entries[: -self._kept]
        return value


_MEMO = _MomentsMemo()


def side_spectrum(moments: PairMoments, side: str) -> tuple[np.ndarray, np.ndarray]:
    """``(eigenvalues, eigenvectors)`` of one side's covariance, ascending, memoised.

    The linear map's ridge search solves ``(C + r mu I) X = C_ab`` for many ``r``: one
    eigendecomposition serves them all.
    """

    def compute() -> tuple[np.ndarray, np.ndarray]:
        comoment = moments.comoment_aa if side == "a" else moments.comoment_bb
        return scipy.linalg.eigh(comoment / moments.n, driver="evd", check_finite=False)

    return _MEMO.get(moments, ("spectrum", side), compute)


def side_rank(moments: PairMoments, side: str) -> int:
    """Numerical rank of one side's covariance, memoised.

    Pivoted Cholesky (LAPACK ``pstrf``) stops once every remaining pivot is below
    ``_RANK_RTOL`` times the largest variance: the rank for a fraction of an eigensolve.
    """

    def compute() -> int:
        cov = (moments.comoment_aa if side == "a" else moments.comoment_bb) / moments.n
        top = float(np.max(np.diag(cov)))
        if top <= 0:
            return 0
        _, _, rank, info = lapack.dpstrf(cov, lower=1, tol=_RANK_RTOL * top)
        if info < 0:  # pragma: no cover - an argument error is a bug here, not bad input
            raise RuntimeError(f"LAPACK dpstrf rejected argument {-info}")
        return int(rank)

    return _MEMO.get(moments, ("rank", side), compute)


def _whitening_factor(cov: np.ndarray, rank: int, relative_ridge: float, side: str) -> np.ndarray:
    """Lower Cholesky factor ``L`` of ``C + r mu I``; ``W = L^(-T)`` whitens the side."""
    d = cov.shape[0]
    if rank == 0:
        raise RankDeficientError(
            f"side {side} is constant (every row equal): it has no variance to correlate"
        )
    if relative_ridge == 0 and rank < d:
        raise RankDeficientError(
            f"side {side} has a singular covariance (numerical rank {rank} of {d} features; "
            "constant or collinear features, or fewer pairs than features) and ridge=0 "
            "forbids regularising it; use ridge='auto' or a small positive ridge"
        )
    mean_var = float(np.trace(cov)) / d
    shifted = cov + np.diag(np.full(d, relative_ridge * mean_var))
    try:
        return scipy.linalg.cholesky(shifted, lower=True, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise RankDeficientError(
            f"side {side}'s covariance plus the ridge ({relative_ridge:g} x mean variance) is "
            f"not positive definite in floating point ({exc}); use a larger ridge"
        ) from exc


def _singular_pairs(cross: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Singular triplets of the whitened cross-covariance, largest first.

    Taken from the symmetric eigenproblem of the smaller Gram matrix (``M'M`` or
    ``MM'``), which LAPACK solves several times faster than a general SVD; the other
    side's vectors follow as ``M v / rho``. Squaring costs precision only for
    correlations far below the largest, and those are dropped (``_RHO_RTOL``).
    """
    tall = cross.shape[0] >= cross.shape[1]
    gram = matmul(cross, cross, trans_x=tall, trans_y=not tall)
    eigvals, eigvecs = scipy.linalg.eigh(gram, driver="evd", check_finite=False)
    order = np.argsort(eigvals)[::-1]
    rho = np.sqrt(np.maximum(eigvals[order], 0.0))
    small = eigvecs[:, order]
    safe = np.where(rho > 0, rho, 1.0)
    other = matmul(cross, small, trans_x=not tall) / safe
    return (other, rho, small) if tall else (small, rho, other)


def _deterministic_signs(proj_a: np.ndarray, proj_b: np.ndarray) -> None:
    """Flip column pairs so the largest-magnitude entry of each ``proj_a`` column is
    positive; flipping a and b together leaves every correlation and score unchanged."""
    rows = np.argmax(np.abs(proj_a), axis=0)
    signs = np.sign(proj_a[rows, np.arange(proj_a.shape[1])])
    signs[signs == 0] = 1.0
    proj_a *= signs
    proj_b *= signs


def resolve_ridges(moments: PairMoments, ridge: RidgeSpec) -> tuple[float, float]:
    """Relative ridges for both sides, with "auto" turned into numbers."""
    cov_aa, cov_bb, _ = moments.covariances()
    spec_a, spec_b = split_ridge(ridge)
    ridge_a = oas_relative_ridge(cov_aa, moments.n) if spec_a == "auto" else float(spec_a)
    ridge_b = oas_relative_ridge(cov_bb, moments.n) if spec_b == "auto" else float(spec_b)
    return ridge_a, ridge_b


def solve_cca(moments: PairMoments, ridge: RidgeSpec = "auto") -> CanonicalSolution:
    """Regularised CCA of the moments: whiten both sides, then one SVD.

    Only dimensions with a non-zero canonical correlation are kept (at most
    ``min(d_a, d_b, n - 1)``): beyond them the SVD returns arbitrary directions of a
    null space, whose coordinates are noise that would dilute every cosine.
    """
    if moments.n < 2:
        raise RankDeficientError(f"need at least 2 pairs to solve; have {moments.n}")
    ridge_a, ridge_b = resolve_ridges(moments, ridge)
    solution = _MEMO.get(
        moments, ("cca", ridge_a, ridge_b), lambda: _solve(moments, ridge_a, ridge_b)
    )
    _warn_if_weak(moments, solution.rank_a, solution.rank_b, solution.correlations.shape[0])
    # Copies: a caller that edits its projections in place must not edit the memo.
    return replace(
        solution,
        proj_a=solution.proj_a.copy(),
        proj_b=solution.proj_b.copy(),
        correlations=solution.correlations.copy(),
    )


def _solve(moments: PairMoments, ridge_a: float, ridge_b: float) -> CanonicalSolution:
    cov_aa, cov_bb, cov_ab = moments.covariances()
    rank_a, rank_b = side_rank(moments, "a"), side_rank(moments, "b")
    chol_a = _whitening_factor(cov_aa, rank_a, ridge_a, "a")
    chol_b = _whitening_factor(cov_bb, rank_b, ridge_b, "b")
    # Whitened cross-covariance L_a^(-1) C_ab L_b^(-T), by two triangular solves.
    half = scipy.linalg.solve_triangular(chol_a, cov_ab, lower=True, check_finite=False)
    cross = scipy.linalg.solve_triangular(chol_b, half.T, lower=True, check_finite=False).T
    left, rho, right = _singular_pairs(cross)
    cap = min(moments.dim_a, moments.dim_b, moments.n - 1, rho.shape[0])
    k = int(np.sum(rho[:cap] > _RHO_RTOL * max(float(rho[0]), np.finfo(float).tiny)))
    if k == 0 or rho[0] <= 0:
        raise RankDeficientError(
            "the two sides share no linear signal: their cross-covariance is zero"
        )
    # Projections W U = L^(-T) U, again by triangular solves.
    proj_a = scipy.linalg.solve_triangular(
        chol_a, left[:, :k], lower=True, trans="T", check_finite=False
    )
    proj_b = scipy.linalg.solve_triangular(
        chol_b, right[:, :k], lower=True, trans="T", check_finite=False
    )
    _deterministic_signs(proj_a, proj_b)
    return CanonicalSolution(
        proj_a=proj_a,
        proj_b=proj_b,
        correlations=rho[:k],
        ridge_a=ridge_a,
        ridge_b=ridge_b,
        rank_a=rank_a,
        rank_b=rank_b,
    )


def _warn_if_weak(moments: PairMoments, rank_a: int, rank_b: int, k: int) -> None:
    """Say so when the ridge, not the data, decides most of the fit."""
    reasons = []
    for side, dim, rank in (("a", moments.dim_a, rank_a), ("b", moments.dim_b, rank_b)):
        if moments.n <= dim:
            reasons.append(f"fewer pairs ({moments.n}) than side-{side} features ({dim})")
        elif rank < dim:
            reasons.append(f"side {side} has numerical rank {rank} of {dim} features")
    if reasons:
        warnings.warn(
            "; ".join(reasons)
            + f": the ridge stabilises the fit, and only {k} canonical dimension(s) carry "
            "shared signal; treat correlations near 1 with suspicion",
            WeakFitWarning,
            stacklevel=5,
        )
