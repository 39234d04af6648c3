"""The fit's life cycle: what a call leaves behind, whether it succeeds or not.

Each test reproduces a defect found by an independent reliability run and pins the
behaviour scikit-learn users expect: ``fit`` starts over, ``partial_fit`` extends and
keeps pairs it cannot solve on yet, a side constant up to round-off is refused, no
fitted state outlives its model, and every model takes ``sim_dim`` in one signature.
"""

from __future__ import annotations

import gc
import warnings
import weakref

import numpy as np
import pytest

import csa
from synthetic import known_cca_pairs


@pytest.fixture()
def pairs():
    return known_cca_pairs(300, (0.9, 0.7, 0.5), dim_a=8, dim_b=6, seed=4)


@pytest.mark.parametrize("build", [csa.CSA, csa.CCA, csa.LinearMap, csa.ASIF], ids=repr)
def test_fit_at_new_widths_starts_over(pairs, build):
    a, b = pairs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", csa.WeakFitWarning)
        model = build().fit(a, b).fit(a[:, :5], b[:, :4])
        fresh = build().fit(a[:, :5], b[:, :4])
    assert (model.n_features_a_, model.n_features_b_) == (5, 4)
    np.testing.assert_allclose(
        model.similarity(a[:9, :5], b[:9, :4]), fresh.similarity(a[:9, :5], b[:9, :4])
    )


def test_fit_chunks_and_fit_moments_start_over_too(pairs):
    a, b = pairs
    model = csa.CSA(ridge=0.1, sim_dim=2).fit(a, b)
    model.fit_chunks([(a[:150, :5], b[:150, :4]), (a[150:, :5], b[150:, :4])])
    assert model.n_features_a_ == 5
    model.fit_moments(csa.CSA(ridge=0.1, sim_dim=2).fit(a, b).moments_)
    assert model.n_features_a_ == 8


def test_partial_fit_one_pair_at_a_time_with_a_fixed_sim_dim_keeps_every_pair(pairs):
    """sim_dim=3 needs 4 pairs: the first three calls keep their pair instead of raising
    and dropping it, and the streamed model equals one fit on all 200 pairs."""
    a, b = pairs[0][:200], pairs[1][:200]
    streamed = csa.CSA(sim_dim=3, ridge=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", csa.WeakFitWarning)
        for i in range(200):
            streamed.partial_fit(a[i : i + 1], b[i : i + 1])
            assert streamed.moments_.n == i + 1
            assert streamed.is_fitted == (i >= 3)
    whole = csa.CSA(sim_dim=3, ridge=0.1).fit(a, b)
    assert streamed.n_pairs_seen_ == 200
    np.testing.assert_allclose(
        streamed.similarity(a[:10], b[:10]), whole.similarity(a[:10], b[:10]), atol=1e-10
    )


def test_partial_fit_before_enough_pairs_is_not_fitted_and_says_so(pairs):
    a, b = pairs
    model = csa.CSA(sim_dim=3, ridge=0.1).partial_fit(a[:2], b[:2])
    assert not model.is_fitted
    with pytest.raises(csa.NotFittedError):
        model.similarity(a[:2], b[:2])


@pytest.mark.parametrize("value", [0.1, 123.456, -7e5, 1e-20])
@pytest.mark.parametrize("build", [csa.CSA, csa.CCA, csa.LinearMap], ids=repr)
def test_a_side_constant_up_to_round_off_is_refused(pairs, build, value):
    """np.full(..., 0.1) centres to round-off (variance ~1e-33), not zero: it was fitted
    with a canonical correlation of 0.16; now it is refused as constant."""
    _, b = pairs
    with pytest.raises(csa.RankDeficientError, match="constant"):
        build().fit(np.full((b.shape[0], 12), value), b)


def test_a_small_but_real_variation_is_still_fitted(pairs):
    """The round-off rule is relative to the mean: a large offset with a small signal
    (1e-6 relative) is a feature, not a constant."""
    a, b = pairs
    model = csa.CSA(ridge=0.1, sim_dim=2).fit(1e4 + 1e-2 * a, b)
    reference = csa.CSA(ridge=0.1, sim_dim=2).fit(a, b)
    np.testing.assert_allclose(
        model.canonical_correlations_, reference.canonical_correlations_, rtol=1e-6
    )


def test_no_fitted_moments_outlive_their_model(pairs):
    """No module-level cache holds moments: once a model is gone, so are its moments."""
    a, b = pairs
    refs = []
    for build in (csa.CSA, csa.CCA, csa.LinearMap):
        model = build().fit(a, b)
        refs.append(weakref.ref(model.moments_))
        del model
    gc.collect()
    assert [r() for r in refs] == [None, None, None]


@pytest.mark.parametrize("build", [csa.LinearMap, csa.ASIF], ids=repr)
def test_models_without_nested_dimensions_take_sim_dim_none_and_refuse_a_value(pairs, build):
    a, b = pairs
    model = build().fit(a, b)
    np.testing.assert_array_equal(
        model.similarity(a[:5], b[:5], sim_dim=None), model.similarity(a[:5], b[:5])
    )
    np.testing.assert_allclose(
        model.score_pairs(a[:5], b[:5], sim_dim=None),
        np.diag(model.similarity(a[:5], b[:5])),
        rtol=1e-12,
        atol=1e-15,
    )
    for call in (
        lambda: model.similarity(a[:5], b[:5], sim_dim=2),
        lambda: model.score_pairs(a[:5], b[:5], sim_dim=2),
        lambda: model.embed_a(a[:5], sim_dim=2),
        lambda: model.embed_b(b[:5], sim_dim=2),
    ):
        with pytest.raises(csa.SimDimError, match="no nested dimensions"):
            call()


def test_cca_has_no_weights_parameter_and_weights_every_dimension_equally(pairs):
    model = csa.CCA().fit(*pairs)
    assert "weights" not in model.get_params() and not hasattr(model, "weights")
    np.testing.assert_array_equal(model.weights_, np.ones(model.n_components_))
