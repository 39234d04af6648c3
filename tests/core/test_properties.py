"""Invariances of the fit, as property tests over random data and transformations."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import csa
from synthetic import known_cca_pairs

SETTINGS = settings(max_examples=25, deadline=None)


def _well_conditioned(rng: np.random.Generator, d: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return q * rng.uniform(0.3, 3.0, size=d)


def _data(seed: int, n: int = 400):
    return known_cca_pairs(n, (0.9, 0.6, 0.4), dim_a=6, dim_b=5, seed=seed)


@SETTINGS
@given(seed=st.integers(0, 10_000), side=st.sampled_from(["a", "b"]))
def test_invertible_linear_map_of_either_side_changes_nothing(seed, side):
    a, b = _data(seed)
    rng = np.random.default_rng(seed + 1)
    shift = rng.normal(size=(1, a.shape[1] if side == "a" else b.shape[1]))
    if side == "a":
        a2, b2 = a @ _well_conditioned(rng, a.shape[1]) + shift, b
    else:
        a2, b2 = a, b @ _well_conditioned(rng, b.shape[1]) + shift
    base = csa.CSA(ridge=0).fit(a, b)
    moved = csa.CSA(ridge=0).fit(a2, b2)
    np.testing.assert_allclose(
        moved.canonical_correlations_, base.canonical_correlations_, atol=1e-8
    )
    np.testing.assert_allclose(
        moved.similarity(a2[:20], b2[:20]), base.similarity(a[:20], b[:20]), atol=1e-7
    )


@SETTINGS
@given(seed=st.integers(0, 10_000), scale_a=st.floats(1e-3, 1e3), scale_b=st.floats(1e-3, 1e3))
def test_auto_ridge_fit_is_invariant_to_rescaling_each_side(seed, scale_a, scale_b):
    a, b = _data(seed, n=60)
    base = csa.CSA().fit(a, b)
    scaled = csa.CSA().fit(a * scale_a, b * scale_b)
    np.testing.assert_allclose(
        scaled.canonical_correlations_, base.canonical_correlations_, atol=1e-9
    )
    np.testing.assert_allclose(
        scaled.similarity(a[:10] * scale_a, b[:10] * scale_b),
        base.similarity(a[:10], b[:10]),
        atol=1e-8,
    )


@SETTINGS
@given(seed=st.integers(0, 10_000))
def test_row_order_changes_nothing_and_signs_are_deterministic(seed):
    a, b = _data(seed)
    order = np.random.default_rng(seed).permutation(a.shape[0])
    # Fixed hyperparameters: a row's fold follows its position, so a shuffle may change
    # what the held-out search picks, but never the solution for given ridges.
    base = csa.CSA(ridge=0.05, sim_dim=None).fit(a, b)
    again = csa.CSA(ridge=0.05, sim_dim=None).fit(a, b)
    shuffled = csa.CSA(ridge=0.05, sim_dim=None).fit(a[order], b[order])
    np.testing.assert_array_equal(again.projection_a_, base.projection_a_)
    np.testing.assert_array_equal(again.projection_b_, base.projection_b_)
    np.testing.assert_allclose(shuffled.projection_a_, base.projection_a_, atol=1e-8)
    np.testing.assert_allclose(shuffled.projection_b_, base.projection_b_, atol=1e-8)
    np.testing.assert_allclose(
        shuffled.canonical_correlations_, base.canonical_correlations_, atol=1e-12
    )
    # The sign convention itself: each projection_a column's largest entry is positive.
    cols = np.arange(base.projection_a_.shape[1])
    assert np.all(base.projection_a_[np.abs(base.projection_a_).argmax(0), cols] > 0)


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    cuts=st.lists(st.integers(1, 399), min_size=0, max_size=8, unique=True),
)
def test_partial_fit_over_any_chunking_equals_fit(seed, cuts):
    a, b = _data(seed)
    bounds = [0, *sorted(cuts), a.shape[0]]
    streamed = csa.CSA()
    with warnings.catch_warnings():
        # Early chunks can be tiny; the warning is about them, not the final fit.
        warnings.simplefilter("ignore", csa.WeakFitWarning)
        for lo, hi in itertools.pairwise(bounds):
            streamed.partial_fit(a[lo:hi], b[lo:hi])
    whole = csa.CSA().fit(a, b)
    assert streamed.n_pairs_seen_ == whole.n_pairs_seen_ == a.shape[0]
    np.testing.assert_allclose(
        streamed.canonical_correlations_, whole.canonical_correlations_, atol=1e-8
    )
    np.testing.assert_allclose(streamed.projection_a_, whole.projection_a_, atol=1e-8)
    np.testing.assert_allclose(streamed.projection_b_, whole.projection_b_, atol=1e-8)
    assert (streamed.ridge_, streamed.sim_dim_) == (whole.ridge_, whole.sim_dim_)
    for mine, theirs in zip(streamed.moments_.folds, whole.moments_.folds, strict=True):
        assert mine.n == theirs.n
        np.testing.assert_allclose(mine.comoment_ab, theirs.comoment_ab, atol=1e-8)


@SETTINGS
@given(seed=st.integers(0, 10_000), chunk=st.integers(1, 150))
def test_chunked_accumulation_equals_one_pass(seed, chunk):
    a, b = _data(seed)
    one = csa.PairMoments.from_chunk(a, b)
    chunked = csa.CSA(chunk_size=chunk).fit(a, b).moments_.total
    np.testing.assert_allclose(chunked.mean_a, one.mean_a, atol=1e-10)
    np.testing.assert_allclose(chunked.comoment_aa, one.comoment_aa, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(chunked.comoment_bb, one.comoment_bb, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(chunked.comoment_ab, one.comoment_ab, rtol=1e-10, atol=1e-8)


def test_merge_is_stable_far_from_the_origin():
    """Centred merging keeps precision where raw sums minus n*mu^2 would lose it all."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(10_000, 3)) + 1e7
    b = rng.normal(size=(10_000, 2)) - 1e7
    merged = csa.PairMoments.empty(3, 2)
    for lo in range(0, 10_000, 997):
        merged = merged.merge(csa.PairMoments.from_chunk(a[lo : lo + 997], b[lo : lo + 997]))
    exact = csa.PairMoments.from_chunk(a - 1e7, b + 1e7)
    np.testing.assert_allclose(merged.comoment_aa, exact.comoment_aa, rtol=1e-6, atol=1e-3)
    np.testing.assert_allclose(merged.comoment_ab, exact.comoment_ab, rtol=1e-6, atol=1e-3)
