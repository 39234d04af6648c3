"""Is one commit's ``CSA()`` fit faster than another's? Alternating rounds, paired ratios.

    .venv/bin/python benchmarks/ab_fit.py --base e3bb3aa                 # against HEAD
    .venv/bin/python benchmarks/ab_fit.py --base A --head B --rounds 8 --cells 2000x1280x384

On a shared machine the minimum of a few rounds of one commit, then of the other, mixes
the change with whatever else the machine did meanwhile (the bare products moved by a
quarter between rounds of one run). Here both commits are checked out as detached
worktrees, the pair files are written once, and each round runs the base and then the
head in fresh child processes on the same files, each timing the bare products (X'X,
Y'Y, X'Y in float32 plus one float64 eigendecomposition per side) and then the default
``CSA().fit``. Reported per cell: each commit's median fit and fit / bare, and the
median and spread of the per-round ratio head / base, which cancels the drift the two
share. Writes ``results/ab_fit.json`` (or ``--name``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ScratchDir, markdown_table, save, write_pair_files

ROOT = Path(__file__).resolve().parent.parent

# The child: time the bare products, then the fit, on the files it is given.
CHILD = """
import json, sys, time
import numpy as np
from csa import CSA
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
CSA().fit(a[:500], b[:500])  # imports and first-call set-up, outside the timing
t = time.perf_counter()
xx, yy, xy = a.T @ a, b.T @ b, a.T @ b
np.linalg.eigh(xx.astype(np.float64)); np.linalg.eigh(yy.astype(np.float64))
bare = time.perf_counter() - t
t = time.perf_counter()
CSA().fit(a, b)
print(json.dumps({"bare": bare, "fit": time.perf_counter() - t}))
"""


def _worktree(rev: str, parent: Path) -> Path:
    path = parent / rev.replace("/", "_")
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(path), rev],
        check=True,
        capture_output=True,
    )
    return path


def _short(rev: str) -> str:
    """The commit a name points at now, so the results say what was measured."""
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", rev],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def _run_child(src: Path, path_a: Path, path_b: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path_a), str(path_b)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--head", default="HEAD", help="the commit measured (default HEAD)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--cells", nargs="+", default=["2000x1280x384", "100000x768x384"], help="NxDAxDB"
    )
    parser.add_argument("--name", default="ab_fit")
    opts = parser.parse_args()
    revs = {role: _short(rev) for role, rev in (("base", opts.base), ("head", opts.head))}
    rows = []
    with tempfile.TemporaryDirectory(prefix="csa-ab-") as trees:
        checkouts = {role: _worktree(rev, Path(trees)) for role, rev in revs.items()}
        try:
            for cell in opts.cells:
                n, da, db = (int(x) for x in cell.split("x"))
                with ScratchDir() as scratch:
                    path_a, path_b = write_pair_files(scratch, n, da, db)
                    times: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
                    for _ in range(opts.rounds):
                        for role in ("base", "head"):
                            src = checkouts[role] / "src"
                            times[role].append(_run_child(src, path_a, path_b))
                rows.append(_summary(n, da, db, times))
                print(json.dumps(rows[-1]), flush=True)
        finally:
            for path in checkouts.values():
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                    check=False,
                    capture_output=True,
                )
    save(opts.name, rows, {"revs": revs, "rounds": opts.rounds, "argv": sys.argv[1:]})
    print()
    print(report(rows, revs))


def _summary(n: int, da: int, db: int, times: dict[str, list[dict[str, float]]]) -> dict:
    out: dict = {"n": n, "dim_a": da, "dim_b": db, "times": times}
    for role, runs in times.items():
        fit = np.array([r["fit"] for r in runs])
        bare = np.array([r["bare"] for r in runs])
        out[role] = {
            "fit_median": float(np.median(fit)),
            "fit_over_bare_median": float(np.median(fit / bare)),
            "fit_over_bare_min": float(np.min(fit / bare)),
        }
    paired = np.array(
        [h["fit"] / b["fit"] for h, b in zip(times["head"], times["base"], strict=True)]
    )
    out["head_over_base"] = {
        "median": float(np.median(paired)),
        "q25": float(np.quantile(paired, 0.25)),
        "q75": float(np.quantile(paired, 0.75)),
    }
    return out


def report(rows: list[dict], revs: dict[str, str]) -> str:
    headers = [
        "n", "d", f"fit {revs['base']} (median s)", f"fit {revs['head']} (median s)",
        "fit / bare, base*", "fit / bare, head*", "head / base per round (median, IQR)",
    ]  # fmt: skip
    table = [
        [r["n"], f"{r['dim_a']}+{r['dim_b']}", r["base"]["fit_median"], r["head"]["fit_median"],
         r["base"]["fit_over_bare_median"], r["head"]["fit_over_bare_median"],
         f"{r['head_over_base']['median']:.3f} "
         f"({r['head_over_base']['q25']:.3f}-{r['head_over_base']['q75']:.3f})"]
        for r in rows
    ]  # fmt: skip
    note = (
        "\n\n* bare here is NumPy's one-block products, a drift indicator, not "
        "selection_cost.py's blocked bare: compare the paired column."
    )
    return markdown_table(headers, table) + note


if __name__ == "__main__":
    main()
