"""Fitting from files starts over, and searches over a gallery in pieces are exact.

``fit_files`` on a model that is already fitted must give the model a fresh fit on the
files gives (like ``fit``), for ASIF, whose state is its anchors, as for CSA; the
expected ASIF scores are recomputed by hand from the file's rows. Search results are
checked against a full sort of hand-computed scores.
"""

from __future__ import annotations

import numpy as np
import pytest

import csa
from csa.scale.search import GalleryIndex, top_k
from csa.scale.streaming import fit_files
from known_models import asif_scores_by_hand, csa_scores_by_hand
from synthetic import known_cca_pairs


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture()
def files(tmp_path):
    a, b = known_cca_pairs(23, rho=(0.9, 0.6), dim_a=5, dim_b=4, seed=3)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    return tmp_path / "a.npy", tmp_path / "b.npy", a, b


@pytest.mark.parametrize("chunk_rows", [4, 23, 100])
def test_fit_files_on_a_fitted_asif_starts_over(files, chunk_rows):
    path_a, path_b, a, b = files
    other_a, other_b = known_cca_pairs(11, rho=(0.9, 0.6), dim_a=5, dim_b=4, seed=9)
    model = csa.ASIF(k=5, p=3.0).fit(other_a, other_b)
    fit_files(model, path_a, path_b, chunk_rows=chunk_rows)
    assert model.n_pairs_seen_ == 23
    np.testing.assert_allclose(model.anchors_a_, _unit(a), atol=1e-12)
    np.testing.assert_allclose(model.anchors_b_, _unit(b), atol=1e-12)
    q_a, q_b = known_cca_pairs(6, rho=(0.9, 0.6), dim_a=5, dim_b=4, seed=10)
    expected = asif_scores_by_hand(a, b, q_a, q_b, k=5, p=3.0)
    np.testing.assert_allclose(model.similarity(q_a, q_b), expected, atol=1e-10)


def test_fit_files_twice_keeps_one_copy_of_the_anchors(files):
    path_a, path_b, a, b = files
    model = csa.ASIF(k=4, p=2.0)
    fit_files(model, path_a, path_b, chunk_rows=5)
    fit_files(model, path_a, path_b, chunk_rows=5)
    assert model.n_pairs_seen_ == 23
    fresh = csa.ASIF(k=4, p=2.0).fit(a, b)
    np.testing.assert_allclose(model.similarity(a[:5], b), fresh.similarity(a[:5], b), atol=1e-12)


def test_fit_files_on_a_fitted_csa_equals_a_fresh_fit(files):
    path_a, path_b, a, b = files
    model = csa.CSA(ridge=0.1, sim_dim=2)
    other_a, other_b = known_cca_pairs(40, rho=(0.9, 0.6), dim_a=5, dim_b=4, seed=11)
    model.fit(other_a, other_b)
    fit_files(model, path_a, path_b, chunk_rows=6)
    fresh = csa.CSA(ridge=0.1, sim_dim=2).fit(a, b)
    assert model.n_pairs_seen_ == 23
    np.testing.assert_allclose(
        model.canonical_correlations_, fresh.canonical_correlations_, rtol=1e-9
    )
    np.testing.assert_allclose(
        model.similarity(a, b), csa_scores_by_hand(fresh, a, b), rtol=1e-8, atol=1e-10
    )


def test_fit_files_from_parquet_keeps_the_last_short_chunk(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    a, b = known_cca_pairs(17, rho=(0.9, 0.6), dim_a=5, dim_b=4, seed=12)
    for name, x in (("a", a), ("b", b)):
        pd.DataFrame({"emb": list(x)}).to_parquet(tmp_path / f"{name}.parquet")
    model = fit_files(csa.ASIF(k=3), tmp_path / "a.parquet", tmp_path / "b.parquet", chunk_rows=5)
    assert model.n_pairs_seen_ == 17
    np.testing.assert_allclose(model.anchors_b_, _unit(b), atol=1e-12)


def _hand_top_k(scores, k):
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


def test_gallery_added_in_pieces_is_searched_as_one(files):
    _, _, a, b = files
    model = csa.CSA(ridge=0.1, sim_dim=2).fit(a, b)
    index = GalleryIndex(model, side="b", backend="numpy")
    for piece in (b[:7], b[7:15], b[15:]):
        index.add(piece)
    scores, ids = index.search(a[:5], k=6)
    want_scores, want_ids = _hand_top_k(csa_scores_by_hand(model, a[:5], b), 6)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
def test_top_k_from_side_b_by_hand(files, backend):
    if backend == "faiss":
        pytest.importorskip("faiss")
    _, _, a, b = files
    model = csa.CSA(ridge=0.1, sim_dim=2).fit(a, b)
    scores, ids = top_k(model, b[:4], a, 5, query_side="b", backend=backend)
    want_scores, want_ids = _hand_top_k(csa_scores_by_hand(model, a, b[:4]).T, 5)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def test_asif_top_k_through_sparse_blocks_by_hand(files):
    _, _, a, b = files
    model = csa.ASIF(k=4, p=3.0).fit(a, b)
    q = a[:6] + 0.1
    scores, ids = top_k(model, q, b, 3, query_side="a", backend="numpy")
    full = asif_scores_by_hand(a, b, q, b, k=4, p=3.0)
    want_scores, _ = _hand_top_k(full, 3)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)
    np.testing.assert_allclose(np.take_along_axis(full, ids, axis=1), want_scores, atol=1e-6)


def test_top_k_ties_go_to_the_smaller_gallery_index(files):
    _, _, a, b = files
    model = csa.CSA(ridge=0.1, sim_dim=2).fit(a, b)
    gallery = np.vstack([b[:6], b[:6], b[:6]])  # every item three times: exact ties
    _, ids = top_k(model, a[:4], gallery, 7, backend="numpy")
    full = csa_scores_by_hand(model, a[:4], gallery)
    for row in range(4):
        # within each tie group the ids ascend; groups follow the score order
        hand = sorted(range(18), key=lambda j, r=row: (-round(full[r, j], 9), j))[:7]
        assert ids[row].tolist() == hand


def test_asif_keeps_only_positive_similarities(files):
    _, _, a, b = files
    model = csa.ASIF(k=50, p=3.0).fit(a, b)  # every anchor kept: negatives are in play
    q_a, q_b = known_cca_pairs(5, rho=(0.9, 0.6), dim_a=5, dim_b=4, seed=13)
    expected = asif_scores_by_hand(a, b, q_a, q_b, k=50, p=3.0)
    np.testing.assert_allclose(model.similarity(q_a, q_b), expected, atol=1e-10)
