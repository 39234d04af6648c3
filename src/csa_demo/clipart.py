"""Image <-> caption on Open Clip Art: real drawings with their own titles and descriptions.

The only bundled image set whose captions were written per image (Debian's
``openclipart-svg``/``-png``; the data set's docstring says how its noisy metadata is
filtered). Pairs are (drawing, its caption); every drawing also has one of 22
category labels. Evaluated on the data set's held-out test split (caption groups never
cross it):

* retrieval both ways, Recall@1/5/10 and mAP, identical captions counting as matches;
* out-of-context detection: each drawing with its own caption or another group's (AUC);
* zero-shot category classification from prompt templates of the category names, which
  no method saw as captions.

Tuned rows choose their knobs by retrieval mAP on a held-out part of the budget.
Floors: chance (k/n for R@k; for zero-shot one over the test split's categories, 21 of
the 22; 0.5 for AUC); ceiling: a linear probe on the budget's image features and
category labels (zero-shot only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from csa.encoders import cached_encode, get
from csa.tasks import (
    IMAGE_TEMPLATES,
    build_class_embeddings,
    detect_out_of_context,
    evaluate_retrieval,
    zero_shot_classify,
)
from csa_demo.data.openclipart import load_openclipart
from csa_demo.probe import probe_accuracy
from csa_demo.status import encoding
from csa_demo.sweep import Selection, budgets, run_sweep

EXPERIMENT = "clipart"
DATASET = "openclipart"
IMAGE_ENCODER = "efficientnet-lite0"
# Drawings fill their square thumbnail: keep all of it in view (no centre crop).
IMAGE_OPTIONS = {"crop_fraction": 1.0}
TEXT_ENCODER = "minilm-l6"
KS = (1, 5, 10)
ZERO_SHOT = "zero-shot category top-1"


def split_metrics(
    model: Any, test: dict[str, Any], options: dict[str, Any], seed: int
) -> dict[str, float]:
    """Every number the section reports for one fitted model on the test split."""
    groups = test["groups"]
    retrieval = evaluate_retrieval(
        model, test["image"], test["caption"], labels_a=groups, labels_b=groups, ks=KS, **options
    )
    forward, backward = retrieval["a->b"], retrieval["b->a"]
    out = {f"image->caption R@{k}": forward.recall[k] for k in KS}
    out |= {f"caption->image R@{k}": backward.recall[k] for k in KS}
    out["retrieval mAP"] = retrieval.mean_map
    out["out-of-context AUC"] = detect_out_of_context(
        model, test["image"], test["caption"], groups=groups, seed=seed, **options
    ).auc
    out[ZERO_SHOT] = zero_shot_classify(
        model, test["image"], test["classes"], test["labels"], top_k=(1,), **options
    ).top1
    return out


def chance(n_test: int, n_classes: int) -> dict[str, float]:
    """Uniform guessing (one relevant item per query; repeated captions make it a bit higher)."""
    out = {f"{side} R@{k}": min(k, n_test) / n_test for side in ("image->caption",
           "caption->image") for k in KS}  # fmt: skip
    out["out-of-context AUC"] = 0.5
    out[ZERO_SHOT] = 1.0 / n_classes
    return out


def run(
    quick: bool = False,
    cache_dir: str | Path | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    sizes: tuple[int, int] | None = None,
    root: str | Path | None = None,
    test_fraction: float = 0.2,
) -> list[dict[str, Any]]:
    """Data-efficiency sweep up to the whole training split (4,169 pairs).

    ``sizes`` caps ``(training pool, test drawings)``; by default the whole split, or
    (600, 300) when ``quick``. ``root`` is the Open Clip Art folder (default: Debian's);
    ``test_fraction`` the share of caption groups the data set's test split holds.
    """
    pool_size, test_size = sizes or ((600, 300) if quick else (None, None))
    where: dict[str, Any] = {"test_fraction": test_fraction}
    if root is not None:
        where["root"] = root
    train = load_openclipart(split="train", n=pool_size, **where)
    test_set = load_openclipart(split="test", n=test_size, **where)
    image_encoder = get(IMAGE_ENCODER, **IMAGE_OPTIONS)
    text_encoder = get(TEXT_ENCODER)

    def encode(encoder: Any, items: Any) -> np.ndarray:
        return cached_encode(encoder, list(items), cache_dir=cache_dir)

    encoding(EXPERIMENT, len(train) + len(test_set), "drawings with their captions")
    images, captions = encode(image_encoder, train.a), encode(text_encoder, train.b)
    test = {
        "image": encode(image_encoder, test_set.a),
        "caption": encode(text_encoder, test_set.b),
        "groups": np.asarray(test_set.groups),
        "labels": np.asarray(test_set.labels),
        "classes": build_class_embeddings(
            text_encoder, list(test_set.class_names), IMAGE_TEMPLATES
        ),
    }
    labels = np.asarray(train.labels)

    def probe(index: np.ndarray, seed: int) -> dict[str, dict[str, float]]:
        accuracy = probe_accuracy(images[index], labels[index], test["image"], test["labels"])
        return {"linear-probe": {ZERO_SHOT: accuracy}}

    return run_sweep(
        EXPERIMENT,
        f"{DATASET} (test {len(test_set)})",
        images,
        captions,
        n_pairs=budgets(len(train)),
        sample_index=lambda n, seed: train.sample_index(n, seed=seed),
        score=lambda model, options, seed: split_metrics(model, test, options, seed),
        selection=Selection("map", np.asarray(train.groups)),
        seeds=seeds,
        references=probe,
        floors={"chance": chance(len(test_set), len(test_set.class_names))},
    )
