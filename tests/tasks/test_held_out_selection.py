"""Selection on held-out pairs: select_sim_dim's metrics and tie rule, and tune()."""

from __future__ import annotations

import json

import numpy as np
import pytest

from csa.errors import InputError, ParameterError
from csa.tasks import select_sim_dim, task_score, tune
from csa.tasks.selection import HeldOut, check_metric, expand_grid


class Prefix:
    """A 'fitted' toy: dot product over the first sim_dim columns, n_components_ columns.

    ``fit`` checks its data so a failing constructor candidate can be simulated.
    """

    def __init__(self, k=6, scale=1.0, fail=False):
        self.k, self.scale, self.fail = k, scale, fail
        if k < 1:
            raise ParameterError(f"k must be positive, got {k}")

    def fit(self, a, b):
        if self.fail:
            raise InputError("this candidate cannot be fitted")
        self.n_components_ = self.k
        return self

    def _cut(self, x, s):
        return self.scale * np.asarray(x, dtype=float)[:, : (s or self.k)]

    def similarity(self, a, b, sim_dim=None):
        return self._cut(a, sim_dim) @ self._cut(b, sim_dim).T

    def score_pairs(self, a, b, sim_dim=None):
        return np.einsum("ij,ij->i", self._cut(a, sim_dim), self._cut(b, sim_dim))


def flat_tail_pairs(n=40, signal=2, k=6, seed=0):
    """Pairs sharing the first ``signal`` columns; b is zero beyond them (a flat tail)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, signal))
    a = np.hstack([z + 0.3 * rng.normal(size=(n, signal)), rng.normal(size=(n, k - signal))])
    b = np.hstack([z, np.zeros((n, k - signal))])
    return a, b


@pytest.mark.parametrize("metric", ["map", "recall@1", "recall@5", "auc"])
def test_select_sim_dim_breaks_a_flat_tail_towards_the_smaller_s(metric):
    a, b = flat_tail_pairs()
    sel = select_sim_dim(Prefix(6).fit(a, b), a, b, metric=metric)
    # b is zero beyond column 2, so every s >= 2 scores exactly the same.
    assert len({sel.curve[s] for s in range(2, 7)}) == 1
    assert sel.curve[2] > sel.curve[1]
    assert sel.best == 2 and sel.best_score == sel.curve[2]


def test_select_sim_dim_scores_zero_shot_accuracy():
    rng = np.random.default_rng(1)
    labels = np.arange(24) % 3
    classes = np.hstack([np.eye(3), np.zeros((3, 2))])
    inputs = np.hstack([np.eye(3)[labels] + 0.2 * rng.random((24, 3)), rng.random((24, 2))])
    sel = select_sim_dim(
        Prefix(5).fit(inputs, inputs),
        inputs,
        inputs,
        metric="accuracy",
        class_embeddings=classes,
        labels=labels,
    )
    # s = 1 tells class 0 from the rest only: 8 of 24 right plus ties lost pessimistically.
    assert sel.curve[3] == 1.0 and sel.best == 3
    assert sel.curve[1] == pytest.approx(8 / 24)
    with pytest.raises(InputError, match="class_embeddings"):
        select_sim_dim(Prefix(5).fit(inputs, inputs), inputs, inputs, metric="accuracy")


def test_metric_names_are_checked():
    assert check_metric("Recall@10") == "recall@10"
    for bad in ("r@1", "recall@0", "mrr", "accuracy@"):
        with pytest.raises(InputError, match="metric must be"):
            check_metric(bad)


def test_tune_scans_queries_without_refit_and_ties_go_to_the_simpler_candidate():
    a, b = flat_tail_pairs(seed=2)
    a_val, b_val = flat_tail_pairs(seed=3)
    res = tune(Prefix, {"k": [6], "scale": [1.0, 2.0]}, a, b, a_val, b_val, query_grid="auto")
    # Scale changes no ranking: a tie between constructor candidates goes to the first;
    # within it the flat tail goes to the smallest sim_dim that reaches the best score.
    assert res.best_params == {"k": 6, "scale": 1.0}
    assert res.best_query == {"sim_dim": 2}
    scores = [row["score"] for row in res.table]
    assert len(res.table) == 12 and res.best_score == max(scores)
    assert res.best_score == task_score(
        res.best_model, "map", HeldOut(a_val, b_val), {"sim_dim": 2}
    )
    json.dumps(res.to_dict())


def test_tune_records_failures_and_raises_when_all_fail():
    a, b = flat_tail_pairs(seed=4)
    res = tune(Prefix, [{"fail": True}, {"k": 2}], a, b, a, b)
    assert res.best_params == {"k": 2} and res.best_query == {}
    assert res.table[0]["score"] is None and "cannot be fitted" in res.table[0]["error"]
    with pytest.raises(InputError, match="every candidate failed"):
        tune(Prefix, {"fail": [True]}, a, b, a, b)
    with pytest.raises(ParameterError):  # a constructor error is the user's, not a candidate's
        tune(Prefix, {"k": [0]}, a, b, a, b)


def test_expand_grid_order_and_errors():
    assert expand_grid({"x": [1, 2], "y": ["a", "b"]}) == [
        {"x": 1, "y": "a"},
        {"x": 1, "y": "b"},
        {"x": 2, "y": "a"},
        {"x": 2, "y": "b"},
    ]
    assert expand_grid(None) == [{}]
    with pytest.raises(InputError, match="list of values"):
        expand_grid({"x": 1})
    with pytest.raises(InputError, match="empty"):
        expand_grid({"x": []})


def test_tune_real_methods_on_latent_pairs():
    csa = pytest.importorskip("csa")
    if not hasattr(csa, "CSA") or not hasattr(csa, "ASIF"):
        pytest.skip("csa models are not importable right now")
    rng = np.random.default_rng(6)
    w_a, w_b = rng.normal(size=(3, 10)), rng.normal(size=(3, 8))

    def pairs(n):
        z = rng.normal(size=(n, 3))
        return z @ w_a + rng.normal(size=(n, 10)), z @ w_b + rng.normal(size=(n, 8))

    (a, b), (a_val, b_val) = pairs(300), pairs(80)
    res = tune(csa.ASIF, {"k": [10, 100], "p": [1.0, 8.0]}, a, b, a_val, b_val, metric="recall@5")
    assert [row["params"] for row in res.table] == expand_grid({"k": [10, 100], "p": [1.0, 8.0]})
    assert res.best_score == max(row["score"] for row in res.table)
    res_csa = tune(csa.CSA, {"ridge": [0.1]}, a, b, a_val, b_val, query_grid="auto")
    curve = {row["query"]["sim_dim"]: row["score"] for row in res_csa.table}
    # Three latent dimensions are shared: the chosen s uses them and no more than needed.
    assert curve[3] > curve[1] and 3 <= res_csa.best_query["sim_dim"] <= 8
