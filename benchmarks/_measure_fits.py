"""More measurements for ``selection_cost.py`` and ``float32_fit.py``, each in its own process.

    python _measure_fits.py METHOD JSON_ARGS

Same contract as ``_measure.py`` (whose ``_timed`` does the timing and peak memory):
one JSON line on stdout. ``use_measure_fits()`` points ``_common.measure`` at this file.
Inputs are ``.npy`` files written by ``_common.write_pair_files``; ``"mmap": true``
opens them with ``np.load(mmap_mode="r")``, otherwise they are read into memory before
the measured region.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _measure import _timed  # noqa: E402


def use_measure_fits() -> None:
    """Make ``_common.measure`` run this module's methods (it reads ``_common.MEASURE``)."""
    import _common

    _common.MEASURE = Path(__file__).resolve()


def _pair(args: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    mode = "r" if args.get("mmap") else None
    return np.load(args["a"], mmap_mode=mode), np.load(args["b"], mmap_mode=mode)


def _fixed(**kw: Any) -> Any:
    import csa

    return csa.CSA(ridge=0.1, sim_dim=None, **kw)


# ---- float32_fit -------------------------------------------------------------------
def _bare_products(a: np.ndarray, b: np.ndarray, dtype: Any) -> Any:
    """The work no CCA skips, as a callable: X'X, Y'Y, X'Y in ``dtype`` over the fit's
    row blocks, summed into float64, then one ``eigh`` per side."""
    from csa.moments import auto_block_rows

    n, da, db = a.shape[0], a.shape[1], b.shape[1]
    rows = auto_block_rows(da, db)

    def work() -> None:
        xx, yy, xy = np.zeros((da, da)), np.zeros((db, db)), np.zeros((da, db))
        for start in range(0, n, rows):
            x = np.asarray(a[start : start + rows], dtype=dtype)
            y = np.asarray(b[start : start + rows], dtype=dtype)
            xx += x.T @ x
            yy += y.T @ y
            xy += x.T @ y
        np.linalg.eigh(xx)
        np.linalg.eigh(yy)

    return work


def bound_blocks(args: dict[str, Any]) -> dict[str, Any]:
    """The floor over the arrays the fit reads, in the fit's own row blocks.

    Unlike ``_measure.bound`` (which reads files through ``NpyRowReader`` in
    ``auto_chunk_rows`` chunks), this walks the same in-memory or memory-mapped arrays
    as the fit, in ``csa.moments.auto_block_rows`` blocks: X'X, Y'Y, X'Y in
    ``precision`` summed per block into float64, then one ``eigh`` per side.
    """
    from csa.moments import auto_block_rows

    a, b = _pair(args)
    work = _bare_products(a, b, np.dtype(args["precision"]))
    rows = auto_block_rows(a.shape[1], b.shape[1])
    return {"block_rows": rows, **_timed(work, args.get("repeats", 1))}


def fixed_fit(args: dict[str, Any]) -> dict[str, Any]:
    """``CSA(ridge=0.1, sim_dim=None, precision=...).fit(a, b)`` on the loaded arrays."""
    a, b = _pair(args)
    model = _fixed(precision=args["precision"])

    def work() -> dict[str, Any]:
        model.fit(a, b)
        return {"rho_1": float(model.canonical_correlations_[0])}

    return _timed(work, args.get("repeats", 1))


def traced_fit(args: dict[str, Any]) -> dict[str, Any]:
    """tracemalloc peak of one fit (numpy reports its buffers to tracemalloc; pages of a
    memory map are not allocations, so they are not counted), fixed or selecting."""
    import csa

    a, b = _pair(args)
    model = _fixed() if args.get("fixed", True) else csa.CSA()
    tracemalloc.start()
    start = time.perf_counter()
    model.fit(a, b)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "seconds": seconds,
        "traced_peak_mib": peak / 2**20,
        "input_mib": (a.nbytes + b.nbytes) / 2**20,
        "ridge": list(model.ridge_),
        "sim_dim": int(model.sim_dim_),
    }


# ---- selection_cost ----------------------------------------------------------------
def _fresh(moments: Any) -> Any:
    """The same fold moments as new objects (no array copied): the solver memoises
    spectra by the moments' identity, so re-solving the very objects the fit solved
    would time a cache hit."""
    from dataclasses import replace

    from csa.moments import FoldMoments

    return FoldMoments(tuple(replace(fold) for fold in moments.folds))


def selection(args: dict[str, Any]) -> dict[str, Any]:
    """Bare products, fixed fit, selecting fit and the two solves from moments, alternated
    for ``rounds``, and the size of the default fit's (slim) model file.

    Each round times the bare products (:func:`_bare_products` in the input's
    precision), ``CSA(ridge=0.1, sim_dim=None).fit``, ``CSA().fit``, then
    ``fit_moments`` of both on the fold moments of the selecting fit (the fixed solve
    alone, and the search plus final solve). Minimum over rounds of each; the peak memory is
    that of the first round's run.
    """
    import csa

    a, b = _pair(args)
    fixed, select = _fixed(), csa.CSA()
    times: dict[str, list[float]] = {}
    peaks: dict[str, float] = {}
    steps = {
        "bare": _bare_products(a, b, a.dtype),
        "fixed_fit": lambda: fixed.fit(a, b),
        "select_fit": lambda: select.fit(a, b),
        # On the selecting fit's moments: only they hold the folds (a fixed fit deals none).
        "fixed_solve": lambda: _fixed().fit_moments(_fresh(select.moments_)),
        "select_solve": lambda: csa.CSA().fit_moments(_fresh(select.moments_)),
    }
    # Warm-up (lazy imports, BLAS threads) so that the first timed fit is not charged it.
    _fixed().fit(np.asarray(a[:1000]), np.asarray(b[:1000]))
    for _ in range(args.get("rounds", 1)):
        for name, step in steps.items():
            out = _timed(step)
            times.setdefault(name, []).append(out["seconds"])
            times.setdefault(name + "_cpu", []).append(out["cpu_s"])
            peaks.setdefault(name, out["peak_mb"])
    result: dict[str, Any] = {name: min(values) for name, values in times.items()}
    result["all_times"] = times
    result["peak_mb"] = peaks
    cv = select.cv_results_ or {}
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "default.csa"
        select.save(path)
        result["file_mib"] = path.stat().st_size / 2**20
    result.update(
        ridge=list(select.ridge_),
        sim_dim=int(select.sim_dim_),
        n_candidates=len(cv.get("ridge_a", [])),
        n_components=int(select.n_components_),
    )
    return result


METHODS = {
    "bound_blocks": bound_blocks,
    "fixed_fit": fixed_fit,
    "traced_fit": traced_fit,
    "selection": selection,
}

if __name__ == "__main__":
    method, raw = sys.argv[1], sys.argv[2]
    print(json.dumps(METHODS[method](json.loads(raw)), default=str))
