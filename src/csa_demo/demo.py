"""The demo: every data-efficiency section, one report.

Sections are independent: each encodes its data (through the on-disk cache, so a
second run skips encoding), fits CSA and the baselines at growing pair budgets, and
returns result rows. A section that cannot run (a missing system package, say) is
reported and the others still run; the demo then fails at the end, so a broken
section is never silently absent from the results.

Being independent, sections run in parallel worker processes (``jobs``, by default one
per CPU up to :data:`MAX_DEFAULT_JOBS`): most of a section's time is many small
eigendecompositions and metric loops, which one process cannot spread over cores.
Each worker's BLAS gets its share of the cores, and the report lists the sections in
:data:`SECTIONS` order whatever order they finish in.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECTIONS: dict[str, str] = {
    "image-text": "csa_demo.image_text",
    "news": "csa_demo.news",
    "clipart": "csa_demo.clipart",
    "audio-text": "csa_demo.audio_text",
    "timeseries-text": "csa_demo.timeseries_text",
}
# Sections that run only when named: their data is a large download that `make demo`
# does not install (KiCad's 3D models, 380 MB; `make shapes3d` runs this one).
OPT_IN_SECTIONS: dict[str, str] = {
    "shapes3d-text": "csa_demo.shapes3d_text",
}
# The paper's experiments (csa_demo.paper): opt-in too, on data the user holds (--root).
PAPER_SECTIONS: tuple[str, ...] = ("imagenet", "cosmos", "flickr30k", "coco")
#: Sections handed to workers longest first, so that the last to start is a short one
#: (a warm run on 2 cores: audio-text about 4 min, clipart 3, the others 1-2).
WORK_ORDER: tuple[str, ...] = ("audio-text", "clipart", "image-text", "timeseries-text", "news")
#: Worker processes when ``jobs`` is not given: one per CPU, at most this many (each
#: holds one section's data and encoders, up to about 4 GB).
MAX_DEFAULT_JOBS = 4
#: Thread-count variables read by BLAS, OpenMP and torch when a worker starts.
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class DemoOutcome:
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)


def default_jobs(n_sections: int) -> int:
    """One worker per CPU, at most one per section and :data:`MAX_DEFAULT_JOBS`."""
    return max(1, min(n_sections, _cpus(), MAX_DEFAULT_JOBS))


def _cpus() -> int:
    """CPUs this process may run on (a container's share, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run_section(module_name: str, quick: bool, cache_dir: Any) -> tuple[list, float, str | None]:
    """``(rows, seconds, failure)`` of one section; a failure is its one-line message.

    Runs in a worker process too, so the failure travels back as text: one broken
    section must not hide the others' results.
    """
    return _timed(
        lambda: importlib.import_module(module_name).run(quick=quick, cache_dir=cache_dir)
    )


def _timed(run: Callable[[], list]) -> tuple[list, float, str | None]:
    """``(rows, seconds, failure)`` of ``run()``, its exception caught as one line."""
    started = time.perf_counter()
    try:
        rows = run()
    except Exception as exc:  # one broken section must not hide the others' results
        return [], round(time.perf_counter() - started, 1), f"{type(exc).__name__}: {exc}"
    return rows, round(time.perf_counter() - started, 1), None


@contextmanager
def _worker_threads(threads: int) -> Iterator[None]:
    """Workers started inside this block give BLAS and torch ``threads`` threads each,
    unless the user set the variables; more threads than cores stall OpenBLAS."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_parallel(
    names: Sequence[str],
    modules: Mapping[str, str],
    jobs: int,
    quick: bool,
    cache_dir: Any,
    report: Callable[[str, str], None],
) -> dict[str, tuple[list, float, str | None]]:
    order = sorted(names, key=lambda n: WORK_ORDER.index(n) if n in WORK_ORDER else -1)
    # spawn, not fork: a forked child of a process that has run torch can deadlock.
    context = multiprocessing.get_context("spawn")
    results: dict[str, tuple[list, float, str | None]] = {}
    with _worker_threads(max(1, _cpus() // jobs)), ProcessPoolExecutor(jobs, context) as pool:
        futures = {pool.submit(run_section, modules[n], quick, cache_dir): n for n in order}
        for name in order:
            report(name, "start")
        for future in as_completed(futures):
            name = futures[future]
            try:
                results[name] = future.result()
            except Exception as exc:  # the worker died (out of memory, a crash in C)
                results[name] = ([], 0.0, f"its worker process failed: {type(exc).__name__}: {exc}")
            report(name, "failed" if results[name][2] else "done")
    return results


def run_demo(
    out_dir: str | Path = "results",
    *,
    quick: bool = False,
    sections: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    on_section: Callable[[str, str], None] | None = None,
    options: Mapping[str, Any] | None = None,
    jobs: int | None = None,
) -> DemoOutcome:
    """Run the chosen sections and write the report to ``out_dir``.

    By default every section of :data:`SECTIONS`; those of :data:`OPT_IN_SECTIONS` run
    only when named in ``sections``, and so do :data:`PAPER_SECTIONS`, which take
    ``options`` (``root``, encoders, ``pairs``, ``clip``, ...: see
    :func:`csa_demo.paper.prepare`). Their data are read and their encoders built before
    any section runs, so a wrong root fails the command at once with the reader's message.
    ``jobs`` worker processes run sections side by side (default :func:`default_jobs`;
    1 runs them one after another in this process). ``on_section(name, state)`` hears
    "start", then "done" or "failed", of each.
    """
    from csa import ParameterError
    from csa_demo.report import write_report

    known = {**SECTIONS, **OPT_IN_SECTIONS, **dict.fromkeys(PAPER_SECTIONS, "csa_demo.paper")}
    chosen = list(SECTIONS) if sections is None else list(dict.fromkeys(sections))
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise ParameterError(f"unknown demo section(s) {unknown}; choose from {list(known)}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ParameterError(f"jobs must be a whole number >= 1, got {jobs!r}")
    paper_chosen = [s for s in chosen if s in PAPER_SECTIONS]
    if options and len(paper_chosen) != 1:
        raise ParameterError(
            f"{', '.join('--' + k.replace('_', '-') for k in options)} set up one paper "
            f"section ({', '.join(PAPER_SECTIONS)}); name exactly one with --section"
        )
    prepared: dict[str, Any] = {}
    if paper_chosen:
        from csa_demo import paper

        for name in paper_chosen:
            prepared[name] = paper.prepare(
                name, **dict(options or {}), cache_dir=cache_dir, quick=quick
            )

    def report(name: str, state: str) -> None:
        if on_section:
            on_section(name, state)

    results: dict[str, tuple[list, float, str | None]] = {}
    # Paper sections keep their prepared data and encoders in this process.
    pooled = [name for name in chosen if name not in prepared]
    jobs = default_jobs(len(pooled)) if jobs is None else min(jobs, max(1, len(pooled)))
    if jobs > 1:
        results.update(_run_parallel(pooled, known, jobs, quick, cache_dir, report))
    for name in chosen:
        if name in results:
            continue
        report(name, "start")
        if name in prepared:
            module, data = known[name], prepared[name]
            results[name] = _timed(
                lambda m=module, d=data: importlib.import_module(m).run_prepared(d)
            )
        else:
            results[name] = run_section(known[name], quick, cache_dir)
        report(name, "failed" if results[name][2] else "done")
    outcome = DemoOutcome()
    for name in chosen:  # the report's order, whatever order the sections finished in
        rows, seconds, failure = results[name]
        outcome.rows.extend(rows)
        outcome.seconds[name] = seconds
        if failure:
            outcome.failures[name] = failure
    outcome.files = write_report(
        outcome.rows,
        out_dir,
        extra={"quick": quick, "seconds": outcome.seconds, "failures": outcome.failures},
    )
    return outcome
