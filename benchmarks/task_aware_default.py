"""The task-aware ``CSA()`` default against the paper's CSA, CCA and the linear map (issue 17).

    .venv/bin/python benchmarks/task_aware_default.py --data-dir DIR [--budgets 100 300 1000]

Reads the demo's BBC and clip-art splits as embeddings (``DIR/bbc.npz``, ``DIR/clipart.npz``,
written by ``benchmarks/selection_research_data.py`` with the demo's encoders, splits and
row draws ``index_<budget>_<seed>``), fits every method on each budget and seed, and
scores the test split only: retrieval mAP (both directions, repeated captions count as
correct) on both sets, zero-shot top-1 with the 21 category prompts on clip art. Prints a
table (mean +- sd over seeds) and writes ``results/task_aware_default.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import csa
from csa.tasks import evaluate_retrieval, zero_shot_classify

METHODS = {
    "CSA() task-aware": lambda: csa.CSA(),
    "CSA(weights='canonical') (old default)": lambda: csa.CSA(weights="canonical"),
    "CCA()": lambda: csa.CCA(),
    "LinearMap()": lambda: csa.LinearMap(),
}


def score(name: str, model, d) -> dict[str, float]:
    g = d["test_groups"]
    out = {
        "retrieval mAP": evaluate_retrieval(
            model, d["test_a"], d["test_b"], labels_a=g, labels_b=g
        ).mean_map
    }
    if "test_classes" in d:
        out["zero-shot top-1"] = zero_shot_classify(
            model, d["test_a"], d["test_classes"], d["test_labels"], top_k=(1,)
        ).top1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--sets", nargs="+", default=["bbc", "clipart"])
    parser.add_argument("--budgets", nargs="+", type=int, default=[100, 300, 1000])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "task_aware_default.json"
    )
    opts = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for name in opts.sets:
        d = dict(np.load(opts.data_dir / f"{name}.npz", allow_pickle=False))
        budgets = [b for b in opts.budgets if f"index_{b}_0" in d]
        for budget in budgets:
            for method, build in METHODS.items():
                runs = []
                for seed in range(opts.seeds):
                    idx = d[f"index_{budget}_{seed}"]
                    start = time.perf_counter()
                    model = build().fit(d["train_a"][idx], d["train_b"][idx])
                    runs.append({**score(name, model, d), "fit_s": time.perf_counter() - start})
                summary = {
                    k: (float(np.mean([r[k] for r in runs])), float(np.std([r[k] for r in runs])))
                    for k in runs[0]
                }
                rows.append({"set": name, "budget": budget, "method": method, **summary})
                cells = "  ".join(f"{k} {m:.3f}+-{s:.3f}" for k, (m, s) in summary.items())
                print(f"{name:8s} {budget:5d} {method:40s} {cells}", flush=True)
                opts.out.parent.mkdir(parents=True, exist_ok=True)
                opts.out.write_text(json.dumps({"seeds": opts.seeds, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
