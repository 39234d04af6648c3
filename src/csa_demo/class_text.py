"""Sweeps where every item is paired with the one sentence that describes its class.

Time series and 3D part models have no captions of their own, only class labels, so
each training item is paired with the text embedding of its class description. The
same protocol then serves every such modality: at each budget and seed, fit every
method (:func:`~csa_demo.common.fit_methods`, hyperparameters chosen on a
held-out part of the budget), score the test items against the class descriptions,
and report zero-shot top-k and description -> item retrieval mAP next to chance and a
supervised linear probe on the same budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.datasets.base import PairedDataset
from csa.encoders.base import Encoder
from csa.tasks.metrics import mean_average_precision, top_k_accuracy
from csa.tasks.zero_shot import zero_shot_scores
from csa_demo.common import (
    budgets,
    fit_methods,
    probe_scores,
    result_rows,
    zero_shot_selection_score,
)

#: Random rankings averaged for the chance level of mAP.
CHANCE_DRAWS = 200
#: Budgets up to this many pairs run for every seed; larger ones once.
MULTI_SEED_MAX_PAIRS = 300


def encode(encoder: Encoder, items: Sequence[Any], cache_dir: str | Path | None) -> np.ndarray:
    """Embeddings through the on-disk cache, quietly (the sweeps print their own tables)."""
    from csa.encoders.cache import cached_encode

    return cached_encode(encoder, items, cache_dir=cache_dir, batch_size=256, show_progress=False)


def description_embeddings(descriptions: Sequence[str], cache_dir: str | Path | None) -> np.ndarray:
    """MiniLM-L6 embeddings of the class descriptions, ``(n_classes, 384)`` float64."""
    from csa.encoders.registry import get

    return np.asarray(encode(get("minilm-l6"), list(descriptions), cache_dir), dtype=np.float64)


def top_k_name(k: int) -> str:
    return f"zero-shot top-{k}"


def class_metrics(
    scores: np.ndarray, test_y: np.ndarray, retrieval: str, top_ks: Sequence[int] = (1,)
) -> dict[str, float]:
    """Zero-shot top-k of items -> classes, and mAP with class descriptions as queries."""
    present = np.unique(test_y)
    out = {top_k_name(k): top_k_accuracy(scores, test_y, k=k) for k in top_ks}
    out[retrieval] = mean_average_precision(
        scores.T[present], query_labels=present, gallery_labels=test_y
    )
    return out


def chance_metrics(
    test_y: np.ndarray, n_classes: int, retrieval: str, top_ks: Sequence[int] = (1,)
) -> dict[str, float]:
    """Uniform guessing: k/C for top-k, the mean AP of seeded random rankings."""
    rng = np.random.default_rng(0)
    present = np.unique(test_y)
    aps = [
        mean_average_precision(
            rng.random((present.size, test_y.size)), query_labels=present, gallery_labels=test_y
        )
        for _ in range(CHANCE_DRAWS)
    ]
    out = {top_k_name(k): min(k, n_classes) / n_classes for k in top_ks}
    out[retrieval] = float(np.mean(aps))
    return out


def class_text_sweep(
    experiment: str,
    label: str,
    train: PairedDataset,
    test: PairedDataset,
    encoder: Encoder,
    descriptions: Sequence[str],
    *,
    seeds: Sequence[int],
    retrieval: str,
    n_pairs: Sequence[int] | None = None,
    cache_dir: str | Path | None = None,
    top_ks: Sequence[int] = (1,),
) -> list[dict[str, Any]]:
    """Result rows of every method, the probe and chance at each budget.

    ``train`` and ``test`` are labelled splits whose side a ``encoder`` embeds (through
    the cache); ``descriptions[c]`` describes class c. ``train`` supplies the
    class-balanced, nested budgets (:meth:`PairedDataset.sample_index`), by default
    :func:`~csa_demo.common.budgets` from one pair per class (at least 10).
    """
    assert train.labels is not None and test.labels is not None
    train_x = encode(encoder, train.a, cache_dir)
    test_x = encode(encoder, test.a, cache_dir)
    test_y = test.labels
    classes = description_embeddings(descriptions, cache_dir)
    n_classes = classes.shape[0]
    train_t = classes[train.labels]
    if n_pairs is None:
        n_pairs = budgets(len(train), smallest=max(10, n_classes))
    rows: list[dict[str, Any]] = []
    for n in n_pairs:
        for seed in seeds if n <= MULTI_SEED_MAX_PAIRS else seeds[:1]:
            index = train.sample_index(n, seed=seed)
            x, t, y = train_x[index], train_t[index], train.labels[index]

            def evaluate(model: Any, val: np.ndarray, opts: dict, x=x, y=y) -> float:
                return zero_shot_selection_score(model, x[val], classes, y[val], opts)

            for method, (model, opts) in fit_methods(x, t, evaluate, seed=seed).items():
                scores = zero_shot_scores(model, test_x, classes, **opts)
                metrics = class_metrics(scores, test_y, retrieval, top_ks)
                rows += result_rows(experiment, label, method, n, metrics, seed)
            probe = class_metrics(probe_scores(x, y, test_x, n_classes), test_y, retrieval, top_ks)
            rows += result_rows(experiment, label, "linear-probe", n, probe, seed)
        chance = chance_metrics(test_y, n_classes, retrieval, top_ks)
        rows += result_rows(experiment, label, "chance", n, chance)
    return rows
