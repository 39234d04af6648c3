"""What a reader of the demo's output sees: uncut tables in a log, below-chance scores
marked rather than set in bold, and reference lines that show with a single budget."""

from __future__ import annotations

import io
import sys
import types

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from csa_demo import demo, report
from csa_demo.sweep import result_row

FITTED = [f"{m} ({v})" for m in ("CSA", "CCA", "ASIF", "LinearMap") for v in ("default", "tuned")]


def _wide_rows() -> list[dict]:
    """Every fitted method and both references: a table far wider than 80 columns."""
    return [
        result_row("exp", "data (test 60)", method, n, "top-1", 0.5, seed)
        for seed in (0, 1)
        for n in (10, 100)
        for method in (*FITTED, "linear-probe", "chance")
    ]


def test_tables_in_a_log_are_never_cut():
    out = io.StringIO()
    from csa_demo.cli import print_tables

    print_tables(Console(file=out, width=80), report.markdown_tables(_wide_rows()))
    text = out.getvalue()
    for method in (*FITTED, "linear-probe"):
        assert method in text, method
    assert "…" not in text


def test_the_demo_command_prints_full_method_names_to_a_pipe(tmp_path, monkeypatch):
    section = types.ModuleType("fake_wide_section")
    section.run = lambda quick, cache_dir: _wide_rows()
    monkeypatch.setitem(sys.modules, "fake_wide_section", section)
    monkeypatch.setattr(demo, "SECTIONS", {"wide": "fake_wide_section"})
    monkeypatch.setenv("COLUMNS", "80")
    from csa.cli import app

    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    for method in FITTED:
        assert method in result.output, method
    assert "…" not in result.output


def _scored(values: dict[str, float], chance: float = 0.5, budgets=(10, 100)) -> list[dict]:
    rows = [
        result_row("exp", "data", method, n, "AUC", value)
        for n in budgets
        for method, value in values.items()
    ]
    return rows + [result_row("exp", "data", "chance", n, "AUC", chance) for n in budgets]


def _table_line(markdown: str, n: int) -> str:
    (line,) = [ln for ln in markdown.splitlines() if ln.startswith(f"| {n} |")]
    return line


def test_below_chance_cells_are_marked_and_never_bold():
    markdown = report.markdown_tables(
        _scored({"CSA (default)": 0.45, "CCA (default)": 0.40, "linear-probe": 0.9})
    )
    line = _table_line(markdown, 10)
    assert "**" not in line, line  # the best fitted score is below chance: not "best"
    assert f"0.450{report.BELOW_CHANCE_MARK}" in line and f"0.400{report.BELOW_CHANCE_MARK}" in line
    assert "0.900" in line and f"0.900{report.BELOW_CHANCE_MARK}" not in line
    assert report.BELOW_CHANCE_MARK in markdown.split(line)[-1]  # a legend says what it means
    assert "every fitted method is below chance" in markdown


def test_the_best_above_chance_is_bold_and_the_others_below_marked():
    markdown = report.markdown_tables(_scored({"CSA (default)": 0.7, "CCA (default)": 0.3}))
    line = _table_line(markdown, 100)
    assert "**0.700**" in line and f"0.300{report.BELOW_CHANCE_MARK}" in line
    assert "every fitted method is below chance" not in markdown


def test_tables_without_a_mark_have_no_legend():
    markdown = report.markdown_tables(_scored({"CSA (default)": 0.7}))
    assert report.BELOW_CHANCE_MARK not in markdown


@pytest.fixture
def figures(monkeypatch):
    """The axes of every figure :func:`report.plot` draws, captured before it closes them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seen = []
    original_close = plt.close

    def capture(fig):
        fig.canvas.draw()
        seen.append(fig.axes[0])
        original_close(fig)

    monkeypatch.setattr(plt, "close", capture)
    return seen


def _lines(ax, label: str):
    return [line for line in ax.get_lines() if line.get_label() == label]


def test_reference_lines_show_with_a_single_budget(tmp_path, figures):
    rows = _scored({"CSA (default)": 0.7, "linear-probe": 0.9}, budgets=(100,))
    report.plot(rows, tmp_path)
    (ax,) = figures
    for name in ("chance", "linear-probe"):
        (line,) = _lines(ax, name)
        xs = line.get_xdata()
        assert max(xs) - min(xs) > 0, name  # spans the axes, not one invisible point
        drawn = line.get_transform().transform(list(zip(xs, line.get_ydata(), strict=True)))
        assert np.ptp(drawn[:, 0]) > 100, name  # pixels across the figure


def test_reference_lines_that_vary_with_the_budget_stay_curves(tmp_path, figures):
    rows = _scored({"CSA (default)": 0.7}) + [
        result_row("exp", "data", "linear-probe", n, "AUC", v) for n, v in ((10, 0.6), (100, 0.9))
    ]
    report.plot(rows, tmp_path)
    (ax,) = figures
    (probe,) = _lines(ax, "linear-probe")
    assert list(probe.get_ydata()) == [0.6, 0.9]


def test_below_chance_points_are_hollow_and_noted(tmp_path, figures):
    report.plot(_scored({"CSA (default)": 0.45, "CCA (default)": 0.7}), tmp_path)
    (ax,) = figures
    hollow = [c for c in ax.collections if c.get_gid() == report.BELOW_CHANCE_GID]
    assert len(hollow) == 1 and len(hollow[0].get_offsets()) == 2
    assert "below chance" in " ".join(t.get_text() for t in ax.texts)


def test_plots_without_below_chance_points_carry_no_note(tmp_path, figures):
    report.plot(_scored({"CSA (default)": 0.7}), tmp_path)
    (ax,) = figures
    assert not [c for c in ax.collections if c.get_gid() == report.BELOW_CHANCE_GID]
    assert "below chance" not in " ".join(t.get_text() for t in ax.texts)
