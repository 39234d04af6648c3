"""Does a fit from disk stay in bounded memory? 1,000,000 pairs x 1024-d from .npy files.

    .venv/bin/python benchmarks/out_of_core.py            # n = 1e6, d = 1024 (8 GB of float32)
    .venv/bin/python benchmarks/out_of_core.py --quick    # n = 1e5

Writes two float32 ``.npy`` files to a temporary folder outside the repository
(deleted afterwards), then fits ``CSA`` with ``csa.scale.fit_files`` and reports
the peak resident memory above the process's size before the fit, next to the size
of the data and of the d x d moments; the bare-GEMM floor over the same chunks is
timed alongside.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ScratchDir, markdown_table, measure, save, write_pair_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n", type=lambda s: int(float(s)), default=None)
    parser.add_argument("--d", type=int, default=1024)
    parser.add_argument("--chunk-rows", type=int, default=None)
    opts = parser.parse_args()
    n = opts.n or (100_000 if opts.quick else 1_000_000)
    d = opts.d
    rows = []
    with ScratchDir() as scratch:
        path_a, path_b = write_pair_files(scratch, n, d, d)
        data_mb = (path_a.stat().st_size + path_b.stat().st_size) / 2**20
        for method, precision in (("csa", "float64"), ("csa", "float32"), ("bound", "float64")):
            args = {"a": str(path_a), "b": str(path_b), "precision": precision}
            args["chunk_rows"] = opts.chunk_rows
            result = measure(method, args, timeout=3000)
            rows.append({"n": n, "d": d, "method": method, "precision": precision,
                         "data_mb": data_mb, **result})  # fmt: skip
            print(rows[-1], flush=True)
    moments_mb = (3 * d * d * 8) / 2**20
    save("out_of_core_quick" if opts.quick else "out_of_core", rows, {"moments_mb": moments_mb})
    headers = ["n", "d", "method", "products", "data on disk MB", "wall s", "cpu s",
               "peak RSS above start MB", "d x d moments MB"]  # fmt: skip
    table = [
        [r["n"], r["d"], r["method"], r["precision"], r["data_mb"], r.get("seconds"),
         r.get("cpu_s"), r.get("peak_mb"), moments_mb]
        for r in rows
    ]  # fmt: skip
    print()
    print(markdown_table(headers, table))


if __name__ == "__main__":
    main()
