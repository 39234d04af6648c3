"""News: BBC headline <-> article body, with two different text encoders.

Bodies go through paraphrase-MiniLM-L3-v2 (ONNX, first 128 tokens) and headlines
through all-MiniLM-L6-v2: two unrelated embedding spaces that CSA must align from
pairs. (The cheaper encoder takes the long side: a 2-core machine encodes all 2225
bodies in about a minute this way.) Evaluated on the
held-out test split (no headline crosses the split):

* retrieval both ways, Recall@1/5/10 and mAP, identical headlines counting as matches;
* out-of-context detection: each article with its own headline or another's (AUC);
* the two-score rule of the CSA paper: article-headline score plus caption-caption
  similarity (the shown headline vs the article's lede, in the headline encoder's
  space), thresholds fitted on half the test articles and applied to the other half.

As a reference that needs no pairs at all, the same-encoder cosine of MiniLM-L3 on
both headline and body shows what one pretrained shared space achieves here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from csa.datasets import load_bbc_news
from csa.encoders import cached_encode, get
from csa.tasks import (
    CosineScorer,
    detect_out_of_context,
    detect_out_of_context_bilevel,
    evaluate_retrieval,
)
from csa_demo.status import encoding
from csa_demo.sweep import Selection, budgets, run_sweep

EXPERIMENT = "news"
DATASET = "bbc-news"
BODY_ENCODER = "minilm-l3-onnx"
HEADLINE_ENCODER = "minilm-l6"


def lede(body: str) -> str:
    """The article's first sentence: its own short description, like an original caption."""
    first = re.split(r"(?<=[.!?])\s", body.strip(), maxsplit=1)[0]
    return first[:400]


def _metrics(model: Any, test: dict[str, Any], options: dict[str, Any], seed: int):
    retrieval = evaluate_retrieval(
        model,
        test["body"],
        test["headline"],
        labels_a=test["groups"],
        labels_b=test["groups"],
        **options,
    )
    forward, backward = retrieval["a->b"], retrieval["b->a"]
    ooc = detect_out_of_context(
        model, test["body"], test["headline"], groups=test["groups"], seed=seed, **options
    )
    bilevel = detect_out_of_context_bilevel(
        model,
        test["body"],
        test["headline"],
        test["lede"],
        text_model=CosineScorer(),
        captions_text=test["headline_text"],
        groups=test["groups"],
        seed=seed,
        **options,
    )
    return {
        "body->headline R@1": forward.recall[1],
        "headline->body R@1": backward.recall[1],
        "headline->body R@10": backward.recall[10],
        "retrieval mAP": retrieval.mean_map,
        "out-of-context AUC": ooc.auc,
        "two-score rule AUC": bilevel.auc,
        "two-score rule accuracy": bilevel.accuracy_test,
    }


def run(
    quick: bool = False,
    cache_dir: str | Path | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    sizes: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Data-efficiency sweep over pair budgets; rows for the report.

    ``sizes`` is ``(training pool, test articles)``; by default the whole official
    split (1789 and 436), or a 600-article pool when ``quick``. Tuned rows choose their
    knobs by retrieval mAP on a held-out part of the budget (equal headlines relevant).
    """
    train = load_bbc_news("train")
    test_set = load_bbc_news("test")
    pool_size, test_size = sizes or ((600, None) if quick else (None, None))
    if pool_size is not None:
        train = train.subset(
            train.sample_index(pool_size, seed=0), name=f"{train.name}[{pool_size}]"
        )
    if test_size is not None:
        test_set = test_set.subset(
            test_set.sample_index(test_size, seed=0), name=f"{test_set.name}[{test_size}]"
        )
    body_encoder, headline_encoder = get(BODY_ENCODER), get(HEADLINE_ENCODER)

    def encode(encoder: Any, texts: Any) -> np.ndarray:
        return cached_encode(encoder, list(texts), cache_dir=cache_dir)

    encoding(EXPERIMENT, len(train) + len(test_set), "articles with their headlines")
    # The data set pairs (headline, body); the model's side a is the body.
    bodies, headlines = encode(body_encoder, train.b), encode(headline_encoder, train.a)
    test_headlines = encode(headline_encoder, test_set.a)
    test = {
        "body": encode(body_encoder, test_set.b),
        "headline": test_headlines,
        # The caption-caption score compares headline and lede in the headline encoder's space.
        "headline_text": test_headlines,
        "lede": encode(headline_encoder, [lede(body) for body in test_set.b]),
        "groups": np.asarray(test_set.groups),
    }
    shared = dict(test, headline=encode(body_encoder, test_set.a))
    floors = {
        "MiniLM-L3 both sides": _metrics(CosineScorer(), shared, {}, 0),
        "chance": _chance(len(test_set)),
    }
    return run_sweep(
        EXPERIMENT,
        f"{DATASET} (test {len(test_set)})",
        bodies,
        headlines,
        n_pairs=budgets(len(train)),
        sample_index=lambda n, seed: train.sample_index(n, seed=seed),
        score=lambda model, options, seed: _metrics(model, test, options, seed),
        selection=Selection("map", np.asarray(train.groups)),
        seeds=seeds,
        floors=floors,
    )


def _chance(n_test: int) -> dict[str, float]:
    """Uniform guessing on ``n_test`` articles (one relevant headline each)."""
    return {
        "body->headline R@1": 1 / n_test,
        "headline->body R@1": 1 / n_test,
        "headline->body R@10": 10 / n_test,
        "out-of-context AUC": 0.5,
        "two-score rule AUC": 0.5,
    }
