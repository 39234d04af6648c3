"""Bad input gets a named csa error, never NaN output or a crash deep in numpy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import csa
from synthetic import known_cca_pairs

ALL_MODELS = [csa.CSA, csa.CCA, csa.ASIF, csa.LinearMap]


@pytest.fixture(scope="module")
def data():
    return known_cca_pairs(300, (0.9, 0.6), dim_a=6, dim_b=4, seed=0)


@pytest.mark.parametrize("model_cls", ALL_MODELS)
def test_mismatched_row_counts(model_cls, data):
    a, b = data
    with pytest.raises(csa.ShapeError, match="a has 300 rows but b has 299"):
        model_cls().fit(a, b[:-1])


@pytest.mark.parametrize("model_cls", ALL_MODELS)
def test_fewer_than_two_pairs(model_cls, data):
    a, b = data
    with pytest.raises(csa.TooFewPairsError, match="got 1 pair"):
        model_cls().fit(a[:1], b[:1])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("model_cls", ALL_MODELS)
def test_non_finite_values(model_cls, data, bad):
    a, b = data
    b = b.copy()
    b[17, 2] = bad
    with pytest.raises(csa.NonFiniteError, match="first at row 17"):
        model_cls().fit(a, b)


def test_non_finite_query(data):
    a, b = data
    model = csa.CSA().fit(a, b)
    query = a[:3].copy()
    query[1, 0] = np.nan
    with pytest.raises(csa.NonFiniteError):
        model.similarity(query, b[:3])


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros(10), "must be 2-D.*1-D.*reshape"),
        (np.zeros((4, 3, 2)), "must be 2-D.*3-D"),
        (np.zeros((0, 3)), "empty"),
        (np.zeros((5, 0)), "empty"),
    ],
)
def test_wrong_shapes(array, message):
    other = np.zeros((array.shape[0] if array.ndim else 1, 2))
    with pytest.raises(csa.ShapeError, match=message):
        csa.CSA().fit(array, other)


@pytest.mark.parametrize(
    "array",
    [np.array([["x", "y"], ["z", "w"], ["u", "v"]]), np.ones((3, 2), dtype=complex)],
)
def test_non_numeric_dtypes(array):
    with pytest.raises(csa.DtypeError):
        csa.CSA().fit(array, np.ones((3, 2)))


def test_object_array_of_text_is_refused():
    texts = np.array([["a cat"], ["a dog"]], dtype=object)
    with pytest.raises(csa.DtypeError, match="encode"):
        csa.CSA().fit(texts, np.ones((2, 2)))


def test_wrong_feature_count_at_query_time(data):
    a, b = data
    model = csa.CSA().fit(a, b)
    with pytest.raises(csa.ShapeError, match="5 features, but the model was fitted with 6"):
        model.transform_a(a[:, :5])
    with pytest.raises(csa.ShapeError, match="needs as many rows"):
        model.score_pairs(a[:4], b[:3])


@pytest.mark.parametrize("model_cls", ALL_MODELS)
def test_queries_before_fit(model_cls, data):
    a, b = data
    model = model_cls()
    with pytest.raises(csa.NotFittedError, match="not fitted"):
        model.similarity(a, b)
    with pytest.raises(csa.NotFittedError):
        model.score_pairs(a, b)


def test_transform_and_attributes_before_fit(data):
    a, _ = data
    with pytest.raises(csa.NotFittedError):
        csa.CSA().transform_a(a)
    with pytest.raises(csa.NotFittedError, match="canonical_correlations_"):
        _ = csa.CSA().canonical_correlations_
    assert isinstance(csa.NotFittedError("x"), AttributeError)  # hasattr() keeps working
    assert not hasattr(csa.CSA(), "projection_a_")


def test_sim_dim_out_of_range(data):
    a, b = data
    model = csa.CSA().fit(a, b)
    k = model.n_components_
    with pytest.raises(csa.SimDimError, match=f"sim_dim={k + 1} must be less or equal.*{k}"):
        model.similarity(a, b, sim_dim=k + 1)
    with pytest.raises(csa.SimDimError, match="at least 1"):
        model.similarity(a, b, sim_dim=0)
    with pytest.raises(csa.SimDimError, match="positive integer"):
        model.similarity(a, b, sim_dim=2.5)
    with pytest.raises(csa.SimDimError):
        csa.CSA(sim_dim=k + 1).fit(a, b)


def test_too_few_pairs_for_the_asked_dimension(data):
    a, b = data
    wide_a = np.hstack([a, a**2, np.sin(a)])
    with pytest.raises(csa.TooFewPairsError, match="sim_dim=8 needs at least 9 pairs"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", csa.WeakFitWarning)
            csa.CSA(sim_dim=8).fit(wide_a[:6], np.hstack([b, b])[:6])


@pytest.mark.parametrize("ridge", ["big", -1.0, np.nan, (0.1, 0.2, 0.3)])
def test_bad_ridge(data, ridge):
    with pytest.raises(csa.ParameterError, match="ridge"):
        csa.CSA(ridge=ridge).fit(*data)


@pytest.mark.parametrize(("k", "p"), [(0, 8), (10, 0), (10, np.inf)])
def test_bad_asif_parameters(data, k, p):
    with pytest.raises(csa.ParameterError):
        csa.ASIF(k=k, p=p).fit(*data)


def _assert_finite_scores(model, a, b):
    scores = model.similarity(a[:20], b[:20])
    assert np.isfinite(scores).all()
    return scores


def test_constant_columns_fit_through_the_ridge(data):
    a, b = data
    a = np.hstack([a, np.full((a.shape[0], 3), 7.0)])
    with pytest.warns(csa.WeakFitWarning, match="rank 6 of 9"):
        model = csa.CSA().fit(a, b)
    _assert_finite_scores(model, a, b)
    with pytest.raises(csa.RankDeficientError, match="ridge=0"):
        csa.CSA(ridge=0).fit(a, b)


def test_more_features_than_pairs_fits_with_a_warning():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(40, 300)), rng.normal(size=(40, 200))
    with pytest.warns(csa.WeakFitWarning, match="fewer pairs"):
        model = csa.CSA().fit(a, b)
    assert model.n_components_ <= 39
    assert np.all(model.canonical_correlations_ <= 1 + 1e-12)
    _assert_finite_scores(model, a, b)


def test_a_handful_of_distinct_captions(data):
    """Ten class captions repeated over many images: rank 9 on side b."""
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 10, size=2000)
    captions = rng.normal(size=(10, 384))[labels]
    images = rng.normal(size=(2000, 64)) + np.eye(10, 64)[labels] * 3
    with pytest.warns(csa.WeakFitWarning, match="side b has numerical rank 9 of 384"):
        model = csa.CSA().fit(images, captions)
    assert model.n_components_ == 9
    scores = _assert_finite_scores(model, images, captions)
    predicted = model.similarity(images, rng.normal(size=(1, 384)) * 0 + captions[:1]).shape
    assert predicted == (2000, 1)
    class_scores = model.similarity(images[:500], np.unique(captions, axis=0))
    assert np.isfinite(class_scores).all() and scores.shape == (20, 20)


def test_a_constant_side_is_refused_with_a_reason(data):
    a, _ = data
    with pytest.raises(csa.RankDeficientError, match="constant"):
        csa.CSA().fit(a, np.ones((a.shape[0], 3)))


def test_integer_float16_and_torch_inputs_are_converted(data):
    a, b = data
    a_int = np.round(a * 10).astype(np.int32)
    reference = csa.CSA().fit(a_int.astype(np.float64), b)
    from_int = csa.CSA().fit(a_int, b)
    np.testing.assert_array_equal(from_int.projection_a_, reference.projection_a_)
    a16 = a.astype(np.float16)
    np.testing.assert_allclose(
        csa.CSA().fit(a16, b).canonical_correlations_,
        csa.CSA().fit(a16.astype(np.float64), b).canonical_correlations_,
        atol=1e-12,
    )
    from_torch = csa.CSA().fit(torch.from_numpy(a), torch.from_numpy(b).float())
    np.testing.assert_allclose(
        from_torch.canonical_correlations_,
        csa.CSA().fit(a, b.astype(np.float32)).canonical_correlations_,
        atol=1e-12,
    )
    scores = from_torch.similarity(torch.from_numpy(a[:3]).to(torch.bfloat16), b[:3])
    assert scores.shape == (3, 3) and np.isfinite(scores).all()


def test_zero_vector_query_scores_zero_not_nan(data):
    a, b = data
    model = csa.CSA().fit(a, b)
    scores = model.similarity(model.mean_a_[None, :], b[:5])
    np.testing.assert_array_equal(scores, np.zeros((1, 5)))


def test_errors_share_one_base_and_builtin_types():
    assert issubclass(csa.ShapeError, csa.CSAError) and issubclass(csa.ShapeError, ValueError)
    assert issubclass(csa.DtypeError, TypeError)
    assert issubclass(csa.ModelFileError, csa.CSAError)
