"""Shared benchmark plumbing: synthetic paired files, isolated measurements, reports.

Every measurement runs in a fresh child process (``_measure.py``), so its peak
memory is its own: the child resets the kernel's high-water mark (``VmHWM``) right
before the measured work and reports the peak above the resident size at that
moment. Timings are wall-clock seconds of the same region.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MEASURE = HERE / "_measure.py"
CCA_ZOO_PYTHON = HERE / ".venv-cca-zoo" / "bin" / "python"


def write_pair_files(folder: Path, n: int, dim_a: int, dim_b: int, seed: int = 0) -> tuple:
    """Paired float32 ``.npy`` files with 32 shared latent factors, written in blocks.

    Rows come from a fixed mixing of latent factors plus noise, so the fit has real
    canonical structure; blocks keep generation memory small for a million rows.
    """
    rng = np.random.default_rng(seed)
    shared_dims = 32
    mix_a = rng.standard_normal((shared_dims, dim_a)).astype(np.float32)
    mix_b = rng.standard_normal((shared_dims, dim_b)).astype(np.float32)
    path_a, path_b = folder / f"a_{n}_{dim_a}.npy", folder / f"b_{n}_{dim_b}.npy"
    out_a = np.lib.format.open_memmap(path_a, mode="w+", dtype=np.float32, shape=(n, dim_a))
    out_b = np.lib.format.open_memmap(path_b, mode="w+", dtype=np.float32, shape=(n, dim_b))
    block = 65536
    for start in range(0, n, block):
        rows = min(block, n - start)
        z = rng.standard_normal((rows, shared_dims), dtype=np.float32)
        out_a[start : start + rows] = z @ mix_a + rng.standard_normal((rows, dim_a), np.float32)
        out_b[start : start + rows] = z @ mix_b + rng.standard_normal((rows, dim_b), np.float32)
    out_a.flush()
    out_b.flush()
    del out_a, out_b
    return path_a, path_b


class ScratchDir:
    """A temporary folder outside the repository, removed on exit whatever happens."""

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="csa-bench-"))
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def measure(method: str, args: dict[str, Any], timeout: float, python: str | None = None) -> dict:
    """Run one measurement in a child; ``{"status": "ok"|"timeout"|"error", ...}``."""
    command = [python or sys.executable, str(MEASURE), method, json.dumps(args)]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    started = time.perf_counter()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "seconds": None, "cap_s": timeout}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {
            "status": "error",
            "error": " | ".join(tail),
            "wall_s": time.perf_counter() - started,
        }
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["status"] = "ok"
    return result


def environment() -> dict[str, Any]:
    import numpy

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.uname().processor,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_average": os.getloadavg(),
    }


def save(name: str, rows: list[dict], meta: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "environment": environment(), "meta": meta, "rows": rows}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
