"""Is a float32 fit as fast as float32 products, and is its memory bounded? (issue 12)

    .venv/bin/python benchmarks/float32_fit.py            # n = 1e5, 1e6; d = 384, 768, 1536
    .venv/bin/python benchmarks/float32_fit.py --quick    # n = 2e4, d = 384, 768
    .venv/bin/python benchmarks/float32_fit.py --cap 900  # per-measurement time cap

For each (n, d) (d features on both sides) the same float32 ``.npy`` pair
(``_common.write_pair_files``, in a temporary folder; removed after the cell) is
fitted, each in a fresh process:

- ``bound32``: X'X, Y'Y, X'Y in float32 over the fit's own row blocks, summed per
  block into float64, then one ``eigh`` per side (``_measure_fits.bound_blocks``);
- ``fit32``: ``CSA(ridge=0.1, sim_dim=None)`` (``precision="auto"``: float32 products);
- ``fit64``: the same fit with ``precision="float64"``.

n <= 1e5 is read into memory first; n = 1e6 streams from the files through
``np.load(mmap_mode="r")`` (the bound reads the same memory maps). Target:
fit32 / bound32 <= 1.5. A measurement past ``--cap`` seconds is recorded as a timeout
and that method is skipped at every larger cell; so is one whose time at the previous
n, scaled by n, would pass the cap (the files of a cell with nothing to run are not
written).

Memory: the tracemalloc peak of a fit on a memory-mapped 1e5 x (1024 + 1024) float32
pair (800 MB), fixed and selecting; target < 200 MiB whatever n is.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ScratchDir, markdown_table, measure, save, write_pair_files
from _measure_fits import use_measure_fits

METHODS = {
    "bound32": ("bound_blocks", "float32"),
    "fit32": ("fixed_fit", "auto"),
    "fit64": ("fixed_fit", "float64"),
}
MMAP_FROM_N = 1_000_000
MEMORY_CELL = (100_000, 1024)


def _disk_ok(n: int, d: int) -> bool:
    need = 2 * n * d * 4
    free = shutil.disk_usage(tempfile.gettempdir()).free
    return free > need + 4 * 2**30


def _skip_reason(
    method: str,
    n: int,
    d: int,
    timed_out: dict[str, tuple[int, int]],
    last_ok: dict[tuple[str, int], tuple[int, float]],
    cap: float,
) -> str | None:
    """Why ``method`` is not run at (n, d): it timed out at a smaller cell, or its time
    at the last n for this d, scaled by n, would pass the cap; else None."""
    past = timed_out.get(method)
    if past and n >= past[0] and d >= past[1]:
        return f"timed out at n={past[0]}, d={past[1]}"
    if (method, d) in last_ok:
        n_ok, seconds = last_ok[(method, d)]
        estimate = seconds * n / n_ok
        if estimate > cap:
            return f"estimated {estimate:.0f} s from n={n_ok} > cap {cap:g} s"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 2e4, d = 384, 768")
    parser.add_argument("--n", type=lambda s: [int(float(x)) for x in s.split(",")])
    parser.add_argument("--d", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--cap", type=float, default=900.0, help="seconds per measurement")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc cell")
    parser.add_argument("--name", default=None, help="results file name (without .json)")
    opts = parser.parse_args()
    use_measure_fits()
    sizes_n = opts.n or ([20_000] if opts.quick else [100_000, 1_000_000])
    sizes_d = opts.d or ([384, 768] if opts.quick else [384, 768, 1536])
    name = opts.name or ("float32_fit_quick" if opts.quick else "float32_fit")
    meta = {"cap_s": opts.cap, "argv": sys.argv[1:], "tmp": tempfile.gettempdir()}
    rows: list[dict] = []
    memory: list[dict] = []
    if not opts.no_memory:
        n, d = MEMORY_CELL if not opts.quick else (20_000, 1024)
        with ScratchDir() as scratch:
            path_a, path_b = write_pair_files(scratch, n, d, d)
            for fixed in (True, False):
                args = {"a": str(path_a), "b": str(path_b), "mmap": True, "fixed": fixed}
                result = measure("traced_fit", args, opts.cap)
                memory.append({"n": n, "d": d, "fit": "fixed" if fixed else "select", **result})
                print(f"memory n={n} d={d}+{d}: {result}", flush=True)
        save(name, rows, {**meta, "memory": memory})
    timed_out: dict[str, tuple[int, int]] = {}
    last_ok: dict[tuple[str, int], tuple[int, float]] = {}
    for d in sizes_d:
        for n in sizes_n:
            if not _disk_ok(n, d):
                rows.append({"n": n, "d": d, "method": "all", "status": "skipped",
                             "reason": "not enough free disk in the temp folder"})  # fmt: skip
                continue
            plan = {m: _skip_reason(m, n, d, timed_out, last_ok, opts.cap) for m in METHODS}
            mmap = n >= MMAP_FROM_N
            with ScratchDir() as scratch:
                if not all(plan.values()):
                    path_a, path_b = write_pair_files(scratch, n, d, d)
                for method, (child, precision) in METHODS.items():
                    if plan[method]:
                        result = {"status": "skipped", "reason": plan[method]}
                    else:
                        args = {
                            "a": str(path_a), "b": str(path_b), "precision": precision,
                            "mmap": mmap, "repeats": 2 if n * d <= 100_000_000 else 1,
                        }  # fmt: skip
                        result = measure(child, args, opts.cap)
                        if result["status"] == "timeout":
                            timed_out[method] = (n, d)
                        elif result["status"] == "ok":
                            last_ok[(method, d)] = (n, result["first_s"])
                    row = {"n": n, "d": d, "method": method, "mmap": mmap, **result}
                    rows.append(row)
                    print(f"n={n:>8} d={d:>5} {method:>8}: {result}", flush=True)
            save(name, rows, {**meta, "memory": memory})
    print()
    print(report(rows, opts.cap))
    print()
    print(memory_report(memory))


def report(rows: list[dict], cap: float) -> str:
    by_key: dict[tuple[int, int], dict[str, dict]] = {}
    for row in rows:
        by_key.setdefault((row["n"], row["d"]), {})[row["method"]] = row

    def secs(cell: dict | None) -> str | float | None:
        if not cell:
            return None
        if cell["status"] == "ok":
            return cell["seconds"]
        return f"> {cap:g} s" if cell["status"] == "timeout" else cell["status"]

    def ratio(num: dict | None, den: dict | None, key: str = "seconds") -> float | None:
        if num and den and num.get("status") == "ok" and den.get("status") == "ok":
            return num[key] / den[key]
        return None

    headers = [
        "n", "d", "input", "bound32 s", "fit32 s", "fit32/bound32", "(cpu)", "fit64 s",
        "fit64/bound32", "fit64/fit32", "fit32 peak MB",
    ]  # fmt: skip
    table = []
    for (n, d), cells in sorted(by_key.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        g = cells.get
        if "all" in cells:
            table.append([n, d, "skipped (disk)"] + [None] * (len(headers) - 3))
            continue
        fit32 = g("fit32")
        table.append([
            n, d, "mmap" if n >= MMAP_FROM_N else "memory", secs(g("bound32")), secs(fit32),
            ratio(fit32, g("bound32")), ratio(fit32, g("bound32"), "cpu_s"), secs(g("fit64")),
            ratio(g("fit64"), g("bound32")), ratio(g("fit64"), fit32),
            fit32["peak_mb"] if fit32 and fit32["status"] == "ok" else None,
        ])  # fmt: skip
    return markdown_table(headers, table)


def memory_report(memory: list[dict]) -> str:
    headers = ["n", "d", "fit", "input MiB", "tracemalloc peak MiB", "target MiB", "seconds"]
    keys = ["input_mib", "traced_peak_mib"]
    table = [
        [m["n"], f"{m['d']}+{m['d']}", m["fit"], *(m.get(k) for k in keys), 200, m.get("seconds")]
        for m in memory
    ]
    return markdown_table(headers, table)


if __name__ == "__main__":
    main()
