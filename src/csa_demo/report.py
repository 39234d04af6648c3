"""Result rows -> JSON, a markdown table per experiment and metric, and PNG plots.

Rows from several seeds are averaged per (method, budget); the table shows the mean
with the spread across seeds where there is one, so a reader can tell a real gap
from noise.
"""

from __future__ import annotations

import json
import platform
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

# Fitted methods first in this order (default before tuned), then references and floors.
METHOD_ORDER = ("CSA", "CCA", "ASIF", "LinearMap")
VARIANT_ORDER = ("default", "tuned")
# One colour per fitted method in every plot (solid: tuned, dashed: default) ...
METHOD_COLOURS = {"CSA": "#d62728", "CCA": "#1f77b4", "ASIF": "#2ca02c", "LinearMap": "#9467bd"}
# ... and one per kind of reference line, so chance, probe and ceilings read the same in all.
REFERENCE_COLOURS = {"chance": "#7f7f7f", "linear-probe": "#000000"}
OTHER_REFERENCE_COLOUR = "#8c564b"  # pair-free ceilings such as one shared encoder


def split_method(method: str) -> tuple[str, str | None]:
    """``"CSA (tuned)"`` -> ``("CSA", "tuned")``; references -> ``(name, None)``."""
    base, _, rest = method.partition(" (")
    variant = rest.removesuffix(")")
    if base in METHOD_ORDER and variant in VARIANT_ORDER:
        return base, variant
    return method, None


def is_fitted(method: str) -> bool:
    """Whether ``method`` is one of the compared fits (not a floor or a ceiling)."""
    return split_method(method)[1] is not None


def _method_key(method: str) -> tuple[int, int, str]:
    base, variant = split_method(method)
    if variant is None:
        return (99, 0, method)
    return (METHOD_ORDER.index(base), VARIANT_ORDER.index(variant), "")


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
    """Bold the best fitted method at a budget (not floors or references)."""
    scored = {m: table["mean"][(m, n)] for m in methods if (m, n) in table["mean"]}
    contenders = {m: v for m, v in scored.items() if is_fitted(m)}
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


def plot_style(method: str) -> dict[str, Any]:
    """Colour, line style and marker of a method, the same in every plot."""
    base, variant = split_method(method)
    if variant is not None:
        return {
            "color": METHOD_COLOURS[base],
            "linestyle": "-" if variant == "tuned" else "--",
            "marker": "o" if variant == "tuned" else "s",
            "markersize": 3,
        }
    colour = REFERENCE_COLOURS.get(method, OTHER_REFERENCE_COLOUR)
    return {"color": colour, "linestyle": ":", "marker": None, "linewidth": 1.5}


def file_slug(*parts: str) -> str:
    """A file name any shell takes unquoted: letters, digits, ``.``, ``_`` and ``-`` only."""
    text = "-".join(parts).replace("->", " to ").replace("@", " at ")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text)
    return re.sub(r"_+", "_", slug).strip("_-.")


def plot(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One PNG per (experiment, dataset, metric): value against pairs, log x-axis.

    The title names the data set (with its test size) and the metric; the legend sits
    outside the axes so it never hides a curve.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for (experiment, dataset, metric), table in sorted(summarise(rows).items()):
        fig, ax = plt.subplots(figsize=(7.2, 3.6), dpi=120)
        for method in table["methods"]:
            ns = [n for n in table["budgets"] if (method, n) in table["mean"]]
            mean = np.array([table["mean"][(method, n)] for n in ns])
            std = np.array([table["std"][(method, n)] for n in ns])
            style = plot_style(method)
            ax.plot(ns, mean, label=method, **style)
            if np.any(std > 0):
                ax.fill_between(ns, mean - std, mean + std, color=style["color"], alpha=0.12)
        ax.set_xscale("log")
        ax.set_xlabel("training pairs")
        ax.set_ylabel(metric)
        ax.set_title(f"{experiment}: {dataset}\n{metric}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        fig.tight_layout()
        path = out_dir / f"{file_slug(experiment, dataset, metric)}.png"
        fig.savefig(path, bbox_inches="tight")
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
