"""The one sweep loop: default and tuned fits of every method on the same budget."""

from __future__ import annotations

import numpy as np
import pytest

from csa.tasks import evaluate_retrieval
from csa_demo import sweep
from synthetic import known_cca_pairs

pytestmark = pytest.mark.filterwarnings("ignore::csa.WeakFitWarning")


def test_budgets_grid():
    assert sweep.budgets(1000) == [10, 30, 100, 300, 1000]
    assert sweep.budgets(500) == [10, 30, 100, 300, 500]
    assert sweep.budgets(3200) == [10, 30, 100, 300, 1000, 3200]  # not 3000 beside 3200
    assert sweep.budgets(25, smallest=10) == [10, 25]


def test_validation_split_is_seeded_disjoint_and_refuses_tiny_budgets():
    fit, val = sweep.validation_split(100, seed=3)
    assert val.size == 20 and fit.size == 80 and not set(fit) & set(val)
    again = sweep.validation_split(100, seed=3)
    assert np.array_equal(again[1], val)
    assert not np.array_equal(sweep.validation_split(100, seed=4)[1], val)
    assert sweep.validation_split(15, seed=0) is None  # 10 held out would leave 5 to fit


def _fits(a, b, selection, seed):
    """Default and tuned fits of every method on one budget, as run_tasks makes them."""
    return sweep.default_fits(a, b) + sweep.tuned_fits(a, b, selection, seed=seed)


def test_every_method_gets_a_default_and_a_tuned_fit_from_the_grids():
    a, b = known_cca_pairs(300, (0.9, 0.8, 0.7), dim_a=20, dim_b=15, seed=0)
    fits = _fits(a, b, sweep.Selection("map"), seed=0)
    labels = [f.label for f in fits]
    for method in sweep.METHODS:
        assert f"{method} (default)" in labels and f"{method} (tuned)" in labels
    by_label = {f.label: f for f in fits}
    default = by_label["CSA (default)"]
    assert default.options == {} and default.model.get_params()["ridge"] == "auto"
    tuned = by_label["CSA (tuned)"]
    assert tuned.model.get_params()["ridge"] in sweep.RIDGE_GRID
    assert 1 <= tuned.params["sim_dim"] <= tuned.model.n_components_
    asif = by_label["ASIF (tuned)"].model.get_params()
    assert asif["k"] in sweep.PARAM_GRIDS["ASIF"]["k"]
    assert asif["p"] in sweep.PARAM_GRIDS["ASIF"]["p"]
    assert by_label["ASIF (default)"].params == {"k": 800, "p": 8.0}
    for fit in fits:  # tuned on part of the budget, refitted on all of it
        seen = getattr(fit.model, "n_pairs_seen_", None)
        assert (fit.model.anchors_a_.shape[0] if seen is None else seen) == 300


def test_tiny_budgets_report_defaults_only():
    a, b = known_cca_pairs(15, (0.9,), dim_a=4, dim_b=3, seed=1)
    fits = _fits(a, b, sweep.Selection("map"), seed=0)
    assert {f.variant for f in fits} == {"default"}


def test_tuned_choice_beats_keeping_every_noise_dimension():
    a, b = known_cca_pairs(1500, (0.95, 0.9), dim_a=40, dim_b=30, seed=2, mixing_seed=5)
    ta, tb = known_cca_pairs(300, (0.95, 0.9), dim_a=40, dim_b=30, seed=3, mixing_seed=5)
    tuned = sweep.tuned_fits(a, b, sweep.Selection("map"), methods=["CSA"])[0]
    assert tuned.variant == "tuned"
    assert tuned.options["sim_dim"] <= 6
    with_choice = evaluate_retrieval(tuned.model, ta, tb, **tuned.options).mean_map
    every_dim = evaluate_retrieval(tuned.model, ta, tb, sim_dim=tuned.model.n_components_)
    assert with_choice > every_dim.mean_map


def test_run_sweep_rows_carry_params_references_and_floors():
    a, b = known_cca_pairs(120, (0.9, 0.8), dim_a=10, dim_b=8, seed=4)
    ta, tb = known_cca_pairs(50, (0.9, 0.8), dim_a=10, dim_b=8, seed=5)
    calls = []

    def score(model, options, seed):
        return {"mAP": evaluate_retrieval(model, ta, tb, **options).mean_map}

    def references(index, seed):
        calls.append((index.size, seed))
        return {"ceiling": {"mAP": 1.0}}

    rows = sweep.run_sweep(
        "exp", "data (test 50)", a, b,
        n_pairs=[30, 120],
        sample_index=lambda n, seed: np.random.default_rng(seed).permutation(120)[:n],
        score=score,
        selection=sweep.Selection("map"),
        seeds=(0, 1),
        references=references,
        floors={"chance": {"mAP": 0.02}},
    )  # fmt: skip
    keys = {"experiment", "dataset", "method", "n_pairs", "metric", "value", "seed"}
    assert all(keys <= set(r) for r in rows)
    fitted = [r for r in rows if "(" in r["method"]]
    assert fitted and all("params" in r for r in fitted)
    assert all("ridge" in r["params"] for r in fitted if not r["method"].startswith("ASIF"))
    assert calls == [(30, 0), (30, 1), (120, 0), (120, 1)]
    chance = [r for r in rows if r["method"] == "chance"]
    assert [r["n_pairs"] for r in chance] == [30, 120]  # once per budget, not per seed
    csa_tuned = [r for r in rows if r["method"] == "CSA (tuned)" and r["n_pairs"] == 120]
    assert len(csa_tuned) == 2 and all(r["value"] > 0.1 for r in csa_tuned)


def test_fitted_params_prefer_the_values_a_model_chose():
    class Model:
        ridge_ = np.float64(0.5)

        def get_params(self):
            return {"ridge": "auto", "chunk_size": None}

    assert sweep.fitted_params(Model(), {"sim_dim": np.int64(3)}) == {"ridge": 0.5, "sim_dim": 3}


def test_tasks_of_one_pool_share_the_default_fits(monkeypatch):
    """Two tasks: one default fit per method and budget, tuned fits chosen per task."""
    a, b = known_cca_pairs(120, (0.9, 0.8), dim_a=10, dim_b=8, seed=4)
    calls = []
    real = sweep.default_fits
    monkeypatch.setattr(sweep, "default_fits", lambda *x, **k: calls.append(1) or real(*x, **k))
    scored: dict[str, list] = {"first": [], "second": []}

    def task(name):
        def score(model, options, seed):
            scored[name].append(model)
            return {"score": float(model.score_pairs(a[:40], b[:40], **options).mean())}

        return sweep.Task(name, score, sweep.Selection("map"), floors={"chance": {"score": 0.0}})

    rows = sweep.run_tasks(
        "exp", a, b, [task("first"), task("second")], n_pairs=[60, 120],
        sample_index=lambda n, seed: np.arange(n), seeds=(0,), methods=("CSA", "ASIF"),
    )  # fmt: skip
    assert len(calls) == 2  # one per budget, not per task
    defaults = [m for m in scored["first"] if m in scored["second"]]
    assert len(defaults) == 4  # CSA and ASIF defaults at two budgets, the same objects
    assert [r["dataset"] for r in rows] == sorted(r["dataset"] for r in rows)  # task by task
    for name in ("first", "second"):
        methods = {r["method"] for r in rows if r["dataset"] == name}
        assert methods == {
            "CSA (default)",
            "CSA (tuned)",
            "ASIF (default)",
            "ASIF (tuned)",
            "chance",
        }
