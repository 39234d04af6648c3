"""Ranking and detection metrics shared by every task and every method.

Ties. A model that gives many items the same score must not be rewarded for it, or a
constant scorer would look perfect. All ranking metrics here (top-k accuracy, Recall@K,
average precision) are therefore *pessimistic*: an item that must be found is ranked
after every item that should not be found and has the same score. Among relevant items
tied with each other the order does not change any metric. Scores that agree in all but
the last 6 bits of their dtype's precision (64 units of round-off, relative to each
score) are ties too: equal in exact arithmetic, they would otherwise be ordered by their
last bits. ROC AUC is the usual threshold sweep, where a positive tied with a negative
counts one half; it is computed as the Mann-Whitney statistic from average ranks (equal
to scikit-learn's ``roc_auc_score``, without importing scikit-learn).

Recall@K is the hit rate used for image-text retrieval: a query counts as found when at
least one of its relevant items is among the first K. Average precision uses every
relevant item in the gallery, not only those in the first K.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

from csa.errors import InputError, ShapeError
from csa.tasks._common import as_labels, as_scores, to_numpy

DEFAULT_KS: tuple[int, ...] = (1, 5, 10)


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(k) for k in ks)
    if not out or any(k < 1 for k in out):
        raise InputError(f"every k must be a positive integer, got {tuple(ks)!r}")
    return out


def true_class_ranks(scores: Any, labels: Any) -> np.ndarray:
    """1-based pessimistic rank of the true class in each row of an (n, C) score matrix."""
    s = as_scores(scores, "scores", 2, ties=True)
    n, n_classes = s.shape
    y = as_labels(labels, "labels", n)
    if not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"labels must be integer class indices, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= n_classes:
        raise InputError(
            f"labels must lie in 0..{n_classes - 1} (one per score column), "
            f"got values from {y.min()} to {y.max()}"
        )
    true = s[np.arange(n), y][:, None]
    # Every other class scoring at least as high as the true one is ranked before it.
    ahead = np.count_nonzero(s >= true, axis=1) - 1
    return ahead + 1


def top_k_accuracy(scores: Any, labels: Any, k: int = 1) -> float:
    """Fraction of rows whose true class is among the k best scores (pessimistic ties)."""
    if int(k) < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    return float(np.mean(true_class_ranks(scores, labels) <= int(k)))


def relevance_from_labels(query_labels: Any, gallery_labels: Any) -> np.ndarray:
    """Boolean (n_query, n_gallery) matrix: an item is relevant when the labels are equal."""
    q = as_labels(query_labels, "query_labels")
    g = as_labels(gallery_labels, "gallery_labels")
    return q[:, None] == g[None, :]


def _resolve_relevance(
    scores: np.ndarray,
    relevance: Any | None,
    query_labels: Any | None,
    gallery_labels: Any | None,
) -> np.ndarray:
    if relevance is not None:
        if query_labels is not None or gallery_labels is not None:
            raise InputError("give either relevance or query_labels/gallery_labels, not both")
        rel = to_numpy(relevance, "relevance")
        if rel.dtype != np.bool_:
            if not np.all(np.isin(rel, (0, 1))):
                raise InputError("relevance must be boolean (or 0/1)")
            rel = rel.astype(bool)
    else:
        if query_labels is None or gallery_labels is None:
            raise InputError("give relevance, or both query_labels and gallery_labels")
        rel = relevance_from_labels(query_labels, gallery_labels)
    if rel.shape != scores.shape:
        raise ShapeError(f"relevance has shape {rel.shape} but scores have shape {scores.shape}")
    empty = ~rel.any(axis=1)
    if empty.any():
        raise InputError(
            f"{int(empty.sum())} of {rel.shape[0]} queries have no relevant item in the "
            f"gallery (first: query {int(np.argmax(empty))}); Recall and AP are undefined there"
        )
    return rel


def per_query_retrieval(
    scores: Any,
    relevance: Any | None = None,
    *,
    query_labels: Any | None = None,
    gallery_labels: Any | None = None,
    ks: Sequence[int] = DEFAULT_KS,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-query hits at each k, shape (n_query, len(ks)), and average precision, (n_query,).

    Exposed per query so that retrieval over a large gallery can be accumulated block by
    block without holding the whole score matrix.
    """
    s = as_scores(scores, "scores", 2, ties=True)
    rel = _resolve_relevance(s, relevance, query_labels, gallery_labels)
    ks = _check_ks(ks)
    if np.all(rel.sum(axis=1) == 1):
        # One match per query (paired data): its pessimistic rank is the number of items
        # scoring at least as high, which needs no sort.
        true = s[rel][:, None]
        rank = np.count_nonzero(s >= true, axis=1)
        return np.stack([rank <= k for k in ks], axis=1), 1.0 / rank
    if np.count_nonzero(rel) <= _COUNTING_MAX_MEAN_RELEVANT * rel.shape[0]:
        return _retrieval_by_counting(s, rel, ks)
    rel_sorted = _pessimistic_sorted_relevance(s, rel)
    first_hit = np.argmax(rel_sorted, axis=1) + 1  # 1-based rank of the best relevant item
    hits = np.stack([first_hit <= k for k in ks], axis=1)
    cum = np.cumsum(rel_sorted, axis=1)
    positions = np.arange(1, s.shape[1] + 1)
    precision_at_hits = np.where(rel_sorted, cum / positions, 0.0)
    ap = precision_at_hits.sum(axis=1) / rel_sorted.sum(axis=1)
    return hits, ap


#: Below this many relevant items per query on average, ranks are counted, not sorted.
_COUNTING_MAX_MEAN_RELEVANT = 8


def _retrieval_by_counting(
    s: np.ndarray, rel: np.ndarray, ks: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Hits and AP from each relevant item's pessimistic rank, counted without a sort.

    The i-th best relevant item of a query (ties among relevant items in any order) sits
    at rank ``i + c``, where ``c`` counts the irrelevant items scoring at least as high
    (pessimistic ties), so its precision is ``i / (i + c)``. That is one comparison pass
    over the gallery per relevant item: with a few relevant items per query (captions
    that repeat, five captions per image) far cheaper than sorting every row.
    """
    rows, cols = np.nonzero(rel)
    values = s[rows, cols]
    order = np.lexsort((-values, rows))  # by query, best relevant score first
    rows, values = rows[order], values[order]
    per_query = np.bincount(rows, minlength=s.shape[0])
    starts = np.concatenate(([0], np.cumsum(per_query)[:-1]))
    slot = np.arange(rows.shape[0]) - starts[rows]  # 0 for a query's best relevant item
    ahead = np.empty(rows.shape[0], dtype=np.int64)
    for i in range(int(per_query.max())):
        at = np.flatnonzero(slot == i)
        q = rows[at]
        ahead[at] = np.count_nonzero((s[q] >= values[at, None]) & ~rel[q], axis=1)
    precision = (slot + 1) / (slot + 1 + ahead)
    ap = np.bincount(rows, weights=precision, minlength=s.shape[0]) / per_query
    first_hit = 1 + ahead[starts]
    return np.stack([first_hit <= k for k in ks], axis=1), ap


def _pessimistic_sorted_relevance(s: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Relevance in ranked order, relevant items last within each group of tied scores.

    One plain sort by score, then the tie groups are rewritten in place: a two-key sort
    (``np.lexsort``) does the same but costs about four times as much.
    """
    order = np.argsort(-s, axis=1)
    sorted_s = np.take_along_axis(s, order, axis=1)
    rel_sorted = np.take_along_axis(rel, order, axis=1)
    starts = np.ones(s.shape, dtype=bool)
    starts[:, 1:] = sorted_s[:, 1:] != sorted_s[:, :-1]
    if starts.all():
        return rel_sorted  # no ties: the order is already unique
    flat_starts = starts.ravel()
    group = np.cumsum(flat_starts) - 1  # tie groups never span rows: column 0 starts one
    group_start = np.flatnonzero(flat_starts)
    group_end = group_start + np.bincount(group)
    n_relevant = np.bincount(group, weights=rel_sorted.ravel()).astype(np.int64)
    position = np.arange(s.size)
    return (position >= (group_end - n_relevant)[group]).reshape(s.shape)


def recall_at_k(
    scores: Any,
    relevance: Any | None = None,
    k: int = 1,
    *,
    query_labels: Any | None = None,
    gallery_labels: Any | None = None,
) -> float:
    """Fraction of queries with a relevant item in their first k results."""
    hits, _ = per_query_retrieval(
        scores, relevance, query_labels=query_labels, gallery_labels=gallery_labels, ks=(k,)
    )
    return float(hits[:, 0].mean())


def mean_average_precision(
    scores: Any,
    relevance: Any | None = None,
    *,
    query_labels: Any | None = None,
    gallery_labels: Any | None = None,
) -> float:
    """Mean over queries of average precision over all their relevant items."""
    _, ap = per_query_retrieval(
        scores, relevance, query_labels=query_labels, gallery_labels=gallery_labels, ks=(1,)
    )
    return float(ap.mean())


def roc_auc(scores: Any, positive: Any) -> float:
    """ROC AUC of ``scores`` for telling ``positive`` rows from the rest (ties count 1/2).

    Higher scores should mean positive; for mismatch detection the positives are the
    genuine pairs, since every model's score is a similarity.
    """
    s = as_scores(scores, "scores", 1, ties=True)
    y = as_labels(positive, "positive", s.shape[0]).astype(bool)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.shape[0]:
        raise InputError(
            f"ROC AUC needs both classes, got {n_pos} positives of {y.shape[0]} samples"
        )
    # P(score of a random positive > score of a random negative), ties 1/2: the positives'
    # rank sum minus its minimum, over the number of (positive, negative) pairs.
    ranks = rankdata(s, method="average")
    n_neg = y.shape[0] - n_pos
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


__all__ = [
    "DEFAULT_KS",
    "mean_average_precision",
    "per_query_retrieval",
    "recall_at_k",
    "relevance_from_labels",
    "roc_auc",
    "top_k_accuracy",
    "true_class_ranks",
]
