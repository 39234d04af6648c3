"""3D part models <-> text: zero-shot classification and retrieval with few pairs.

Each KiCad part model (a surface point cloud, :mod:`csa.datasets.shapes3d`) is paired
with the MiniLM embedding of its category's description; the 3D side is the
hand-designed shape descriptor of :mod:`csa.encoders.shapes`. As for time series, the
text side holds one vector per class, so the question is how well each method ties the
shape features to those descriptions from a few dozen to about a thousand pairs.

What is held out where:
- test: a seeded, class-stratified 30% of the model files. Models whose sampled
  geometry is identical (the library has a few dozen such copies under other names)
  form one group and stay on one side, so no test shape is also a training shape.
  Nothing is fitted on it: the shape descriptor has no fit at all;
- selection: each budget of ``n_pairs`` training pairs (stratified, seeded, nested for
  growing ``n_pairs``) is the only data a method gets; :func:`fit_methods` chooses every
  method's ridge and, for CSA and CCA, ``sim_dim`` on a held-out fifth of it;
- floor: chance (1/classes for top-1, random rankings for mAP); ceiling: a logistic
  regression trained on the same budget's shape features and labels.

Not in the default demo: the data is a 380 MB Debian package that ``make test`` and
``make demo`` do not install; ``make shapes3d`` installs it and runs this section.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.datasets.base import PairedDataset
from csa.datasets.shapes3d import CATEGORIES, load_kicad_shapes
from csa.encoders.base import Encoder
from csa.encoders.shapes import ShapeDistributionEncoder
from csa.experiments.common import (
    budgets,
    fit_methods,
    probe_scores,
    result_rows,
    zero_shot_selection_score,
)
from csa.tasks.metrics import mean_average_precision, top_k_accuracy
from csa.tasks.zero_shot import zero_shot_scores

EXPERIMENT = "shapes3d-text"
ZERO_SHOT = "zero-shot top-1"
TOP3 = "zero-shot top-3"
RETRIEVAL = "retrieval mAP (text->shape)"
TEST_FRACTION = 0.3
CHANCE_DRAWS = 200
#: Models per category: the full run reads about 1,800 files (two minutes the first
#: time, then from the cloud cache); the quick run a third of that on fewer categories.
FULL_PER_CATEGORY = 100
QUICK_PER_CATEGORY = 40
QUICK_CATEGORIES: tuple[str, ...] = (
    "Capacitor_SMD",
    "Capacitor_THT",
    "Resistor_THT",
    "Crystal",
    "Connector_PinHeader_2.54mm",
    "Connector_Dsub",
    "Package_DIP",
    "Package_SO",
    "Package_QFP",
    "Package_BGA",
)


def _encode(encoder: Encoder, items: Sequence[Any], cache_dir: str | Path | None) -> np.ndarray:
    from csa.encoders.cache import cached_encode

    return cached_encode(encoder, items, cache_dir=cache_dir, batch_size=256, show_progress=False)


def _text_encoder() -> Encoder:
    from csa.encoders.registry import get

    return get("minilm-l6")


def _metrics(scores: np.ndarray, test_y: np.ndarray) -> dict[str, float]:
    """Top-1 and top-3 of shapes -> classes; mAP with class descriptions as queries."""
    present = np.unique(test_y)
    return {
        ZERO_SHOT: top_k_accuracy(scores, test_y),
        TOP3: top_k_accuracy(scores, test_y, k=3),
        RETRIEVAL: mean_average_precision(
            scores.T[present], query_labels=present, gallery_labels=test_y
        ),
    }


def _chance(test_y: np.ndarray, n_classes: int) -> dict[str, float]:
    """Uniform guessing: 1/C and 3/C for top-k, the mean AP of random rankings."""
    rng = np.random.default_rng(0)
    present = np.unique(test_y)
    aps = [
        mean_average_precision(
            rng.random((present.size, test_y.size)), query_labels=present, gallery_labels=test_y
        )
        for _ in range(CHANCE_DRAWS)
    ]
    return {
        ZERO_SHOT: 1.0 / n_classes,
        TOP3: min(3, n_classes) / n_classes,
        RETRIEVAL: float(np.mean(aps)),
    }


def split_models(data: PairedDataset, seed: int = 0) -> tuple[PairedDataset, PairedDataset]:
    """(train, test) by model file, stratified, identical geometry kept on one side."""
    return data.split(TEST_FRACTION, seed=seed)


def run_on(
    data: PairedDataset,
    seeds: Sequence[int],
    cache_dir: str | Path | None = None,
    n_pairs: Sequence[int] | None = None,
    label: str = "kicad-shapes/shape-d2",
) -> list[dict[str, Any]]:
    """All rows for one loaded data set: every method, budget and seed.

    Budgets default to :func:`budgets` of the training split from max(10, classes)
    pairs; every seed runs budgets up to 300 pairs, larger ones run once.
    """
    assert data.class_names is not None
    train, test = split_models(data)
    assert train.labels is not None and test.labels is not None
    n_classes = len(data.class_names)
    encoder = ShapeDistributionEncoder()
    train_x = _encode(encoder, train.a, cache_dir)
    test_x = _encode(encoder, test.a, cache_dir)
    classes = np.asarray(
        _encode(_text_encoder(), list(data.info["descriptions"]), cache_dir), dtype=np.float64
    )
    train_t = classes[train.labels]
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
    """Rows for the shared result format.

    Full: the 20 categories of :data:`CATEGORIES`, up to 100 models each, every seed.
    Quick: 10 categories, up to 40 models each, one seed. Raises
    :class:`~csa.errors.DatasetError` with install instructions when the models are absent.
    """
    if quick:
        data = load_kicad_shapes(QUICK_CATEGORIES, QUICK_PER_CATEGORY, cache_dir=cache_dir)
        seeds = seeds[:1]
    else:
        data = load_kicad_shapes(tuple(CATEGORIES), FULL_PER_CATEGORY, cache_dir=cache_dir)
    return run_on(data, seeds, cache_dir)


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys
    import time

    from csa.experiments.report import markdown_tables

    t0 = time.perf_counter()
    result = run(quick="--full" not in sys.argv)
    print(markdown_tables(result))
    print(f"{len(result)} rows in {time.perf_counter() - t0:.1f} s")
