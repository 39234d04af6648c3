"""Time series <-> text: zero-shot classification and retrieval with few pairs.

Each training series is paired with the MiniLM embedding of its class description, so
the text side holds only as many distinct vectors as there are classes; the question
is how well each method ties the time-series features to those descriptions from a
few dozen to a few hundred pairs.

What is held out where:
- test: the problem's official test split, which neither the time-series encoder
  (MiniRocket draws its biases from the training series) nor any method ever sees;
- selection: each budget of ``n_pairs`` training pairs (stratified, seeded, nested for
  growing ``n_pairs``) is the only data a method gets. :func:`fit_methods` holds out a
  seeded fifth of it to choose every method's ridge and, for CSA and CCA, ``sim_dim``
  (zero-shot top-1 on those rows, ties to the mean reciprocal rank), then refits on
  the whole budget. Below 20 pairs nothing can be held out and defaults are used;
- floor: chance (1/classes for top-1; a random ranking, averaged over draws, for
  mAP); ceiling: a logistic regression trained on the same budget's series and labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from csa.datasets.base import PairedDataset
from csa.datasets.timeseries import load_timeseries_text
from csa.encoders.base import Encoder
from csa.encoders.timeseries import Catch22Encoder, MiniRocketEncoder
from csa.errors import ParameterError
from csa.experiments.common import (
    budgets,
    fit_methods,
    probe_scores,
    result_rows,
    zero_shot_selection_score,
)
from csa.tasks.metrics import mean_average_precision, top_k_accuracy
from csa.tasks.zero_shot import zero_shot_scores

EXPERIMENT = "timeseries-text"
ZERO_SHOT = "zero-shot top-1"
RETRIEVAL = "retrieval mAP (text->series)"
#: MiniRocket kernels: 840 (10 sets of 84) keeps the CCA solve small; MiniRocket's own
#: default of 10,000 would make every fit an eigendecomposition of a 10k x 10k matrix.
NUM_KERNELS = 840
CHANCE_DRAWS = 200


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
        return MiniRocketEncoder(num_kernels=NUM_KERNELS, seed=0).fit(train.a)
    if kind == "catch22":
        return Catch22Encoder(channels=train.a[0].shape[0])
    raise ParameterError(f"unknown time-series encoder {kind!r}; use minirocket or catch22")


def _encode(encoder: Encoder, items: Sequence[Any], cache_dir: str | Path | None) -> np.ndarray:
    from csa.encoders.cache import cached_encode

    return cached_encode(encoder, items, cache_dir=cache_dir, batch_size=256, show_progress=False)


def _text_encoder() -> Encoder:
    from csa.encoders.registry import get

    return get("minilm-l6")


def _metrics(scores: np.ndarray, test_y: np.ndarray) -> dict[str, float]:
    """Zero-shot top-1 on series -> classes and mAP with class descriptions as queries."""
    present = np.unique(test_y)
    return {
        ZERO_SHOT: top_k_accuracy(scores, test_y),
        RETRIEVAL: mean_average_precision(
            scores.T[present], query_labels=present, gallery_labels=test_y
        ),
    }


def _chance(test_y: np.ndarray, n_classes: int) -> dict[str, float]:
    """Uniform guessing: 1/C for top-1 and the mean AP of random rankings."""
    rng = np.random.default_rng(0)
    present = np.unique(test_y)
    aps = [
        mean_average_precision(
            rng.random((present.size, test_y.size)), query_labels=present, gallery_labels=test_y
        )
        for _ in range(CHANCE_DRAWS)
    ]
    return {ZERO_SHOT: 1.0 / n_classes, RETRIEVAL: float(np.mean(aps))}


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
    assert train.labels is not None and test.labels is not None
    assert train.class_names is not None
    n_classes = len(train.class_names)
    encoder = _make_encoder(setting.encoder, train)
    train_x = _encode(encoder, train.a, cache_dir)
    test_x = _encode(encoder, test.a, cache_dir)
    classes = np.asarray(
        _encode(_text_encoder(), list(train.info["descriptions"]), cache_dir), dtype=np.float64
    )
    train_t = classes[train.labels]
    label = f"{setting.dataset}/{setting.encoder}"
    if n_pairs is None:
        n_pairs = budgets(len(train), smallest=max(10, n_classes))

    rows: list[dict[str, Any]] = []
    for n in n_pairs:
        for seed in seeds if n <= 300 else seeds[:1]:
            index = train.sample_index(n, seed=seed)
            x, t, y = train_x[index], train_t[index], train.labels[index]

            def evaluate(model: Any, val: np.ndarray, opts: dict, x=x, y=y) -> float:
                return zero_shot_selection_score(model, x[val], classes, y[val], opts)

            for method, (model, opts) in fit_methods(x, t, evaluate, seed=seed).items():
                scores = zero_shot_scores(model, test_x, classes, **opts)
                rows += result_rows(
                    EXPERIMENT, label, method, n, _metrics(scores, test.labels), seed
                )
            probe = probe_scores(x, y, test_x, n_classes)
            rows += result_rows(
                EXPERIMENT, label, "linear-probe", n, _metrics(probe, test.labels), seed
            )
        rows += result_rows(EXPERIMENT, label, "chance", n, _chance(test.labels, n_classes))
    return rows


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

    from csa.experiments.report import markdown_tables

    t0 = time.perf_counter()
    result = run(quick="--full" not in sys.argv)
    print(markdown_tables(result))
    print(f"{len(result)} rows in {time.perf_counter() - t0:.1f} s")
