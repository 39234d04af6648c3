"""Clip-art out-of-context AUC of the default CSA, CCA and LinearMap (issue 17 research).

A small companion of ``selection_research.py``: its clip-art runs were started before
the detection metric was added there, so this measures the one number the rule's
choice for pair scores depends on, on the same draws (``index_{n}_{seed}`` of
``selection_research_data.py``) and the demo's detection protocol.

    python benchmarks/selection_research_auc.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

import csa
from csa.tasks import detect_out_of_context

DATA = Path("/work/cache/research/clipart.npz")
OUT = Path(__file__).parent / "results" / "selection_research_auc.json"


def main() -> None:
    d = dict(np.load(DATA))
    rows = []
    for n in (100, 300, 1000):
        for seed in (0, 1, 2):
            idx = d[f"index_{n}_{seed}"]
            a, b = d["train_a"][idx], d["train_b"][idx]
            for name, cls in (("CSA", csa.CSA), ("CCA", csa.CCA), ("LinearMap", csa.LinearMap)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", csa.WeakFitWarning)
                    model = cls().fit(a, b)
                auc = detect_out_of_context(
                    model, d["test_a"], d["test_b"], groups=d["test_groups"], seed=0
                ).auc
                rows.append({"dataset": "clipart", "n_pairs": n, "seed": seed, "variant": name,
                             "metric": "out-of-context AUC", "value": float(auc)})  # fmt: skip
                print(n, seed, name, round(auc, 4), flush=True)
    OUT.write_text(json.dumps({"rows": rows}, indent=0))


if __name__ == "__main__":
    main()
