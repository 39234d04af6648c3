"""The paper's experiments, one demo section each, on data sets the user holds.

``csa demo --section imagenet --root DIR`` (and ``cosmos``, ``flickr30k``, ``coco``)
reads the published layout with the library's readers, encodes both sides (through the
embedding cache), and runs the demo's one sweep (:func:`csa_demo.sweep.run_sweep`):
CSA, CCA, ASIF and LinearMap, default and tuned rows, at the paper's pair budgets
(capped at what the data holds; ``pairs=`` overrides). Protocols:

* **imagenet**: fit on train images paired with "An image of {label}." (the paper's
  prompt); on held-out validation images, zero-shot top-1/top-5 against the same prompt
  per class, and mislabel detection: with a relabel file (ImageNet-ReaL's ``real.json``,
  found in ``DIR`` or given), the AUC of each image's score with its given label for
  telling the re-annotators' "wrong label" images from the rest; without one, 10% of the
  labels flipped (seeded). Ceiling: a linear probe on the budget's labels.
* **cosmos**: fit on the train split's (image, caption) pairs; on the test split, the
  two-score "bilevel" rule: flag out-of-context when the caption-caption similarity
  (text encoder cosine of caption1 and caption2) and the image-caption similarity (the
  model's score of the image with the less fitting of its two captions) are both under
  thresholds chosen for accuracy on a seeded, label-stratified half of the test pairs,
  and reported (AUC and accuracy) on the other half. The caption-caption score alone
  needs no pairs: it is a floor.
* **flickr30k** / **coco**: fit on the Karpathy train split (COCO: train+restval), one
  pair per caption; on the test split, retrieval both ways with every image counted once
  (its captions are all relevant to it): R@1/5/10 and mAP.

Encoders default to the paper's (DINOv2-giant, mean of the last hidden state, and
GTR-T5-large); offline, a hub name fails at once with a clear EncoderError. ``clip=NAME``
adds the CLIP model's own cosine (``clip:NAME`` and ``clip-text:NAME`` towers) as a
reference row on the same test data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Any

import numpy as np

from csa import DatasetError, ParameterError
from csa.datasets import PairedDataset, load
from csa.encoders import cached_encode, get
from csa.tasks import (
    CosineScorer,
    detect_mislabelled,
    evaluate_retrieval,
    fit_bilevel_rule,
    roc_auc,
    zero_shot_classify,
)
from csa_demo.probe import probe_accuracy
from csa_demo.status import encoding
from csa_demo.sweep import Selection, run_sweep

IMAGE_ENCODER = "hf-image:facebook/dinov2-giant?pool=mean"
TEXT_ENCODER = "st:sentence-transformers/gtr-t5-large"
#: The paper's pair budgets per experiment (nested subsets of the training pool).
PAPER_PAIRS: dict[str, tuple[int, ...]] = {
    "imagenet": (5000, 10000, 15000, 20000, 25000, 30000, 35000),
    "cosmos": (5000, 10000, 20000, 41000),
    "flickr30k": (5000, 10000, 30000, 100000, 145000),
    "coco": (5000, 10000, 30000, 100000, 300000, 566000),
}
#: The data set each section reads, and its (train, test) splits.
DATASETS: dict[str, tuple[str, str, str]] = {
    "imagenet": ("imagenet", "train", "val"),
    "cosmos": ("cosmos", "train", "test"),
    "flickr30k": ("flickr30k", "train", "test"),
    "coco": ("coco-captions", "train+restval", "test"),
}
SECTIONS = tuple(DATASETS)
KS = (1, 5, 10)
RELABEL_FILES = ("real.json",)


@dataclass
class Prepared:
    """A paper section with its data read and its encoders built: nothing encoded yet."""

    section: str
    train: PairedDataset
    test: PairedDataset
    image_encoder: Any
    text_encoder: Any
    n_pairs: list[int]
    clip: tuple[Any, Any] | None = None
    clip_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | Path | None = None
    seeds: tuple[int, ...] = (0, 1, 2)


def pair_budgets(pairs: Sequence[int], pool: int) -> list[int]:
    """The budgets capped at the pool: each budget above it becomes the whole pool."""
    bad = [n for n in pairs if int(n) < 1]
    if bad:
        raise ParameterError(f"pair budgets must be positive, got {bad}")
    return sorted({min(int(n), pool) for n in pairs})


def _subset(data: PairedDataset, n: int | None, seed: int = 0) -> PairedDataset:
    if n is None or n >= len(data):
        return data
    return data.subset(data.sample_index(n, seed=seed), name=f"{data.name}[{n}]")


def prepare(
    section: str,
    root: str | Path | None = None,
    *,
    encoder_a: str | None = None,
    encoder_b: str | None = None,
    pairs: Sequence[int] | None = None,
    clip: str | None = None,
    relabels: str | Path | None = None,
    test_size: int | None = None,
    cache_dir: str | Path | None = None,
    quick: bool = False,
    seeds: tuple[int, ...] = (0, 1, 2),
) -> Prepared:
    """Read the data and build the encoders; every data or encoder error is raised here.

    Called before any section runs, so a wrong ``root`` or an unavailable encoder stops
    the command at once with the reader's (or the registry's) message.
    """
    if section not in DATASETS:
        raise ParameterError(f"unknown paper section {section!r}; choose from {list(DATASETS)}")
    name, train_split, test_split = DATASETS[section]
    if root is None:
        raise ParameterError(
            f"--section {section} needs --root DIR: the folder of your {name} data"
        )
    if test_size is not None and test_size < 2:
        raise ParameterError(f"test_size must be at least 2, got {test_size}")
    if relabels is not None and section != "imagenet":
        raise ParameterError("relabels= applies to the imagenet section only")
    budget = list(pairs) if pairs else list(PAPER_PAIRS[section])
    if quick:
        budget = [min(n, 1000) for n in budget]
    extra: dict[str, Any] = {}
    if section == "imagenet":
        if relabels is None:
            found = [Path(root) / f for f in RELABEL_FILES if (Path(root) / f).is_file()]
            relabels = found[0] if found else None
        train = load(name, root=root, split=train_split)
        test = load(name, root=root, split=test_split, relabels=relabels)
        extra["relabels"] = None if relabels is None else str(relabels)
    elif section == "cosmos":
        train = load(name, root=root, split=train_split)
        test = load(name, root=root, split=test_split)
        second = load(name, root=root, split=test_split, caption="caption2")
        extra["caption2"] = list(second.b)
    else:
        train = load(name, root=root, split=train_split)
        test = load(name, root=root, split=test_split)
    n_pairs = pair_budgets(budget, len(train))
    train = _subset(train, n_pairs[-1])
    if test_size is not None:
        if section == "cosmos":
            keep = test.sample_index(min(test_size, len(test)), seed=0)
            extra["caption2"] = [extra["caption2"][i] for i in keep.tolist()]
            test = test.subset(keep, name=f"{test.name}[{len(keep)}]")
        else:
            test = _subset(test, test_size)
    image_encoder = get(encoder_a or IMAGE_ENCODER)
    text_encoder = get(encoder_b or TEXT_ENCODER)
    towers = (get(f"clip:{clip}"), get(f"clip-text:{clip}")) if clip else None
    return Prepared(
        section, train, test, image_encoder, text_encoder, n_pairs, towers, clip, extra,
        cache_dir, seeds,
    )  # fmt: skip


def _encoder(prep: Prepared) -> Callable[[Any, Sequence[Any]], np.ndarray]:
    def encode(encoder: Any, items: Sequence[Any]) -> np.ndarray:
        """Encode the distinct items once (images repeat per caption, captions per class)."""
        distinct, inverse = np.unique(np.asarray(list(items), dtype=object), return_inverse=True)
        encoding(prep.section, len(distinct), f"items with {getattr(encoder, 'name', encoder)}")
        out = cached_encode(encoder, list(distinct), cache_dir=prep.cache_dir)
        return np.asarray(out)[inverse.reshape(-1)]

    return encode


def _clip_label(prep: Prepared) -> str:
    return f"CLIP {prep.clip_name}"


# --- imagenet -------------------------------------------------------------------------


def _relabel_masks(test: PairedDataset) -> tuple[np.ndarray, np.ndarray] | None:
    """(known, mislabelled) per validation row from the reader's ``info["relabels"]``."""
    relabels = test.info.get("relabels")
    if relabels is None:
        return None
    known = np.zeros(len(test), dtype=bool)
    wrong = np.zeros(len(test), dtype=bool)
    for i, (item, label) in enumerate(zip(test.a, np.asarray(test.labels).tolist(), strict=True)):
        valid = relabels.get(str(item))
        if valid:
            known[i], wrong[i] = True, label not in valid
    if not known.any() or wrong[known].all() or not wrong[known].any():
        raise DatasetError(
            f"the relabel file {test.info.get('relabel_source')} leaves {int(known.sum())} "
            f"validation images with a valid label, {int(wrong[known].sum())} of them "
            "mislabelled: a mislabel AUC needs both mislabelled and correctly labelled images"
        )
    return known, wrong


def _imagenet(prep: Prepared) -> list[dict[str, Any]]:
    encode = _encoder(prep)
    train, test = prep.train, prep.test
    template = train.info["caption_template"]
    prompts = [template.format(label=name) for name in train.class_names]
    classes = encode(prep.text_encoder, prompts)
    labels, test_labels = np.asarray(train.labels), np.asarray(test.labels)
    images = encode(prep.image_encoder, train.a)
    captions = classes[labels]
    test_images = encode(prep.image_encoder, test.a)
    masks = _relabel_masks(test)
    distinct = len(set(prompts)) == len(prompts)
    top_k = (1, 5)

    def metrics(model: Any, options: dict[str, Any], seed: int, x: Any, c: Any) -> dict:
        zs = zero_shot_classify(model, x, c, test_labels, top_k=top_k, **options)
        out = {"zero-shot top-1": zs.top1, "zero-shot top-5": zs.top5}
        if masks is not None:
            known, wrong = masks
            scores = model.score_pairs(x[known], c[test_labels[known]], **options)
            out["mislabel AUC (relabels)"] = roc_auc(scores, ~wrong[known])
        elif distinct:
            out["mislabel AUC (10% flipped)"] = detect_mislabelled(
                model, x, test_labels, c, flip_fraction=0.1, seed=seed, **options
            ).auc
        return out

    def probe(index: np.ndarray, seed: int) -> dict[str, dict[str, float]]:
        accuracy = probe_accuracy(images[index], labels[index], test_images, test_labels)
        return {"linear-probe": {"zero-shot top-1": accuracy}}

    n_classes = len(prompts)
    chance = {"zero-shot top-1": 1 / n_classes, "zero-shot top-5": min(1.0, 5 / n_classes)}
    chance["mislabel AUC (relabels)" if masks is not None else "mislabel AUC (10% flipped)"] = 0.5
    floors = {"chance": chance}
    if prep.clip is not None:
        image_tower, text_tower = prep.clip
        floors[_clip_label(prep)] = metrics(
            CosineScorer(), {}, 0, encode(image_tower, test.a), encode(text_tower, prompts)
        )
    return run_sweep(
        "imagenet",
        f"imagenet (val {len(test)})",
        images,
        captions,
        n_pairs=prep.n_pairs,
        sample_index=lambda n, seed: train.sample_index(n, seed=seed),
        score=lambda model, options, seed: metrics(model, options, seed, test_images, classes),
        selection=Selection("accuracy", labels, classes),
        seeds=prep.seeds,
        references=probe,
        floors=floors,
    )


# --- cosmos ---------------------------------------------------------------------------


def bilevel_halves(is_ooc: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, label-stratified (validation, test) split of the COSMOS test pairs."""
    rng = np.random.default_rng(seed)
    val, test = [], []
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(is_ooc == label))
        half = len(rows) // 2
        val.extend(rows[:half].tolist())
        test.extend(rows[half:].tolist())
    val_rows, test_rows = np.sort(np.asarray(val, int)), np.sort(np.asarray(test, int))
    for rows, what in ((val_rows, "threshold"), (test_rows, "test")):
        if len(np.unique(is_ooc[rows])) < 2:
            raise DatasetError(
                f"the COSMOS test split holds {int(is_ooc.sum())} out-of-context and "
                f"{int((~is_ooc).sum())} genuine pairs: too few to give both kinds to the "
                f"{what} half of the bilevel rule (at least 2 of each are needed)"
            )
    return val_rows, test_rows


def bilevel_metrics(
    cross: np.ndarray, text: np.ndarray, is_ooc: np.ndarray, seed: int
) -> dict[str, float]:
    """Thresholds fitted on one half, AUC and accuracy of the rule on the other."""
    val, test = bilevel_halves(is_ooc, seed)
    rule, _ = fit_bilevel_rule(cross[val], text[val], is_ooc[val])
    genuine = ~is_ooc[test]
    return {
        "bilevel AUC": roc_auc(rule.match_score(cross[test], text[test]), genuine),
        "bilevel accuracy": float(np.mean(rule.flag(cross[test], text[test]) == is_ooc[test])),
        "image-caption AUC": roc_auc(cross[test], genuine),
    }


def _cosmos(prep: Prepared) -> list[dict[str, Any]]:
    encode = _encoder(prep)
    train, test = prep.train, prep.test
    images, captions = encode(prep.image_encoder, train.a), encode(prep.text_encoder, train.b)
    is_ooc = np.asarray(test.labels) == 1
    caption2 = prep.extra["caption2"]

    def test_features(image_encoder: Any, text_encoder: Any) -> tuple[np.ndarray, ...]:
        return (
            encode(image_encoder, test.a),
            encode(text_encoder, test.b),
            encode(text_encoder, caption2),
        )

    x, c1, c2 = test_features(prep.image_encoder, prep.text_encoder)
    # Caption-caption similarity in the text encoder's own space: the same for every method.
    text = CosineScorer().score_pairs(c1, c2)

    def metrics(model: Any, options: dict[str, Any], seed: int, feats: tuple, t: Any) -> dict:
        image, first, second = feats
        cross = np.minimum(
            model.score_pairs(image, first, **options), model.score_pairs(image, second, **options)
        )
        return bilevel_metrics(np.asarray(cross, float), np.asarray(t, float), is_ooc, seed)

    _, test_half = bilevel_halves(is_ooc, 0)
    majority = max(is_ooc[test_half].mean(), 1 - is_ooc[test_half].mean())
    floors = {
        "chance": {"bilevel AUC": 0.5, "bilevel accuracy": float(majority),
                   "image-caption AUC": 0.5},
        "caption-caption only": {"bilevel AUC": roc_auc(text[test_half], ~is_ooc[test_half])},
    }  # fmt: skip
    if prep.clip is not None:
        feats = test_features(*prep.clip)
        clip_text = CosineScorer().score_pairs(feats[1], feats[2])
        floors[_clip_label(prep)] = metrics(CosineScorer(), {}, 0, feats, clip_text)
    return run_sweep(
        "cosmos",
        f"cosmos (test {len(test)})",
        images,
        captions,
        n_pairs=prep.n_pairs,
        sample_index=lambda n, seed: train.sample_index(n, seed=seed),
        score=lambda model, options, seed: metrics(model, options, seed, (x, c1, c2), text),
        selection=Selection("map", np.asarray(train.groups)),
        seeds=prep.seeds,
        floors=floors,
    )


# --- flickr30k / coco -----------------------------------------------------------------


def retrieval_chance(caption_groups: np.ndarray) -> dict[str, float]:
    """Expected R@k of a random ranking, each image once (all its captions relevant)."""
    ids, counts = np.unique(caption_groups, return_counts=True)
    n_images, n_captions = len(ids), len(caption_groups)
    out = {}
    for k in KS:
        hit = [1 - comb(n_captions - r, k) / comb(n_captions, k) for r in counts.tolist()]
        out[f"image->caption R@{k}"] = float(np.mean(hit)) if k < n_captions else 1.0
        out[f"caption->image R@{k}"] = min(k, n_images) / n_images
    return out


def _retrieval(prep: Prepared) -> list[dict[str, Any]]:
    encode = _encoder(prep)
    train, test = prep.train, prep.test
    images, captions = encode(prep.image_encoder, train.a), encode(prep.text_encoder, train.b)
    groups = np.asarray(test.groups)
    ids, first = np.unique(groups, return_index=True)  # one row per image
    image_items = [test.a[i] for i in first.tolist()]
    if len(ids) < 2:
        raise DatasetError(
            f"{test.name} holds {len(ids)} image: retrieval needs at least 2 test images"
        )

    def metrics(model: Any, options: dict[str, Any], x: Any, t: Any) -> dict[str, float]:
        result = evaluate_retrieval(model, x, t, labels_a=ids, labels_b=groups, ks=KS, **options)
        forward, backward = result["a->b"], result["b->a"]
        out = {f"image->caption R@{k}": forward.recall[k] for k in KS}
        out |= {f"caption->image R@{k}": backward.recall[k] for k in KS}
        out["retrieval mAP"] = result.mean_map
        return out

    x, t = encode(prep.image_encoder, image_items), encode(prep.text_encoder, test.b)
    floors = {"chance": retrieval_chance(groups)}
    if prep.clip is not None:
        image_tower, text_tower = prep.clip
        floors[_clip_label(prep)] = metrics(
            CosineScorer(), {}, encode(image_tower, image_items), encode(text_tower, test.b)
        )
    dataset = DATASETS[prep.section][0]
    return run_sweep(
        prep.section,
        f"{dataset} (test {len(ids)} images, {len(test)} captions)",
        images,
        captions,
        n_pairs=prep.n_pairs,
        sample_index=lambda n, seed: train.sample_index(n, seed=seed),
        score=lambda model, options, seed: metrics(model, options, x, t),
        selection=Selection("map", np.asarray(train.groups)),
        seeds=prep.seeds,
        floors=floors,
    )


_RUNNERS: dict[str, Callable[[Prepared], list[dict[str, Any]]]] = {
    "imagenet": _imagenet,
    "cosmos": _cosmos,
    "flickr30k": _retrieval,
    "coco": _retrieval,
}


def run_prepared(prep: Prepared) -> list[dict[str, Any]]:
    """Encode, fit every method at every budget, score on the test split: result rows."""
    return _RUNNERS[prep.section](prep)


def run(section: str, **options: Any) -> list[dict[str, Any]]:
    """:func:`prepare` then :func:`run_prepared`, for callers outside ``csa demo``."""
    return run_prepared(prepare(section, **options))
