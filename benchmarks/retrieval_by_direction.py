"""Which space should retrieval score in? CSA()'s shared map against each side's own space.

    OPENBLAS_NUM_THREADS=1 python benchmarks/retrieval_by_direction.py

A research check for issue 17. Zero-shot scores class prompts in their own feature
space (``prompts=`` through the canonical regression), which won there; would retrieval
gain the same way, scoring in the query side's (or the gallery side's) own space? On
the demo's BBC News and clip-art splits (the arrays ``selection_research_data.py``
caches), at 100 / 300 / 1000 / all pairs (3 seeds up to 300, 1 above, as the demo),
each direction's R@1, R@10 and mAP for: ``shared`` (CSA(): equal weights on the shared
canonical space), ``space a`` / ``space b`` (``prompts="a"`` / ``"b"``: both sides
compared in that side's centred features) and ``LinearMap()``. Writes
``results/retrieval_by_direction.json`` and prints a table of means.
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path("/work/cache/research")


def main() -> None:
    import csa
    from csa.tasks import evaluate_retrieval

    warnings.simplefilter("ignore")
    rows = []
    for name, largest in (("bbc", 1789), ("clipart", 4169)):
        arrays = np.load(DATA / f"{name}.npz")
        test_a, test_b, groups = arrays["test_a"], arrays["test_b"], arrays["test_groups"]
        for budget in (100, 300, 1000, largest):
            for seed in range(3 if budget <= 300 else 1):
                index = arrays[f"index_{budget}_{seed}"]
                a, b = arrays["train_a"][index], arrays["train_b"][index]
                default, linear = csa.CSA().fit(a, b), csa.LinearMap().fit(a, b)
                variants = {
                    "shared": (default, None),
                    "space a": (default, {"prompts": "a"}),
                    "space b": (default, {"prompts": "b"}),
                    "LinearMap": (linear, None),
                }
                for variant, (model, options) in variants.items():
                    result = evaluate_retrieval(
                        model, test_a, test_b, sim_dim=options, groups=groups
                    )
                    for direction, res in result.directions.items():
                        rows.append({
                            "data": name, "budget": budget, "seed": seed, "variant": variant,
                            "direction": direction, "R@1": res.recall[1], "R@10": res.recall[10],
                            "mAP": res.mAP,
                        })  # fmt: skip
    RESULTS.joinpath("retrieval_by_direction.json").write_text(json.dumps(rows, indent=1))
    cells: dict[tuple, list] = defaultdict(list)
    for r in rows:
        cells[(r["data"], r["direction"], r["budget"], r["variant"])].append(
            (r["R@1"], r["R@10"], r["mAP"])
        )
    print("| data | direction | pairs | variant | R@1 | R@10 | mAP |")
    print("|---|---|---|---|---|---|---|")
    for key in sorted(cells):
        r1, r10, ap = np.mean(cells[key], axis=0)
        print(f"| {' | '.join(map(str, key))} | {r1:.3f} | {r10:.3f} | {ap:.3f} |")


if __name__ == "__main__":
    main()
