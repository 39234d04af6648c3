"""Output options and identity on the cached path a user takes: the same answer on a hit.

A cache hit must give what a miss gives: ``normalize_embeddings=True`` unit rows,
``convert_to_tensor=True`` a tensor, and the raw vectors when no option is asked for,
whatever options the entry was first written with. The expected vectors are the table's
own rows, normalised by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

import csa
from csa.encoders import cached_encode, get
from csa.multimodal import MultimodalEncoder
from known_models import TableEncoder, csa_scores_by_hand

WORDS = ["a cat", "a dog", "a red bus", "two birds", "an old tree"]


def _table(seed: int = 0, dim: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {w: rng.normal(size=dim) * (i + 1) for i, w in enumerate(WORDS)}


def _raw(table, items):
    return np.stack([np.asarray(table[i], dtype=np.float32) for i in items])


def _unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_normalized_on_a_miss_and_on_the_hit_after_it(tmp_path):
    table = _table()
    enc = TableEncoder("words", table)
    first = cached_encode(enc, WORDS, cache_dir=tmp_path, normalize_embeddings=True)
    second = cached_encode(enc, WORDS, cache_dir=tmp_path, normalize_embeddings=True)
    assert enc.encoded == len(WORDS)  # the second call was a hit
    expected = _unit(_raw(table, WORDS))
    np.testing.assert_allclose(first, expected, rtol=1e-6)
    np.testing.assert_allclose(second, expected, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(second, axis=1), 1.0, rtol=1e-6)


def test_options_apply_to_a_hit_written_without_them_and_the_entry_stays_raw(tmp_path):
    table = _table(1)
    enc = TableEncoder("words", table)
    raw = cached_encode(enc, WORDS, cache_dir=tmp_path)
    unit = cached_encode(enc, WORDS, cache_dir=tmp_path, normalize_embeddings=True)
    again = cached_encode(enc, WORDS, cache_dir=tmp_path)
    assert enc.encoded == len(WORDS)
    np.testing.assert_array_equal(raw, _raw(table, WORDS))
    np.testing.assert_allclose(unit, _unit(_raw(table, WORDS)), rtol=1e-6)
    np.testing.assert_array_equal(again, _raw(table, WORDS))  # no option: raw, as first written
    assert not np.allclose(np.linalg.norm(again, axis=1), 1.0)


def test_normalized_miss_does_not_leave_normalized_vectors_for_a_raw_hit(tmp_path):
    table = _table(2)
    enc = TableEncoder("words", table)
    cached_encode(enc, WORDS, cache_dir=tmp_path, normalize_embeddings=True)
    raw = cached_encode(enc, WORDS, cache_dir=tmp_path)
    assert enc.encoded == len(WORDS)
    np.testing.assert_array_equal(raw, _raw(table, WORDS))


def test_tensor_output_on_a_hit(tmp_path):
    torch = pytest.importorskip("torch")
    table = _table(3)
    enc = TableEncoder("words", table)
    cached_encode(enc, WORDS, cache_dir=tmp_path)
    hit = cached_encode(
        enc, WORDS, cache_dir=tmp_path, convert_to_tensor=True, normalize_embeddings=True
    )
    assert isinstance(hit, torch.Tensor) and enc.encoded == len(WORDS)
    np.testing.assert_allclose(hit.numpy(), _unit(_raw(table, WORDS)), rtol=1e-6)


def test_two_encoders_of_one_width_never_share_entries(tmp_path):
    one, two = _table(4), _table(5)
    first = TableEncoder("words-one", one)
    second = TableEncoder("words-two", two)
    np.testing.assert_array_equal(cached_encode(first, WORDS, cache_dir=tmp_path), _raw(one, WORDS))
    np.testing.assert_array_equal(
        cached_encode(second, WORDS, cache_dir=tmp_path), _raw(two, WORDS)
    )
    assert second.encoded == len(WORDS)


def test_a_reordered_list_gets_its_own_rows(tmp_path):
    table = _table(6)
    enc = TableEncoder("words", table)
    cached_encode(enc, WORDS, cache_dir=tmp_path)
    reordered = WORDS[::-1]
    np.testing.assert_array_equal(
        cached_encode(enc, reordered, cache_dir=tmp_path), _raw(table, reordered)
    )


def test_registry_encoder_through_the_cache_twice_normalized(tmp_path):
    """End to end: a registry-built encoder (precomputed features) on the cached path."""
    rng = np.random.default_rng(7)
    feats = (rng.normal(size=(6, 5)) * np.arange(1, 7)[:, None]).astype(np.float32)
    np.save(tmp_path / "f.npy", feats)
    enc = get(f"precomputed:{tmp_path / 'f.npy'}")
    rows = [4, 0, 2]
    for _ in range(2):
        out = cached_encode(enc, rows, cache_dir=tmp_path / "c", normalize_embeddings=True)
        np.testing.assert_allclose(out, _unit(feats[rows]), rtol=1e-6)
    assert len(list((tmp_path / "c").rglob("*"))) >= 1  # something was cached


def test_the_one_object_reads_its_features_back_from_the_cache(tmp_path):
    """End to end: MultimodalEncoder encodes once, then serves the same raw features."""
    ta, tb = _table(8, dim=4), _table(9, dim=3)
    enc_a, enc_b = TableEncoder("ta", ta), TableEncoder("tb", tb)
    mm = MultimodalEncoder(enc_a, enc_b, csa.CSA(ridge=0.1, sim_dim=2), cache_dir=tmp_path)
    rng = np.random.default_rng(10)
    fa = rng.normal(size=(40, 4))
    mm.fit_features(fa, fa[:, :3] + rng.normal(scale=0.5, size=(40, 3)), held_out=0.0)
    for _ in range(2):
        np.testing.assert_array_equal(mm.features("a", WORDS), _raw(ta, WORDS))
        got = mm.similarity(WORDS, WORDS[:2])
        expected = csa_scores_by_hand(mm.model, _raw(ta, WORDS), _raw(tb, WORDS[:2]))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert enc_a.encoded == len(WORDS) and enc_b.encoded == 2


def test_long_encoder_names_that_share_a_prefix_keep_their_own_entries(tmp_path):
    """Two feature files deep in one folder: names alike for 80+ characters, same width."""
    folder = "precomputed:/data/" + "project/embeddings/" * 5
    one, two = _table(11), _table(12)
    first = TableEncoder(folder + "image-side.npy", one)
    second = TableEncoder(folder + "text-side.npy", two)
    np.testing.assert_array_equal(cached_encode(first, WORDS, cache_dir=tmp_path), _raw(one, WORDS))
    np.testing.assert_array_equal(
        cached_encode(second, WORDS, cache_dir=tmp_path), _raw(two, WORDS)
    )
