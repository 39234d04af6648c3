"""Defects the bad-input matrix (benchmarks/bad_input_matrix.py) found outside this
branch's files, written as failing tests for their owners (issue 19).

Each was a strict xfail until its owner's fix landed; they now pin the fixes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import csa
from known_models import FeatureEncoder
from synthetic import known_cca_pairs


@pytest.fixture(scope="module")
def pairs():
    return known_cca_pairs(300, (0.9, 0.6, 0.3), dim_a=8, dim_b=6, seed=4)


def test_a_tiny_ridge_on_collinear_float32_never_gives_correlations_above_one(tmp_path):
    a, b = known_cca_pairs(300, (0.9, 0.5), dim_a=60, dim_b=20, seed=2)
    a[:, :30] = a[:, [0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = csa.CSA(ridge=1e-12).fit(a.astype(np.float32), b.astype(np.float32))
        except csa.RankDeficientError:
            return  # refusing the ridge is a right answer too
    assert model.canonical_correlations_.max() <= 1.0
    csa.load(model.save(tmp_path / "m.csa"))  # and what a fit saves, a load accepts


@pytest.fixture()
def one_object(pairs):
    a, b = pairs
    encoder = csa.MultimodalEncoder(
        FeatureEncoder("fa", a.shape[1]), FeatureEncoder("fb", b.shape[1]), use_cache=False
    )
    return encoder.fit_features(a, b, held_out=0.2)


def test_flag_refuses_a_nan_threshold(one_object, pairs):
    a, b = pairs
    with pytest.raises(csa.ParameterError):
        one_object.flag(a[:5], b[:5], threshold=float("nan"))


def test_flag_refuses_a_text_threshold(one_object, pairs):
    a, b = pairs
    with pytest.raises(csa.ParameterError):
        one_object.flag(a[:5], b[:5], threshold="x")


def test_fit_features_refuses_a_text_held_out(one_object, pairs):
    a, b = pairs
    with pytest.raises(csa.ParameterError):
        one_object.fit_features(a, b, held_out="x")


def test_detect_mislabelled_refuses_a_nan_fraction(pairs):
    from csa.tasks import detect_mislabelled

    a, b = pairs
    model = csa.CSA().fit(a, b)
    labels = np.arange(a.shape[0]) % 3
    with pytest.raises(csa.ParameterError):
        detect_mislabelled(model, a, labels, b[:3], flip_fraction=float("nan"))
