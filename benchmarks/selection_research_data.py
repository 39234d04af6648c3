"""Encode the demo's BBC and clip-art splits once and keep the arrays for the selection research.

The research script (``selection_research.py``) refits dozens of variants per budget
and seed; encoding is the slow part (clip art: 5,203 drawings through EfficientNet-Lite0
on CPU), so it is done here once, through the demo's own loaders, encoders and the csa
embedding cache, and the arrays (plus the budgets' row draws, groups and labels) are
saved as ``.npz`` under ``--out`` (default ``/work/cache/research``).

    python benchmarks/selection_research_data.py bbc
    python benchmarks/selection_research_data.py clipart
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from csa.datasets import load, load_bbc_news
from csa.encoders import cached_encode, get
from csa.tasks import IMAGE_TEMPLATES, build_class_embeddings
from csa_demo import clipart, news
from csa_demo.sweep import budgets

SEEDS = tuple(range(10))


def _draws(train, seeds=SEEDS) -> dict[str, np.ndarray]:
    """The demo's row draws: ``train.sample_index(n, seed)`` for every budget and seed."""
    out = {}
    for n in budgets(len(train)):
        for seed in seeds:
            out[f"index_{n}_{seed}"] = np.asarray(train.sample_index(n, seed=seed))
    return out


def bbc(cache_dir: str | None) -> dict[str, np.ndarray]:
    train, test_set = load_bbc_news("train"), load_bbc_news("test")
    body_enc, head_enc = get(news.BODY_ENCODER), get(news.HEADLINE_ENCODER)

    def enc(encoder, texts):
        return cached_encode(encoder, list(texts), cache_dir=cache_dir)

    return {
        # side a = body, side b = headline, as in the demo
        "train_a": enc(body_enc, train.b),
        "train_b": enc(head_enc, train.a),
        "test_a": enc(body_enc, test_set.b),
        "test_b": enc(head_enc, test_set.a),
        "train_groups": np.unique(np.asarray(train.groups), return_inverse=True)[1],
        "test_groups": np.unique(np.asarray(test_set.groups), return_inverse=True)[1],
        "train_labels": np.asarray(train.labels),
        **_draws(train),
    }


def clip_art(cache_dir: str | None) -> dict[str, np.ndarray]:
    train = load("openclipart", split="train", test_fraction=0.2)
    test_set = load("openclipart", split="test", test_fraction=0.2)
    img_enc = get(clipart.IMAGE_ENCODER, **clipart.IMAGE_OPTIONS)
    txt_enc = get(clipart.TEXT_ENCODER)

    def enc(encoder, items):
        return cached_encode(encoder, list(items), cache_dir=cache_dir)

    # Train-side category prompts (same templates) for choices made without the test split.
    train_names = list(train.class_names)
    return {
        "train_a": enc(img_enc, train.a),
        "train_b": enc(txt_enc, train.b),
        "test_a": enc(img_enc, test_set.a),
        "test_b": enc(txt_enc, test_set.b),
        "train_groups": np.unique(np.asarray(train.groups), return_inverse=True)[1],
        "test_groups": np.unique(np.asarray(test_set.groups), return_inverse=True)[1],
        "train_labels": np.asarray(train.labels),
        "test_labels": np.asarray(test_set.labels),
        "test_classes": build_class_embeddings(
            txt_enc, list(test_set.class_names), IMAGE_TEMPLATES
        ),
        "train_classes": build_class_embeddings(txt_enc, train_names, IMAGE_TEMPLATES),
        **_draws(train),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=("bbc", "clipart"))
    parser.add_argument("--out", default="/work/cache/research")
    parser.add_argument("--cache-dir", default="/work/cache")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    arrays = bbc(args.cache_dir) if args.dataset == "bbc" else clip_art(args.cache_dir)
    np.savez(out / f"{args.dataset}.npz", **{k: np.asarray(v) for k, v in arrays.items()})
    print({k: np.asarray(v).shape for k, v in arrays.items() if not k.startswith("index_")})


if __name__ == "__main__":
    main()
