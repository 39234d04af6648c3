"""`csa fit` on raw items with held-out pairs: the calibration is shown and then used.

Before, `csa fit` (and `csa info`) on a calibrated model died with KeyError 'auc' after
writing the model file: every other CLI test fitted with --held-out 0.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from csa.cli import app
from multimodal.colour_items import write_items

pytestmark = pytest.mark.slow
N = 40  # --held-out 0.2 keeps 8 pairs, the fewest that calibrate


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_fit_with_held_out_pairs_shows_and_uses_the_threshold(tmp_path, monkeypatch):
    monkeypatch.setenv("CSA_CACHE_DIR", str(tmp_path / "cache"))
    folder, captions, _ = write_items(tmp_path, N)
    model = tmp_path / "model.csa"
    fitted = _run(
        "fit",
        folder,
        tmp_path / "captions.txt",
        "-o",
        model,
        "--encoder-a",
        "efficientnet-lite0?image_size=64",
        "--encoder-b",
        "minilm-l6",
        "--ridge",
        "0.1",
        "--sim-dim",
        "3",
    )
    assert fitted.exit_code == 0, fitted.output
    assert "flag threshold" in fitted.output and "held out to calibrate" in fitted.output
    info = _run("info", model)
    assert info.exit_code == 0 and "flag threshold" in info.output, info.output
    (tmp_path / "shuffled.txt").write_text("\n".join(captions[1:] + captions[:1]) + "\n")
    out = tmp_path / "flag.json"
    flagged = _run("flag", "-m", model, folder, tmp_path / "shuffled.txt", "--json", out)
    assert flagged.exit_code == 0, flagged.output
    pairs = json.loads(out.read_text())["pairs"]
    assert sum(p["flagged"] for p in pairs) >= 0.8 * N  # every caption names another colour
