"""The on-disk embedding cache: hits never re-encode, misses happen whenever data changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from csa.encoders import cache_path, cached_encode
from csa.encoders.base import BatchedEncoder
from csa.errors import DtypeError
from csa.files import cache_root
from csa.files import content_fingerprint as fingerprint


class Counting(BatchedEncoder):
    """Deterministic text features that count how many items were really encoded."""

    def __init__(self, name: str = "counting", dim: int = 6, fail: bool = False) -> None:
        self._name, self._dim, self._fail = name, dim, fail
        self.encoded = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def _encode_batch(self, batch):
        if self._fail:
            raise RuntimeError("model crashed mid-run")
        self.encoded += len(batch)
        rows = []
        for text in batch:
            digest = hashlib.sha256(str(text).encode()).digest()
            rows.append(np.frombuffer(digest[: self._dim], dtype=np.uint8) / 255.0)
        return np.stack(rows)


TEXTS = ["a red dress", "a pair of trousers", "an ankle boot"]


def test_second_call_is_read_from_disk(tmp_path) -> None:
    e = Counting()
    first = cached_encode(e, TEXTS, cache_dir=tmp_path)
    assert e.encoded == 3
    again = cached_encode(e, list(TEXTS), cache_dir=tmp_path)  # a new list, same content
    assert e.encoded == 3
    np.testing.assert_array_equal(first, again)
    assert again.dtype == np.float32 and again.shape == (3, 6)
    files = list((tmp_path / "embeddings").glob("*.npy"))
    assert files == [cache_path(e, TEXTS, cache_dir=tmp_path)]
    assert files[0].name.startswith("counting-")
    np.testing.assert_array_equal(np.load(files[0], allow_pickle=False), first)


def test_changed_data_or_encoder_is_a_miss(tmp_path) -> None:
    e = Counting()
    cached_encode(e, TEXTS, cache_dir=tmp_path)
    cached_encode(e, [*TEXTS[:2], "an ankle boot."], cache_dir=tmp_path)
    assert e.encoded == 6
    cached_encode(e, TEXTS[::-1], cache_dir=tmp_path)  # order matters: rows follow items
    assert e.encoded == 9
    other = Counting(name="counting-v2")
    cached_encode(other, TEXTS, cache_dir=tmp_path)
    assert other.encoded == 3
    wider = Counting(dim=8)
    assert cached_encode(wider, TEXTS, cache_dir=tmp_path).shape == (3, 8)
    assert wider.encoded == 3
    assert len(list((tmp_path / "embeddings").glob("*.npy"))) == 5


def test_caller_key_replaces_the_content_fingerprint(tmp_path) -> None:
    e = Counting()
    a = cached_encode(e, TEXTS, key="fashion/train", cache_dir=tmp_path)
    b = cached_encode(e, ["x", "y", "z"], key="fashion/train", cache_dir=tmp_path)
    assert e.encoded == 3  # the key vouches for the data
    np.testing.assert_array_equal(a, b)
    cached_encode(e, TEXTS, key="fashion/test", cache_dir=tmp_path)
    assert e.encoded == 6
    cached_encode(e, ["x", "y"], key="fashion/train", cache_dir=tmp_path)
    assert e.encoded == 8  # a stored entry of the wrong length is never returned


def test_corrupt_entry_is_re_encoded_and_rewritten(tmp_path) -> None:
    e = Counting()
    good = cached_encode(e, TEXTS, cache_dir=tmp_path)
    path = cache_path(e, TEXTS, cache_dir=tmp_path)
    path.write_bytes(path.read_bytes()[:40])  # truncated, as after a crash of another tool
    np.testing.assert_array_equal(cached_encode(e, TEXTS, cache_dir=tmp_path), good)
    assert e.encoded == 6
    np.save(path, np.zeros((3, 6), dtype=np.float64))  # wrong dtype: not ours
    cached_encode(e, TEXTS, cache_dir=tmp_path)
    assert e.encoded == 9
    cached_encode(e, TEXTS, cache_dir=tmp_path)
    assert e.encoded == 9


def test_failed_encoding_leaves_no_entry_and_no_temp_file(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="crashed"):
        cached_encode(Counting(fail=True), TEXTS, cache_dir=tmp_path)
    root = tmp_path / "embeddings"
    assert not root.exists() or list(root.iterdir()) == []
    cached_encode(Counting(), TEXTS, cache_dir=tmp_path)
    assert [p.suffix for p in root.iterdir()] == [".npy"]


def test_default_dir_comes_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CSA_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    e = Counting()
    cached_encode(e, TEXTS)
    assert len(list((tmp_path / "env" / "embeddings").glob("*.npy"))) == 1
    monkeypatch.delenv("CSA_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "csa"


def test_fingerprint_follows_content(tmp_path) -> None:
    assert fingerprint(["1"]) != fingerprint([1])
    assert fingerprint(["ab", "c"]) != fingerprint(["a", "bc"])
    assert fingerprint(TEXTS) == fingerprint(tuple(TEXTS))

    img = np.zeros((4, 4), dtype=np.uint8)
    changed = img.copy()
    changed[2, 3] = 1
    assert fingerprint([img]) != fingerprint([changed])
    assert fingerprint([img]) != fingerprint([img.astype(np.float32)])
    stack = np.stack([img, changed])
    assert fingerprint(stack) == fingerprint(stack.copy())
    assert fingerprint([Image.fromarray(img)]) != fingerprint([Image.fromarray(changed)])

    # an image given by path is keyed by the file's bytes, not its name
    path = tmp_path / "im.png"
    Image.fromarray(img).save(path)
    before = (fingerprint([path]), fingerprint([str(path)]))
    Image.fromarray(changed).save(path)
    after = (fingerprint([path]), fingerprint([str(path)]))
    assert before[0] != after[0] and before[1] != after[1]
    assert fingerprint([Path(tmp_path / "missing.png")]) != fingerprint([path])

    with pytest.raises(DtypeError, match="cache key"):
        fingerprint([object()])
