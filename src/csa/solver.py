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

The ridges and the number of dimensions used in the score are chosen on held-out folds
of the moments themselves (:func:`select_on_folds`): solve on K-1 folds, score every
canonical dimension on the remaining one, for each candidate ridge. One
eigendecomposition per side per fold whitens for every candidate, so the search costs
a few small SVDs, not a refit per candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

# scipy.linalg is imported by the functions that use it: a fit needs it, ``import csa``
# does not (it is most of the import time).
from csa.errors import RankDeficientError, WeakFitWarning, warn
from csa.linalg import matmul
from csa.moments import FoldMoments, PairMoments

# Eigenvalues below this fraction of the largest count as zero when judging rank.
_RANK_RTOL = 1e-10
# Canonical correlations below this fraction of the largest carry no shared signal: their
# directions, taken through a Gram matrix, would be imprecise, and with float32 products
# a side's null space shows up as correlations of ~3e-5 (Fashion-MNIST's 10 class
# captions gave 381 dimensions instead of 9 at 1e-6).
_RHO_RTOL = 1e-3
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


def oas_relative_ridge(cov: np.ndarray, n: int) -> float:
    """Ridge, relative to the mean variance, implied by Oracle Approximating Shrinkage.

    OAS (Chen, Wiesel, Eldar and Hero, 2010) picks the shrinkage of a sample
    covariance toward a scaled identity from ``n``, ``d``, ``tr(C)`` and ``tr(C^2)``
    alone, which is exactly what streamed moments provide. Shrinking by ``s`` towards
    ``mu I`` is ``(1 - s)`` times adding a ridge of ``s / (1 - s)`` times ``mu``, and the
    factor does not move the canonical directions.
    """
    d = cov.shape[0]
    mu = float(np.trace(cov)) / d
    if not mu > 0:
        return _MAX_AUTO_RIDGE
    # On the covariance divided by its mean variance, so that squaring neither overflows
    # (features of 1e80) nor underflows (features of 1e-100): the rule is scale-free.
    unit = cov / mu
    mean_sq = float(np.sum(unit * unit)) / d**2
    num = mean_sq + 1.0
    den = (n + 1.0) * (mean_sq - 1.0 / d)
    shrinkage = 1.0 if den <= 0 else min(num / den, 1.0)
    if shrinkage >= 1.0:
        return _MAX_AUTO_RIDGE
    return float(np.clip(shrinkage / (1.0 - shrinkage), _MIN_AUTO_RIDGE, _MAX_AUTO_RIDGE))


class _MomentsMemo:
    """Results computed from recently solved moments, keyed by the moments' identity.

    Fitting CSA and CCA on the same moments (they share one solution) then costs
    nothing, and a ridge search reuses each side's rank. Moments are immutable, so
    identity is a safe key; only the last few are kept.
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


def side_rank(moments: PairMoments, side: str) -> int:
    """Numerical rank of one side's covariance, memoised.

    Pivoted Cholesky (LAPACK ``pstrf``) stops once every remaining pivot is below
    ``_RANK_RTOL`` times the largest variance: the rank for a fraction of an eigensolve.
    """

    def compute() -> int:
        cov = (moments.comoment_aa if side == "a" else moments.comoment_bb) / moments.n
        return _pivoted_cholesky(cov)[2]

    return _MEMO.get(moments, ("rank", side), compute)


def _pivoted_cholesky(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """LAPACK ``pstrf`` of a PSD matrix: ``(lower, pivots, rank)``, stopped once every
    remaining pivot is below ``_RANK_RTOL`` times the largest variance; rank 0 (and
    nothing factored) for a zero matrix. Only the first ``rank`` columns are valid."""
    from scipy.linalg import lapack

    top = float(np.max(np.diag(cov)))
    if top <= 0:
        return np.zeros((0, 0)), np.zeros(0, dtype=np.int32), 0
    lower, pivots, rank, info = lapack.dpstrf(cov, lower=1, tol=_RANK_RTOL * top)
    if info < 0:  # pragma: no cover - an argument error is a bug here, not bad input
        raise RuntimeError(f"LAPACK dpstrf rejected argument {-info}")
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


def _singular_pairs(cross: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Singular triplets of the whitened cross-covariance, largest first.

    Taken from the symmetric eigenproblem of the smaller Gram matrix (``M'M`` or
    ``MM'``), which LAPACK solves several times faster than a general SVD; the other
    side's vectors follow as ``M v / rho``. Squaring costs precision only for
    correlations far below the largest, and those are dropped (``_RHO_RTOL``).
    """
    import scipy.linalg

    tall = cross.shape[0] >= cross.shape[1]
    gram = matmul(cross, cross, trans_x=tall, trans_y=not tall)
    if not np.isfinite(gram).all():
        raise RankDeficientError(
            "the whitened cross-covariance is not finite: a side is singular and its ridge "
            "too small to regularise it; use a larger ridge"
        )
    try:
        eigvals, eigvecs = scipy.linalg.eigh(gram, driver="evr", check_finite=False)
    except np.linalg.LinAlgError as exc:  # pragma: no cover - LAPACK failing on finite input
        raise RankDeficientError(f"the canonical decomposition did not converge: {exc}") from exc
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


def oas_ridges(moments: PairMoments) -> tuple[float, float]:
    """Both sides' relative ridges by Oracle Approximating Shrinkage (``ridge="oas"``)."""
    cov_aa, cov_bb, _ = moments.covariances()
    return oas_relative_ridge(cov_aa, moments.n), oas_relative_ridge(cov_bb, moments.n)


def solve_cca(moments: PairMoments, ridge_a: float, ridge_b: float) -> CanonicalSolution:
    """Regularised CCA of the moments: whiten both sides, then one SVD.

    Ridges are relative to each side's mean variance. Only dimensions with a non-zero
    canonical correlation are kept (at most ``min(d_a, d_b, n - 1)``): beyond them the
    SVD returns arbitrary directions of a null space, whose coordinates are noise that
    would dilute every cosine.
    """
    if moments.n < 2:
        raise RankDeficientError(f"need at least 2 pairs to solve; have {moments.n}")
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
    import scipy.linalg

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


# ---- choosing the ridges and sim_dim on held-out folds -----------------------------------
#: Relative ridges tried for both sides together, a decade apart; the best is then
#: refined between its neighbours and, one side at a time, a decade either way.
RIDGE_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
# The fewest held-out rows in every fold for a held-out choice: with fewer, the choice is
# noise (Fashion-MNIST zero-shot at 10 pairs fell from 0.53 with OAS to 0.25 +- 0.19 with
# folds of 2-3 rows), so the fit falls back to OAS and every dimension, with a warning.
MIN_ROWS_PER_FOLD = 10


@dataclass
class FoldSelection:
    """What :func:`select_on_folds` chose, and the evidence: one row per candidate.

    ``curves[(ridge_a, ridge_b)]`` is the mean over folds of the held-out separation
    ``J(s)`` for every ``s`` (index ``s - 1``); ``per_fold`` the same per fold;
    ``heldout_correlations`` the mean over folds of each dimension's held-out
    correlation at the chosen ridges.
    """

    ridge_a: float
    ridge_b: float
    sim_dim: int
    score: float
    curves: dict[tuple[float, float], np.ndarray] = field(default_factory=dict)
    per_fold: dict[tuple[float, float], np.ndarray] = field(default_factory=dict)
    heldout_correlations: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def results(self) -> dict[str, Any]:
        """scikit-learn's ``cv_results_`` shape: one entry per candidate, in search order."""
        candidates = list(self.curves)
        best = [float(np.max(self.curves[c])) for c in candidates]
        return {
            "ridge_a": [c[0] for c in candidates],
            "ridge_b": [c[1] for c in candidates],
            "best_sim_dim": [int(np.argmax(self.curves[c])) + 1 for c in candidates],
            "mean_score": best,
            "fold_scores": [
                self.per_fold[c][:, int(np.argmax(self.curves[c]))].tolist() for c in candidates
            ],
            "chosen": {"ridge_a": self.ridge_a, "ridge_b": self.ridge_b, "sim_dim": self.sim_dim},
            "criterion": "held-out separation J(s), see csa.solver.separation_curve",
        }


def _unit_scale(train: PairMoments, held: PairMoments) -> tuple[tuple, tuple]:
    """Training covariances and held-out second moments with each side's mean variance 1.

    Relative ridges then add plain multiples of I, and no product of the search
    overflows or underflows, however the features are scaled.
    """
    cov_aa, cov_bb, cov_ab = train.covariances()
    mu_a = float(np.trace(cov_aa)) / train.dim_a
    mu_b = float(np.trace(cov_bb)) / train.dim_b
    if not (mu_a > 0 and mu_b > 0):
        raise RankDeficientError("a side is constant on the training folds: nothing to select")
    s_aa, s_bb, s_ab = held.about(train.mean_a, train.mean_b)
    cross = np.sqrt(mu_a) * np.sqrt(mu_b)
    return (cov_aa / mu_a, cov_bb / mu_b, cov_ab / cross), (s_aa / mu_a, s_bb / mu_b, s_ab / cross)


def _range_spectrum(cov: np.ndarray, max_rank: int) -> tuple[np.ndarray, np.ndarray, bool]:
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
    computed (LAPACK's MRRR asked for a top subset is slower, not faster).
    """
    import scipy.linalg

    d = cov.shape[0]
    rank_bound = max(1, min(d, max_rank))
    tiny = np.finfo(float).tiny
    if 2 * rank_bound <= d:
        eig, vec = _low_rank_spectrum(cov, rank_bound)
    else:
        eig, vec = scipy.linalg.eigh(cov, driver="evr", check_finite=False)
        eig, vec = eig[d - rank_bound :], vec[:, d - rank_bound :]  # beyond: round-off
    if eig.shape[0] == 0:
        return eig, vec, True
    keep = eig > _RANK_RTOL * max(float(eig[-1]), tiny)
    return eig[keep], np.ascontiguousarray(vec[:, keep]), bool(keep.sum() < d)


def _low_rank_spectrum(cov: np.ndarray, rank_bound: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs (ascending) of a PSD matrix of rank at most ``rank_bound``, from the SVD
    of its pivoted Cholesky factor ``P L``: ``C = (P L)(P L)'``."""
    import scipy.linalg

    d = cov.shape[0]
    lower, pivots, rank = _pivoted_cholesky(cov)
    if rank == 0:
        return np.zeros(0), np.zeros((d, 0))
    r = min(rank, rank_bound)
    factor = np.zeros((d, r))
    factor[pivots - 1] = np.tril(lower[:, :r])
    u, sv, _ = scipy.linalg.svd(factor, full_matrices=False, check_finite=False)
    return (sv**2)[::-1], u[:, ::-1]


class _HeldOutFold:
    """One fold's training spectra and held-out second moments, rotated once.

    Whitening for any ridge pair is then a diagonal rescale of the rotated
    cross-covariance, and the held-out (co)variances of every canonical direction are
    quadratic forms in rotated coordinates.
    """

    def __init__(self, train: PairMoments, held: PairMoments) -> None:
        (cov_aa, cov_bb, cov_ab), (s_aa, s_bb, s_ab) = _unit_scale(train, held)
        self.eig_a, vec_a, self.singular_a = _range_spectrum(cov_aa, train.n - 1)
        self.eig_b, vec_b, self.singular_b = _range_spectrum(cov_bb, train.n - 1)
        self.cross = matmul(vec_a, matmul(cov_ab, vec_b), trans_x=True)
        self.held_aa = matmul(vec_a, matmul(s_aa, vec_a), trans_x=True)
        self.held_bb = matmul(vec_b, matmul(s_bb, vec_b), trans_x=True)
        self.held_ab = matmul(vec_a, matmul(s_ab, vec_b), trans_x=True)
        self.cap = min(self.eig_a.shape[0], self.eig_b.shape[0], train.n - 1)

    def evaluate(self, ridge_a: float, ridge_b: float) -> tuple[np.ndarray, ...] | None:
        """In-sample and held-out correlations (and spreads) of each canonical dimension at
        these ridges; None where a ridge of 0 meets a singular side (no solution)."""
        tiny = np.finfo(float).tiny
        if (ridge_a == 0 and self.singular_a) or (ridge_b == 0 and self.singular_b):
            return None
        scale_a = 1.0 / np.sqrt(np.maximum(self.eig_a + ridge_a, tiny))
        scale_b = 1.0 / np.sqrt(np.maximum(self.eig_b + ridge_b, tiny))
        left, rho, right = _singular_pairs(scale_a[:, None] * self.cross * scale_b[None, :])
        k = min(self.cap, rho.shape[0])
        k = int(np.sum(rho[:k] > _RHO_RTOL * max(float(rho[0]), tiny)))
        proj_a = scale_a[:, None] * left[:, :k]
        proj_b = scale_b[:, None] * right[:, :k]
        c_ab = np.sum(proj_a * matmul(self.held_ab, proj_b), axis=0)
        c_aa = np.sum(proj_a * matmul(self.held_aa, proj_a), axis=0)
        c_bb = np.sum(proj_b * matmul(self.held_bb, proj_b), axis=0)
        spread = np.sqrt(np.maximum(c_aa, 0.0) * np.maximum(c_bb, 0.0))
        # A direction with no held-out variance (a side's null space seen through float32
        # round-off) has no correlation to speak of; elsewhere |c_ab| <= spread up to
        # round-off, since the held-out second moments are positive semi-definite.
        live = spread > 1e-12 * max(float(spread.max(initial=0.0)), tiny)
        heldout = np.where(live, np.clip(c_ab / np.where(live, spread, 1.0), -1.0, 1.0), 0.0)
        return rho[:k], heldout, np.where(live, spread, 0.0)


def separation_curve(weights: np.ndarray, heldout: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """``J(s)`` for every s: how far genuine pairs' scores stand from random pairs'.

    A score ``sum_i w_i za_i zb_i`` has mean ``sum_i w_i c_ab_i`` over genuine held-out
    pairs and, over random pairs, mean 0 and standard deviation
    ``sqrt(sum_i w_i^2 c_aa_i c_bb_i)`` (dimensions uncorrelated); their ratio is the
    z-score of a genuine pair among random ones, which is what retrieval, zero-shot
    and mismatch detection all depend on. Dimensions whose held-out correlation is
    too small for their weight lower it, which is what stops ``s``.
    """
    weighted = weights * spread
    return np.cumsum(weighted * heldout) / np.sqrt(np.maximum(np.cumsum(weighted**2), 1e-300))


def _padded(curve: np.ndarray, length: int) -> np.ndarray:
    """A curve defined up to its fold's dimension count, held flat beyond it."""
    out = np.empty(length)
    out[: curve.shape[0]] = curve[:length]
    out[curve.shape[0] :] = curve[-1] if curve.shape[0] else -np.inf
    return out


def _usable_folds(folds: FoldMoments) -> list[int]:
    """Every fold, if each holds enough rows to score on; else the selection is refused."""
    counts = [fold.n for fold in folds.folds]
    if folds.n_folds < 2 or min(counts) < MIN_ROWS_PER_FOLD:
        raise RankDeficientError(
            f"held-out selection needs at least {MIN_ROWS_PER_FOLD} pairs in each of "
            f"{folds.n_folds} folds; they hold {counts} pairs"
        )
    return list(range(folds.n_folds))


def select_on_folds(
    folds: FoldMoments,
    *,
    equal_weights: bool,
    tune_a: bool = True,
    tune_b: bool = True,
    fixed: tuple[float, float] = (0.0, 0.0),
    grid: Sequence[float] = RIDGE_GRID,
) -> FoldSelection:
    """Choose the relative ridges (where ``tune_a``/``tune_b``; else ``fixed``) and ``sim_dim``.

    For each candidate, every fold in turn is held out: the CCA is solved on the other
    folds and each canonical dimension is scored on the held-out fold's moments alone
    (about the training means, since that is how new rows are centred). The criterion
    is the held-out separation :func:`separation_curve` with CSA's weights (the
    in-sample correlations) or, for CCA, equal weights, averaged over folds. Search:
    both ridges together over ``grid``, then between the best and its neighbours, then
    each side alone a decade either way; a candidate must beat the best by a margin
    to be kept, so ties go to the simpler, earlier choice.
    """
    usable = _usable_folds(folds)
    held = [_HeldOutFold(folds.training(k), folds.folds[k]) for k in usable]
    length = max(fold.cap for fold in held)
    curves: dict[tuple[float, float], np.ndarray] = {}
    per_fold: dict[tuple[float, float], np.ndarray] = {}
    heldout_by_key: dict[tuple[float, float], list[np.ndarray]] = {}

    def score(ridge_a: float, ridge_b: float) -> float:
        key = (float(ridge_a), float(ridge_b))
        if key not in curves:
            rows = []
            heldout_by_key[key] = []
            for fold in held:
                evaluated = fold.evaluate(*key)
                heldout_by_key[key].append(np.zeros(0) if evaluated is None else evaluated[1])
                if evaluated is None:
                    rows.append(np.full(length, -np.inf))
                    continue
                rho, heldout, spread = evaluated
                weights = np.ones_like(rho) if equal_weights else rho
                rows.append(_padded(separation_curve(weights, heldout, spread), length))
            per_fold[key] = np.vstack(rows)
            curves[key] = per_fold[key].mean(axis=0)
        return float(np.max(curves[key]))

    def better(candidate: tuple[float, float], best: tuple[float, float]) -> bool:
        new, old = score(*candidate), score(*best)
        return new > old + 1e-6 * abs(old)

    def pair(value_a: float, value_b: float) -> tuple[float, float]:
        return (value_a if tune_a else fixed[0], value_b if tune_b else fixed[1])

    best = pair(grid[0], grid[0])
    for value in grid[1:]:
        candidate = pair(value, value)
        if better(candidate, best):
            best = candidate
    for factor in (10**-0.5, 10**0.5):
        candidate = pair(best[0] * factor, best[1] * factor)
        if better(candidate, best):
            best = candidate
    for side in ("a", "b"):
        if not (tune_a if side == "a" else tune_b):
            continue
        for factor in (0.1, 10.0):
            candidate = (best[0] * factor, best[1]) if side == "a" else (best[0], best[1] * factor)
            if better(candidate, best):
                best = candidate
    curve = curves[best]
    if not np.isfinite(curve).any():
        raise RankDeficientError(
            "no candidate ridge gives a solution: a side is singular and its ridge is fixed at 0"
        )
    sim_dim = int(np.argmax(curve)) + 1
    mean_heldout = np.vstack([_padded(h, length) for h in heldout_by_key[best]]).mean(axis=0)
    return FoldSelection(
        ridge_a=best[0],
        ridge_b=best[1],
        sim_dim=sim_dim,
        score=float(curve[sim_dim - 1]),
        curves=curves,
        per_fold=per_fold,
        heldout_correlations=mean_heldout,
    )


#: Relative ridges tried for the linear map, half a decade apart (each costs O(d^2)).
LINEAR_MAP_GRID: tuple[float, ...] = tuple(float(r) for r in np.geomspace(1e-3, 1e3, 13))


def linear_map_coef(moments: PairMoments, relative_ridge: float) -> np.ndarray:
    """Ridge least-squares coefficients ``(C_aa + r mu I)^(-1) C_ab`` by one Cholesky solve.

    A fixed ridge needs no eigendecomposition: the factorisation costs a sixth of one
    (the held-out ridge search, which tries many ridges, rotates once per fold instead).
    """
    import scipy.linalg

    cov_aa, _, cov_ab = moments.covariances()
    d = cov_aa.shape[0]
    mean_var = float(np.trace(cov_aa)) / d
    if not mean_var > 0:
        raise RankDeficientError("side a is constant (every row equal): nothing to map from")
    singular = (
        "side a's covariance is singular (constant or collinear features, or fewer pairs "
        "than features) and ridge=0 forbids regularising it; use ridge='auto' or a "
        "positive ridge"
    )
    if relative_ridge == 0 and side_rank(moments, "a") < d:
        raise RankDeficientError(singular)
    shifted = cov_aa + np.diag(np.full(d, relative_ridge * mean_var))
    try:
        factor = scipy.linalg.cho_factor(shifted, lower=True, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise RankDeficientError(f"{singular} ({exc})") from exc
    return scipy.linalg.cho_solve(factor, cov_ab, check_finite=False)


def select_linear_map_ridge(
    folds: FoldMoments, grid: Sequence[float] = LINEAR_MAP_GRID
) -> tuple[float, dict[str, Any]]:
    """The linear map's relative ridge with the best held-out separation, and the search.

    The same criterion as :func:`separation_curve`, for the score ``<a W, b>``: its
    mean over genuine held-out pairs, ``tr(W' S_ab)``, over its standard deviation over
    random pairs, ``sqrt(tr(W' S_aa W S_bb))``, both about the training means. With
    ``C_aa = V diag(l) V'`` and ``W = V D V' C_ab``, each ridge costs O(d^2). ``V`` spans
    the range of ``C_aa`` only (:func:`_range_spectrum`): ``C_ab`` has no component in
    its null space, so neither has ``W``, and with fewer pairs than features every
    product shrinks to the rank.
    """
    usable = _usable_folds(folds)
    prepared = []
    for k in usable:
        train = folds.training(k)
        (cov_aa, _, cov_ab), (s_aa, s_bb, s_ab) = _unit_scale(train, folds.folds[k])
        eig, vec, _ = _range_spectrum(cov_aa, train.n - 1)
        rotated_cross = matmul(vec, cov_ab, trans_x=True)  # V' C_ab
        signal = np.sum(rotated_cross * matmul(vec, s_ab, trans_x=True), axis=1)
        spread_b = matmul(rotated_cross, matmul(s_bb, rotated_cross, trans_y=True))
        rotated_aa = matmul(vec, matmul(s_aa, vec), trans_x=True)
        prepared.append((np.maximum(eig, 0.0), signal, spread_b * rotated_aa.T))
    scores = []
    for ridge in grid:
        per_fold = []
        for eig, signal, spread in prepared:
            inverse = 1.0 / np.maximum(eig + ridge, np.finfo(float).tiny)
            numerator = float(inverse @ signal)
            denominator = float(inverse @ spread @ inverse)
            per_fold.append(numerator / np.sqrt(max(denominator, 1e-300)))
        scores.append(per_fold)
    means = [float(np.mean(s)) for s in scores]
    best = 0
    for i in range(1, len(grid)):
        if means[i] > means[best] + 1e-6 * abs(means[best]):
            best = i
    results = {
        "ridge": [float(r) for r in grid],
        "mean_score": means,
        "fold_scores": scores,
        "chosen": {"ridge": float(grid[best])},
        "criterion": "held-out separation, see csa.solver.select_linear_map_ridge",
    }
    return float(grid[best]), results
