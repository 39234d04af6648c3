"""The one blocked scoring loop: score matrices and top-k over embedded vectors.

Every csa model scores by an inner product of embeddings, ``embed_a(a) @ embed_b(b).T``
(dense rows for CSA, CCA and LinearMap, scipy.sparse rows for ASIF). A full score matrix
of a large gallery does not fit in memory (1e5 x 1e5 float64 is 80 GB), so queries are
scored ``block_rows`` at a time against the whole gallery: peak memory is
O(block_rows x gallery), whatever the number of queries. Retrieval, zero-shot
classification and search all go through :func:`iter_score_blocks`, so blocking, slicing
of dense and sparse rows, and shape checks live in one place.

Public API (small on purpose):

- :func:`iter_score_blocks` yields ``(start, stop, scores)`` for consecutive query blocks;
- :func:`merge_top_k` folds one more block of gallery scores into a running top-k, the
  step of every exact top-k search (:func:`csa.scale.top_k` runs it over a model's
  embedded gallery; :meth:`csa.multimodal.Classification.top_k` over class scores);
- :func:`default_block_rows` sizes a block from a score budget.

Ties are broken towards the smaller gallery index everywhere, so blocked, streamed and
full-matrix searches return the same ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from csa.errors import ParameterError, ShapeError

# Scores held at once when the caller leaves the block size to us: 2**24 values,
# 128 MiB in float64.
DEFAULT_SCORE_BUDGET = 2**24

ScoreFn = Callable[[Any, Any], Any]


def _n_rows(x: Any, name: str) -> int:
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 2:
        raise ShapeError(f"{name} must be a 2-D array of embedded rows, got shape {shape}")
    return int(shape[0])


def default_block_rows(n_gallery: int, budget: int = DEFAULT_SCORE_BUDGET) -> int:
    """Query rows per block so that one block of scores holds about ``budget`` values."""
    return max(1, int(budget) // max(1, int(n_gallery)))


def check_block_rows(block_rows: Any) -> int:
    """A positive integer block size, or a ParameterError naming the value."""
    if (
        isinstance(block_rows, bool)
        or not isinstance(block_rows, int | np.integer)
        or block_rows < 1
    ):
        raise ParameterError(f"block_rows must be a positive integer, got {block_rows!r}")
    return int(block_rows)


def inner_product(query_block: Any, gallery_emb: Any) -> np.ndarray:
    """Dense ``query_block @ gallery_emb.T`` for dense or sparse rows on either side."""
    product = query_block @ gallery_emb.T
    return product.toarray() if sp.issparse(product) else np.asarray(product)


def iter_score_blocks(
    query_emb: Any,
    gallery_emb: Any,
    block_rows: int | None = None,
    *,
    score: ScoreFn | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Scores of consecutive blocks of queries against the whole gallery.

    Yields ``(start, stop, scores)`` where ``scores`` is the dense
    ``(stop - start, n_gallery)`` block for query rows ``start:stop``. ``score`` replaces
    the inner product for scorers that are not one (it gets a row slice of
    ``query_emb`` and the whole ``gallery_emb``); its output is checked for shape.
    ``block_rows=None`` uses :func:`default_block_rows`.
    """
    n_q = _n_rows(query_emb, "query_emb")
    n_g = _n_rows(gallery_emb, "gallery_emb")
    if score is None:
        score = inner_product
        if query_emb.shape[1] != gallery_emb.shape[1]:
            raise ShapeError(
                f"query embeddings have {query_emb.shape[1]} columns but gallery "
                f"embeddings have {gallery_emb.shape[1]}; embed both with the same model "
                "and query options"
            )
    rows = default_block_rows(n_g) if block_rows is None else check_block_rows(block_rows)
    for start in range(0, n_q, rows):
        stop = min(start + rows, n_q)
        block = np.asarray(score(query_emb[start:stop], gallery_emb))
        if block.shape != (stop - start, n_g):
            raise ShapeError(
                f"scores of query rows {start}:{stop} have shape {block.shape}, "
                f"expected {(stop - start, n_g)}"
            )
        yield start, stop, block


def score_matrix(
    query_emb: Any, gallery_emb: Any, block_rows: int | None = None, *, score: ScoreFn | None = None
) -> np.ndarray:
    """The whole ``(n_query, n_gallery)`` score matrix, assembled from blocks.

    For callers that need every score (zero-shot over a few classes); use
    :func:`iter_score_blocks` or :func:`csa.scale.top_k` when the gallery is large.
    """
    n_gallery = _n_rows(gallery_emb, "gallery_emb")
    blocks = [np.empty((0, n_gallery))]
    blocks += [s for _, _, s in iter_score_blocks(query_emb, gallery_emb, block_rows, score=score)]
    return np.concatenate(blocks, axis=0)


#: Neighbours over which CSLS averages each gallery item's highest scores.
CSLS_NEIGHBOURS = 10
#: Hubness corrections :func:`csa.tasks.evaluate_retrieval` knows.
HUBNESS = ("none", "csls")


def gallery_hubness(
    blocks: Iterator[tuple[int, int, np.ndarray]], k: int = CSLS_NEIGHBOURS
) -> np.ndarray:
    """Each gallery item's hub score: the mean of its ``k`` highest scores over the queries.

    Cross-domain similarity local scaling (CSLS; Conneau et al., 2018) ranks gallery
    item ``g`` for query ``q`` by ``2 s(q, g) - r_q - r_g``, where ``r_g`` is this
    mean: an item close to every query (a hub, such as a generic caption or a
    smiling-face icon) is pulled down by its closeness to all of them. ``r_q`` is the
    same for every item of one query, so it changes no ranking. The queries are the
    bank (no rows are kept in the model); with fewer than ``k`` queries every one is
    used. One pass over the score blocks, keeping ``k x n_gallery`` scores.
    """
    k = _check_k(k)
    top: np.ndarray | None = None
    for _, _, scores in blocks:
        stacked = scores if top is None else np.vstack([top, scores])
        keep = min(k, stacked.shape[0])
        top = -np.partition(-stacked, keep - 1, axis=0)[:keep]
    if top is None:
        raise ShapeError("no query scores: hubness needs at least one query")
    return top.mean(axis=0)


def merge_top_k(
    best_indices: np.ndarray | None,
    best_scores: np.ndarray | None,
    scores: np.ndarray,
    offset: int,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` of a running top-k and a new block of gallery scores.

    ``scores`` is ``(n_query, m)`` for gallery items ``offset .. offset + m - 1``; pass
    ``None`` for the running arrays on the first block. Returns ``(indices, scores)``,
    best first, ties towards the smaller index.
    """
    k = _check_k(k)
    ids = np.broadcast_to(np.arange(offset, offset + scores.shape[1]), scores.shape)
    if best_scores is not None and best_indices is not None:
        scores = np.hstack([best_scores, scores])
        ids = np.hstack([best_indices, ids])
    keep = min(k, scores.shape[1])
    if keep < scores.shape[1]:
        part = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]
        cand_scores = np.take_along_axis(scores, part, axis=1)
        cand_ids = np.take_along_axis(ids, part, axis=1)
        # argpartition splits a tie at the cut arbitrarily; where it did, redo those rows
        # with a full sort so the smaller index wins (rare with real-valued scores).
        kth = cand_scores.min(axis=1, keepdims=True)
        split = np.count_nonzero(scores == kth, axis=1) > np.count_nonzero(
            cand_scores == kth, axis=1
        )
        if split.any():
            rows = np.flatnonzero(split)
            full = np.lexsort((ids[rows], -scores[rows]), axis=1)[:, :keep]
            cand_scores[rows] = np.take_along_axis(scores[rows], full, axis=1)
            cand_ids[rows] = np.take_along_axis(ids[rows], full, axis=1)
        scores, ids = cand_scores, cand_ids
    order = np.lexsort((ids, -scores), axis=1)
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(scores, order, axis=1)


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ParameterError(f"k must be a positive integer, got {k!r}")
    return int(k)


__all__ = [
    "CSLS_NEIGHBOURS",
    "DEFAULT_SCORE_BUDGET",
    "HUBNESS",
    "check_block_rows",
    "default_block_rows",
    "gallery_hubness",
    "inner_product",
    "iter_score_blocks",
    "merge_top_k",
    "score_matrix",
]
