"""Data-efficiency experiments: the shared protocol, the report, the demo runner, and
small end-to-end sweeps on real data with the real encoders."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from csa.tasks import evaluate_retrieval
from csa_demo import common, demo, report
from synthetic import known_cca_pairs


def _retrieval_eval(a, b):
    def evaluate(model, val, options):
        return evaluate_retrieval(model, a[val], b[val], **options).mean_map

    return evaluate


def test_budgets_grid():
    assert common.budgets(1000) == [10, 30, 100, 300, 1000]
    assert common.budgets(450) == [10, 30, 100, 300, 450]
    assert common.budgets(25, smallest=10) == [10, 25]


def test_hyperparameters_come_from_the_budget_only():
    a, b = known_cca_pairs(400, (0.9, 0.8, 0.7), dim_a=20, dim_b=15, seed=0)
    seen_rows: set[int] = set()

    def evaluate(model, val, options):
        seen_rows.update(val.tolist())
        return evaluate_retrieval(model, a[val], b[val], **options).mean_map

    fitted = common.fit_methods(a, b, evaluate, seed=0)
    assert set(fitted) == {"CSA", "CCA", "ASIF", "LinearMap"}
    assert seen_rows and max(seen_rows) < 400
    for method in ("CSA", "CCA"):
        model, options = fitted[method]
        assert model.n_pairs_seen_ == 400  # refitted on the whole budget
        assert 1 <= options["sim_dim"] <= model.n_components_
        assert model.ridge in common.RIDGE_GRID
    assert fitted["ASIF"][1] == {}


def test_tiny_budgets_fall_back_to_defaults():
    a, b = known_cca_pairs(15, (0.9,), dim_a=4, dim_b=3, seed=1)
    fitted = common.fit_methods(a, b, _retrieval_eval(a, b), seed=0)
    model, options = fitted["CSA"]
    assert options == {} and model.ridge == "auto"


def test_validated_choice_beats_keeping_every_noise_dimension():
    a, b = known_cca_pairs(1500, (0.95, 0.9), dim_a=40, dim_b=30, seed=2, mixing_seed=5)
    ta, tb = known_cca_pairs(300, (0.95, 0.9), dim_a=40, dim_b=30, seed=3, mixing_seed=5)
    model, options = common.fit_methods(a, b, _retrieval_eval(a, b), methods=["CSA"])["CSA"]
    tuned = evaluate_retrieval(model, ta, tb, **options).mean_map
    untuned = evaluate_retrieval(model, ta, tb).mean_map
    assert options["sim_dim"] <= 6
    assert tuned > untuned


def _rows():
    rows = []
    for seed in (0, 1):
        for n in (10, 100):
            for method, base in (("CSA", 0.6), ("CCA", 0.5), ("chance", 0.1)):
                value = base + 0.01 * seed + (0.2 if n == 100 else 0.0)
                rows.append(common.result_row("exp", "data", method, n, "top-1", value, seed))
    return rows


def test_report_tables_json_and_plots(tmp_path):
    files = report.write_report(_rows(), tmp_path, extra={"quick": True})
    payload = json.loads(files["json"].read_text())
    assert payload["meta"]["quick"] is True and len(payload["rows"]) == 12
    markdown = files["markdown"].read_text()
    assert "| pairs | CSA | CCA | chance |" in markdown
    assert "| 100 | **0.805 ± 0.005** | 0.705 ± 0.005 | 0.305 ± 0.005 |" in markdown
    assert files["n_plots"] == 1
    assert list(tmp_path.glob("*.png"))


def test_demo_runs_every_section_and_reports_failures(tmp_path, monkeypatch):
    good = types.ModuleType("fake_good_section")
    good.run = lambda quick, cache_dir: _rows()
    bad = types.ModuleType("fake_bad_section")

    def broken(quick, cache_dir):
        raise RuntimeError("espeak-ng is not installed")

    bad.run = broken
    monkeypatch.setitem(sys.modules, "fake_good_section", good)
    monkeypatch.setitem(sys.modules, "fake_bad_section", bad)
    monkeypatch.setattr(demo, "SECTIONS", {"good": "fake_good_section", "bad": "fake_bad_section"})
    events = []
    outcome = demo.run_demo(tmp_path, quick=True, on_section=lambda n, s: events.append((n, s)))
    assert len(outcome.rows) == 12
    assert "espeak-ng" in outcome.failures["bad"]
    assert ("good", "done") in events and ("bad", "failed") in events
    assert (tmp_path / "results.md").exists()
    with pytest.raises(Exception, match="unknown demo section"):
        demo.run_demo(tmp_path, sections=["nope"])


def _table(rows, metric):
    return {(r["method"], r["n_pairs"]): r["value"] for r in rows if r["metric"] == metric}


@pytest.mark.slow
def test_news_sweep_end_to_end(tmp_path):
    from csa_demo import news

    rows = news.run(sizes=(80, 60), seeds=(0,), cache_dir=tmp_path)
    table = _table(rows, "retrieval mAP")
    for method in ("CSA", "CCA", "ASIF", "LinearMap"):
        assert (method, 80) in table
    # 60 test articles: random ranking gives an mAP near 0.08.
    assert table[("CSA", 80)] > 0.25
    auc = _table(rows, "out-of-context AUC")
    assert auc[("CSA", 80)] > 0.8


@pytest.mark.slow
def test_fashion_sweep_end_to_end(tmp_path):
    from csa_demo import image_text

    rows = image_text.run(sizes=(100, 60), seeds=(0,), cache_dir=tmp_path)
    top1 = _table(rows, "zero-shot top-1")
    assert top1[("chance", 100)] == pytest.approx(0.1)
    assert top1[("CSA", 100)] > 0.3
    assert 0.0 <= top1[("linear-probe", 100)] <= 1.0
    assert np.isfinite(list(_table(rows, "mislabel AUC").values())).all()
