"""One measurement, in its own process: ``python _measure.py METHOD JSON_ARGS``.

Prints one JSON line with ``seconds`` (wall time of the measured region) and
``peak_mb`` (peak resident memory above the resident size when the region began;
``VmHWM`` is reset through ``/proc/self/clear_refs`` right before it). Imports and
input generation happen before the region. Runs under the main venv, or under the
bench-only cca_zoo venv for ``cca_zoo`` (so nothing here imports csa at top level).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key):
                return int(line.split()[1])
    raise KeyError(key)


def _timed(work: Callable[[], Any], repeats: int = 1) -> dict[str, Any]:
    """Peak memory of the first run; the fastest of ``repeats`` runs (small sizes are
    dominated by thread start-up and cache warm-up on the first)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    base_kb = _status_kb("VmRSS")
    start, cpu_start = time.perf_counter(), time.process_time()
    extra = work()
    times, cpu = [time.perf_counter() - start], [time.process_time() - cpu_start]
    peak_kb = _status_kb("VmHWM")
    for _ in range(repeats - 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        work()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    out = {
        "seconds": min(times),
        # CPU seconds of all threads: less distorted than wall time on a shared machine.
        "cpu_s": min(cpu),
        "first_s": times[0],
        "repeats": repeats,
        "peak_mb": (peak_kb - base_kb) / 1024,
        "rss_mb": peak_kb / 1024,
    }
    if isinstance(extra, dict):
        out.update(extra)
    return out


# ---- fit ----------------------------------------------------------------------------
def bound(args: dict[str, Any]) -> dict[str, Any]:
    """X'X, Y'Y, X'Y over the same chunks as csa, then one eigh per side: the floor."""
    from csa.scale.features import NpyRowReader
    from csa.scale.streaming import auto_chunk_rows

    dtype = np.dtype(args["precision"])
    reader_a, reader_b = NpyRowReader(args["a"]), NpyRowReader(args["b"])
    n, da = reader_a.shape
    db = reader_b.shape[1]
    rows = args.get("chunk_rows") or auto_chunk_rows(da, db)

    def work() -> None:
        xx, yy, xy = np.zeros((da, da)), np.zeros((db, db)), np.zeros((da, db))
        for start in range(0, n, rows):
            a = reader_a.read(start, start + rows).astype(dtype)
            b = reader_b.read(start, start + rows).astype(dtype)
            xx += a.T @ a
            yy += b.T @ b
            xy += a.T @ b
        np.linalg.eigh(xx)
        np.linalg.eigh(yy)

    return _timed(work, args.get("repeats", 1))


def csa_fit(args: dict[str, Any]) -> dict[str, Any]:
    import csa
    from csa.scale.streaming import fit_files

    model = csa.CSA(precision=args["precision"], device=args.get("device"))

    def work() -> dict[str, Any]:
        fit_files(model, args["a"], args["b"], chunk_rows=args.get("chunk_rows"))
        return {"rho_1": float(model.canonical_correlations_[0])}

    return _timed(work, args.get("repeats", 1))


def sklearn_cca(args: dict[str, Any]) -> dict[str, Any]:
    from sklearn.cross_decomposition import CCA

    def work() -> None:
        a, b = np.load(args["a"]), np.load(args["b"])
        CCA(n_components=10).fit(a, b)

    return _timed(work, args.get("repeats", 1))


def cca_zoo(args: dict[str, Any]) -> dict[str, Any]:
    from cca_zoo.linear import CCA

    def work() -> None:
        a, b = np.load(args["a"]), np.load(args["b"])
        CCA(latent_dimensions=10).fit((a, b))

    return _timed(work, args.get("repeats", 1))


# ---- scoring ------------------------------------------------------------------------
def _scoring_setup(args: dict[str, Any]) -> tuple[Any, np.ndarray, np.ndarray]:
    import csa

    rng = np.random.default_rng(0)
    d, k = args["dim"], 32
    mix_a, mix_b = rng.standard_normal((k, d)), rng.standard_normal((k, d))

    def pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
        z = rng.standard_normal((n, k), dtype=np.float32)
        a = z @ mix_a.astype(np.float32) + rng.standard_normal((n, d), np.float32)
        b = z @ mix_b.astype(np.float32) + rng.standard_normal((n, d), np.float32)
        return a, b

    train_a, train_b = pairs(args["n_train"])
    model = csa.CSA() if args["model"] == "csa" else csa.ASIF(k=800, p=8)
    model.fit(train_a, train_b)
    queries, _ = pairs(args["n_queries"])
    _, gallery = pairs(args["n_gallery"])
    return model, queries, gallery


def zero_shot(args: dict[str, Any]) -> dict[str, Any]:
    from csa.scale.search import model_nbytes, top_k

    model, inputs, classes = _scoring_setup(args)

    def work() -> dict[str, Any]:
        _, ids = top_k(model, inputs, classes, k=1, backend="numpy")
        return {"model_mb": model_nbytes(model) / 2**20, "checksum": int(ids.sum())}

    return _timed(work)


def retrieval(args: dict[str, Any]) -> dict[str, Any]:
    from csa.scale.search import GalleryIndex, model_nbytes

    model, queries, gallery = _scoring_setup(args)
    info: dict[str, Any] = {}

    def work() -> dict[str, Any]:
        start = time.perf_counter()
        index = GalleryIndex(model, "b").add(gallery)
        info["index_s"] = time.perf_counter() - start
        start = time.perf_counter()
        index.search(queries, k=10)
        info["search_s"] = time.perf_counter() - start
        info["index_mb"] = index.memory_bytes / 2**20
        info["model_mb"] = model_nbytes(model) / 2**20
        info["backend"] = "faiss" if index._faiss is not None else "blocked"
        return info

    return _timed(work)


METHODS = {
    "bound": bound,
    "csa": csa_fit,
    "sklearn": sklearn_cca,
    "cca_zoo": cca_zoo,
    "zero_shot": zero_shot,
    "retrieval": retrieval,
}

if __name__ == "__main__":
    method, raw = sys.argv[1], sys.argv[2]
    print(json.dumps(METHODS[method](json.loads(raw))))
