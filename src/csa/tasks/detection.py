"""Mismatch detection: does this caption (label, headline) belong to this item?

One protocol for every method, so that no method gets a more flattering evaluation:
the detector score is the model's ``score_pairs`` (higher = more likely genuine), and
quality is the ROC AUC of a single threshold sweep over it, genuine pairs against
mismatched ones. The two-score (bilevel) rule for news is likewise one rule for every
method: both thresholds fitted on a validation split by maximising accuracy, then the
rule is applied unchanged to the test split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from csa.errors import InputError, ShapeError
from csa.linalg import unit_rows
from csa.tasks._common import (
    QueryOptions,
    ResultMixin,
    as_labels,
    as_scores,
    call_score_pairs,
    n_rows,
    query_kwargs,
    take_rows,
)
from csa.tasks.groups import all_distinct, mismatch_groups, row_groups
from csa.tasks.metrics import roc_auc
from csa.validation import check_fraction, check_seed


@dataclass
class DetectionResult(ResultMixin):
    """ROC AUC of genuine-vs-mismatched pairs under a single threshold on the score."""

    auc: float
    n_genuine: int
    n_mismatched: int
    protocol: str
    seed: int
    sim_dim: int | None = None
    scores: np.ndarray | None = field(repr=False, default=None, metadata={"json": False})
    is_mismatch: np.ndarray | None = field(repr=False, default=None, metadata={"json": False})


# ---------------------------------------------------------------------------- corruption


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A permutation with no fixed point: every item gets another item's caption.

    One random n-cycle: each caption is used exactly once as a negative, so genuine and
    mismatched pairs see the same captions and differ only in the pairing.
    """
    if n < 2:
        raise InputError(f"a derangement needs at least 2 items, got {n}")
    order = rng.permutation(n)
    perm = np.empty(n, dtype=np.int64)
    perm[order] = np.roll(order, -1)
    return perm


def other_group_indices(groups: Any, rng: np.random.Generator) -> np.ndarray:
    """For each item, a uniformly drawn item of a different group.

    Needed when captions repeat within a group (e.g. one caption per class): a caption
    taken from the same group would be a genuine match, not a mismatch.
    """
    g = as_labels(groups, "groups")
    n = g.shape[0]
    order = np.argsort(g, kind="stable")
    sorted_g = g[order]
    starts = np.searchsorted(sorted_g, g, side="left")
    ends = np.searchsorted(sorted_g, g, side="right")
    sizes = ends - starts
    if np.any(sizes == n):
        raise InputError("every item is in the same group; there is no other group to draw from")
    draw = np.floor(rng.random(n) * (n - sizes)).astype(np.int64)
    pos = np.where(draw < starts, draw, draw + sizes)
    return order[pos]


def mismatch_partners(n: int, rng: np.random.Generator, groups: Any | None = None) -> np.ndarray:
    """Index of the caption each item is wrongly paired with."""
    if groups is None:
        return derangement(n, rng)
    return other_group_indices(as_labels(groups, "groups", n), rng)


def flip_labels(
    labels: Any, n_classes: int, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Move exactly round(fraction * n) labels, chosen at random, to a different class.

    The new class is uniform over the other classes. Returns the noisy labels and the
    mask of flipped samples.
    """
    y = as_labels(labels, "labels")
    if not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"labels must be integer class indices, got dtype {y.dtype}")
    if n_classes < 2:
        raise InputError(f"flipping labels needs at least 2 classes, got {n_classes}")
    if y.min() < 0 or y.max() >= n_classes:
        raise InputError(f"labels must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    n = y.shape[0]
    fraction = check_fraction(fraction, "flip_fraction", allow_zero=False)
    n_flip = round(fraction * n)
    if not 0 < n_flip < n:
        raise InputError(
            f"flip_fraction={fraction} flips {n_flip} of {n} samples; "
            "at least one must be flipped and at least one kept"
        )
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, size=n_flip, replace=False)] = True
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, n_classes, size=n_flip)) % n_classes
    return noisy, flipped


# ----------------------------------------------------------------- single-score protocols


def detect_mislabelled(
    model: Any,
    inputs: Any,
    labels: Any,
    class_embeddings: Any,
    *,
    flip_fraction: float = 0.1,
    seed: int = 0,
    inputs_side: Literal["a", "b"] = "a",
    sim_dim: QueryOptions = None,
) -> DetectionResult:
    """Flip a seeded fraction of labels; AUC of clean vs flipped (input, class caption) pairs.

    ``class_embeddings[c]`` is the caption embedding of class c on the model's other side;
    classes must have distinct embeddings, or a flip could land on an identical caption.
    """
    if inputs_side not in ("a", "b"):
        raise InputError(f"inputs_side must be 'a' or 'b', got {inputs_side!r}")
    n = n_rows(inputs, "inputs")
    n_classes = n_rows(class_embeddings, "class_embeddings")
    y = as_labels(labels, "labels", n)
    same = row_groups(class_embeddings, "class_embeddings")
    if not all_distinct(same):
        dup = np.flatnonzero(same == np.flatnonzero(np.bincount(same) > 1)[0])
        raise InputError(
            f"classes {dup.tolist()} have identical class embeddings (the same class name or "
            "prompt?); a label flipped between them would be counted as a mismatch while "
            "it scores exactly like the true one"
        )
    rng = np.random.default_rng(check_seed(seed))
    noisy, flipped = flip_labels(y, n_classes, flip_fraction, rng)
    captions = take_rows(class_embeddings, noisy)
    if inputs_side == "a":
        scores = call_score_pairs(model, inputs, captions, sim_dim)
    else:
        scores = call_score_pairs(model, captions, inputs, sim_dim)
    if scores.shape != (n,):
        raise ShapeError(f"model.score_pairs returned shape {scores.shape}, expected ({n},)")
    return DetectionResult(
        auc=roc_auc(scores, ~flipped),
        n_genuine=int((~flipped).sum()),
        n_mismatched=int(flipped.sum()),
        protocol=f"mislabelled(flip_fraction={flip_fraction})",
        seed=seed,
        sim_dim=query_kwargs(sim_dim).get("sim_dim"),
        scores=scores,
        is_mismatch=flipped,
    )


def detect_out_of_context(
    model: Any,
    a: Any,
    b: Any,
    *,
    groups: Any | None = None,
    identical: bool = True,
    seed: int = 0,
    sim_dim: QueryOptions = None,
) -> DetectionResult:
    """Each item with its own caption vs with another item's caption; AUC.

    With ``groups`` (one id per pair) each wrong caption comes from an item of another
    group. Without, and with ``identical=True`` (the default), pairs whose a row or b row
    is identical form groups (:func:`csa.tasks.groups.mismatch_groups`), so a "wrong"
    caption is never identical to the true one; when every row is distinct that is a
    seeded derangement. ``identical=False`` is the plain derangement, whatever repeats.
    """
    n = n_rows(a, "a")
    if n_rows(b, "b") != n:
        raise ShapeError(f"a has {n} rows but b has {n_rows(b, 'b')}; they must be paired")
    if groups is None and identical:
        groups = mismatch_groups(a, b)
    partners = mismatch_partners(n, np.random.default_rng(check_seed(seed)), groups)
    genuine = call_score_pairs(model, a, b, sim_dim)
    wrong = call_score_pairs(model, a, take_rows(b, partners), sim_dim)
    for s in (genuine, wrong):
        if s.shape != (n,):
            raise ShapeError(f"model.score_pairs returned shape {s.shape}, expected ({n},)")
    scores = np.concatenate([genuine, wrong])
    is_mismatch = np.repeat([False, True], n)
    return DetectionResult(
        auc=roc_auc(scores, ~is_mismatch),
        n_genuine=n,
        n_mismatched=n,
        protocol="out_of_context" + ("(other group)" if groups is not None else "(derangement)"),
        seed=seed,
        sim_dim=query_kwargs(sim_dim).get("sim_dim"),
        scores=scores,
        is_mismatch=is_mismatch,
    )


# -------------------------------------------------------------------- the bilevel rule


class CosineScorer:
    """Cosine similarity of two arrays in the same space: the plain caption-caption scorer.

    Has the ``similarity`` / ``score_pairs`` methods of a model, so it can stand wherever
    a second scorer is expected (e.g. two captions embedded by one text encoder).
    """

    @staticmethod
    def _unit(x: Any, name: str) -> np.ndarray:
        arr = as_scores(x, name, 2)
        if not np.any(arr, axis=1).all():
            raise InputError(f"{name} has an all-zero row; its cosine is undefined")
        return unit_rows(arr)

    def similarity(self, a: Any, b: Any) -> np.ndarray:
        return self._unit(a, "a") @ self._unit(b, "b").T

    def score_pairs(self, a: Any, b: Any) -> np.ndarray:
        ua, ub = self._unit(a, "a"), self._unit(b, "b")
        if ua.shape != ub.shape:
            raise ShapeError(f"paired arrays must have the same shape, got {ua.shape}, {ub.shape}")
        return np.einsum("ij,ij->i", ua, ub)


def _threshold_candidates(values: np.ndarray, max_candidates: int) -> np.ndarray:
    """Thresholds between consecutive distinct values, plus -inf (flag none) and +inf (all)."""
    u = np.unique(values)
    if u.shape[0] > max_candidates:
        u = u[np.unique(np.linspace(0, u.shape[0] - 1, max_candidates).round().astype(int))]
    mids = (u[:-1] + u[1:]) / 2
    return np.concatenate([[-np.inf], mids, [np.inf]])


@dataclass
class BilevelRule(ResultMixin):
    """Flag a mismatch when BOTH scores are under their thresholds.

    ``match_score`` turns the rule into one number (higher = genuine) whose sign is the
    rule's decision: the larger of the two margins, each in units of its score's spread
    on the validation data; a threshold at +inf drops its score from the rule.
    """

    t_cross: float
    t_text: float
    scale_cross: float
    scale_text: float

    def flag(self, cross: Any, text: Any) -> np.ndarray:
        c, t = as_scores(cross, "cross", 1), as_scores(text, "text", 1)
        return (c < self.t_cross) & (t < self.t_text)

    def match_score(self, cross: Any, text: Any) -> np.ndarray:
        c, t = as_scores(cross, "cross", 1), as_scores(text, "text", 1)
        if c.shape != t.shape:
            raise ShapeError(f"cross and text scores differ in shape: {c.shape} vs {t.shape}")
        if self.t_cross == -np.inf or self.t_text == -np.inf:
            return np.zeros_like(c)  # the rule never flags: it ranks nothing
        margins = []
        if self.t_cross != np.inf:
            margins.append((c - self.t_cross) / self.scale_cross)
        if self.t_text != np.inf:
            margins.append((t - self.t_text) / self.scale_text)
        if not margins:
            return np.zeros_like(c)  # the rule flags everything: it ranks nothing
        return np.max(margins, axis=0)


def fit_bilevel_rule(
    cross: Any, text: Any, is_mismatch: Any, *, max_candidates: int = 256
) -> tuple[BilevelRule, float]:
    """Thresholds maximising accuracy of the two-score rule; returns (rule, accuracy).

    Exhaustive over a grid of up to ``max_candidates`` thresholds per score, in
    O(n + grid) via a 2-D cumulative count. Ties go to the lowest thresholds.
    """
    c, t = as_scores(cross, "cross", 1), as_scores(text, "text", 1)
    y = as_labels(is_mismatch, "is_mismatch", c.shape[0]).astype(bool)
    if t.shape != c.shape:
        raise ShapeError(f"cross and text scores differ in shape: {c.shape} vs {t.shape}")
    cand_c = _threshold_candidates(c, max_candidates)
    cand_t = _threshold_candidates(t, max_candidates)
    # Sample i is flagged at thresholds (p, q) iff p >= ic[i] and q >= it[i].
    ic = np.searchsorted(cand_c, c, side="right")
    it = np.searchsorted(cand_t, t, side="right")
    shape = (cand_c.shape[0], cand_t.shape[0])
    flagged_pos = np.zeros(shape)
    flagged_neg = np.zeros(shape)
    np.add.at(flagged_pos, (ic[y], it[y]), 1)
    np.add.at(flagged_neg, (ic[~y], it[~y]), 1)
    flagged_pos = flagged_pos.cumsum(0).cumsum(1)
    flagged_neg = flagged_neg.cumsum(0).cumsum(1)
    correct = flagged_pos + ((~y).sum() - flagged_neg)
    p, q = np.unravel_index(int(np.argmax(correct)), shape)
    scale_c, scale_t = float(c.std()), float(t.std())
    rule = BilevelRule(
        t_cross=float(cand_c[p]),
        t_text=float(cand_t[q]),
        scale_cross=scale_c if scale_c > 0 else 1.0,
        scale_text=scale_t if scale_t > 0 else 1.0,
    )
    return rule, float(correct[p, q] / y.shape[0])


@dataclass
class BilevelResult(ResultMixin):
    """The two-score rule fitted on validation pairs and applied to test pairs."""

    auc: float  # of the rule's combined score on the test pairs
    accuracy_test: float  # at the thresholds fitted on validation
    accuracy_val: float
    auc_cross_only: float  # single-threshold AUCs on the test pairs, for reference
    auc_text_only: float
    rule: BilevelRule
    n_val_items: int
    n_test_items: int
    seed: int
    sim_dim: int | None = None


def _pair_scores(
    model: Any,
    text_model: Any,
    a: Any,
    b: Any,
    captions_text: Any,
    reference_text: Any,
    items: np.ndarray,
    partners: np.ndarray,
    sim_dim: int | None,
    text_sim_dim: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cross and caption-caption scores of genuine then mismatched pairs of ``items``."""
    a_items = take_rows(a, items)
    ref = take_rows(reference_text, items)
    cross = np.concatenate(
        [
            call_score_pairs(model, a_items, take_rows(b, items), sim_dim),
            call_score_pairs(model, a_items, take_rows(b, partners), sim_dim),
        ]
    )
    text = np.concatenate(
        [
            call_score_pairs(text_model, take_rows(captions_text, items), ref, text_sim_dim),
            call_score_pairs(text_model, take_rows(captions_text, partners), ref, text_sim_dim),
        ]
    )
    return cross, text, np.repeat([False, True], items.shape[0])


def detect_out_of_context_bilevel(
    model: Any,
    a: Any,
    b: Any,
    reference_text: Any,
    *,
    text_model: Any | None = None,
    captions_text: Any | None = None,
    groups: Any | None = None,
    identical: bool = True,
    val_fraction: float = 0.5,
    seed: int = 0,
    sim_dim: int | None = None,
    text_sim_dim: int | None = None,
    max_candidates: int = 256,
) -> BilevelResult:
    """The paper's two-score rule for out-of-context captions, with fitted thresholds.

    Item i (``a[i]``) is shown with a caption: its own (``b[i]``) or another item's.
    Two scores: item-caption, ``model.score_pairs(a, caption)``, and caption-caption,
    ``text_model.score_pairs(caption_text, reference_text[i])`` where ``reference_text``
    is the item's own other text (its original caption, or its body for news) and
    ``captions_text`` the captions in the text scorer's space (defaults to ``b``;
    ``text_model`` defaults to cosine). Items are split (seeded) into validation and test;
    wrong captions are drawn within each split so no caption crosses over, and (with
    ``identical=True``) never identical to the true one, as in :func:`detect_out_of_context`.
    """
    n = n_rows(a, "a")
    for arr, name in ((b, "b"), (reference_text, "reference_text")):
        if n_rows(arr, name) != n:
            raise ShapeError(f"{name} has {n_rows(arr, name)} rows but a has {n}")
    captions_text = b if captions_text is None else captions_text
    if n_rows(captions_text, "captions_text") != n:
        raise ShapeError(
            f"captions_text has {n_rows(captions_text, 'captions_text')} rows, not {n}"
        )
    text_model = CosineScorer() if text_model is None else text_model
    if groups is None and identical:
        groups = mismatch_groups(a, b)
    g = None if groups is None else as_labels(groups, "groups", n)
    rng = np.random.default_rng(check_seed(seed))
    order = rng.permutation(n)
    n_val = round(float(val_fraction) * n)
    if not 2 <= n_val <= n - 2:
        raise InputError(
            f"val_fraction={val_fraction} gives {n_val} validation and {n - n_val} test items; "
            "each split needs at least 2"
        )
    splits = []
    for items in (np.sort(order[:n_val]), np.sort(order[n_val:])):
        local = mismatch_partners(items.shape[0], rng, None if g is None else g[items])
        splits.append(
            _pair_scores(
                model,
                text_model,
                a,
                b,
                captions_text,
                reference_text,
                items,
                items[local],
                sim_dim,
                text_sim_dim,
            )
        )
    (c_val, t_val, y_val), (c_test, t_test, y_test) = splits
    rule, acc_val = fit_bilevel_rule(c_val, t_val, y_val, max_candidates=max_candidates)
    acc_test = float(np.mean(rule.flag(c_test, t_test) == y_test))
    return BilevelResult(
        auc=roc_auc(rule.match_score(c_test, t_test), ~y_test),
        accuracy_test=acc_test,
        accuracy_val=acc_val,
        auc_cross_only=roc_auc(c_test, ~y_test),
        auc_text_only=roc_auc(t_test, ~y_test),
        rule=rule,
        n_val_items=n_val,
        n_test_items=n - n_val,
        seed=seed,
        sim_dim=sim_dim,
    )


__all__ = [
    "BilevelResult",
    "BilevelRule",
    "CosineScorer",
    "DetectionResult",
    "derangement",
    "detect_mislabelled",
    "detect_out_of_context",
    "detect_out_of_context_bilevel",
    "fit_bilevel_rule",
    "flip_labels",
    "mismatch_partners",
    "other_group_indices",
]
