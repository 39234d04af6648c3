"""``csa demo``: the command this application adds to the ``csa`` tool (entry point
``csa.commands``), so the library's CLI never imports the application."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape

import csa
from csa.extras import require

console = Console()
err_console = Console(stderr=True)


def print_tables(out: Console, markdown: str) -> None:
    """The result tables: drawn by rich on a terminal, the markdown itself elsewhere.

    rich fits a table to the console's width, 80 columns when stdout is a log file or a
    pipe, and cuts cells to fit ("CSA (defa…"). A log is read later, at any width, so
    it gets the plain markdown (the text of results.md), which is never cut.
    """
    if out.is_terminal:
        out.print(Markdown(markdown))
    else:
        out.print(markdown, markup=False, highlight=False, emoji=False, soft_wrap=True)


def demo(
    out: Annotated[Path, typer.Option(help="Folder for results.json/.md and plots.")] = Path(
        "results"
    ),
    quick: Annotated[bool, typer.Option(help="Smaller pools: a fast smoke run.")] = False,
    section: Annotated[
        list[str] | None,
        typer.Option(
            help="Run only these sections (repeatable); shapes3d-text runs only when named."
        ),
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Embedding cache folder.")] = None,
    root: Annotated[
        Path | None,
        typer.Option(help="Paper sections (imagenet, cosmos, flickr30k, coco): your data folder."),
    ] = None,
    encoder_a: Annotated[
        str | None, typer.Option(help="Paper sections: image encoder (default: DINOv2-giant).")
    ] = None,
    encoder_b: Annotated[
        str | None, typer.Option(help="Paper sections: text encoder (default: GTR-T5-large).")
    ] = None,
    pairs: Annotated[
        list[int] | None,
        typer.Option(help="Paper sections: pair budgets (repeatable; default the paper's)."),
    ] = None,
    clip: Annotated[
        str | None, typer.Option(help="Paper sections: a CLIP model as the reference row.")
    ] = None,
    relabels: Annotated[
        Path | None, typer.Option(help="imagenet: relabel file (default ROOT/real.json if any).")
    ] = None,
    test_size: Annotated[
        int | None, typer.Option(help="Paper sections: test pairs kept (default all).")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Sections run side by side in this many processes (default: one per CPU, "
            "at most 4; 1 runs them in turn, with one progress bar at a time).",
        ),
    ] = None,
) -> None:
    """Data-efficiency curves: CSA vs CCA, ASIF and LinearMap on every bundled pair."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from csa_demo.demo import run_demo
    from csa_demo.report import markdown_tables

    def progress(name: str, state: str) -> None:
        colour = {"start": "cyan", "done": "green", "failed": "red"}[state]
        console.print(f"[{colour}]{state:>6}[/] {name}")

    given = {"root": root, "encoder_a": encoder_a, "encoder_b": encoder_b, "pairs": pairs,
             "clip": clip, "relabels": relabels, "test_size": test_size}  # fmt: skip
    options = {key: value for key, value in given.items() if value not in (None, [])}
    try:
        # Checked before any section starts: every section ends in a plot and a probe.
        require("matplotlib", extra="demo", purpose="csa demo (its plots)")
        require("sklearn", extra="demo", purpose="csa demo (its probe)", package="scikit-learn")
        outcome = run_demo(
            out, quick=quick, sections=section, cache_dir=cache_dir, on_section=progress,
            options=options, jobs=jobs,
        )  # fmt: skip
    except csa.CSAError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(code=2) from None
    print_tables(console, markdown_tables(outcome.rows))
    for name, seconds in outcome.seconds.items():
        console.print(f"{name}: {seconds:.1f} s")
    console.print(
        f"wrote {outcome.files['json']}, {outcome.files['markdown']} and "
        f"{outcome.files['n_plots']} plots in {out}"
    )
    if outcome.failures:
        for name, reason in outcome.failures.items():
            err_console.print(
                f"[bold red]section {name} failed:[/] {escape(str(reason))}", highlight=False
            )
        raise typer.Exit(code=1)


def main() -> None:  # pragma: no cover - console entry point
    typer.run(demo)
