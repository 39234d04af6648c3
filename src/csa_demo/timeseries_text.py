"""Time series <-> text: zero-shot classification and retrieval with few pairs.

Each training series is paired with the MiniLM embedding of its class description, so
the text side holds only as many distinct vectors as there are classes; the question
is how well each method ties the time-series features to those descriptions from a
few dozen to a few hundred pairs.

What is held out where:
- test: the problem's official test split, which neither the time-series encoder
  (MiniRocket draws its biases from the training series) nor any method ever sees;
- selection: each budget of ``n_pairs`` training pairs (stratified, seeded, nested for
  growing ``n_pairs``) is the only data a method gets. :func:`~csa_demo.sweep.run_sweep` holds out a
  seeded fifth of it to choose every method's knobs (zero-shot top-1 on those rows),
  then refits on the whole budget; below 20 pairs nothing can be held out and only the
  default rows are reported;
- floor: chance (1/classes for top-1; a random ranking, averaged over draws, for
  mAP); ceiling: a logistic regression trained on the same budget's series and labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csa import ParameterError
from csa.datasets import PairedDataset
from csa.encoders import Encoder, get
from csa_demo.class_text import class_text_sweep, top_k_name
from csa_demo.data.timeseries import load_timeseries_text

EXPERIMENT = "timeseries-text"
ZERO_SHOT = top_k_name(1)
RETRIEVAL = "retrieval mAP (text->series)"
#: MiniRocket kernels: 840 (10 sets of 84) keeps the CCA solve small; MiniRocket's own
#: default of 10,000 would make every fit an eigendecomposition of a 10k x 10k matrix.
NUM_KERNELS = 840


@dataclass(frozen=True)
class Setting:
    dataset: str
    encoder: str


QUICK: tuple[Setting, ...] = (Setting("plaid", "minirocket"),)
FULL: tuple[Setting, ...] = tuple(
    Setting(dataset, encoder)
    for dataset in ("plaid", "basic-motions", "italy-power-demand")
    for encoder in ("minirocket", "catch22")
)


def _make_encoder(kind: str, train: PairedDataset) -> Encoder:
    """The time-series encoder, fitted on the training split where it needs a fit."""
    if kind == "minirocket":
        return get("minirocket", num_kernels=NUM_KERNELS, seed=0, reuse=False).fit(train.a)
    if kind == "catch22":
        return get("catch22", channels=train.a[0].shape[0], reuse=False)
    raise ParameterError(f"unknown time-series encoder {kind!r}; use minirocket or catch22")


def run_setting(
    setting: Setting,
    seeds: Sequence[int],
    cache_dir: str | Path | None = None,
    n_pairs: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """All rows for one (data set, encoder): every method, budget and seed.

    Budgets default to :func:`budgets` of the training split, from one pair per class
    (at least 10); every seed runs budgets up to 300 pairs, larger ones run once.
    """
    train = load_timeseries_text(setting.dataset, "train")
    test = load_timeseries_text(setting.dataset, "test")
    return class_text_sweep(
        EXPERIMENT,
        f"{setting.dataset}/{setting.encoder}",
        train,
        test,
        _make_encoder(setting.encoder, train),
        train.info["descriptions"],
        seeds=seeds,
        retrieval=RETRIEVAL,
        n_pairs=n_pairs,
        cache_dir=cache_dir,
    )


def run(
    quick: bool = False,
    cache_dir: str | Path | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
) -> list[dict[str, Any]]:
    """Rows for the shared result format; ``quick`` is PLAID with MiniRocket, one seed.

    The full run adds catch22, BasicMotions and ItalyPowerDemand, with every seed.
    """
    settings, seeds = (QUICK, seeds[:1]) if quick else (FULL, seeds)
    rows: list[dict[str, Any]] = []
    for setting in settings:
        rows.extend(run_setting(setting, seeds, cache_dir))
    return rows


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys
    import time

    from csa_demo.report import markdown_tables

    t0 = time.perf_counter()
    result = run(quick="--full" not in sys.argv)
    print(markdown_tables(result))
    print(f"{len(result)} rows in {time.perf_counter() - t0:.1f} s")
