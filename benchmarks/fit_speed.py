"""How long does a fit take, and how much memory, against the bare-GEMM floor and other CCAs?

    .venv/bin/python benchmarks/fit_speed.py --quick        # a few minutes on 2 cores
    .venv/bin/python benchmarks/fit_speed.py                # n up to 1e6, d up to 1536
    .venv/bin/python benchmarks/fit_speed.py --n 1e6 --d 768 --methods bound64,csa64

For each (n, d) the same float32 ``.npy`` files (d features per side, in a temporary
folder outside the repo) are fitted by:

- ``bound64`` / ``bound32``: X'X, Y'Y, X'Y accumulated over the same row chunks in
  float64 / float32, then one ``eigh`` per side: the work no CCA can skip;
- ``csa64`` / ``csa32``: ``csa.scale.fit_files(CSA(precision=...))``;
- ``sklearn``: scikit-learn's ``CCA(n_components=10)`` (iterative NIPALS);
- ``cca_zoo``: cca_zoo 2.6 ``linear.CCA(latent_dimensions=10)``, the line the official
  CSA code fits with, run in the bench-only venv ``benchmarks/.venv-cca-zoo``
  (``python3.11 -m venv benchmarks/.venv-cca-zoo && benchmarks/.venv-cca-zoo/bin/pip
  install -r benchmarks/requirements-cca-zoo.txt``): cca_zoo 2.6 calls a scikit-learn
  API removed in 1.6, so it cannot share our environment.

Every figure is from files on disk to a fitted model (sklearn and cca_zoo load the
arrays into memory, csa streams them), in a fresh process. sklearn and cca_zoo run
under a time cap; a size past the cap is recorded as a timeout and every larger size
for that method is skipped (and said so). Ratios are taken within one run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CCA_ZOO_PYTHON,
    ScratchDir,
    markdown_table,
    measure,
    save,
    write_pair_files,
)

ALL_METHODS = ["bound64", "csa64", "bound32", "csa32", "sklearn", "cca_zoo"]
CAPPED = {"sklearn", "cca_zoo"}


def _run(method: str, path_a: Path, path_b: Path, cap: float, long_cap: float) -> dict:
    n, d = (int(x) for x in path_a.stem.split("_")[1:])
    # Small fits take milliseconds: repeat them and keep the fastest.
    args = {"a": str(path_a), "b": str(path_b), "repeats": 3 if n * d <= 10_000_000 else 1}
    if method.startswith(("bound", "csa")):
        args["precision"] = "float64" if method.endswith("64") else "float32"
        return measure(method[:-2] if method.startswith("csa") else "bound", args, long_cap)
    if method == "cca_zoo":
        if not CCA_ZOO_PYTHON.exists():
            return {"status": "skipped", "reason": "no benchmarks/.venv-cca-zoo"}
        return measure("cca_zoo", args, cap, python=str(CCA_ZOO_PYTHON))
    return measure(method, args, cap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n in 1e3..1e5, d = 384")
    parser.add_argument("--n", type=lambda s: [int(float(x)) for x in s.split(",")])
    parser.add_argument("--d", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--methods", type=lambda s: s.split(","), default=ALL_METHODS)
    parser.add_argument("--cap", type=float, default=120.0, help="seconds for sklearn/cca_zoo")
    parser.add_argument("--name", default=None, help="results file name (without .json)")
    opts = parser.parse_args()
    sizes_n = opts.n or (
        [1000, 10_000, 100_000] if opts.quick else [1000, 10_000, 100_000, 1_000_000]
    )
    sizes_d = opts.d or ([384] if opts.quick else [384, 768, 1536])
    name = opts.name or ("fit_speed_quick" if opts.quick else "fit_speed")
    long_cap = 3000.0
    timed_out: dict[str, tuple[int, int]] = {}
    rows: list[dict] = []
    for d in sizes_d:
        for n in sizes_n:
            with ScratchDir() as scratch:
                path_a, path_b = write_pair_files(scratch, n, d, d)
                for method in opts.methods:
                    past = timed_out.get(method)
                    if method in CAPPED and past and n >= past[0] and d >= past[1]:
                        result = {
                            "status": "skipped",
                            "reason": f"timed out at n={past[0]}, d={past[1]}",
                        }
                    else:
                        result = _run(method, path_a, path_b, opts.cap, long_cap)
                        if result["status"] == "timeout":
                            timed_out[method] = (n, d)
                    row = {"n": n, "d": d, "method": method, **result}
                    rows.append(row)
                    print(f"n={n:>8} d={d:>5} {method:>8}: {result}", flush=True)
            save(name, rows, {"cap_s": opts.cap, "argv": sys.argv[1:]})
    print()
    print(report(rows, opts.cap))


def report(rows: list[dict], cap: float) -> str:
    """One line per (n, d): seconds and peak MB per method, and the ratios that matter."""
    by_key: dict[tuple[int, int], dict[str, dict]] = {}
    for row in rows:
        by_key.setdefault((row["n"], row["d"]), {})[row["method"]] = row

    def secs(cell: dict | None) -> str | float | None:
        if not cell:
            return None
        if cell["status"] == "ok":
            return cell["seconds"]
        if cell["status"] == "timeout":
            return f"> {cap:g} s"
        return cell["status"]

    def ratio(num: dict | None, den: dict | None, key: str = "seconds") -> float | None:
        if num and den and num.get("status") == "ok" and den.get("status") == "ok":
            return num[key] / den[key]
        return None

    headers = [
        "n", "d", "bound64 s", "csa64 s", "csa64/bound64", "(cpu)", "bound32 s", "csa32 s",
        "csa32/bound32", "(cpu)", "sklearn s", "cca_zoo s", "sklearn/csa64", "cca_zoo/csa64",
        "csa64 peak MB", "sklearn peak MB", "cca_zoo peak MB",
    ]  # fmt: skip
    table = []
    for (n, d), cells in sorted(by_key.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        g = cells.get

        def peak(m: str, cells: dict = cells) -> float | None:
            c = cells.get(m)
            return c["peak_mb"] if c and c["status"] == "ok" else None

        table.append([
            n, d, secs(g("bound64")), secs(g("csa64")), ratio(g("csa64"), g("bound64")),
            ratio(g("csa64"), g("bound64"), "cpu_s"), secs(g("bound32")), secs(g("csa32")),
            ratio(g("csa32"), g("bound32")), ratio(g("csa32"), g("bound32"), "cpu_s"),
            secs(g("sklearn")), secs(g("cca_zoo")), ratio(g("sklearn"), g("csa64")),
            ratio(g("cca_zoo"), g("csa64")), peak("csa64"), peak("sklearn"), peak("cca_zoo"),
        ])  # fmt: skip
    return markdown_table(headers, table)


if __name__ == "__main__":
    main()
