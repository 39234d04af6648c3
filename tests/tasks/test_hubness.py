"""CSLS in evaluate_retrieval, against a ranking computed by hand from the score matrix."""

from __future__ import annotations

import numpy as np
import pytest

import csa
from csa.errors import ParameterError
from csa.tasks import evaluate_retrieval
from synthetic import known_cca_pairs


def _fitted():
    a, b = known_cca_pairs(400, (0.8, 0.6, 0.4), dim_a=12, dim_b=9, seed=40)
    model = csa.CCA(ridge=0.1, sim_dim=None).fit(a[:300], b[:300])
    return model, a[300:], b[300:]


def _recall_at_1_by_hand(scores: np.ndarray) -> float:
    """Row i matches column i; CSLS(i, j) = 2 s_ij - r_i - r_j, with r the mean of the
    10 best scores of a row over the columns, or of a column over the rows."""
    r_rows = np.sort(scores, axis=1)[:, -10:].mean(axis=1)
    r_cols = np.sort(scores, axis=0)[-10:].mean(axis=0)
    csls = 2 * scores - r_rows[:, None] - r_cols[None, :]
    return float(np.mean(np.argmax(csls, axis=1) == np.arange(scores.shape[0])))


def test_csls_recall_equals_the_ranking_by_hand_in_both_directions():
    model, a, b = _fitted()
    scores = model.similarity(a, b)
    result = evaluate_retrieval(model, a, b, hubness="csls", ks=(1,), identical=False)
    assert result.hubness == "csls"
    assert result["a->b"].recall[1] == pytest.approx(_recall_at_1_by_hand(scores))
    assert result["b->a"].recall[1] == pytest.approx(_recall_at_1_by_hand(scores.T))
    plain = evaluate_retrieval(model, a, b, ks=(1,), identical=False)
    assert plain.hubness == "none"
    # The correction changes rankings here (else this test would not test it).
    assert plain["a->b"].recall[1] != result["a->b"].recall[1]


def test_csls_blocked_equals_csls_on_the_whole_matrix():
    model, a, b = _fitted()
    whole = evaluate_retrieval(model, a, b, hubness="csls")
    blocked = evaluate_retrieval(model, a, b, hubness="csls", block_size=7)
    for direction in ("a->b", "b->a"):
        assert blocked[direction].mAP == pytest.approx(whole[direction].mAP, abs=1e-12)
        assert blocked[direction].recall == pytest.approx(whole[direction].recall, abs=1e-12)


def test_csls_pulls_a_hub_down():
    """A gallery item close to every query tops every list without CSLS, and no list with."""
    rng = np.random.default_rng(41)
    queries = rng.standard_normal((50, 8))
    gallery = queries + 0.3 * rng.standard_normal((50, 8))
    gallery[0] = queries.mean(axis=0) * 8  # a hub: large inner product with everyone

    class Identity:
        def embed_a(self, x, sim_dim=None):
            return np.asarray(x)

        def embed_b(self, x, sim_dim=None):
            return np.asarray(x)

    plain = evaluate_retrieval(Identity(), queries, gallery, ks=(1,), directions=("a->b",))
    fixed = evaluate_retrieval(
        Identity(), queries, gallery, ks=(1,), directions=("a->b",), hubness="csls"
    )
    assert fixed["a->b"].recall[1] > plain["a->b"].recall[1]


def test_an_unknown_hubness_is_refused():
    model, a, b = _fitted()
    with pytest.raises(ParameterError, match="hubness"):
        evaluate_retrieval(model, a, b, hubness="qb-norm")
