"""The held-out choice of ridges and sim_dim, checked against computations on the rows.

The selection sees fold moments only; these tests redo its quantities from the data
itself (split the rows by fold, fit on the rest, project the held-out rows) and pin the
rules that decide it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

import csa
from csa.moments import fold_of, moments_of
from csa.selection import (
    _HeldOutFold,
    oas_relative_ridge,
    select_linear_map_ridge,
    separation_curve,
)
from synthetic import known_cca_pairs


def _direct_cca(a: np.ndarray, b: np.ndarray, ridge_a: float, ridge_b: float):
    """Regularised CCA from the rows, by a generalised symmetric eigensolve (no csa code)."""
    ac, bc = a - a.mean(0), b - b.mean(0)
    n = a.shape[0]
    caa, cbb, cab = ac.T @ ac / n, bc.T @ bc / n, ac.T @ bc / n
    caa += ridge_a * np.trace(caa) / caa.shape[0] * np.eye(caa.shape[0])
    cbb += ridge_b * np.trace(cbb) / cbb.shape[0] * np.eye(cbb.shape[0])
    m = np.linalg.solve(caa, cab) @ np.linalg.solve(cbb, cab.T)  # Caa^-1 Cab Cbb^-1 Cba
    rho2, vecs = scipy.linalg.eig(m)
    order = np.argsort(-rho2.real)
    rho = np.sqrt(np.maximum(rho2.real[order], 0))
    proj_a = vecs.real[:, order]
    proj_a /= np.sqrt(np.einsum("ij,ij->j", proj_a, caa @ proj_a))
    proj_b = np.linalg.solve(cbb, cab.T) @ proj_a / np.where(rho > 0, rho, 1)
    return rho, proj_a, proj_b


@pytest.mark.parametrize(
    ("n", "dim_a", "dim_b"),
    # many pairs (side a wider, then side b wider); fewer pairs than half the features
    [(900, 7, 5), (900, 5, 7), (60, 120, 110)],
    ids=["full-rank", "full-rank-wide-b", "low-rank"],
)
def test_heldout_correlations_equal_a_direct_computation_on_the_rows(n, dim_a, dim_b):
    a, b = known_cca_pairs(n, (0.9, 0.7, 0.4), dim_a=dim_a, dim_b=dim_b, seed=5)
    folds = moments_of(a, b, n_folds=5)
    held = fold_of(np.arange(n), 5) == 2
    fold = _HeldOutFold(folds.training(2), folds.folds[2])
    ridge_a, ridge_b = 0.3, 0.05
    rho, heldout, spread = fold.evaluate(ridge_a, ridge_b)
    ref_rho, proj_a, proj_b = _direct_cca(a[~held], b[~held], ridge_a, ridge_b)
    k = rho.shape[0]
    np.testing.assert_allclose(rho, ref_rho[:k], atol=1e-9)
    # Held-out rows are centred on the training means, as the fitted model centres them.
    za = (a[held] - a[~held].mean(0)) @ proj_a[:, :k]
    zb = (b[held] - b[~held].mean(0)) @ proj_b[:, :k]
    c_ab, c_aa, c_bb = (za * zb).mean(0), (za * za).mean(0), (zb * zb).mean(0)
    signs = np.sign(c_ab * heldout)  # eigenvector signs are arbitrary in the reference
    np.testing.assert_allclose(heldout, signs * c_ab / np.sqrt(c_aa * c_bb), atol=1e-9)
    # The separation criterion, from its definition.
    w = rho
    # (signed: with few pairs a dimension can correlate negatively on held-out rows)
    expected = np.cumsum(w * signs * c_ab) / np.sqrt(np.cumsum(w**2 * c_aa * c_bb))
    np.testing.assert_allclose(separation_curve(w, heldout, spread), expected, atol=1e-9)


def test_oas_ridge_equals_scikit_learn_oas_at_small_n():
    from sklearn.covariance import OAS

    rng = np.random.default_rng(0)
    for n, d in ((12, 8), (40, 30), (200, 10)):
        x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d))
        shrinkage = OAS().fit(x).shrinkage_
        cov = np.cov(x.T, bias=True)
        assert oas_relative_ridge(cov, n) == pytest.approx(shrinkage / (1 - shrinkage), rel=1e-10)


def test_cca_picks_the_number_of_shared_dimensions():
    a, b = known_cca_pairs(3000, (0.9, 0.8, 0.7), dim_a=20, dim_b=15, seed=6)
    assert csa.CCA().fit(a, b).sim_dim_ == 3
    assert csa.CSA().fit(a, b).sim_dim_ >= 3


def test_ridge_grows_as_pairs_become_few():
    rho = (0.8, 0.6, 0.5, 0.4)
    few_a, few_b = known_cca_pairs(80, rho, dim_a=60, dim_b=40, seed=7)
    many_a, many_b = known_cca_pairs(20000, rho, dim_a=60, dim_b=40, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", csa.WeakFitWarning)
        few = csa.CSA().fit(few_a, few_b)
    many = csa.CSA().fit(many_a, many_b)
    assert min(few.ridge_) > 10 * max(many.ridge_)
    # The search is recorded as scikit-learn's *CV estimators record theirs.
    results = few.cv_results_
    assert results["chosen"] == {
        "ridge_a": few.ridge_[0],
        "ridge_b": few.ridge_[1],
        "sim_dim": few.sim_dim_,
    }
    best = int(np.argmax(results["mean_score"]))
    assert (results["ridge_a"][best], results["ridge_b"][best]) == few.ridge_
    assert len(results["fold_scores"][best]) == 5


def test_selection_beats_the_oas_rule_on_held_out_retrieval():
    """The point of the search: where pairs are few, the chosen fit ranks new pairs better."""
    rho = (0.95, 0.9, 0.85, 0.8, 0.7)
    chosen, oas = [], []
    for seed in range(3):
        a, b = known_cca_pairs(300, rho, dim_a=60, dim_b=40, seed=seed, mixing_seed=1)
        ta, tb = known_cca_pairs(400, rho, dim_a=60, dim_b=40, seed=100 + seed, mixing_seed=1)
        chosen.append(csa.CSA().fit(a, b).score(ta, tb))
        oas.append(csa.CSA(ridge="oas", sim_dim=None).fit(a, b).score(ta, tb))
    # Mean reciprocal rank among 400 test pairs: about 0.22 against 0.06 here.
    assert np.mean(chosen) > 2 * np.mean(oas), (chosen, oas)


@pytest.mark.parametrize(("n", "dim_a"), [(500, 6), (80, 200)], ids=["full-rank", "low-rank"])
def test_linear_map_ridge_search_matches_refits_on_the_rows(n, dim_a):
    """The O(d^2) per-ridge criterion equals scoring explicit refits on each fold."""
    a, b = known_cca_pairs(n, (0.9, 0.5), dim_a=dim_a, dim_b=4, seed=10)
    folds = moments_of(a, b, n_folds=5)
    grid = (0.01, 1.0, 30.0)
    _, results = select_linear_map_ridge(folds, grid)
    ids = fold_of(np.arange(n), 5)
    for r_index, ridge in enumerate(grid):
        for k in range(5):
            train, held = ids != k, ids == k
            model = csa.LinearMap(ridge=ridge, n_folds=1).fit(a[train], b[train])
            pred = (a[held] - a[train].mean(0)) @ model.coef_
            target = b[held] - b[train].mean(0)
            n_h = held.sum()
            numerator = np.sum(pred * target) / n_h
            s_aa = pred.T @ pred / n_h
            s_bb = target.T @ target / n_h
            expected = numerator / np.sqrt(np.sum(s_aa * s_bb))
            assert results["fold_scores"][r_index][k] == pytest.approx(expected, rel=1e-8)


def test_folds_are_balanced_and_fixed_by_the_row_index():
    ids = fold_of(np.arange(100_000), 5)
    counts = np.bincount(ids, minlength=5)
    assert np.all(np.abs(counts - 20_000) < 600)
    np.testing.assert_array_equal(fold_of(np.arange(10, 20), 5), ids[10:20])
    # Not periodic: five captions per image in a row do not all land in different folds.
    assert len({tuple(ids[i : i + 5]) for i in range(0, 1000, 5)}) > 100


def test_heldout_weights_replace_the_in_sample_correlations():
    a, b = known_cca_pairs(300, (0.9, 0.5, 0.2), dim_a=30, dim_b=20, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", csa.WeakFitWarning)
        canonical = csa.CSA(ridge=0.5, sim_dim=None, weights="canonical").fit(a, b)
        heldout = csa.CSA(ridge=0.5, sim_dim=None, weights="heldout").fit(a, b)
    np.testing.assert_allclose(canonical.weights_, canonical.canonical_correlations_)
    assert np.all(heldout.weights_ >= 0)
    # In-sample correlations are biased upward; held-out ones are not.
    assert heldout.weights_[:3].sum() < canonical.weights_[:3].sum()
    np.testing.assert_allclose(heldout.projection_a_, canonical.projection_a_)


def test_ties_in_the_separation_go_to_the_smaller_sim_dim(monkeypatch):
    """A flat tail (dimensions that add nothing) must not be kept: fewer dims, less noise."""
    import csa.selection as solver

    def flat_tail(weights, heldout, spread):
        curve = np.full(weights.shape[0], 0.5)
        curve[0] = 0.1
        return curve

    monkeypatch.setattr(solver, "separation_curve", flat_tail)
    a, b = known_cca_pairs(500, (0.9, 0.8, 0.7), dim_a=8, dim_b=6, seed=12)
    selection = solver.select_on_folds(moments_of(a, b, n_folds=5), equal_weights=True)
    assert selection.sim_dim == 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_range_spectrum_of_few_rows_equals_the_full_eigensolve(dtype):
    """Pivoted Cholesky + SVD (fewer rows than half the features) against numpy's eigh,
    also where float32 products leave a null space of round-off instead of zeros."""
    from csa.solver import range_spectrum

    rng = np.random.default_rng(3)
    n, d = 40, 200
    x = (rng.standard_normal((n, d)) * np.geomspace(1, 1e-2, d)).astype(dtype)
    x -= x.mean(0)
    cov = (x.T @ x).astype(np.float64) / n
    eig, vec, singular = range_spectrum(cov, n - 1)
    ref_eig, ref_vec = np.linalg.eigh(cov)
    ref_eig, ref_vec = ref_eig[-(n - 1) :], ref_vec[:, -(n - 1) :]
    assert singular and eig.shape == (n - 1,) and np.all(np.diff(eig) >= 0)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(eig, ref_eig, atol=tol * ref_eig[-1])
    # Same subspaces: the projectors onto the leading eigenvectors agree.
    top = ref_eig > 1e-4 * ref_eig[-1]
    np.testing.assert_allclose(
        vec[:, top] @ vec[:, top].T, ref_vec[:, top] @ ref_vec[:, top].T, atol=100 * tol
    )
    np.testing.assert_allclose(vec.T @ vec, np.eye(n - 1), atol=1e-10)


def test_training_moments_by_downdate_equal_the_merge_of_the_other_folds():
    """The search takes each fold's training moments as the total less the fold."""
    rng = np.random.default_rng(21)
    a = rng.standard_normal((400, 9)) * 30 + 1e3  # offsets: the mean correction matters
    b = rng.standard_normal((400, 4)) @ rng.standard_normal((4, 4)) - 50
    folds = moments_of(a, b, n_folds=5)
    total = folds.total
    for k in range(5):
        down, merged = folds.training(k, total), folds.training(k)
        assert down.n == merged.n
        for name in ("mean_a", "mean_b", "comoment_aa", "comoment_bb", "comoment_ab"):
            ref = getattr(merged, name)
            np.testing.assert_allclose(getattr(down, name), ref, atol=1e-9 * np.abs(ref).max())


DTYPES = (np.float32, np.float64)


def test_float32_search_chooses_as_the_float64_search():
    """The search runs in float32 where float32 resolves its ridges; it must make the
    float64 search's choices, with curves equal to float32 round-off."""
    import csa.selection as selection

    a, b = known_cca_pairs(600, (0.9, 0.7, 0.5, 0.3), dim_a=80, dim_b=50, seed=13)
    folds = moments_of(a, b, n_folds=5)
    prepared = selection.HeldOutFolds(folds)
    spec = selection._SearchSpec(True, True, True, (0.0, 0.0), selection.RIDGE_GRID)
    runs = {dtype: selection._run_search(prepared, dtype, spec) for dtype in DTYPES}
    low, high = runs[np.float32], runs[np.float64]
    assert (low.ridge_a, low.ridge_b, low.sim_dim) == (high.ridge_a, high.ridge_b, high.sim_dim)
    for key, curve in high.curves.items():
        np.testing.assert_allclose(low.curves[key], curve, rtol=1e-4, atol=1e-5)


def test_a_ridge_below_float32_resolution_is_searched_in_float64(monkeypatch):
    """A fixed ridge of 0 (or a tiny one) needs float64 eigenvalues: float32 round-off
    would be most of the whitening there."""
    import csa.selection as selection

    seen = []
    original = selection._run_search

    def spy(prepared, dtype, spec):
        seen.append(np.dtype(dtype))
        return original(prepared, dtype, spec)

    monkeypatch.setattr(selection, "_run_search", spy)
    # Few noisy pairs for their width: a ridge far above float32's resolution is chosen.
    rng = np.random.default_rng(14)
    shared = rng.standard_normal((200, 8))
    a = shared @ rng.standard_normal((8, 40)) + 2 * rng.standard_normal((200, 40))
    b = shared @ rng.standard_normal((8, 30)) + 2 * rng.standard_normal((200, 30))
    assert min(csa.CSA().fit(a, b).ridge_) > 0.01
    assert seen == [np.dtype(np.float32)]
    seen.clear()
    csa.CSA(ridge=(0.0, "auto")).fit(a, b)
    assert seen == [np.dtype(np.float64)]
    floor_a, _ = selection.float32_ridge_floors(moments_of(a, b).total)
    seen.clear()
    csa.CSA(ridge=(floor_a / 2, "auto")).fit(a, b)
    assert seen == [np.dtype(np.float64)]
    # Many pairs of few features: the choice falls below the floor, and the search reruns.
    many_a, many_b = known_cca_pairs(5000, (0.9, 0.7), dim_a=6, dim_b=4, seed=15)
    seen.clear()
    model = csa.CSA().fit(many_a, many_b)
    floors = selection.float32_ridge_floors(moments_of(many_a, many_b).total)
    assert min(r / f for r, f in zip(model.ridge_, floors, strict=True)) < 1
    assert seen == [np.dtype(np.float32), np.dtype(np.float64)]


def test_the_walk_along_the_grid_misses_no_better_grid_point():
    """The joint ridge is searched by walking from the grid's middle; no grid value,
    scored on its own, may beat the final choice. The cases put the best grid value
    below the start, at it and above it."""
    import csa.selection as selection

    rng = np.random.default_rng(31)
    shared = rng.standard_normal((120, 8))
    noisy = (  # few noisy pairs: a ridge above the grid's middle wins
        shared @ rng.standard_normal((8, 100)) + 6 * rng.standard_normal((120, 100)),
        shared @ rng.standard_normal((8, 60)) + 6 * rng.standard_normal((120, 60)),
    )
    cases = [
        noisy,
        known_cca_pairs(2000, (0.9, 0.6, 0.4), dim_a=30, dim_b=20, seed=32),
        known_cca_pairs(90, (0.9, 0.6, 0.4), dim_a=200, dim_b=30, seed=33),
    ]
    chosen_grid_sides = set()
    for a, b in cases:
        folds = moments_of(a, b, n_folds=5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", csa.WeakFitWarning)
            chosen = selection.select_on_folds(folds, equal_weights=True)
        total = folds.total
        held = [_HeldOutFold(folds.training(k, total), folds.folds[k]) for k in range(5)]
        scores = []
        for ridge in selection.RIDGE_GRID:
            curves = []
            for fold in held:
                rho, heldout, spread = fold.evaluate(ridge, ridge)
                curve = separation_curve(np.ones_like(rho), heldout, spread)
                curves.append(np.pad(curve, (0, 400 - curve.shape[0]), mode="edge"))
            scores.append(np.max(np.mean(curves, axis=0)))
        assert max(scores) <= chosen.score + 1e-6
        start = len(selection.RIDGE_GRID) // 2
        chosen_grid_sides.add(int(np.sign(int(np.argmax(scores)) - start)))
    assert chosen_grid_sides == {-1, 0, 1} or chosen_grid_sides >= {-1, 1}
