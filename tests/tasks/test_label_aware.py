"""Identical items are relevant, never mismatches: reproductions of the repeated-caption traps.

Each reproduction failed before identical rows were grouped by default: retrieval on
class captions reported Recall@1 = 0 however good the model, and the out-of-context
protocol drew "wrong" captions identical to the true one.
"""

from __future__ import annotations

import numpy as np
import pytest

from csa.errors import InputError
from csa.tasks import (
    detect_mislabelled,
    detect_out_of_context,
    evaluate_retrieval,
    mismatch_groups,
    row_groups,
    select_sim_dim,
)
from csa.tasks.detection import mismatch_partners


class DotModel:
    def similarity(self, a, b):
        return np.asarray(a, dtype=float) @ np.asarray(b, dtype=float).T

    def score_pairs(self, a, b):
        return np.einsum("ij,ij->i", np.asarray(a, dtype=float), np.asarray(b, dtype=float))


def class_caption_pairs():
    """6 images near their class direction (distinct rows), captions = the class code."""
    labels = np.array([0, 0, 0, 1, 1, 2])
    rng = np.random.default_rng(3)
    images = np.eye(3)[labels] + 0.01 * rng.random((6, 3))
    captions = np.eye(3)[labels]
    return images, captions, labels


def test_retrieval_on_repeated_class_captions_finds_them():
    images, captions, labels = class_caption_pairs()
    res = evaluate_retrieval(DotModel(), images, captions, ks=(1,))
    # Every image's best captions are exactly its class caption: a perfect score.
    assert res["a->b"].recall[1] == 1.0 and res["a->b"].mAP == 1.0
    # Every caption's best images are its class's images, all of which share the caption.
    assert res["b->a"].recall[1] == 1.0 and res["b->a"].mAP == 1.0
    # The old, strict pairing: the true caption ties with its identical copies and is
    # ranked last among them, so Recall@1 counts only the class of size one.
    strict = evaluate_retrieval(DotModel(), images, captions, ks=(1,), identical=False)
    assert strict["a->b"].recall[1] == pytest.approx(1 / 6)
    # Labels given explicitly agree with the default.
    lab = evaluate_retrieval(DotModel(), images, captions, labels_a=labels, labels_b=labels)
    assert lab.mean_map == res.mean_map


def test_groups_make_classmates_relevant_in_both_directions():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    res = evaluate_retrieval(DotModel(), a, b, groups=groups, ks=(1, 2))
    scores = a @ b.T
    rel = groups[:, None] == groups[None, :]
    order = np.argsort(-scores, axis=1)
    hit1 = rel[np.arange(8), order[:, 0]].mean()
    assert res["a->b"].recall[1] == pytest.approx(hit1)
    with pytest.raises(InputError, match="not"):
        evaluate_retrieval(DotModel(), a, b, groups=groups, labels_a=groups, labels_b=groups)


def test_row_groups_and_mismatch_groups():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-0.0, 1.0]])
    g = row_groups(x)
    assert g[0] == g[2] and g[1] == g[3] and g[0] != g[1]  # -0.0 equals 0.0
    distinct = np.arange(8.0).reshape(4, 2)
    assert mismatch_groups(distinct, distinct + 1) is None
    # Only side b repeats: its groups are used as they are.
    np.testing.assert_array_equal(mismatch_groups(distinct, x), g)
    # Both repeat: pairs 0-1 share an a row, 1-2 share a b row -> one group {0, 1, 2}.
    a = np.array([[1.0], [1.0], [2.0], [3.0]])
    b = np.array([[5.0], [6.0], [6.0], [7.0]])
    mg = mismatch_groups(a, b)
    assert mg[0] == mg[1] == mg[2] != mg[3]


@pytest.mark.parametrize("seed", range(5))
def test_out_of_context_never_draws_an_identical_caption(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=40)
    images = rng.normal(size=(40, 4))
    images[5] = images[9]  # a duplicate image too, with another caption
    captions = np.eye(4)[labels]
    res = detect_out_of_context(DotModel(), images, captions, seed=seed)
    groups = mismatch_groups(images, captions)
    partners = mismatch_partners(40, np.random.default_rng(seed), groups)
    assert not np.any(np.all(captions[partners] == captions, axis=1))
    assert not np.any(np.all(images[partners] == images, axis=1))
    # The result scored exactly those partners.
    wrong = np.einsum("ij,ij->i", images, captions[partners])
    np.testing.assert_allclose(res.scores[res.is_mismatch], wrong)


def test_mislabelled_refuses_identical_class_embeddings():
    classes = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(InputError, match=r"classes \[0, 2\] have identical"):
        detect_mislabelled(DotModel(), np.eye(2)[[0, 1, 0, 1]], [0, 1, 0, 1], classes)


def test_mislabelled_auc_has_its_computed_value():
    # Scores of (input, noisy class) pairs are the input's coordinate on that class, so
    # the AUC is fixed by the data: a swapped AUC (1 - auc) cannot pass.
    rng = np.random.default_rng(8)
    labels = np.arange(40) % 4
    inputs = np.eye(4)[labels] * 0.4 + rng.random((40, 4))
    res = detect_mislabelled(DotModel(), inputs, labels, np.eye(4), flip_fraction=0.25, seed=2)
    noisy = np.where(res.is_mismatch, -1, labels)
    assert res.n_mismatched == 10
    genuine = res.scores[noisy >= 0]
    flipped = res.scores[noisy < 0]
    expected = np.mean(genuine[:, None] > flipped[None, :]) + 0.5 * np.mean(
        genuine[:, None] == flipped[None, :]
    )
    assert res.auc == pytest.approx(expected) and 0.5 < res.auc < 1.0


class PrefixDot:
    """Dot product over the first sim_dim columns; n_components_ columns."""

    def __init__(self, k):
        self.n_components_ = k

    def _cut(self, x, s):
        return np.asarray(x, dtype=float)[:, : (s or self.n_components_)]

    def similarity(self, a, b, sim_dim=None):
        return self._cut(a, sim_dim) @ self._cut(b, sim_dim).T

    def score_pairs(self, a, b, sim_dim=None):
        return np.einsum("ij,ij->i", self._cut(a, sim_dim), self._cut(b, sim_dim))


def test_select_sim_dim_on_class_captions_scores_identical_captions_as_hits():
    # The first 3 columns carry the class, the rest is noise; captions repeat per class.
    rng = np.random.default_rng(5)
    labels = np.arange(30) % 3
    a = np.hstack([np.eye(3)[labels] + 0.01 * rng.random((30, 3)), rng.random((30, 3))])
    b = np.hstack([np.eye(3)[labels], np.zeros((30, 3))])
    sel = select_sim_dim(PrefixDot(6), a, b, metric="recall@1")
    # With s = 3 each image's best captions are its class caption: perfect once identical
    # captions count as hits (the old curve was 1/10 there: one true copy among ten).
    assert sel.curve[3] == 1.0 and sel.best == 3
    strict = select_sim_dim(PrefixDot(6), a, b, metric="recall@1", identical=False)
    assert strict.curve[3] < 0.6
