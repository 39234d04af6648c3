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
