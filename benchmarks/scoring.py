"""How fast, and in how much memory, do CSA and ASIF score at scale?

    .venv/bin/python benchmarks/scoring.py --quick   # 1e4 x 1000 zero-shot, 1e5 gallery
    .venv/bin/python benchmarks/scoring.py           # 1e5 x 1000 zero-shot, 1e6 gallery

Both models are fitted on the same synthetic pairs (5,000 by default, d = 384 per
side; ASIF with k = 800, p = 8 as in its paper). Then:

- zero-shot: top-1 of ``n_inputs`` side-a items over 1,000 side-b "class prompts",
  scored in blocks (``csa.scale.top_k``);
- retrieval: a ``GalleryIndex`` of side-b items (FAISS ``IndexFlatIP`` for CSA, blocked
  sparse products for ASIF), then the exact top-10 for 1,000 side-a queries.

Time is the whole task (embedding included); memory is the model's own arrays, the
stored gallery, and the process's peak above its size before the task. ASIF runs
under a time cap; what exceeds it is reported as a timeout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table, measure, save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--cap", type=float, default=900.0, help="seconds per ASIF task")
    opts = parser.parse_args()
    n_inputs = 10_000 if opts.quick else 100_000
    n_gallery = 100_000 if opts.quick else 1_000_000
    rows = []
    tasks = [
        ("zero_shot", {"n_queries": n_inputs, "n_gallery": 1000}),
        ("retrieval", {"n_queries": 1000, "n_gallery": n_gallery}),
    ]
    for task, sizes in tasks:
        for model in ("csa", "asif"):
            args = {"model": model, "dim": opts.dim, "n_train": opts.n_train, **sizes}
            result = measure(task, args, timeout=opts.cap if model == "asif" else 3000)
            rows.append({"task": task, "model": model, **args, **result})
            print(rows[-1], flush=True)
    save("scoring_quick" if opts.quick else "scoring", rows, {"argv": sys.argv[1:]})
    headers = ["task", "size", "model", "status", "wall s", "items/s", "index build s",
               "search s", "model MB", "stored gallery MB", "peak RSS above start MB"]  # fmt: skip
    table = []
    for r in rows:
        ok = r["status"] == "ok"
        size = (f"{r['n_queries']:,} x {r['n_gallery']:,} classes" if r["task"] == "zero_shot"
                else f"top-10 of {r['n_gallery']:,}, {r['n_queries']:,} queries")  # fmt: skip
        items = r["n_queries"] if r["task"] == "zero_shot" else r["n_gallery"]
        table.append([
            r["task"], size, r["model"], r["status"], r.get("seconds"),
            items / r["seconds"] if ok else None, r.get("index_s"), r.get("search_s"),
            r.get("model_mb"), r.get("index_mb"), r.get("peak_mb"),
        ])  # fmt: skip
    print()
    print(markdown_table(headers, table))


if __name__ == "__main__":
    main()
