"""Image <-> text on Fashion-MNIST: zero-shot classification and mislabel detection.

Training pairs are (image, caption of its class), e.g. "a photo of a trouser": the
hard, realistic case where one side has only ten distinct values. At test time the
classes are described by prompt templates the model never saw, ensembled per class,
and the image is assigned to its best-scoring class. Mislabel detection flips 10% of
the test labels and asks whether the (image, caption of its label) score separates
flipped from clean samples. Tuned rows choose their knobs by zero-shot accuracy on a
held-out part of the budget, its classes the training captions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from csa.datasets import load_fashion_mnist
from csa.encoders import cached_encode, get
from csa.tasks import (
    IMAGE_TEMPLATES,
    build_class_embeddings,
    detect_mislabelled,
    zero_shot_classify,
)
from csa_demo.probe import probe_accuracy
from csa_demo.status import encoding
from csa_demo.sweep import Selection, budgets, run_sweep

EXPERIMENT = "image-text"
DATASET = "fashion-mnist"
IMAGE_ENCODER = "efficientnet-lite0"
# 28x28 sources carry no detail that 224 pixels would reveal: 112 pixels cost a quarter
# of the compute, and the whole (uncropped) garment stays in view.
IMAGE_OPTIONS = {"image_size": 112, "crop_fraction": 1.0}
TEXT_ENCODER = "minilm-l6"
CHANCE = {"zero-shot top-1": 0.1, "zero-shot top-5": 0.5, "mislabel AUC": 0.5}


def encode_repeated(encoder: Any, texts: list[str], cache_dir: Any) -> np.ndarray:
    """Captions repeat (one per class), so encode the distinct ones and index."""
    distinct, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    return cached_encode(encoder, list(distinct), cache_dir=cache_dir, show_progress=False)[inverse]


def run(
    quick: bool = False,
    cache_dir: str | Path | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    sizes: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Data-efficiency sweep: every method at every pair budget, rows for the report.

    ``sizes`` is ``(training pool, test images)``; by default (3000, 1000), or
    (1000, 500) when ``quick``.
    """
    pool_size, test_size = sizes or ((1000, 500) if quick else (3000, 1000))
    train = load_fashion_mnist("train", n=pool_size, seed=0)
    test = load_fashion_mnist("test", n=test_size, seed=0)
    image_encoder = get(IMAGE_ENCODER, **IMAGE_OPTIONS)
    text_encoder = get(TEXT_ENCODER)
    encoding(EXPERIMENT, len(train) + len(test), "Fashion-MNIST images with their captions")
    images = cached_encode(image_encoder, train.a, key=train.name, cache_dir=cache_dir)
    captions = encode_repeated(text_encoder, list(train.b), cache_dir)
    test_images = cached_encode(image_encoder, test.a, key=test.name, cache_dir=cache_dir)
    classes = build_class_embeddings(text_encoder, list(test.class_names), IMAGE_TEMPLATES)
    labels, test_labels = np.asarray(train.labels), np.asarray(test.labels)

    def score(model: Any, options: dict[str, Any], seed: int) -> dict[str, float]:
        zs = zero_shot_classify(model, test_images, classes, test_labels, **options)
        det = detect_mislabelled(
            model, test_images, test_labels, classes, flip_fraction=0.1, seed=seed, **options
        )
        return {"zero-shot top-1": zs.top1, "zero-shot top-5": zs.top5, "mislabel AUC": det.auc}

    def probe(index: np.ndarray, seed: int) -> dict[str, dict[str, float]]:
        accuracy = probe_accuracy(images[index], labels[index], test_images, test_labels)
        return {"linear-probe": {"zero-shot top-1": accuracy}}

    return run_sweep(
        EXPERIMENT,
        f"{DATASET} (test {test_size})",
        images,
        captions,
        n_pairs=budgets(pool_size),
        sample_index=lambda n, seed: train.sample_index(n, seed=seed),
        score=score,
        selection=Selection("accuracy", labels, classes),
        seeds=seeds,
        references=probe,
        floors={"chance": CHANCE},
    )
