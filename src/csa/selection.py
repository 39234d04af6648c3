"""Every rule that chooses a hyperparameter: the ridges, ``sim_dim`` and the weights.

A fit reads its choices from here and solves with :mod:`csa.solver`; nothing else in
the library picks a number. The rules, in the order a fit meets them:

- a number given by the user is used as it is;
- ``"oas"`` takes the Oracle Approximating Shrinkage ridge of a side's covariance;
- ``"auto"`` chooses on held-out folds of the moments themselves
  (:func:`select_on_folds`): solve on K-1 folds, score every canonical dimension on the
  remaining one, for each candidate ridge. One eigendecomposition per side per fold
  whitens for every candidate, so the search costs a few small SVDs, not a refit per
  candidate. Where the folds cannot support a choice (too few rows, no folds), OAS and
  every dimension are used, with a warning;
- the linear map's ridge is chosen on the same folds by the same criterion
  (:func:`select_linear_map_ridge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from csa.errors import RankDeficientError, SimDimError, TooFewPairsError, WeakFitWarning, warn
from csa.linalg import matmul
from csa.moments import FoldMoments, PairMoments
from csa.progress import ProgressBar
from csa.solver import RHO_RTOL, gram_pairs, pivoted_cholesky, range_spectrum

#: The words a ridge parameter takes besides numbers.
RIDGE_WORDS = ("auto", "oas")
# "auto" never goes below this relative ridge: a floor for round-off, not a prior.
_MIN_AUTO_RIDGE = 1e-6
# ...nor above this: past it the whitening is essentially the identity.
_MAX_AUTO_RIDGE = 1e3


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


def oas_ridges(moments: PairMoments) -> tuple[float, float]:
    """Both sides' relative ridges by Oracle Approximating Shrinkage (``ridge="oas"``)."""
    cov_aa, cov_bb, _ = moments.covariances()
    return oas_relative_ridge(cov_aa, moments.n), oas_relative_ridge(cov_bb, moments.n)


def resolve_ridges(spec: Any, moments: FoldMoments) -> tuple[tuple[Any, Any], tuple[float, float]]:
    """Split a ridge parameter into per-side specs and the numbers used without a search.

    Numbers stay numbers; "oas" sides, and "auto" sides for when no held-out search can
    run, take the OAS ridge of all rows (computed once, O(d^2)).
    """
    spec_a, spec_b = spec if isinstance(spec, tuple | list) else (spec, spec)
    words = {s for s in (spec_a, spec_b) if isinstance(s, str)}
    oas = oas_ridges(moments.total) if words else (0.0, 0.0)
    fixed = tuple(
        oas[i] if isinstance(s, str) else float(s) for i, s in enumerate((spec_a, spec_b))
    )
    return (spec_a, spec_b), (fixed[0], fixed[1])


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
            "criterion": "held-out separation J(s), see csa.selection.separation_curve",
        }


def _unit_scale(
    train: PairMoments, held: PairMoments, dtype: Any = np.float64
) -> tuple[tuple, np.ndarray]:
    """Training covariances and held-out second moments with each side's mean variance 1.

    Relative ridges then add plain multiples of I, and no product of the search
    overflows or underflows, however the features are scaled. The held-out moments are
    taken about the training means, since a fitted model centres new rows with its own
    means (the shift adds ``delta delta'`` to the fold's covariances), and returned as
    one joint matrix ``[[S_aa, S_ab], [S_ba, S_bb]]``. Every matrix is
    written once, at ``dtype``, from the float64 comoments: these d x d passes were a
    tenth of a search at a few thousand pairs.
    """
    d_a = train.dim_a
    mu_a = float(np.trace(train.comoment_aa)) / (train.n * d_a)
    mu_b = float(np.trace(train.comoment_bb)) / (train.n * train.dim_b)
    if not (mu_a > 0 and mu_b > 0):
        raise RankDeficientError("a side is constant on the training folds: nothing to select")
    dtype = np.dtype(dtype)
    root_a, root_b = np.sqrt(mu_a), np.sqrt(mu_b)
    train_scaled = tuple(
        _scaled(comoment, 1.0 / (train.n * mu), np.empty(comoment.shape, dtype))
        for comoment, mu in (
            (train.comoment_aa, mu_a),
            (train.comoment_bb, mu_b),
            (train.comoment_ab, root_a * root_b),
        )
    )
    shift_a = ((held.mean_a - train.mean_a) / root_a).astype(dtype)
    shift_b = ((held.mean_b - train.mean_b) / root_b).astype(dtype)
    joint = np.empty((d_a + held.dim_b,) * 2, dtype)
    _scaled(held.comoment_aa, 1.0 / (held.n * mu_a), joint[:d_a, :d_a], (shift_a, shift_a))
    _scaled(held.comoment_bb, 1.0 / (held.n * mu_b), joint[d_a:, d_a:], (shift_b, shift_b))
    s_ab = _scaled(
        held.comoment_ab, 1.0 / (held.n * root_a * root_b), joint[:d_a, d_a:], (shift_a, shift_b)
    )
    joint[d_a:, :d_a] = s_ab.T
    return train_scaled, joint


def _scaled(
    comoment: np.ndarray,
    scale: float,
    out: np.ndarray,
    shift: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``comoment * scale (+ outer(*shift))`` written into ``out`` at its precision."""
    np.multiply(comoment, scale, out=out, casting="same_kind")
    if shift is not None:
        out += np.outer(*shift)
    return out


class _HeldOutFold:
    """One fold's training spectra and held-out second moments, rotated once.

    Whitening for any ridge pair is then a diagonal rescale of the rotated
    cross-covariance. The held-out second moments of both sides together,
    ``[[S_aa, S_ab], [S_ba, S_bb]]``, have rank at most the held-out rows, so they are
    kept as a factor ``G G'`` (pivoted Cholesky, stopped at that rank) in rotated
    coordinates: the held-out (co)variances of every canonical direction are then row
    sums over ``r`` columns, where ``r`` is the smaller of the held-out rows and the
    features, instead of quadratic forms in the full dimension (1280 + 384 features of
    400 held-out rows: a fifth of the products).
    """

    def __init__(self, train: PairMoments, held: PairMoments, dtype: Any = np.float64) -> None:
        self.dtype = np.dtype(dtype)
        (cov_aa, cov_bb, cov_ab), joint = _unit_scale(train, held, self.dtype)
        eig_a, vec_a, self.singular_a = range_spectrum(cov_aa, train.n - 1)
        eig_b, vec_b, self.singular_b = range_spectrum(cov_bb, train.n - 1)
        self.eig_a, self.eig_b = eig_a.astype(np.float64), eig_b.astype(np.float64)
        self.cross = matmul(vec_a, matmul(cov_ab, vec_b), trans_x=True)
        factor_a, factor_b = _joint_factor(joint, train.dim_a, rank_bound=held.n)
        self.held_a = matmul(vec_a, factor_a, trans_x=True)  # (r_a, r): V_a' G_a
        self.held_b = matmul(vec_b, factor_b, trans_x=True)  # (r_b, r): V_b' G_b
        self.cap = min(self.eig_a.shape[0], self.eig_b.shape[0], train.n - 1)

    def evaluate(self, ridge_a: float, ridge_b: float) -> tuple[np.ndarray, ...] | None:
        """In-sample and held-out correlations (and spreads) of each canonical dimension at
        these ridges, in float64 whatever the fold's precision; None where a ridge of 0
        meets a singular side (no solution)."""
        tiny = np.finfo(float).tiny
        if (ridge_a == 0 and self.singular_a) or (ridge_b == 0 and self.singular_b):
            return None
        dtype = self.dtype
        scale_a = (1.0 / np.sqrt(np.maximum(self.eig_a + ridge_a, tiny))).astype(dtype)
        scale_b = (1.0 / np.sqrt(np.maximum(self.eig_b + ridge_b, tiny))).astype(dtype)
        rho, small, tall = gram_pairs(scale_a[:, None] * self.cross * scale_b[None, :])
        rho = rho.astype(np.float64)
        k = min(self.cap, rho.shape[0])
        k = int(np.sum(rho[:k] > RHO_RTOL * max(float(rho[0]), tiny)))
        # Each direction's held-out coordinates, one column per factor column. Only the
        # smaller side's singular vectors are formed; the other side's coordinates,
        # diag(1/rho) v' M' S H for M = S X S', come from X' (or X) times the factor,
        # which skips the d_large x d_small x k product of forming its vectors.
        # ``tall``: side b is the smaller one; otherwise side a, and X is read transposed.
        cross, (s_small, h_small), (s_large, h_large) = (
            (self.cross, (scale_b, self.held_b), (scale_a, self.held_a))
            if tall
            else (self.cross.T, (scale_a, self.held_a), (scale_b, self.held_b))
        )
        weighted = s_small[:, None] * small[:, :k]
        coords_small = matmul(weighted, h_small, trans_x=True)
        through = matmul(cross, (s_large**2)[:, None] * h_large, trans_x=True)
        coords_large = (1.0 / rho[:k]).astype(dtype)[:, None] * matmul(
            weighted, through, trans_x=True
        )
        coords_a, coords_b = (coords_large, coords_small) if tall else (coords_small, coords_large)
        c_ab = np.sum(coords_a * coords_b, axis=1, dtype=np.float64)
        c_aa = np.sum(coords_a * coords_a, axis=1, dtype=np.float64)
        c_bb = np.sum(coords_b * coords_b, axis=1, dtype=np.float64)
        spread = np.sqrt(c_aa * c_bb)
        # A direction with no held-out variance (a side's null space seen through
        # round-off) has no correlation to speak of; elsewhere |c_ab| <= spread, since the
        # factor makes the held-out second moments positive semi-definite.
        floor = _NO_SPREAD_RTOL[dtype.itemsize] * max(float(spread.max(initial=0.0)), tiny)
        live = spread > floor
        heldout = np.where(live, np.clip(c_ab / np.where(live, spread, 1.0), -1.0, 1.0), 0.0)
        return rho[:k], heldout, np.where(live, spread, 0.0)


# Held-out spread, relative to the largest, below which a direction counts as having none:
# round-off of the fold's precision (float32 search: 1e-6; float64: 1e-12).
_NO_SPREAD_RTOL = {4: 1e-6, 8: 1e-12}


def _joint_factor(joint: np.ndarray, d_a: int, rank_bound: int) -> tuple[np.ndarray, np.ndarray]:
    """``(G_a, G_b)`` with ``joint = [[S_aa, S_ab], [S_ba, S_bb]] = [G_a; G_b] [G_a; G_b]'``.

    The joint matrix is the average of ``n_h`` outer products, so its rank is at most
    ``rank_bound = n_h``; pivoted Cholesky stops there (beyond, with float32 products,
    only round-off remains) at O(d r^2). Exact where the rank bound holds; a zero
    matrix gives empty factors.
    """
    lower, pivots, rank = pivoted_cholesky(joint)
    r = min(rank, rank_bound)
    factor = np.zeros((joint.shape[0], r), dtype=joint.dtype)
    if r:
        factor[pivots - 1] = np.tril(lower[:, :r])
    return factor[:d_a], factor[d_a:]


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


class HeldOutFolds:
    """Every fold's rotated training spectra and held-out factor, built once per precision.

    The rotations cost one eigensolve per side per fold, most of a search at a few
    thousand pairs; they depend on the moments alone, not on the weighting searched for,
    so a fit that searches twice (CSA's class map) shares them. Kept for one fit only.
    """

    def __init__(self, folds: FoldMoments) -> None:
        self.folds = folds
        self._built: dict[np.dtype, list[_HeldOutFold]] = {}

    def get(self, dtype: Any, bar: ProgressBar) -> list[_HeldOutFold]:
        """The folds at ``dtype``, rotated now or on an earlier call (one bar unit each)."""
        key = np.dtype(dtype)
        if key not in self._built:
            total = self.folds.total
            held = []
            for k in range(self.folds.n_folds):
                held.append(_HeldOutFold(self.folds.training(k, total), self.folds.folds[k], key))
                bar.advance()
            self._built[key] = held
        else:
            bar.advance(len(self._built[key]))
        return self._built[key]


def select_on_folds(
    folds: FoldMoments,
    *,
    equal_weights: bool,
    tune_a: bool = True,
    tune_b: bool = True,
    fixed: tuple[float, float] = (0.0, 0.0),
    grid: Sequence[float] = RIDGE_GRID,
    prepared: HeldOutFolds | None = None,
) -> FoldSelection:
    """Choose the relative ridges (where ``tune_a``/``tune_b``; else ``fixed``) and ``sim_dim``.

    For each candidate, every fold in turn is held out: the CCA is solved on the other
    folds and each canonical dimension is scored on the held-out fold's moments alone
    (about the training means, since that is how new rows are centred). The criterion
    is the held-out separation :func:`separation_curve` with CSA's weights (the
    in-sample correlations) or, for CCA, equal weights, averaged over folds. Search:
    both ridges together along ``grid`` from its middle towards the better neighbour,
    then between the best and its neighbours, then each side alone a decade either
    way; a candidate must beat the best by a margin to be kept.

    The search only compares candidates, so it runs in float32 (half the time of its
    eigensolves and products) wherever float32 resolves the ridges it meets: each
    ridge at least :data:`FLOAT32_RIDGE_ULPS` float32 units of the side's largest
    variance. A search whose choice, or a fixed ridge, falls below that reruns in float64.
    ``prepared`` shares the folds' rotations with another search of the same moments.
    """
    _usable_folds(folds)
    prepared = HeldOutFolds(folds) if prepared is None else prepared
    spec = _SearchSpec(equal_weights, tune_a, tune_b, fixed, tuple(grid))
    floors = float32_ridge_floors(folds.total)
    fixed_resolved = all(tuned or fixed[i] >= floors[i] for i, tuned in enumerate((tune_a, tune_b)))
    if fixed_resolved:
        selection = _run_search(prepared, np.float32, spec)
        if selection.ridge_a >= floors[0] and selection.ridge_b >= floors[1]:
            return selection
    return _run_search(prepared, np.float64, spec)


@dataclass(frozen=True)
class _SearchSpec:
    """What :func:`select_on_folds` was asked to search (see its parameters)."""

    equal_weights: bool
    tune_a: bool
    tune_b: bool
    fixed: tuple[float, float]
    grid: tuple[float, ...]


#: A ridge this many float32 units of a side's largest variance (or more) is resolved by
#: a float32 eigensolve: its round-off moves no whitening scale by more than about 1%.
FLOAT32_RIDGE_ULPS = 100.0


def float32_ridge_floors(moments: PairMoments) -> tuple[float, float]:
    """Per side, the smallest relative ridge a float32 search resolves.

    LAPACK's eigenvalues are accurate to a few units of round-off times the largest, so a
    direction of variance ``l`` is whitened by ``1 / sqrt(l + r)`` to within about
    ``eps * l_max / r``; the floor keeps that near 1%. ``l_max`` relative to the mean
    variance is bounded by the Frobenius norm, O(d^2) to compute.
    """
    eps = float(np.finfo(np.float32).eps)
    floors = []
    for cov in moments.covariances()[:2]:
        mean = float(np.trace(cov)) / cov.shape[0]
        top = float(np.linalg.norm(cov)) / mean if mean > 0 else np.inf
        floors.append(FLOAT32_RIDGE_ULPS * eps * top)
    return floors[0], floors[1]


def _run_search(prepared: HeldOutFolds, dtype: Any, spec: _SearchSpec) -> FoldSelection:
    """Rotate every fold once, then search; the progress bar counts both (a wait a
    person sees: seconds at a few thousand pairs of wide embeddings)."""
    # One unit per fold rotated and per fold solved at a candidate; the walk along the
    # grid usually stops early, so the total is a bound and the bar may end short of it.
    n_candidates = len(spec.grid) + 2 + 2 * (int(spec.tune_a) + int(spec.tune_b))
    n_folds = prepared.folds.n_folds
    with ProgressBar(n_folds * (1 + n_candidates), "choosing ridges", unit="solve") as bar:
        return _search_folds(prepared.get(dtype, bar), bar, spec)


def _search_folds(held: list[_HeldOutFold], bar: ProgressBar, spec: _SearchSpec) -> FoldSelection:
    """The search :func:`select_on_folds` describes, counting its solves on ``bar``."""
    grid = spec.grid
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
                bar.advance()
                heldout_by_key[key].append(np.zeros(0) if evaluated is None else evaluated[1])
                if evaluated is None:
                    rows.append(np.full(length, -np.inf))
                    continue
                rho, heldout, spread = evaluated
                weights = np.ones_like(rho) if spec.equal_weights else rho
                rows.append(_padded(separation_curve(weights, heldout, spread), length))
            per_fold[key] = np.vstack(rows)
            curves[key] = per_fold[key].mean(axis=0)
        return float(np.max(curves[key]))

    def better(candidate: tuple[float, float], best: tuple[float, float]) -> bool:
        new, old = score(*candidate), score(*best)
        return new > old + 1e-6 * abs(old)

    def pair(value_a: float, value_b: float) -> tuple[float, float]:
        return (
            value_a if spec.tune_a else spec.fixed[0],
            value_b if spec.tune_b else spec.fixed[1],
        )

    # Both ridges together: from the middle of the grid, down while that improves, else
    # up while that does. On every fit measured the separation rises then falls along
    # the grid, so the walk finds the full scan's choice in 3-4 solves instead of 6.
    i = len(grid) // 2
    for step in (-1, 1):
        moved = False
        while 0 <= i + step < len(grid) and better(
            pair(grid[i + step], grid[i + step]), pair(grid[i], grid[i])
        ):
            i, moved = i + step, True
        if moved:
            break
    best = pair(grid[i], grid[i])
    for factor in (10**-0.5, 10**0.5):
        candidate = pair(best[0] * factor, best[1] * factor)
        if better(candidate, best):
            best = candidate
    for side in ("a", "b"):
        if not (spec.tune_a if side == "a" else spec.tune_b):
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


def select_linear_map_ridge(
    folds: FoldMoments, grid: Sequence[float] = LINEAR_MAP_GRID
) -> tuple[float, dict[str, Any]]:
    """The linear map's relative ridge with the best held-out separation, and the search.

    The same criterion as :func:`separation_curve`, for the score ``<a W, b>``: its
    mean over genuine held-out pairs, ``tr(W' S_ab)``, over its standard deviation over
    random pairs, ``sqrt(tr(W' S_aa W S_bb))``, both about the training means. With
    ``C_aa = V diag(l) V'`` and ``W = V D V' C_ab``, each ridge costs O(d^2). ``V`` spans
    the range of ``C_aa`` only (:func:`range_spectrum`): ``C_ab`` has no component in
    its null space, so neither has ``W``, and with fewer pairs than features every
    product shrinks to the rank.
    """
    usable = _usable_folds(folds)
    prepared = []
    for k in usable:
        train = folds.training(k)
        (cov_aa, _, cov_ab), joint = _unit_scale(train, folds.folds[k])
        d_a = train.dim_a
        s_aa, s_bb, s_ab = joint[:d_a, :d_a], joint[d_a:, d_a:], joint[:d_a, d_a:]
        eig, vec, _ = range_spectrum(cov_aa, train.n - 1)
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
        "criterion": "held-out separation, see csa.selection.select_linear_map_ridge",
    }
    return float(grid[best]), results


# ---- the choices a fit asks for ---------------------------------------------------------
@dataclass(frozen=True)
class CCAChoice:
    """The ridges a CSA or CCA fit solves with, and the held-out search behind them."""

    ridges: tuple[float, float]
    selection: FoldSelection | None


def choose_cca(
    moments: FoldMoments,
    *,
    ridge: Any,
    sim_dim: Any,
    weighting: str,
    model: str,
    prepared: HeldOutFolds | None = None,
) -> CCAChoice:
    """The ridges for a CSA (``weighting`` "canonical" or "heldout") or CCA ("equal") fit.

    A search runs when a ridge or ``sim_dim`` is "auto" or the weights are held-out
    correlations; when the folds cannot support it, "auto" falls back to OAS with a
    :class:`~csa.errors.WeakFitWarning`. ``prepared`` shares the folds' rotations with
    another choice on the same moments.
    """
    (spec_a, spec_b), fixed = resolve_ridges(ridge, moments)
    if "auto" not in (spec_a, spec_b, sim_dim) and weighting != "heldout":
        return CCAChoice(ridges=fixed, selection=None)
    if moments.n_folds < 2:
        reason = "the moments carry no folds (n_folds=1 or plain PairMoments)"
    else:
        try:
            selection = select_on_folds(
                moments,
                equal_weights=weighting == "equal",
                tune_a=spec_a == "auto",
                tune_b=spec_b == "auto",
                fixed=fixed,
                prepared=prepared,
            )
            return CCAChoice(ridges=(selection.ridge_a, selection.ridge_b), selection=selection)
        except RankDeficientError as exc:
            reason = str(exc)
    warn(
        f"{model}: no held-out selection ({reason}); 'auto' ridges use OAS and "
        "sim_dim='auto' keeps every dimension",
        WeakFitWarning,
    )
    return CCAChoice(ridges=fixed, selection=None)


def choose_sim_dim(spec: Any, k: int, moments: FoldMoments, selection: FoldSelection | None) -> int:
    """The default number of canonical dimensions a score uses, of the ``k`` solved."""
    if spec == "auto":
        return k if selection is None else min(selection.sim_dim, k)
    if spec is None:
        return k
    return checked_sim_dim(int(spec), k, moments.n, moments.dim_a, moments.dim_b)


def checked_sim_dim(sim_dim: int, k: int, n: int, dim_a: int, dim_b: int) -> int:
    """``sim_dim`` itself if a fit with ``k`` dimensions, on ``n`` pairs of ``dim_a`` and
    ``dim_b`` features, has it; else an error saying why."""
    if 1 <= sim_dim <= k:
        return sim_dim
    if sim_dim < 1:
        raise SimDimError(f"sim_dim={sim_dim} must be at least 1")
    if sim_dim > n - 1 and n - 1 < min(dim_a, dim_b):
        raise TooFewPairsError(
            f"sim_dim={sim_dim} needs at least {sim_dim + 1} pairs; this fit has {n}, "
            f"which give at most {k} canonical dimensions"
        )
    raise SimDimError(
        f"sim_dim={sim_dim} must be less or equal to the number of canonical dimensions, "
        f"{k} (features: a {dim_a}, b {dim_b}; pairs: {n}; dimensions "
        "with zero correlation are dropped)"
    )


def score_weights(
    weighting: str, correlations: np.ndarray, selection: FoldSelection | None
) -> np.ndarray:
    """Per-dimension weights of the score: CSA's canonical correlations, CCA's ones, or the
    held-out correlations (never negative: that would reward disagreement)."""
    if weighting == "equal":
        return np.ones_like(correlations)
    if weighting == "canonical" or selection is None:
        return correlations.copy()
    heldout = np.asarray(selection.heldout_correlations, dtype=np.float64)
    k = correlations.shape[0]
    padded = np.zeros(k)
    padded[: min(k, heldout.shape[0])] = heldout[:k]
    return np.maximum(padded, 0.0)


def prompt_spaces(moments: PairMoments, rank_a: int, rank_b: int) -> tuple[str, ...]:
    """The sides whose zero-shot prompts are scored in their own feature space.

    Class prompts unlike the training captions (clip-art category names against drawing
    titles) are distorted by the caption side's whitening, and the canonical regression
    into the prompts' own space won there (.255 against .126 top-1 at 4,169 pairs). Where
    a side's training rows are themselves a few class captions repeated (Fashion-MNIST's
    10, 30 spoken words, 11 appliances), a shared canonical space is the discriminant of
    exactly those classes, and it won (equal weights .708 against .693 at 100 pairs;
    spoken words .872 against .849 at 90; the paper's correlation-weighted CSA, which
    such a side gets as its class map, .722 and .889). Such a side is recognised by its
    rank: at most half of what its rows could span, ``min(width, n - 1)``.
    """
    spaces = []
    for side, rank, width in (("a", rank_a, moments.dim_a), ("b", rank_b, moments.dim_b)):
        if 2 * rank > min(width, moments.n - 1):
            spaces.append(side)
    return tuple(spaces)


def choose_linear_map_ridge(moments: FoldMoments, ridge: Any) -> tuple[float, dict | None]:
    """The linear map's relative ridge on side a, and its held-out search (or None)."""
    if ridge == "auto":
        try:
            return select_linear_map_ridge(moments)
        except RankDeficientError as exc:
            warn(
                f"LinearMap: no held-out selection ({exc}); the 'auto' ridge uses OAS",
                WeakFitWarning,
            )
    if isinstance(ridge, str):
        total = moments.total
        return oas_relative_ridge(total.covariances()[0], total.n), None
    return float(ridge), None
