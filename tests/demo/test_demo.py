"""The demo runner and small end-to-end sweeps on real data with the real encoders."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from csa_demo import demo
from csa_demo.sweep import result_row

FITTED = {f"{m} ({v})" for m in ("CSA", "CCA", "ASIF", "LinearMap") for v in ("default", "tuned")}


def _rows():
    return [
        result_row("exp", "data", method, n, "top-1", 0.5, seed)
        for seed in (0, 1)
        for n in (10, 100)
        for method in ("CSA (default)", "CCA (default)", "chance")
    ]


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
    outcome = demo.run_demo(
        tmp_path, quick=True, jobs=1, on_section=lambda n, s: events.append((n, s))
    )
    assert len(outcome.rows) == 12
    assert "espeak-ng" in outcome.failures["bad"]
    assert ("good", "done") in events and ("bad", "failed") in events
    assert (tmp_path / "results.md").exists()
    with pytest.raises(Exception, match="unknown demo section"):
        demo.run_demo(tmp_path, sections=["nope"])


def test_sections_run_in_worker_processes(tmp_path, monkeypatch):
    """jobs=2: each section in its own process, one BLAS thread each on 2 CPUs, a failure
    reported by name, and the report in section order whatever finished first."""
    import os

    monkeypatch.setattr(
        demo,
        "SECTIONS",
        {"bad": "fake_sections.bad", "good": "fake_sections.good", "also": "fake_sections.good"},
    )
    monkeypatch.setattr(demo, "_cpus", lambda: 2)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    events = []
    outcome = demo.run_demo(tmp_path, jobs=2, on_section=lambda n, s: events.append((n, s)))
    assert "espeak-ng" in outcome.failures["bad"] and set(outcome.failures) == {"bad"}
    assert {("good", "done"), ("also", "done"), ("bad", "failed")} <= set(events)
    assert list(outcome.seconds) == ["bad", "good", "also"]
    pids = {r["value"] for r in outcome.rows if r["metric"] == "pid"}
    assert len(outcome.rows) == 4 and os.getpid() not in pids
    assert {r["value"] for r in outcome.rows if r["metric"] == "blas threads"} == {1.0}
    assert "OPENBLAS_NUM_THREADS" not in os.environ  # the parent's environment is restored
    with pytest.raises(Exception, match="jobs must be a whole number"):
        demo.run_demo(tmp_path, jobs=0)


def test_default_jobs_one_per_cpu_up_to_the_sections(monkeypatch):
    monkeypatch.setattr(demo, "_cpus", lambda: 2)
    assert demo.default_jobs(5) == 2 and demo.default_jobs(1) == 1
    monkeypatch.setattr(demo, "_cpus", lambda: 64)
    assert demo.default_jobs(5) == demo.MAX_DEFAULT_JOBS


def _table(rows, metric):
    return {(r["method"], r["n_pairs"]): r["value"] for r in rows if r["metric"] == metric}


@pytest.mark.slow
def test_news_sweep_end_to_end(tmp_path):
    from csa_demo import news

    rows = news.run(sizes=(80, 60), seeds=(0,), cache_dir=tmp_path)
    table = _table(rows, "retrieval mAP")
    assert FITTED <= {m for m, _ in table}
    # 60 test articles: random ranking gives an mAP near 0.08.
    assert table[("CSA (default)", 80)] > 0.25 and table[("CSA (tuned)", 80)] > 0.25
    auc = _table(rows, "out-of-context AUC")
    assert auc[("CSA (tuned)", 80)] > 0.8
    assert all("ridge" in r["params"] for r in rows if r["method"].startswith("CSA"))


@pytest.mark.slow
def test_fashion_sweep_end_to_end(tmp_path):
    from csa_demo import image_text

    rows = image_text.run(sizes=(100, 60), seeds=(0,), cache_dir=tmp_path)
    top1 = _table(rows, "zero-shot top-1")
    assert top1[("chance", 100)] == pytest.approx(0.1)
    assert top1[("CSA (default)", 100)] > 0.3 and top1[("CSA (tuned)", 100)] > 0.3
    assert FITTED <= {m for m, _ in top1}
    assert 0.0 <= top1[("linear-probe", 100)] <= 1.0
    assert np.isfinite(list(_table(rows, "mislabel AUC").values())).all()
