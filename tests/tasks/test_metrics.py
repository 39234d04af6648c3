"""Metrics against cases small enough to work out by hand, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from csa.errors import DtypeError, InputError, NonFiniteError, ShapeError
from csa.tasks.metrics import (
    mean_average_precision,
    per_query_retrieval,
    recall_at_k,
    relevance_from_labels,
    roc_auc,
    top_k_accuracy,
    true_class_ranks,
)

# Three queries, four gallery items.
SCORES = np.array(
    [
        [0.9, 0.1, 0.5, 0.3],  # relevant: item 0, ranked first
        [0.2, 0.8, 0.8, 0.1],  # relevant: item 2, tied with irrelevant item 1
        [0.4, 0.3, 0.2, 0.1],  # relevant: items 1 and 3, ranked 2nd and 4th
    ]
)
RELEVANT = np.array(
    [
        [True, False, False, False],
        [False, False, True, False],
        [False, True, False, True],
    ]
)


def test_recall_at_k_hand_case():
    # Pessimistic ties put query 1's relevant item at rank 2, so only query 0 hits at K=1.
    assert recall_at_k(SCORES, RELEVANT, 1) == pytest.approx(1 / 3)
    # At K=2 every query has a relevant item in its first two: ranks 1, 2, 2.
    assert recall_at_k(SCORES, RELEVANT, 2) == pytest.approx(1.0)
    assert recall_at_k(SCORES, RELEVANT, 5) == pytest.approx(1.0)


def test_average_precision_hand_case():
    # Query 0: AP 1. Query 1: one relevant at rank 2 -> 1/2.
    # Query 2: relevant at ranks 2 and 4 -> (1/2 + 2/4) / 2 = 1/2. Mean: (1 + 1/2 + 1/2) / 3.
    _, ap = per_query_retrieval(SCORES, RELEVANT, ks=(1,))
    np.testing.assert_allclose(ap, [1.0, 0.5, 0.5])
    assert mean_average_precision(SCORES, RELEVANT) == pytest.approx(2 / 3)


def test_per_query_hits_shape_and_values():
    hits, _ = per_query_retrieval(SCORES, RELEVANT, ks=(1, 2, 10))
    np.testing.assert_array_equal(hits, [[1, 1, 1], [0, 1, 1], [0, 1, 1]])


def test_relevance_from_labels_matches_matrix():
    # Query labels 0, 2, 1 against gallery labels 0, 1, 2, 1 reproduce RELEVANT.
    rel = relevance_from_labels([0, 2, 1], [0, 1, 2, 1])
    np.testing.assert_array_equal(rel, RELEVANT)
    assert mean_average_precision(
        SCORES, query_labels=[0, 2, 1], gallery_labels=[0, 1, 2, 1]
    ) == pytest.approx(2 / 3)


def test_relevant_items_tied_with_each_other_do_not_matter():
    # Two relevant items tied at the top: both at ranks 1 and 2 -> AP 1, whatever the order.
    s = np.array([[0.5, 0.5, 0.1]])
    rel = np.array([[True, True, False]])
    assert mean_average_precision(s, rel) == pytest.approx(1.0)
    # A tie of relevant and irrelevant at the top: relevant after the irrelevant one.
    rel2 = np.array([[False, True, False]])
    assert mean_average_precision(s, rel2) == pytest.approx(0.5)
    assert recall_at_k(s, rel2, 1) == 0.0


def test_constant_scorer_gets_no_credit():
    s = np.zeros((4, 6))
    rel = np.eye(4, 6, dtype=bool)
    assert recall_at_k(s, rel, 1) == 0.0
    assert recall_at_k(s, rel, 5) == 0.0  # relevant item sits at rank 6 of 6
    assert mean_average_precision(s, rel) == pytest.approx(1 / 6)
    assert top_k_accuracy(s, np.zeros(4, dtype=int), k=5) == 0.0


def test_top_k_accuracy_hand_case():
    scores = np.array(
        [
            [0.1, 0.7, 0.2, 0.0],  # true 1: rank 1
            [0.3, 0.3, 0.1, 0.2],  # true 0: tied with class 1 -> rank 2
            [0.4, 0.3, 0.2, 0.1],  # true 3: rank 4
        ]
    )
    labels = np.array([1, 0, 3])
    np.testing.assert_array_equal(true_class_ranks(scores, labels), [1, 2, 4])
    assert top_k_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(scores, labels, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(scores, labels, 3) == pytest.approx(2 / 3)
    assert top_k_accuracy(scores, labels, 4) == pytest.approx(1.0)


def test_roc_auc_hand_cases():
    # Positives 0.9, 0.4 vs negatives 0.5, 0.1: 3 of 4 pairs ordered right.
    assert roc_auc([0.9, 0.4, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(0.75)
    # Positive 0.5 vs negatives 0.5 (tie: 1/2) and 0.1 (1): (0.5 + 1) / 2.
    assert roc_auc([0.5, 0.5, 0.1], [True, False, False]) == pytest.approx(0.75)
    assert roc_auc([1.0, 2.0], [0, 1]) == 1.0


def test_metric_errors_are_named():
    with pytest.raises(InputError, match="both classes"):
        roc_auc([0.1, 0.2], [1, 1])
    with pytest.raises(NonFiniteError):
        roc_auc([np.nan, 0.2], [1, 0])
    with pytest.raises(ShapeError):
        recall_at_k(SCORES, RELEVANT[:2], 1)
    with pytest.raises(InputError, match="no relevant item"):
        recall_at_k(SCORES, np.zeros_like(RELEVANT), 1)
    with pytest.raises(InputError, match=r"lie in 0\.\.3"):
        top_k_accuracy(SCORES, [0, 1, 4])
    with pytest.raises(InputError, match="positive"):
        top_k_accuracy(SCORES, [0, 1, 2], k=0)
    with pytest.raises(DtypeError):
        recall_at_k(np.array([["a", "b"]]), np.array([[True, False]]), 1)
    with pytest.raises(InputError, match="not both"):
        recall_at_k(SCORES, RELEVANT, 1, query_labels=[0, 1, 2], gallery_labels=[0, 1, 2, 3])


def test_metrics_accept_torch_tensors():
    torch = pytest.importorskip("torch")
    assert mean_average_precision(torch.tensor(SCORES), torch.tensor(RELEVANT)) == pytest.approx(
        2 / 3
    )


def _reference_retrieval(scores, relevance, ks):
    """Straight from the definitions: sort each row by (-score, relevant last)."""
    hits, aps = [], []
    for s_row, r_row in zip(scores, relevance, strict=True):
        ranked = [r for _, r in sorted(zip(-s_row, r_row, strict=True))]  # False < True
        first = ranked.index(True) + 1
        hits.append([first <= k for k in ks])
        found, precisions = 0, []
        for pos, r in enumerate(ranked, start=1):
            if r:
                found += 1
                precisions.append(found / pos)
        aps.append(np.mean(precisions))
    return np.array(hits), np.array(aps)


@pytest.mark.parametrize("n_relevant", ["one", "few", "many"])
def test_fast_ranking_matches_the_definition_with_heavy_ties(n_relevant):
    """One relevant item per query, a few (ranks counted), many (rows sorted)."""
    rng = np.random.default_rng(11)
    for trial in range(20):
        n_q, n_g = rng.integers(1, 8), rng.integers(2, 15)
        if n_relevant == "many":
            n_g = rng.integers(40, 60)  # about 20 relevant per query: the sorting path
        scores = rng.integers(0, 1 + trial % 4, size=(n_q, n_g)).astype(float)  # many ties
        if n_relevant == "one":
            rel = np.zeros((n_q, n_g), dtype=bool)
            rel[np.arange(n_q), rng.integers(0, n_g, size=n_q)] = True
        else:
            rel = rng.random((n_q, n_g)) < (0.2 if n_relevant == "few" else 0.4)
            rel[np.arange(n_q), rng.integers(0, n_g, size=n_q)] = True
        hits, ap = per_query_retrieval(scores, rel, ks=(1, 2, 5))
        ref_hits, ref_ap = _reference_retrieval(scores, rel, (1, 2, 5))
        np.testing.assert_array_equal(hits, ref_hits)
        np.testing.assert_allclose(ap, ref_ap)


def test_round_off_differences_are_ties():
    """Equal in exact arithmetic, apart by a few bits: ranked as ties (pessimistically)."""
    below = np.nextafter(1.0, 0.0)
    # The relevant item is one bit above an irrelevant one: a tie, so it is not first.
    hits, ap = per_query_retrieval(np.array([[below, 1.0, 0.2]]), np.array([[0, 1, 0]], bool))
    assert not hits[0, 0] and ap[0] == pytest.approx(0.5)
    assert top_k_accuracy(np.array([[1.0, below]]), np.array([1])) == 0.0
    assert roc_auc(np.array([1.0, below, 0.1]), np.array([1, 0, 0])) == pytest.approx(0.75)
    # float32 scores carry float32 round-off: 1 - 2^-23 ties with 1 there, not in float64.
    f32 = np.array([[np.nextafter(np.float32(1), np.float32(0)), 1.0]], dtype=np.float32)
    assert top_k_accuracy(f32, np.array([1])) == 0.0
    assert top_k_accuracy(f32.astype(np.float64) - [[1e-9, 0.0]], np.array([1])) == 1.0


def test_metrics_do_not_move_with_round_off_noise():
    """A two-valued scorer (signs of one canonical dimension, cosines of +-1) computed with
    last-bit noise gives the metric of its exact scores, whatever the noise."""
    rng = np.random.default_rng(5)
    exact = np.where(rng.random((2, 300)) < 0.5, 1.0, -1.0)
    relevant = rng.random((2, 300)) < 0.5
    relevant[:, 0] = True
    want = per_query_retrieval(exact, relevant)[1]
    for _ in range(5):
        noisy = exact * (1 + rng.integers(-4, 5, size=exact.shape) * np.finfo(float).eps)
        np.testing.assert_allclose(per_query_retrieval(noisy, relevant)[1], want)
    positive = relevant[0]
    assert roc_auc(exact[0] * (1 + 3e-16), positive) == pytest.approx(roc_auc(exact[0], positive))


def test_tie_snapping_never_reorders_scores():
    from csa.tasks._common import round_off_ties

    rng = np.random.default_rng(9)
    for scale in (1e-30, 1.0, 1e30):
        s = rng.standard_normal((4, 500)) * scale
        s[0, :3] = (0.0, np.nextafter(1.0, 2.0) * scale, -scale)
        snapped = round_off_ties(s, 46)
        order = np.argsort(s, axis=1)
        assert np.all(np.diff(np.take_along_axis(snapped, order, axis=1), axis=1) >= 0)
        np.testing.assert_allclose(snapped, s, rtol=2**-46, atol=0)


def test_small_scores_that_differ_stay_apart():
    """Relative to each score: 1e-20 and 2e-20 (ASIF's powered similarities) are no tie."""
    scores = np.array([[2e-20, 1e-20, 1.0]])
    hits, _ = per_query_retrieval(scores, np.array([[False, True, False]]), ks=(2,))
    assert not hits[0, 0]  # ranked third: behind 1.0 and 2e-20, not tied with 2e-20
    hits, _ = per_query_retrieval(scores, np.array([[True, False, False]]), ks=(2,))
    assert hits[0, 0]
