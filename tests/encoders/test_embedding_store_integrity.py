"""Damaged rows and unusable paths: never served, never a hang, always a clear word.

Each damage test edits the SQLite file behind the store's back, the way a failing disk,
another tool or a careless copy would, and checks that what comes back is exactly what a
fresh encoder gives.
"""

from __future__ import annotations

import os
import sqlite3
import threading

import numpy as np
import pytest

from counting_encoder import MANY, TEXTS, Counting, truth
from csa.encoders import CacheWarning, EmbeddingStore, cached_encode
from csa.encoders.store import CacheUnavailable, store_path
from csa.errors import EncoderError


def _rows(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT encoder, item, vector, checksum FROM vectors").fetchall()


def _set_vector(path, item, vector, checksum=None):
    db = sqlite3.connect(path)
    if checksum is None:
        db.execute("UPDATE vectors SET vector = ? WHERE item = ?", (vector, item))
    else:
        db.execute(
            "UPDATE vectors SET vector = ?, checksum = ? WHERE item = ?", (vector, checksum, item)
        )
    db.commit()
    db.close()


@pytest.fixture
def filled(tmp_path):
    cached_encode(Counting(), TEXTS, cache_dir=tmp_path)
    return tmp_path, store_path(tmp_path)


def _again(cache_dir, expect_encoded):
    e = Counting()
    with pytest.warns(CacheWarning, match="damaged"):
        out = cached_encode(e, TEXTS, cache_dir=cache_dir)
    np.testing.assert_array_equal(out, truth(TEXTS))
    assert e.encoded == expect_encoded
    e2 = Counting()  # re-encoded rows were written back: the next call is all hits
    np.testing.assert_array_equal(cached_encode(e2, TEXTS, cache_dir=cache_dir), truth(TEXTS))
    assert e2.encoded == 0


def test_a_flipped_bit_in_a_vector_is_re_encoded(filled) -> None:
    cache_dir, path = filled
    _, item, vector, _ = _rows(path)[0]
    flipped = bytearray(vector)
    flipped[5] ^= 0x10  # one bit of one float
    _set_vector(path, item, bytes(flipped))
    _again(cache_dir, 1)


def test_entries_swapped_with_their_checksums_are_not_served(filled) -> None:
    cache_dir, path = filled
    (_, item_a, vec_a, sum_a), (_, item_b, vec_b, sum_b), _ = _rows(path)
    _set_vector(path, item_a, vec_b, sum_b)  # same shape, valid for another item
    _set_vector(path, item_b, vec_a, sum_a)
    _again(cache_dir, 2)


def test_a_zeroed_entry_is_not_served(filled) -> None:
    cache_dir, path = filled
    _, item, vector, checksum = _rows(path)[1]
    _set_vector(path, item, bytes(len(vector)), bytes(len(checksum)))
    _again(cache_dir, 1)


def test_a_truncated_or_wrong_length_entry_is_not_served(filled) -> None:
    cache_dir, path = filled
    _, item, vector, _ = _rows(path)[2]
    _set_vector(path, item, vector[:-4])
    _again(cache_dir, 1)


def test_random_byte_flips_in_the_file_never_give_wrong_vectors(tmp_path) -> None:
    """Whatever byte the disk damages, the answer is exact (read, re-encoded, or started over)."""
    cache_dir = tmp_path / "c"
    cached_encode(Counting(), MANY, cache_dir=cache_dir)
    path = store_path(cache_dir)
    with sqlite3.connect(path) as db:  # fold the WAL into the main file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pristine = path.read_bytes()
    expected = truth(MANY)
    rng = np.random.default_rng(0)
    for position in rng.choice(len(pristine), size=40, replace=False):
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        damaged = bytearray(pristine)
        damaged[int(position)] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(damaged))
        with _any_warnings():
            out = cached_encode(Counting(), MANY, cache_dir=cache_dir)
        np.testing.assert_array_equal(out, expected, err_msg=f"byte {position}")


class _any_warnings:
    """Damage may or may not be noticed (a flip in free space changes nothing): allow both."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", CacheWarning)

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def test_a_file_that_is_not_a_database_is_started_afresh(tmp_path) -> None:
    path = store_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not SQLite" * 100)
    e = Counting()
    with pytest.warns(CacheWarning, match="damaged"):
        np.testing.assert_array_equal(cached_encode(e, TEXTS, cache_dir=tmp_path), truth(TEXTS))
    e2 = Counting()
    cached_encode(e2, TEXTS, cache_dir=tmp_path)
    assert e2.encoded == 0


def test_a_store_of_another_format_is_refused_not_overwritten(tmp_path) -> None:
    cached_encode(Counting(), TEXTS, cache_dir=tmp_path)
    with sqlite3.connect(store_path(tmp_path)) as db:
        db.execute("UPDATE meta SET value = 'csa-embedding-store-99' WHERE key = 'format'")
    with pytest.raises(CacheUnavailable, match="csa-embedding-store-99"):
        EmbeddingStore(tmp_path)
    with pytest.warns(CacheWarning, match="another csa version"):
        out = cached_encode(Counting(), TEXTS, cache_dir=tmp_path)
    np.testing.assert_array_equal(out, truth(TEXTS))


def test_a_folder_at_the_store_path_falls_back_with_a_warning(tmp_path) -> None:
    store_path(tmp_path).mkdir(parents=True)
    e = Counting()
    with pytest.warns(CacheWarning, match="is a folder"):
        out = cached_encode(e, TEXTS, cache_dir=tmp_path)
    np.testing.assert_array_equal(out, truth(TEXTS))
    with pytest.raises(EncoderError, match="is a folder"):
        EmbeddingStore(tmp_path)


def test_a_file_where_the_cache_folder_should_be_falls_back(tmp_path) -> None:
    (tmp_path / "embeddings").write_text("not a folder")
    with pytest.warns(CacheWarning, match="is a file, not a folder"):
        out = cached_encode(Counting(), TEXTS, cache_dir=tmp_path)
    np.testing.assert_array_equal(out, truth(TEXTS))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_at_the_store_path_never_hangs(tmp_path) -> None:
    path = store_path(tmp_path)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    result: dict[str, object] = {}

    def run() -> None:
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result["out"] = cached_encode(Counting(), TEXTS, cache_dir=tmp_path)
        result["warnings"] = [str(w.message) for w in caught]

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "cached_encode hung on a FIFO"
    np.testing.assert_array_equal(result["out"], truth(TEXTS))
    assert any("FIFO" in w for w in result["warnings"])


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_an_unwritable_cache_folder_falls_back(tmp_path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.warns(CacheWarning):
            out = cached_encode(Counting(), TEXTS, cache_dir=locked)
        np.testing.assert_array_equal(out, truth(TEXTS))
    finally:
        locked.chmod(0o700)


def test_a_store_that_refuses_writes_still_serves_its_checked_rows(tmp_path, monkeypatch) -> None:
    cached_encode(Counting(), TEXTS[:2], cache_dir=tmp_path)

    def refuse(*args, **kwargs):
        raise CacheUnavailable("cannot write to the embedding cache: disk full")

    monkeypatch.setattr(EmbeddingStore, "put", refuse)
    e = Counting()
    with pytest.warns(CacheWarning, match="disk full"):
        out = cached_encode(e, TEXTS, cache_dir=tmp_path)
    np.testing.assert_array_equal(out, truth(TEXTS))
    assert e.seen == [TEXTS[2]]


def test_a_read_only_store_serves_its_rows_and_encodes_the_rest(tmp_path, monkeypatch) -> None:
    """As for a cache on a read-only mount or owned by another user (root ignores modes)."""
    import csa.encoders.store as store_module

    cached_encode(Counting(), TEXTS[:2], cache_dir=tmp_path)
    real_connect = sqlite3.connect

    def read_only(path, **kwargs):
        return real_connect(f"file:{path}?mode=ro", uri=True, **kwargs)

    monkeypatch.setattr(store_module.sqlite3, "connect", read_only)
    e = Counting()
    with pytest.warns(CacheWarning, match="readonly"):
        out = cached_encode(e, TEXTS, cache_dir=tmp_path)
    np.testing.assert_array_equal(out, truth(TEXTS))
    assert e.seen == [TEXTS[2]]
