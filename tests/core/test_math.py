"""The maths of the fit, checked against independent computations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import csa
from synthetic import known_cca_pairs, reference_cca

RHO = (0.9, 0.7, 0.5, 0.3)


def _fit(a, b, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", csa.WeakFitWarning)
        return csa.CSA(**kw).fit(a, b)


@pytest.mark.parametrize("ridge", [0.0, 0.05, (0.3, 0.01)])
def test_correlations_equal_generalised_eigensolve(ridge):
    a, b = known_cca_pairs(3000, RHO, seed=1)
    model = _fit(a, b, ridge=ridge)
    ra, rb = ridge if isinstance(ridge, tuple) else (ridge, ridge)
    # The reference takes absolute ridges: csa's are relative to the mean variance.
    abs_a = ra * np.trace(np.cov(a.T, bias=True)) / a.shape[1]
    abs_b = rb * np.trace(np.cov(b.T, bias=True)) / b.shape[1]
    values, _ = reference_cca(a, b, abs_a, abs_b)
    k = model.n_components_
    assert k == min(a.shape[1], b.shape[1])
    np.testing.assert_allclose(model.canonical_correlations_, values[:k], rtol=0, atol=1e-8)


def test_recovers_known_population_correlations():
    a, b = known_cca_pairs(60_000, RHO, seed=2)
    model = _fit(a, b, ridge=0.0)
    rho = model.canonical_correlations_
    np.testing.assert_allclose(rho[: len(RHO)], RHO, atol=0.015)
    assert np.all(rho[len(RHO) :] < 0.03)


def test_projections_whiten_and_diagonalise_training_data():
    a, b = known_cca_pairs(2000, RHO, seed=3)
    model = _fit(a, b, ridge=0.0)
    za, zb = model.transform_a(a), model.transform_b(b)
    n = a.shape[0]
    k = model.n_components_
    np.testing.assert_allclose(za.T @ za / n, np.eye(k), atol=1e-8)
    np.testing.assert_allclose(zb.T @ zb / n, np.eye(k), atol=1e-8)
    np.testing.assert_allclose(za.T @ zb / n, np.diag(model.canonical_correlations_), atol=1e-8)


def test_fresh_data_correlate_dimension_by_dimension():
    """Catches a transposed U or V: matching dims of new data must correlate at rho."""
    a, b = known_cca_pairs(20_000, RHO, seed=4, mixing_seed=99)
    model = _fit(a, b)
    new_a, new_b = known_cca_pairs(20_000, RHO, seed=5, mixing_seed=99)
    za, zb = model.transform_a(new_a), model.transform_b(new_b)
    for i, expected in enumerate(RHO):
        observed = np.corrcoef(za[:, i], zb[:, i])[0, 1]
        assert abs(observed - expected) < 0.03, (i, observed, expected)
    # ...and mismatched dimensions do not correlate.
    cross = np.corrcoef(za[:, 0], zb[:, 1])[0, 1]
    assert abs(cross) < 0.03


def test_similarity_is_the_weighted_cosine_of_the_design():
    a, b = known_cca_pairs(1500, RHO, seed=6)
    model = _fit(a, b, weights="canonical")
    s = 3
    za = model.transform_a(a[:7])[:, :s]
    zb = model.transform_b(b[:5])[:, :s]
    rho = model.canonical_correlations_[:s]
    expected = (za * rho) @ zb.T
    expected /= np.linalg.norm(za, axis=1)[:, None] * np.linalg.norm(zb, axis=1)[None, :]
    np.testing.assert_allclose(model.similarity(a[:7], b[:5], sim_dim=s), expected, atol=1e-12)
    pairs = model.score_pairs(a[:5], b[:5], sim_dim=s)
    np.testing.assert_allclose(pairs, np.diag(expected[:5, :5]), atol=1e-12)
    full = model.similarity(a[:50], b[:50])
    assert np.all(np.abs(full) <= model.canonical_correlations_[0] + 1e-12)


def test_cca_baseline_is_plain_cosine_of_canonical_coordinates():
    a, b = known_cca_pairs(1500, RHO, seed=7)
    cca = csa.CCA(sim_dim=4).fit(a, b)
    za = cca.transform_a(a[:6])[:, :4]
    zb = cca.transform_b(b[:6])[:, :4]
    za /= np.linalg.norm(za, axis=1, keepdims=True)
    zb /= np.linalg.norm(zb, axis=1, keepdims=True)
    np.testing.assert_allclose(cca.similarity(a[:6], b[:6]), za @ zb.T, atol=1e-12)


def test_sim_dim_at_query_time_matches_a_model_built_with_it():
    a, b = known_cca_pairs(1000, RHO, seed=8)
    wide = _fit(a, b)
    narrow = _fit(a, b, sim_dim=2)
    np.testing.assert_allclose(
        wide.similarity(a[:9], b[:9], sim_dim=2), narrow.similarity(a[:9], b[:9]), atol=1e-12
    )


def test_csa_weighting_beats_equal_weights_when_noise_dims_are_kept():
    """With every dimension kept, weighting by rho suppresses the noise dimensions."""
    from sklearn.metrics import roc_auc_score

    a, b = known_cca_pairs(4000, (0.95, 0.9, 0.85), dim_a=40, dim_b=30, seed=9, mixing_seed=3)
    ta, tb = known_cca_pairs(2000, (0.95, 0.9, 0.85), dim_a=40, dim_b=30, seed=10, mixing_seed=3)
    shuffled = np.random.default_rng(0).permutation(len(tb))
    labels = np.r_[np.ones(len(ta)), np.zeros(len(ta))]
    auc = {}
    for model in (csa.CSA(sim_dim=None, weights="canonical"), csa.CCA(sim_dim=None)):
        model.fit(a, b)
        scores = np.r_[model.score_pairs(ta, tb), model.score_pairs(ta, tb[shuffled])]
        auc[type(model).__name__] = roc_auc_score(labels, scores)
    assert auc["CSA"] > auc["CCA"] + 0.05, auc


def test_linear_map_equals_scikit_learn_ridge():
    from sklearn.linear_model import Ridge

    a, b = known_cca_pairs(800, RHO, seed=11)
    model = csa.LinearMap(ridge=0.1).fit(a, b)
    n = a.shape[0]
    alpha = 0.1 * np.trace(np.cov(a.T, bias=True)) / a.shape[1] * n
    reference = Ridge(alpha=alpha, fit_intercept=True).fit(a, b)
    np.testing.assert_allclose(model.coef_, reference.coef_.T, rtol=1e-8, atol=1e-10)
    predicted = reference.predict(a[:5]) - b.mean(0)
    target = b[:5] - b.mean(0)
    cosine = np.sum(predicted * target, 1) / (
        np.linalg.norm(predicted, axis=1) * np.linalg.norm(target, axis=1)
    )
    np.testing.assert_allclose(model.score_pairs(a[:5], b[:5]), cosine, atol=1e-10)


def test_asif_matches_a_direct_computation():
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(30, 5)), rng.normal(size=(30, 4))
    qa, qb = rng.normal(size=(4, 5)), rng.normal(size=(3, 4))
    k, p = 7, 3.0

    def relrep(x, anchors):
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        anchors = anchors / np.linalg.norm(anchors, axis=1, keepdims=True)
        out = np.zeros((len(x), len(anchors)))
        for i, row in enumerate(x @ anchors.T):
            top = np.argsort(row)[::-1][:k]
            out[i, top] = np.maximum(row[top], 0) ** p
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    expected = relrep(qa, a) @ relrep(qb, b).T
    model = csa.ASIF(k=k, p=p).fit(a, b)
    np.testing.assert_allclose(model.similarity(qa, qb), expected, atol=1e-12)


def test_auto_ridge_grows_when_pairs_are_few():
    a, b = known_cca_pairs(20_000, RHO, dim_a=40, dim_b=30, seed=13)
    many = _fit(a, b)
    few = _fit(a[:60], b[:60])
    assert few.ridge_[0] > 10 * many.ridge_[0]
    assert few.ridge_[1] > 10 * many.ridge_[1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_accumulation_matches_numpy(dtype):
    """The in-place SYRK/GEMM updates behind the moments add x'x and x'y to a running sum."""
    from csa.linalg import accumulator, add_cross, add_gram, symmetric

    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((n, 7)).astype(dtype) for n in (53, 1, 20)]
    ys = [rng.standard_normal((x.shape[0], 4)).astype(dtype) for x in xs]
    upper, total = accumulator(7, 7), accumulator(7, 4)
    for x, y in zip(xs, ys, strict=True):
        upper = add_gram(upper, x)
        total = add_cross(total, x, y)
    x64 = np.concatenate(xs).astype(np.float64)
    y64 = np.concatenate(ys).astype(np.float64)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    full = symmetric(upper)
    np.testing.assert_allclose(full, x64.T @ x64, rtol=tol, atol=tol)
    np.testing.assert_allclose(total, x64.T @ y64, rtol=tol, atol=tol)
    assert full.dtype == np.float64 and np.array_equal(full, full.T)


def test_accumulator_merges_foreign_moments_exactly():
    """Moments from elsewhere (a torch block, a worker) merge in place as one chunk would."""
    from csa.moments import FoldMoments, MomentAccumulator

    rng = np.random.default_rng(11)
    a = rng.standard_normal((1000, 7)) + 5.0
    b = rng.standard_normal((1000, 4)) - 3.0
    running = MomentAccumulator(7, 4, n_folds=1)
    running.add(a[:300], b[:300], first_row=0)
    for lo in range(300, 1000, 137):
        chunk = csa.PairMoments.from_chunk(a[lo : lo + 137], b[lo : lo + 137])
        running.add_moments(FoldMoments((chunk,)))
    got, exact = running.moments().total, csa.PairMoments.from_chunk(a, b)
    assert got.n == exact.n
    for name in ("mean_a", "mean_b", "comoment_aa", "comoment_bb", "comoment_ab"):
        np.testing.assert_allclose(getattr(got, name), getattr(exact, name), rtol=0, atol=1e-9)
    with pytest.raises(csa.ShapeError, match="dims"):
        running.add_moments(FoldMoments((csa.PairMoments.empty(3, 4),)))
