"""Result rows -> tables, JSON and plots that read the same across sections."""

from __future__ import annotations

import json
import re

from csa_demo import report
from csa_demo.sweep import result_row


def _rows():
    rows = []
    for seed in (0, 1):
        for n in (10, 100):
            for method, base in (
                ("CSA (tuned)", 0.6),
                ("CSA (default)", 0.55),
                ("CCA (default)", 0.5),
                ("chance", 0.1),
            ):
                value = base + 0.01 * seed + (0.2 if n == 100 else 0.0)
                params = {"ridge": 1.0} if "(" in method else None
                rows.append(result_row("exp", "data (test 60)", method, n, "top-1", value, seed,
                                       params))  # fmt: skip
    return rows


def test_report_tables_json_and_plots(tmp_path):
    files = report.write_report(_rows(), tmp_path, extra={"quick": True})
    payload = json.loads(files["json"].read_text())
    assert payload["meta"]["quick"] is True and len(payload["rows"]) == 16
    assert payload["rows"][0]["params"] == {"ridge": 1.0}
    markdown = files["markdown"].read_text()
    assert "| pairs | CSA (default) | CSA (tuned) | CCA (default) | chance |" in markdown
    assert "| 100 | 0.755 ± 0.005 | **0.805 ± 0.005** | 0.705 ± 0.005 | 0.305 ± 0.005 |" in markdown
    assert files["n_plots"] == 1
    (png,) = tmp_path.glob("*.png")
    assert re.fullmatch(r"[A-Za-z0-9._-]+\.png", png.name), png.name


def test_file_slugs_have_no_shell_special_characters():
    slug = report.file_slug(
        "audio-text", "spoken-words espeak->flite [whisper-base@5s] (test 240)", "top-1"
    )
    assert re.fullmatch(r"[A-Za-z0-9._-]+", slug), slug
    assert "whisper-base_at_5s" in slug and "espeak_to_flite" in slug


def test_reference_lines_and_methods_have_one_style_everywhere():
    assert report.plot_style("chance") == report.plot_style("chance")
    assert report.plot_style("chance")["color"] != report.plot_style("linear-probe")["color"]
    tuned, default = report.plot_style("CSA (tuned)"), report.plot_style("CSA (default)")
    assert tuned["color"] == default["color"] and tuned["linestyle"] != default["linestyle"]
    assert report.plot_style("CCA (tuned)")["color"] != tuned["color"]
    assert not report.is_fitted("linear-probe") and report.is_fitted("ASIF (tuned)")


def test_plot_title_names_metric_and_test_size_with_legend_outside(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seen = {}
    original_close = plt.close

    def capture(fig):
        ax = fig.axes[0]
        seen["title"] = ax.get_title()
        legend = ax.get_legend()
        fig.canvas.draw()
        box = legend.get_window_extent()
        seen["legend_outside"] = box.x0 >= ax.get_window_extent().x1
        original_close(fig)

    monkeypatch.setattr(plt, "close", capture)
    report.plot(_rows(), tmp_path)
    assert "top-1" in seen["title"] and "test 60" in seen["title"]
    assert seen["legend_outside"]
