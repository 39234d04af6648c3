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
either side. Which ridges, and how many dimensions the score uses, is decided in
:mod:`csa.selection`; this module only solves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# scipy.linalg is imported by the functions that use it: a fit needs it, ``import csa``
# does not (it is most of the import time).
from csa.errors import RankDeficientError, WeakFitWarning, warn
from csa.linalg import gram_upper, matmul
from csa.moments import PairMoments

# Eigenvalues below this fraction of the largest count as zero when judging rank.
RANK_RTOL = 1e-10
# Canonical correlations below this fraction of the largest carry no shared signal: their
# directions, taken through a Gram matrix, would be imprecise, and with float32 products
# a side's null space shows up as correlations of ~3e-5 (Fashion-MNIST's 10 class
# captions gave 381 dimensions instead of 9 at 1e-6).
RHO_RTOL = 1e-3
# Variance within this many units in the last place of a feature's mean is round-off.
ROUND_OFF_ULPS = 64


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


def side_rank(moments: PairMoments, side: str) -> int:
    """Numerical rank of one side's covariance; 0 for a side constant up to round-off.

    Pivoted Cholesky (LAPACK ``pstrf``) stops once every remaining pivot is below
    ``RANK_RTOL`` times the largest variance: the rank for a fraction of an eigensolve.
    Centring leaves a constant feature a variance of about one unit in the last place of
    its mean, squared, rather than zero; variances within ``ROUND_OFF_ULPS`` units of
    the largest mean count as none, so such a side is refused as constant instead of
    fitted on its round-off.
    """
    comoment, mean = (
        (moments.comoment_aa, moments.mean_a)
        if side == "a"
        else (moments.comoment_bb, moments.mean_b)
    )
    floor = (ROUND_OFF_ULPS * np.finfo(np.float64).eps) ** 2 * float(np.max(mean**2, initial=0.0))
    return pivoted_cholesky(comoment / moments.n, floor)[2]


def pivoted_cholesky(cov: np.ndarray, floor: float = 0.0) -> tuple[np.ndarray, np.ndarray, int]:
    """LAPACK ``pstrf`` of a PSD matrix: ``(lower, pivots, rank)``, stopped once every
    remaining pivot is below ``RANK_RTOL`` times the largest variance (and below
    ``floor``); rank 0, and nothing factored, when no variance exceeds ``floor``. Only
    the first ``rank`` columns are valid. Float32 input is factored in float32."""
    from scipy.linalg import lapack

    top = float(np.max(np.diag(cov)))
    if top <= floor or top <= 0:
        return np.zeros((0, 0), dtype=cov.dtype), np.zeros(0, dtype=np.int32), 0
    (pstrf,) = lapack.get_lapack_funcs(("pstrf",), (cov,))
    lower, pivots, rank, info = pstrf(cov, lower=1, tol=max(RANK_RTOL * top, floor))
    if info < 0:  # pragma: no cover - an argument error is a bug here, not bad input
        raise RuntimeError(f"LAPACK pstrf rejected argument {-info}")
    return lower, pivots, int(rank)


def _whitening_factor(cov: np.ndarray, rank: int, relative_ridge: float, side: str) -> np.ndarray:
    """Lower Cholesky factor ``L`` of ``C + r mu I``; ``W = L^(-T)`` whitens the side."""
    import scipy.linalg

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


def singular_pairs(cross: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Singular triplets of the whitened cross-covariance, largest first.

    Taken from the symmetric eigenproblem of the smaller Gram matrix (``M'M`` or
    ``MM'``, :func:`gram_pairs`), which LAPACK solves several times faster than a
    general SVD; the other side's vectors follow as ``M v / rho``. Squaring costs
    precision only for correlations far below the largest, and those are dropped
    (``RHO_RTOL``).
    """
    rho, small, tall = gram_pairs(cross)
    safe = np.where(rho > 0, rho, 1.0)
    other = matmul(cross, small, trans_x=not tall) / safe
    return (other, rho, small) if tall else (small, rho, other)


def gram_pairs(cross: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Singular values (descending) and the singular vectors of the smaller side of
    ``cross``, and whether that side is its columns (``tall``: rows >= columns)."""
    import scipy.linalg

    tall = cross.shape[0] >= cross.shape[1]
    gram = gram_upper(cross, columns=tall)
    if not np.isfinite(gram).all():
        raise RankDeficientError(
            "the whitened cross-covariance is not finite: a side is singular and its ridge "
            "too small to regularise it; use a larger ridge"
        )
    try:
        eigvals, eigvecs = scipy.linalg.eigh(gram, lower=False, driver="evd", check_finite=False)
    except np.linalg.LinAlgError as exc:  # pragma: no cover - LAPACK failing on finite input
        raise RankDeficientError(f"the canonical decomposition did not converge: {exc}") from exc
    order = np.argsort(eigvals)[::-1]
    return np.sqrt(np.maximum(eigvals[order], 0.0)), eigvecs[:, order], tall


def _deterministic_signs(proj_a: np.ndarray, proj_b: np.ndarray) -> None:
    """Flip column pairs so the largest-magnitude entry of each ``proj_a`` column is
    positive; flipping a and b together leaves every correlation and score unchanged."""
    rows = np.argmax(np.abs(proj_a), axis=0)
    signs = np.sign(proj_a[rows, np.arange(proj_a.shape[1])])
    signs[signs == 0] = 1.0
    proj_a *= signs
    proj_b *= signs


def solve_cca(moments: PairMoments, ridge_a: float, ridge_b: float) -> CanonicalSolution:
    """Regularised CCA of the moments: whiten both sides, then one SVD.

    Ridges are relative to each side's mean variance. Only dimensions with a non-zero
    canonical correlation are kept (at most ``min(d_a, d_b, n - 1)``): beyond them the
    SVD returns arbitrary directions of a null space, whose coordinates are noise that
    would dilute every cosine.
    """
    if moments.n < 2:
        raise RankDeficientError(f"need at least 2 pairs to solve; have {moments.n}")
    solution = _solve(moments, ridge_a, ridge_b)
    _warn_if_weak(moments, solution.rank_a, solution.rank_b, solution.correlations.shape[0])
    return solution


def _solve(moments: PairMoments, ridge_a: float, ridge_b: float) -> CanonicalSolution:
    import scipy.linalg

    cov_aa, cov_bb, cov_ab = moments.covariances()
    rank_a, rank_b = side_rank(moments, "a"), side_rank(moments, "b")
    chol_a = _whitening_factor(cov_aa, rank_a, ridge_a, "a")
    chol_b = _whitening_factor(cov_bb, rank_b, ridge_b, "b")
    # Whitened cross-covariance L_a^(-1) C_ab L_b^(-T), by two triangular solves.
    half = scipy.linalg.solve_triangular(chol_a, cov_ab, lower=True, check_finite=False)
    cross = scipy.linalg.solve_triangular(chol_b, half.T, lower=True, check_finite=False).T
    left, rho, right = singular_pairs(cross)
    cap = min(moments.dim_a, moments.dim_b, moments.n - 1, rho.shape[0])
    k = int(np.sum(rho[:cap] > RHO_RTOL * max(float(rho[0]), np.finfo(float).tiny)))
    if rho[0] > 1 + 1e-6:
        # Correlations cannot exceed 1: the whitening lost its precision (a ridge too
        # small for a side whose features are collinear), so the solution is noise.
        raise RankDeficientError(
            f"the solve is numerically unstable (a canonical correlation of {rho[0]:.3g} > 1): "
            f"the ridges ({ridge_a:g}, {ridge_b:g}) are too small for collinear or "
            "near-singular features; use ridge='auto' or a larger ridge"
        )
    if k == 0 or rho[0] <= 0:
        raise RankDeficientError(
            "the two sides share no linear signal: their cross-covariance is zero (are "
            "rows of a and b paired, and does either side vary?)"
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
        warn(
            "; ".join(reasons)
            + f": the ridge stabilises the fit, and only {k} canonical dimension(s) carry "
            "shared signal; treat correlations near 1 with suspicion",
            WeakFitWarning,
        )


def range_spectrum(cov: np.ndarray, max_rank: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Eigenpairs of a covariance on its range only (ascending), and whether it is singular.

    Canonical directions lie in the range of each side's covariance (the cross-covariance
    has no component in the null space), so the null space can be dropped exactly. With
    fewer pairs than features that shrinks every later product to the rank.

    ``max_rank`` bounds the rank (the training rows less one). Where it is at most half
    the dimension, the range is found by pivoted Cholesky (LAPACK ``pstrf``), which stops
    at the rank, and the eigenpairs by the SVD of that ``d x r`` factor: O(d r^2), not
    the O(d^3) of a full eigensolve (1280 features of 256 pairs: 0.05 s against 0.35 s).
    With float32 products the null space is round-off, not zeros; pivoted Cholesky then
    runs a few steps past the bound and its first ``max_rank`` columns are kept, which
    agrees with the full eigensolve to that round-off. Otherwise the whole spectrum is
    computed by divide and conquer (LAPACK ``syevd``: 1.5x faster than MRRR at d = 1280,
    and MRRR asked for a top subset is slower, not faster). Float32 input is solved in
    float32, at twice the speed (the held-out search, see :mod:`csa.selection`).
    """
    import scipy.linalg

    d = cov.shape[0]
    rank_bound = max(1, min(d, max_rank))
    tiny = np.finfo(float).tiny
    if 2 * rank_bound <= d:
        eig, vec = low_rank_spectrum(cov, rank_bound)
    else:
        eig, vec = scipy.linalg.eigh(cov, driver="evd", check_finite=False)
        eig, vec = eig[d - rank_bound :], vec[:, d - rank_bound :]  # beyond: round-off
    if eig.shape[0] == 0:
        return eig, vec, True
    keep = eig > RANK_RTOL * max(float(eig[-1]), tiny)
    return eig[keep], np.ascontiguousarray(vec[:, keep]), bool(keep.sum() < d)


def low_rank_spectrum(cov: np.ndarray, rank_bound: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs (ascending) of a PSD matrix of rank at most ``rank_bound``, from the SVD
    of its pivoted Cholesky factor ``P L``: ``C = (P L)(P L)'``."""
    import scipy.linalg

    d = cov.shape[0]
    lower, pivots, rank = pivoted_cholesky(cov)
    if rank == 0:
        return np.zeros(0, dtype=cov.dtype), np.zeros((d, 0), dtype=cov.dtype)
    r = min(rank, rank_bound)
    factor = np.zeros((d, r), dtype=cov.dtype)
    factor[pivots - 1] = np.tril(lower[:, :r])
    u, sv, _ = scipy.linalg.svd(factor, full_matrices=False, check_finite=False)
    return (sv**2)[::-1], u[:, ::-1]
