"""Cross-modal retrieval in both directions, in blocks of queries.

The score matrix of a large gallery does not fit in memory (100k x 100k float64 is
80 GB), so queries are scored ``block_size`` at a time against the whole gallery and
only per-query hits and average precisions are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from csa.errors import InputError, ShapeError
from csa.tasks._common import (
    ResultMixin,
    as_labels,
    call_similarity,
    check_block_size,
    n_rows,
    take_rows,
    to_numpy,
)
from csa.tasks.metrics import DEFAULT_KS, per_query_retrieval

Direction = Literal["a->b", "b->a"]


@dataclass
class DirectionResult(ResultMixin):
    """Recall@K keyed by K and mAP for one direction (query side -> gallery side)."""

    recall: dict[int, float]
    mAP: float  # spelled as everyone reports it
    n_queries: int
    n_gallery: int


@dataclass
class RetrievalResult(ResultMixin):
    """Retrieval results keyed by direction, "a->b" and/or "b->a"."""

    directions: dict[str, DirectionResult]
    sim_dim: int | None = None

    def __getitem__(self, direction: str) -> DirectionResult:
        return self.directions[direction]

    @property
    def mean_map(self) -> float:
        """mAP averaged over the directions evaluated: one number for model selection."""
        return float(np.mean([d.mAP for d in self.directions.values()]))


class _Relevance:
    """Relevance rows for a block of queries, from a pairing, labels, or a matrix."""

    def __init__(
        self,
        n_a: int,
        n_b: int,
        relevance: Any | None,
        labels_a: Any | None,
        labels_b: Any | None,
    ) -> None:
        self.matrix: np.ndarray | None = None
        self.labels_a: np.ndarray | None = None
        self.labels_b: np.ndarray | None = None
        if relevance is not None:
            if labels_a is not None or labels_b is not None:
                raise InputError("give either relevance or labels_a/labels_b, not both")
            rel = to_numpy(relevance, "relevance")
            if rel.shape != (n_a, n_b):
                raise ShapeError(f"relevance must have shape ({n_a}, {n_b}), got {rel.shape}")
            if rel.dtype != np.bool_:
                if not np.all(np.isin(rel, (0, 1))):
                    raise InputError("relevance must be boolean (or 0/1)")
                rel = rel.astype(bool)
            self.matrix = rel
        elif labels_a is not None or labels_b is not None:
            if labels_a is None or labels_b is None:
                raise InputError("labels_a and labels_b must be given together")
            self.labels_a = as_labels(labels_a, "labels_a", n_a)
            self.labels_b = as_labels(labels_b, "labels_b", n_b)
        elif n_a != n_b:
            raise ShapeError(
                f"without relevance or labels, row i of a is paired with row i of b, "
                f"but a has {n_a} rows and b has {n_b}"
            )

    def rows(self, direction: Direction, idx: np.ndarray, n_gallery: int) -> np.ndarray:
        if self.matrix is not None:
            return self.matrix[idx] if direction == "a->b" else self.matrix[:, idx].T
        if self.labels_a is not None and self.labels_b is not None:
            q, g = (
                (self.labels_a, self.labels_b)
                if direction == "a->b"
                else (self.labels_b, self.labels_a)
            )
            return q[idx][:, None] == g[None, :]
        rel = np.zeros((idx.shape[0], n_gallery), dtype=bool)
        rel[np.arange(idx.shape[0]), idx] = True
        return rel


# Scores held at once when block_size is left to us: 2**24 float64 values, 128 MiB.
DEFAULT_SCORE_BUDGET = 2**24


def evaluate_retrieval(
    model: Any,
    a: Any,
    b: Any,
    *,
    relevance: Any | None = None,
    labels_a: Any | None = None,
    labels_b: Any | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    directions: Sequence[Direction] = ("a->b", "b->a"),
    sim_dim: int | None = None,
    block_size: int | None = None,
) -> RetrievalResult:
    """Recall@K and mAP for retrieving b from a and a from b.

    What counts as a match, in order of precedence: ``relevance``, a boolean (n_a, n_b)
    matrix; else ``labels_a``/``labels_b``, where equal labels match (several true
    matches per query); else row i of a matches row i of b. Every query must have at
    least one match. Peak memory is about ``block_size * gallery size`` scores; left as
    None, the block is as large as fits in 2**24 scores, and when the whole matrix fits
    it is computed once and read in both directions.
    """
    n_a, n_b = n_rows(a, "a"), n_rows(b, "b")
    rel = _Relevance(n_a, n_b, relevance, labels_a, labels_b)
    ks = tuple(int(k) for k in ks)
    dirs = tuple(directions)
    if not dirs or any(d not in ("a->b", "b->a") for d in dirs):
        raise InputError(f"directions must be 'a->b' and/or 'b->a', got {dirs!r}")
    if block_size is None:
        full = n_a * n_b <= DEFAULT_SCORE_BUDGET
        block_size = max(1, DEFAULT_SCORE_BUDGET // max(n_a, n_b))
    else:
        block_size = check_block_size(block_size)
        full = block_size >= max(n_a, n_b)
    whole = _checked(call_similarity(model, a, b, sim_dim), (n_a, n_b)) if full else None

    out: dict[str, DirectionResult] = {}
    for direction in dirs:
        n_q, n_g = (n_a, n_b) if direction == "a->b" else (n_b, n_a)
        hit_sum = np.zeros(len(ks))
        ap_sum = 0.0
        for start in range(0, n_q, n_q if whole is not None else block_size):
            stop = n_q if whole is not None else min(start + block_size, n_q)
            idx = np.arange(start, stop)
            if whole is not None:
                scores = whole if direction == "a->b" else whole.T
            elif direction == "a->b":
                scores = call_similarity(model, take_rows(a, idx), b, sim_dim)
            else:
                scores = call_similarity(model, a, take_rows(b, idx), sim_dim).T
            scores = _checked(scores, (idx.shape[0], n_g))
            hits, ap = per_query_retrieval(scores, rel.rows(direction, idx, n_g), ks=ks)
            hit_sum += hits.sum(axis=0)
            ap_sum += float(ap.sum())
        out[direction] = DirectionResult(
            recall={k: float(h / n_q) for k, h in zip(ks, hit_sum, strict=True)},
            mAP=ap_sum / n_q,
            n_queries=n_q,
            n_gallery=n_g,
        )
    return RetrievalResult(directions=out, sim_dim=sim_dim)


def _checked(scores: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if scores.shape != shape:
        raise ShapeError(f"model.similarity returned shape {scores.shape}, expected {shape}")
    return scores


__all__ = ["DirectionResult", "RetrievalResult", "evaluate_retrieval"]
