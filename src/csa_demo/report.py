"""Result rows -> JSON, a markdown table per experiment and metric, and PNG plots.

Rows from several seeds are averaged per (method, budget); the table shows the mean
with the spread across seeds where there is one, so a reader can tell a real gap
from noise.
"""

from __future__ import annotations

import json
import platform
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

# Methods first in this order, then any others (references, floors, ceilings).
METHOD_ORDER = ("CSA", "CCA", "ASIF", "LinearMap")


def _method_key(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method), "") if method in METHOD_ORDER else (99, method)


def summarise(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], dict]:
    """``{(experiment, dataset, metric): {"methods": [...], "budgets": [...],
    "mean": {(method, n): float}, "std": {...}, "seeds": {...}}}``."""
    grouped: dict[tuple[str, str, str], dict[tuple[str, int], list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in rows:
        key = (row["experiment"], row["dataset"], row["metric"])
        grouped[key][(row["method"], row["n_pairs"])].append(float(row["value"]))
    summary = {}
    for key, cells in grouped.items():
        methods = sorted({m for m, _ in cells}, key=_method_key)
        budgets = sorted({n for _, n in cells})
        summary[key] = {
            "methods": methods,
            "budgets": budgets,
            "mean": {cell: float(np.mean(v)) for cell, v in cells.items()},
            "std": {cell: float(np.std(v)) for cell, v in cells.items()},
            "seeds": {cell: len(v) for cell, v in cells.items()},
        }
    return summary


def _cell(table: dict, method: str, n: int) -> str:
    if (method, n) not in table["mean"]:
        return "–"
    mean, std, seeds = (table[k][(method, n)] for k in ("mean", "std", "seeds"))
    return f"{mean:.3f} ± {std:.3f}" if seeds > 1 else f"{mean:.3f}"


def _best_marked(table: dict, n: int, methods: Sequence[str]) -> dict[str, bool]:
    """Bold the best of the four fitted methods at a budget (not floors or references)."""
    scored = {m: table["mean"][(m, n)] for m in methods if (m, n) in table["mean"]}
    contenders = {m: v for m, v in scored.items() if m in METHOD_ORDER}
    best = max(contenders.values()) if contenders else None
    return {m: best is not None and m in contenders and contenders[m] == best for m in methods}


def markdown_tables(rows: Sequence[dict[str, Any]]) -> str:
    """One markdown table per (experiment, dataset, metric): budgets down, methods across."""
    parts = []
    for (experiment, dataset, metric), table in sorted(summarise(rows).items()):
        methods = table["methods"]
        lines = [
            f"### {experiment} · {dataset} · {metric}",
            "",
            "| pairs | " + " | ".join(methods) + " |",
            "|---:|" + "---:|" * len(methods),
        ]
        for n in table["budgets"]:
            best = _best_marked(table, n, methods)
            cells = [
                f"**{_cell(table, m, n)}**" if best[m] else _cell(table, m, n) for m in methods
            ]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def plot(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One PNG per (experiment, dataset, metric): value against pairs, log x-axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for (experiment, dataset, metric), table in sorted(summarise(rows).items()):
        fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
        for method in table["methods"]:
            ns = [n for n in table["budgets"] if (method, n) in table["mean"]]
            mean = np.array([table["mean"][(method, n)] for n in ns])
            std = np.array([table["std"][(method, n)] for n in ns])
            style = "-o" if method in METHOD_ORDER else "--"
            (line,) = ax.plot(ns, mean, style, label=method, markersize=3)
            if np.any(std > 0):
                ax.fill_between(ns, mean - std, mean + std, color=line.get_color(), alpha=0.15)
        ax.set_xscale("log")
        ax.set_xlabel("training pairs")
        ax.set_ylabel(metric)
        ax.set_title(f"{experiment}: {dataset}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        slug = "-".join(
            s.replace(" ", "_").replace("/", "_").replace(">", "")
            for s in (experiment, dataset, metric)
        )
        path = out_dir / f"{slug}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def write_report(
    rows: Sequence[dict[str, Any]], out_dir: str | Path, *, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write ``results.json``, ``results.md`` and the plots; say where they went."""
    import csa

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "csa_version": csa.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        **(extra or {}),
    }
    json_path = out / "results.json"
    json_path.write_text(json.dumps({"meta": meta, "rows": list(rows)}, indent=1))
    md_path = out / "results.md"
    header = (
        "# csa demo results\n\n"
        f"Generated {meta['created']}. Mean over seeds ± standard deviation where several "
        "seeds ran; bold marks the best fitted method at each budget. `chance` is the "
        "floor; `linear-probe` (supervised, same training items with labels) is a "
        "ceiling, not a competitor.\n\n"
    )
    md_path.write_text(header + markdown_tables(rows))
    plots = plot(rows, out)
    return {"json": json_path, "markdown": md_path, "plots": out, "n_plots": len(plots)}
