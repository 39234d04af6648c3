"""Blocked and FAISS top-k equal a brute-force ranking of model.similarity."""

from __future__ import annotations

import numpy as np
import pytest

import csa
from csa.scale.search import GalleryIndex, model_nbytes, similarity_blocks, top_k


def _pairs(n: int, seed: int = 0, dim_a: int = 16, dim_b: int = 12):
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n, 6))
    a = shared @ rng.standard_normal((6, dim_a)) + 0.5 * rng.standard_normal((n, dim_a))
    b = shared @ rng.standard_normal((6, dim_b)) + 0.5 * rng.standard_normal((n, dim_b))
    return a, b


@pytest.fixture(scope="module")
def data():
    a, b = _pairs(600)
    qa, gb = _pairs(700, seed=1)
    return a, b, qa[:90], gb


def _brute(model, queries, gallery, k, **options):
    sims = model.similarity(queries, gallery, **options)
    order = np.lexsort((np.broadcast_to(np.arange(sims.shape[1]), sims.shape), -sims), axis=1)
    ids = order[:, :k]
    return np.take_along_axis(sims, ids, axis=1), ids


@pytest.mark.parametrize(
    "model",
    [csa.CSA(), csa.CSA(sim_dim=4), csa.CCA(), csa.LinearMap(), csa.ASIF(k=40, p=3)],
    ids=["csa", "csa-s4", "cca", "linear", "asif"],
)
@pytest.mark.parametrize("backend", ["numpy", "auto"])
def test_top_k_equals_brute_force(data, model, backend):
    a, b, queries, gallery = data
    model.fit(a, b)
    want_scores, want_ids = _brute(model, queries, gallery, 10)
    index = GalleryIndex(model, "b", backend=backend)
    # Added in uneven pieces, searched in small query blocks: every merge path is used.
    for piece in np.array_split(np.arange(len(gallery)), 3):
        index.add(gallery[piece])
    scores, ids = index.search(queries, k=10, query_rows=17)
    np.testing.assert_allclose(scores, want_scores, atol=2e-6)
    # Float32 scores can swap two items whose float64 scores differ by < 1e-6.
    gap = np.abs(np.diff(want_scores, axis=1)).min(axis=1) > 1e-5
    np.testing.assert_array_equal(ids[gap], want_ids[gap])
    assert (ids == want_ids).mean() > 0.95


def test_faiss_index_is_used_for_dense_models_and_is_exact(data):
    a, b, queries, gallery = data
    model = csa.CSA(sim_dim=6).fit(a, b)
    index = GalleryIndex(model, "b", backend="faiss").add(gallery)
    assert index._faiss is not None and index.ntotal == len(gallery)
    assert index.memory_bytes == len(gallery) * 6 * 4
    scores, ids = index.search(queries, k=5)
    want_scores, want_ids = _brute(model, queries, gallery, 5)
    np.testing.assert_allclose(scores, want_scores, atol=2e-6)
    assert (ids == want_ids).mean() > 0.95
    # Retrieval the other way: side-b queries over a side-a gallery.
    rev_scores, rev_ids = top_k(model, gallery[:30], queries, k=3, query_side="b")
    sims_t = model.similarity(queries, gallery[:30]).T
    np.testing.assert_allclose(rev_scores, -np.sort(-sims_t, axis=1)[:, :3], atol=2e-6)
    np.testing.assert_array_equal(rev_ids[:, 0], sims_t.argmax(axis=1))


def test_zero_shot_is_top_1(data):
    a, b, queries, _ = data
    model = csa.CSA().fit(a, b)
    classes = b[:25]
    _, ids = top_k(model, queries, classes, k=1)
    np.testing.assert_array_equal(ids[:, 0], model.similarity(queries, classes).argmax(axis=1))


def test_similarity_blocks_tile_the_matrix(data):
    a, b, queries, gallery = data
    model = csa.CSA().fit(a, b)
    full = model.similarity(queries, gallery[:50])
    tiled = np.zeros_like(full)
    for rows, block in similarity_blocks(model, queries, gallery[:50], rows=13):
        tiled[rows] = block
    np.testing.assert_allclose(tiled, full, atol=1e-6)


def test_asif_memory_grows_with_anchors_csa_does_not(data):
    a, b, _, gallery = data
    small, large = csa.CSA().fit(a[:300], b[:300]), csa.CSA().fit(a, b)
    assert model_nbytes(small) == model_nbytes(large)
    asif_small, asif_large = csa.ASIF(k=40).fit(a[:300], b[:300]), csa.ASIF(k=40).fit(a, b)
    assert model_nbytes(asif_large) == 2 * model_nbytes(asif_small)
    index = GalleryIndex(asif_large, "b").add(gallery)
    assert index.memory_bytes >= len(gallery) * 40 * 8  # float32 value + int32 column per nnz


def test_bad_queries_are_refused(data):
    a, b, queries, gallery = data
    model = csa.ASIF(k=20).fit(a, b)
    with pytest.raises(csa.ParameterError, match="sparse"):
        GalleryIndex(model, backend="faiss").add(gallery)
    with pytest.raises(csa.NotFittedError):
        GalleryIndex(csa.CSA())
    index = GalleryIndex(csa.CSA().fit(a, b))
    with pytest.raises(csa.ShapeError, match="empty"):
        index.search(queries)
    index.add(gallery)
    with pytest.raises(csa.ParameterError, match="k must"):
        index.search(queries, k=0)
    with pytest.raises(csa.ShapeError):
        index.search(gallery)  # side-b features where side-a queries are expected
    with pytest.raises(csa.ParameterError, match="side"):
        GalleryIndex(csa.CSA().fit(a, b), side="c")
