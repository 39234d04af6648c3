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
#: The floor every section reports; a score under it is worse than guessing.
CHANCE = "chance"
#: Follows a table cell whose mean is under chance at that budget: such a score is
#: marked, never set in bold as the best, so a below-chance "winner" cannot pass unseen.
BELOW_CHANCE_MARK = "†"
#: ``gid`` of the hollow markers a plot draws over below-chance points (tests find them).
BELOW_CHANCE_GID = "below-chance"


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


def below_chance(table: dict, method: str, n: int) -> bool:
    """Whether ``method``'s mean at budget ``n`` is under the table's chance floor there.

    Chance itself never is; a table without a chance row marks nothing.
    """
    if method == CHANCE:
        return False
    chance = table["mean"].get((CHANCE, n))
    value = table["mean"].get((method, n))
    return chance is not None and value is not None and value < chance


def _cell(table: dict, method: str, n: int) -> str:
    if (method, n) not in table["mean"]:
        return "–"
    mean, std, seeds = (table[k][(method, n)] for k in ("mean", "std", "seeds"))
    text = f"{mean:.3f} ± {std:.3f}" if seeds > 1 else f"{mean:.3f}"
    return text + BELOW_CHANCE_MARK if below_chance(table, method, n) else text


def _fitted_scores(table: dict, n: int, methods: Sequence[str]) -> dict[str, float]:
    return {m: table["mean"][(m, n)] for m in methods if is_fitted(m) and (m, n) in table["mean"]}


def _best_marked(table: dict, n: int, methods: Sequence[str]) -> dict[str, bool]:
    """Bold the best fitted method at a budget (not floors or references), unless it is
    below chance: the best of a set of worse-than-guessing fits is no result to stress."""
    contenders = {
        m: v for m, v in _fitted_scores(table, n, methods).items() if not below_chance(table, m, n)
    }
    best = max(contenders.values()) if contenders else None
    return {m: best is not None and m in contenders and contenders[m] == best for m in methods}


def _all_below_chance(table: dict, methods: Sequence[str]) -> list[int]:
    """Budgets at which every fitted method scored is below chance."""
    return [
        n
        for n in table["budgets"]
        if (fitted := _fitted_scores(table, n, methods))
        and all(below_chance(table, m, n) for m in fitted)
    ]


def _below_chance_notes(table: dict, methods: Sequence[str]) -> list[str]:
    """The legend of the mark, and a line naming the budgets with no fit above chance."""
    marked = any(below_chance(table, m, n) for m in methods for n in table["budgets"])
    if not marked:
        return []
    notes = [
        f"{BELOW_CHANCE_MARK} below chance: the mean is under the `{CHANCE}` floor at that "
        "budget (never set in bold as the best)."
    ]
    hopeless = _all_below_chance(table, methods)
    if hopeless:
        at = ", ".join(str(n) for n in hopeless)
        notes.append(f"At {at} pairs every fitted method is below chance: no method is best.")
    return notes


def markdown_table(title: str, table: dict) -> str:
    """One summarised table: budgets down, methods across, the best fit in bold and
    below-chance cells marked, with the mark's legend under the table when it is used."""
    methods = table["methods"]
    lines = [
        f"### {title}",
        "",
        "| pairs | " + " | ".join(methods) + " |",
        "|---:|" + "---:|" * len(methods),
    ]
    for n in table["budgets"]:
        best = _best_marked(table, n, methods)
        cells = [f"**{_cell(table, m, n)}**" if best[m] else _cell(table, m, n) for m in methods]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    notes = _below_chance_notes(table, methods)
    return "\n".join([*lines, "", *notes] if notes else lines)


def markdown_tables(rows: Sequence[dict[str, Any]]) -> str:
    """One markdown table per (experiment, dataset, metric): budgets down, methods across."""
    parts = [
        markdown_table(f"{experiment} · {dataset} · {metric}", table)
        for (experiment, dataset, metric), table in sorted(summarise(rows).items())
    ]
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


def _series(table: dict, method: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Budgets a method was scored at, with its mean and spread across seeds there."""
    ns = [n for n in table["budgets"] if (method, n) in table["mean"]]
    mean = np.array([table["mean"][(method, n)] for n in ns])
    std = np.array([table["std"][(method, n)] for n in ns])
    return ns, mean, std


def _plot_method(ax: Any, table: dict, method: str) -> None:
    """A fitted method as a curve over budgets; a reference that is one value (a floor,
    or any reference when one budget ran) as a horizontal line across the axes, since
    a line through a single point is invisible."""
    ns, mean, std = _series(table, method)
    style = plot_style(method)
    if not is_fitted(method) and np.ptp(mean) == 0:
        ax.axhline(mean[0], label=method, **style)
        if std[0] > 0:
            ax.axhspan(mean[0] - std[0], mean[0] + std[0], color=style["color"], alpha=0.12)
        return
    ax.plot(ns, mean, label=method, **style)
    if np.any(std > 0):
        ax.fill_between(ns, mean - std, mean + std, color=style["color"], alpha=0.12)


def _mark_below_chance(ax: Any, table: dict) -> bool:
    """Hollow markers over fitted points under chance; whether there were any."""
    marked = False
    for method in filter(is_fitted, table["methods"]):
        ns, mean, _ = _series(table, method)
        below = [i for i, n in enumerate(ns) if below_chance(table, method, n)]
        if below:
            ax.scatter(
                [ns[i] for i in below], mean[below], s=36, facecolors="white", zorder=3,
                edgecolors=plot_style(method)["color"], gid=BELOW_CHANCE_GID, label="_below",
            )  # fmt: skip
            marked = True
    return marked


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
            _plot_method(ax, table, method)
        if _mark_below_chance(ax, table):
            ax.text(1.02, 0.0, "hollow markers: below chance", transform=ax.transAxes,
                    fontsize=7, va="bottom")  # fmt: skip
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
        "seeds ran; bold marks the best fitted method at each budget, "
        f"{BELOW_CHANCE_MARK} a score below chance (never bold). `chance` is the floor; "
        "`linear-probe` (supervised, same training items with labels) is a ceiling, not a "
        "competitor.\n\n"
    )
    md_path.write_text(header + markdown_tables(rows))
    plots = plot(rows, out)
    return {"json": json_path, "markdown": md_path, "plots": out, "n_plots": len(plots)}
