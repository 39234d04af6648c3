"""csa.scoring: the one blocked loop gives the full product, and top-k the exact ranking."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from csa.errors import ParameterError, ShapeError
from csa.scoring import (
    default_block_rows,
    iter_score_blocks,
    merge_top_k,
    score_matrix,
)


def top_k(q, g, k, block_rows=None):
    """Exact blocked top-k from the module's two primitives (the loop csa.scale.top_k runs)."""
    ids = np.empty((0, min(k, g.shape[0])), dtype=np.int64)
    best = np.empty(ids.shape)
    for _, _, block in iter_score_blocks(q, g, block_rows):
        got_ids, got = merge_top_k(None, None, block, 0, k)
        ids, best = np.vstack([ids, got_ids]), np.vstack([best, got])
    return ids, best


def test_blocks_cover_every_query_once_and_equal_the_full_product():
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(23, 5)), rng.normal(size=(11, 5))
    spans = []
    for start, stop, block in iter_score_blocks(q, g, 4):
        spans.append((start, stop))
        np.testing.assert_allclose(block, q[start:stop] @ g.T, rtol=1e-12)
    assert spans == [(0, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 23)]
    np.testing.assert_allclose(score_matrix(q, g, 7), q @ g.T, rtol=1e-12)


def test_sparse_rows_score_like_dense_ones():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(9, 6)) * (rng.random((9, 6)) < 0.4)
    g = rng.normal(size=(5, 6)) * (rng.random((5, 6)) < 0.4)
    expected = q @ g.T
    for qq, gg in ((sp.csr_matrix(q), sp.csr_matrix(g)), (q, sp.csr_matrix(g))):
        got = score_matrix(qq, gg, 2)
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_top_k_is_the_sorted_ranking_with_ties_to_the_smaller_index():
    scores = np.array([[0.1, 0.5, 0.5, 0.9, 0.5], [0.0, 0.0, 0.0, 0.0, 1.0]])
    # Identity queries make the inner product return these scores as they are.
    ids, best = top_k(scores, np.eye(5), 3, block_rows=1)
    np.testing.assert_array_equal(ids, [[3, 1, 2], [4, 0, 1]])
    np.testing.assert_allclose(best, [[0.9, 0.5, 0.5], [1.0, 0.0, 0.0]])
    ids, _ = top_k(scores, np.eye(5), 9)  # k above the gallery size: the whole ranking
    np.testing.assert_array_equal(ids[0], [3, 1, 2, 4, 0])


def test_top_k_over_gallery_pieces_equals_one_pass():
    rng = np.random.default_rng(2)
    q, g = rng.normal(size=(17, 4)), rng.normal(size=(40, 4))
    g[25] = g[3]  # an exact tie across pieces: the smaller index must win
    want_ids, want = top_k(q, g, 5)
    ids = best = None
    for offset in range(0, 40, 9):
        block = score_matrix(q, g[offset : offset + 9])
        ids, best = merge_top_k(ids, best, block, offset, 5)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(best, want)
    full = q @ g.T
    order = np.lexsort((np.broadcast_to(np.arange(40), full.shape), -full), axis=1)[:, :5]
    np.testing.assert_array_equal(want_ids, order)


def test_custom_scorer_and_errors_name_the_problem():
    q, g = np.ones((3, 2)), np.ones((4, 2))
    got = score_matrix(q, g, 2, score=lambda a, b: -(a @ b.T))
    np.testing.assert_allclose(got, -2.0)
    with pytest.raises(ShapeError, match="columns"):
        score_matrix(q, np.ones((4, 3)))
    with pytest.raises(ShapeError, match="expected"):
        score_matrix(q, g, score=lambda a, b: np.ones((1, 1)))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ParameterError, match="block_rows"):
            list(iter_score_blocks(q, g, bad))
    with pytest.raises(ParameterError, match="k must"):
        top_k(q, g, 0)
    assert default_block_rows(1000, budget=10**4) == 10 and default_block_rows(10**9) == 1


def test_merge_orders_tied_running_results_by_index():
    # The running top-k may hold tied items in any order; the merge must put 3 before 7.
    ids, best = merge_top_k(
        np.array([[7, 3]]), np.array([[1.0, 1.0]]), np.array([[1.0, 0.5]]), 10, 3
    )
    np.testing.assert_array_equal(ids, [[3, 7, 10]])
    np.testing.assert_allclose(best, [[1.0, 1.0, 1.0]])


def test_no_queries_give_empty_results_not_a_concatenation_error():
    # before: top_k(model, A[:0], B, 5) -> "need at least one array to concatenate"
    import csa
    from csa.scale import top_k as search_top_k

    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 4))
    b = a @ rng.normal(size=(4, 3)) + 0.1 * rng.normal(size=(40, 3))
    model = csa.CCA(ridge=0.1, sim_dim=2).fit(a, b)
    scores, ids = search_top_k(model, a[:0], b, 5, backend="numpy")
    assert scores.shape == ids.shape == (0, 5)
    assert score_matrix(np.ones((0, 2)), np.ones((4, 2))).shape == (0, 4)
