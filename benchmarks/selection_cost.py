"""What does the held-out selection of ``CSA()`` cost against a fixed-ridge fit? (issue 11)

    .venv/bin/python benchmarks/selection_cost.py            # issue 17's cells
    .venv/bin/python benchmarks/selection_cost.py --wide     # and n = 1e5 at 1536 + 1536
    .venv/bin/python benchmarks/selection_cost.py --quick    # n = 2e4, smaller dims

On the same in-memory float32 arrays (``_common.write_pair_files``: 32 shared latent
factors plus noise, written in blocks, then loaded), one child process alternates for
``--rounds`` rounds:

- ``bare``: the products no CCA skips, X'X, Y'Y, X'Y in float32 over the fit's row
  blocks plus one float64 eigendecomposition per side (``numpy.linalg.eigh``);
- ``fixed``: ``CSA(ridge=0.1, sim_dim=None).fit(a, b)``, no search;
- ``select``: ``CSA().fit(a, b)``, ridges and sim_dim chosen on 5 held-out folds;
- ``fixed solve`` / ``select solve``: ``fit_moments`` of each on the fold moments of
  the selecting fit, i.e. the fit without accumulating: the selection alone is
  ``select solve - fixed solve``, the accumulation ``fixed - fixed solve``.

The minimum over rounds of each is reported, with its CPU seconds (all threads), since
the machine is shared, and the size of the default fit's model file. Targets (issue
17): select / bare <= 2.5 at n = 1e5, d = 768 + 384, and <= 6 at n = 2000, d = 1280 +
384; the default model file <= 12 MiB at 1000 x (1280 + 384). The n = 2000 and n = 300
cells are the few-pairs regime, where the search, not the accumulation, is the work; at
300 pairs each fold trains on fewer rows than half the features, where its spectrum
comes from pivoted Cholesky instead of an eigensolve.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ScratchDir, markdown_table, measure, save, write_pair_files
from _measure_fits import use_measure_fits

# (n, dim_a, dim_b, target ratio or None)
FULL = [
    (100_000, 768, 384, 2.5),
    (2000, 1280, 384, 6.0),
    (1000, 1280, 384, None),
    (300, 1280, 384, None),
]
WIDE = [(100_000, 1536, 1536, None)]
QUICK = [(20_000, 768, 384, 5.0), (2000, 1280, 384, None), (300, 1280, 384, None)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 2e4 and the small cell")
    parser.add_argument("--wide", action="store_true", help="add n = 1e5 at 1536 + 1536")
    parser.add_argument("--rounds", type=int, default=1, help="alternations per cell (min kept)")
    parser.add_argument("--cap", type=float, default=1800.0, help="seconds per cell")
    parser.add_argument("--name", default=None, help="results file name (without .json)")
    opts = parser.parse_args()
    use_measure_fits()
    cells = QUICK if opts.quick else FULL + (WIDE if opts.wide else [])
    name = opts.name or ("selection_cost_quick" if opts.quick else "selection_cost")
    rows: list[dict] = []
    for n, da, db, target in cells:
        with ScratchDir() as scratch:
            path_a, path_b = write_pair_files(scratch, n, da, db)
            # The small cell is cheap to accumulate: a second round for a stabler minimum.
            rounds = opts.rounds if n * (da + db) > 10_000_000 else max(opts.rounds, 2)
            args = {"a": str(path_a), "b": str(path_b), "rounds": rounds}
            result = measure("selection", args, opts.cap)
        row = {"n": n, "dim_a": da, "dim_b": db, "target": target, "rounds": rounds, **result}
        rows.append(row)
        print(f"n={n} d={da}+{db}: {result}", flush=True)
        meta = {
            "cap_s": opts.cap,
            "argv": sys.argv[1:],
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        }
        save(name, rows, meta)
    print()
    print(report(rows))


def report(rows: list[dict]) -> str:
    headers = [
        "n", "d", "bare s", "fixed s", "select s", "select/bare", "target", "select/fixed",
        "(cpu)", "selection alone s", "ridge (a, b)", "sim_dim", "candidates",
        "select peak MB", "file MiB",
    ]  # fmt: skip
    table = []
    for r in rows:
        d = f"{r['dim_a']}+{r['dim_b']}"
        if r["status"] != "ok":
            table.append([r["n"], d, r["status"]] + [None] * (len(headers) - 3))
            continue
        ridge = "(" + ", ".join(f"{x:.3g}" for x in r["ridge"]) + ")"
        table.append([
            r["n"], d, r["bare"], r["fixed_fit"], r["select_fit"], r["select_fit"] / r["bare"],
            r["target"], r["select_fit"] / r["fixed_fit"],
            r["select_fit_cpu"] / r["fixed_fit_cpu"], r["select_solve"] - r["fixed_solve"],
            ridge, r["sim_dim"], r["n_candidates"], r["peak_mb"]["select_fit"], r["file_mib"],
        ])  # fmt: skip
    return markdown_table(headers, table)


if __name__ == "__main__":
    main()
