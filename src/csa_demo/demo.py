"""The demo: every data-efficiency section, one report.

Sections are independent: each encodes its data (through the on-disk cache, so a
second run skips encoding), fits CSA and the baselines at growing pair budgets, and
returns result rows. A section that cannot run (a missing system package, say) is
reported and the others still run; the demo then fails at the end, so a broken
section is never silently absent from the results.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping, Sequence
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


@dataclass
class DemoOutcome:
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)


def run_demo(
    out_dir: str | Path = "results",
    *,
    quick: bool = False,
    sections: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    on_section: Callable[[str, str], None] | None = None,
    options: Mapping[str, Any] | None = None,
) -> DemoOutcome:
    """Run the chosen sections and write the report to ``out_dir``.

    By default every section of :data:`SECTIONS`; those of :data:`OPT_IN_SECTIONS` run
    only when named in ``sections``, and so do :data:`PAPER_SECTIONS`, which take
    ``options`` (``root``, encoders, ``pairs``, ``clip``, ...: see
    :func:`csa_demo.paper.prepare`). Their data are read and their encoders built before
    any section runs, so a wrong root fails the command at once with the reader's message.
    """
    from csa import ParameterError
    from csa_demo.report import write_report

    known = {**SECTIONS, **OPT_IN_SECTIONS, **dict.fromkeys(PAPER_SECTIONS, "csa_demo.paper")}
    chosen = list(SECTIONS) if sections is None else list(sections)
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise ParameterError(f"unknown demo section(s) {unknown}; choose from {list(known)}")
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
    outcome = DemoOutcome()
    for name in chosen:
        if on_section:
            on_section(name, "start")
        started = time.perf_counter()
        try:
            module = importlib.import_module(known[name])
            if name in prepared:
                outcome.rows.extend(module.run_prepared(prepared[name]))
            else:
                outcome.rows.extend(module.run(quick=quick, cache_dir=cache_dir))
        except Exception as exc:  # one broken section must not hide the others' results
            outcome.failures[name] = f"{type(exc).__name__}: {exc}"
            if on_section:
                on_section(name, "failed")
        else:
            if on_section:
                on_section(name, "done")
        outcome.seconds[name] = round(time.perf_counter() - started, 1)
    outcome.files = write_report(
        outcome.rows,
        out_dir,
        extra={"quick": quick, "seconds": outcome.seconds, "failures": outcome.failures},
    )
    return outcome
