"""The clip-art section end to end on a tiny Open Clip Art copy the test writes itself."""

from __future__ import annotations

import numpy as np
import pytest

from paper_fixtures import make_openclipart

pytestmark = pytest.mark.filterwarnings("ignore::csa.WeakFitWarning")


@pytest.mark.slow
def test_clipart_section_on_a_tiny_copy(tmp_path, monkeypatch):
    from csa_demo import clipart, demo
    from csa_demo.data.openclipart import load_openclipart

    assert "clipart" in demo.SECTIONS  # part of the default demo
    monkeypatch.setenv("CSA_CACHE_DIR", str(tmp_path / "cache"))  # thumbnails land here
    root = make_openclipart(tmp_path / "openclipart")
    # Half the tiny copy's caption groups go to the test split, so it holds two groups.
    n_test = len(load_openclipart(split="test", root=root, test_fraction=0.5))
    rows = clipart.run(root=root, test_fraction=0.5, cache_dir=tmp_path / "embeddings", seeds=(0,))
    metrics = {r["metric"] for r in rows}
    for k in clipart.KS:
        assert f"image->caption R@{k}" in metrics and f"caption->image R@{k}" in metrics
    assert {"retrieval mAP", "out-of-context AUC", clipart.ZERO_SHOT} <= metrics
    methods = {r["method"] for r in rows}
    assert {"CSA (default)", "ASIF (default)", "LinearMap (default)", "chance"} <= methods
    assert "linear-probe" in methods
    assert all(np.isfinite(r["value"]) and 0.0 <= r["value"] <= 1.0 for r in rows)
    assert {r["dataset"] for r in rows} == {f"openclipart (test {n_test})"}
    chance = {r["metric"]: r["value"] for r in rows if r["method"] == "chance"}
    assert chance["image->caption R@1"] == pytest.approx(1 / n_test)
    assert all("ridge" in r["params"] for r in rows if r["method"].startswith("CSA"))
