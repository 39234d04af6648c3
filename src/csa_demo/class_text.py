"""Sweeps where every item is paired with the one sentence that describes its class.

Time series and 3D part models have no captions of their own, only class labels, so
each training item is paired with the text embedding of its class description. The
same protocol then serves every such modality: at each budget and seed, fit every
method (:func:`~csa_demo.sweep.run_sweep`: defaults, and every knob chosen on a
held-out part of the budget), score the test items against the class descriptions,
and report zero-shot top-k and description -> item retrieval mAP next to chance and a
supervised linear probe on the same budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa import InputError
from csa.datasets import PairedDataset
from csa.encoders import Encoder, cached_encode, get
from csa.tasks import mean_average_precision, top_k_accuracy, zero_shot_scores
from csa_demo.probe import probe_scores
from csa_demo.status import encoding
from csa_demo.sweep import Selection, budgets, run_sweep

#: Random rankings averaged for the chance level of mAP.
CHANCE_DRAWS = 200


def encode(encoder: Encoder, items: Sequence[Any], cache_dir: str | Path | None) -> np.ndarray:
    """Embeddings through the on-disk cache, with csa's automatic bar (a terminal only)."""
    return cached_encode(encoder, items, cache_dir=cache_dir, batch_size=256)


def description_embeddings(descriptions: Sequence[str], cache_dir: str | Path | None) -> np.ndarray:
    """MiniLM-L6 embeddings of the class descriptions, ``(n_classes, 384)`` float64."""
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
    :func:`~csa_demo.sweep.budgets` from one pair per class (at least 10). Tuned rows
    choose their knobs by zero-shot accuracy on a held-out part of the budget.
    """
    if train.labels is None or test.labels is None:
        raise InputError(
            f"class_text_sweep needs labelled splits; {train.name} or {test.name} has no labels"
        )
    encoding(experiment, len(train) + len(test), f"{label} items")
    train_x = encode(encoder, train.a, cache_dir)
    test_x = encode(encoder, test.a, cache_dir)
    test_y = np.asarray(test.labels)
    train_y = np.asarray(train.labels)
    classes = description_embeddings(descriptions, cache_dir)
    n_classes = classes.shape[0]
    if n_pairs is None:
        n_pairs = budgets(len(train), smallest=max(10, n_classes))

    def score(model: Any, options: dict[str, Any], seed: int) -> dict[str, float]:
        scores = zero_shot_scores(model, test_x, classes, **options)
        return class_metrics(scores, test_y, retrieval, top_ks)

    def probe(index: np.ndarray, seed: int) -> dict[str, dict[str, float]]:
        scores = probe_scores(train_x[index], train_y[index], test_x, n_classes)
        return {"linear-probe": class_metrics(scores, test_y, retrieval, top_ks)}

    return run_sweep(
        experiment,
        f"{label} (test {len(test)})",
        train_x,
        classes[train_y],
        n_pairs=n_pairs,
        sample_index=lambda n, seed: train.sample_index(n, seed=seed),
        score=score,
        selection=Selection("accuracy", train_y, classes),
        seeds=seeds,
        references=probe,
        floors={"chance": chance_metrics(test_y, n_classes, retrieval, top_ks)},
    )
