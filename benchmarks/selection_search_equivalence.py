"""Does a faster search make the same choices? CSA() and CCA() on the demo's splits.

    PYTHONPATH=<old checkout>/src python benchmarks/selection_search_equivalence.py fit old
    PYTHONPATH=src python benchmarks/selection_search_equivalence.py fit new
    python benchmarks/selection_search_equivalence.py compare old new

``fit`` fits both models on the research splits of BBC News and clip art (the embeddings
``selection_research_data.py`` caches, 3 seeds at every budget) with whichever csa is on
the path, and writes each fit's ridges, sim_dim, candidates searched and seconds to
``results/selection_search_equivalence_<name>.json``. ``compare`` prints every choice
that differs and the mean time and candidates per cell, side by side. Run with
OPENBLAS_NUM_THREADS=1 for stable times on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SPLITS = {"bbc": 1789, "clipart": 4169}


def fit(name: str, data_dir: Path) -> None:
    import csa

    warnings.simplefilter("ignore")
    rows = []
    for data, largest in SPLITS.items():
        arrays = np.load(data_dir / f"{data}.npz")
        for budget in (10, 30, 100, 300, 1000, largest):
            for seed in range(3):
                index = arrays[f"index_{budget}_{seed}"]
                a, b = arrays["train_a"][index], arrays["train_b"][index]
                for cls in (csa.CSA, csa.CCA):
                    model = cls()
                    start = time.perf_counter()
                    model.fit(a, b)
                    seconds = time.perf_counter() - start
                    searched = (model.cv_results_ or {}).get("ridge_a", [])
                    rows.append({
                        "data": data, "budget": budget, "seed": seed, "model": cls.__name__,
                        "ridge": [round(float(r), 6) for r in model.ridge_],
                        "sim_dim": int(model.sim_dim_), "n_candidates": len(searched),
                        "seconds": round(seconds, 3),
                    })  # fmt: skip
    out = RESULTS / f"selection_search_equivalence_{name}.json"
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")


def compare(before: str, after: str) -> None:
    old = json.loads((RESULTS / f"selection_search_equivalence_{before}.json").read_text())
    new = json.loads((RESULTS / f"selection_search_equivalence_{after}.json").read_text())
    cells: dict[tuple, list] = defaultdict(list)
    differ = 0
    for o, n in zip(old, new, strict=True):
        if (o["ridge"], o["sim_dim"]) != (n["ridge"], n["sim_dim"]):
            differ += 1
            print("differs:", o["data"], o["budget"], o["seed"], o["model"], o["ridge"],
                  o["sim_dim"], "->", n["ridge"], n["sim_dim"])  # fmt: skip
        cells[(o["data"], o["budget"], o["model"])].append((o, n))
    print(f"{len(old) - differ} of {len(old)} fits choose the same ridges and sim_dim\n")
    print("| data | pairs | model | s before | s after | ratio | candidates before | after |")
    print("|---|---|---|---|---|---|---|---|")
    for (data, budget, model), pairs in cells.items():
        t_old = np.mean([o["seconds"] for o, _ in pairs])
        t_new = np.mean([n["seconds"] for _, n in pairs])
        c_old = np.mean([o["n_candidates"] for o, _ in pairs])
        c_new = np.mean([n["n_candidates"] for _, n in pairs])
        print(f"| {data} | {budget} | {model} | {t_old:.2f} | {t_new:.2f} | "
              f"{t_old / t_new:.2f} | {c_old:.1f} | {c_new:.1f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit_p = sub.add_parser("fit")
    fit_p.add_argument("name")
    fit_p.add_argument("--data", type=Path, default=Path("/work/cache/research"))
    cmp_p = sub.add_parser("compare")
    cmp_p.add_argument("before")
    cmp_p.add_argument("after")
    opts = parser.parse_args()
    if opts.command == "fit":
        fit(opts.name, opts.data)
    else:
        compare(opts.before, opts.after)


if __name__ == "__main__":
    main()
