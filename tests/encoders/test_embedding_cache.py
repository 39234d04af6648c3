"""The per-item embedding store behind ``cached_encode``: what is read back, what is encoded.

Each test counts the items an encoder really embeds, so a hit that re-encodes, or a
miss that serves another item's row, fails.
"""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from counting_encoder import MANY, TEXTS, Counting, truth
from csa.encoders import EmbeddingStore, cache_path, cached_encode
from csa.encoders.base import BatchedEncoder
from csa.encoders.store import encoder_identity, store_path
from csa.errors import DtypeError, InputError
from csa.files import cache_root
from csa.files import content_fingerprint as fingerprint


def test_second_call_is_read_from_the_store(tmp_path) -> None:
    e = Counting()
    first = cached_encode(e, TEXTS, cache_dir=tmp_path)
    assert e.encoded == 3
    again = cached_encode(e, list(TEXTS), cache_dir=tmp_path)  # a new list, same content
    assert e.encoded == 3
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(again, truth(TEXTS))
    assert again.dtype == np.float32 and again.shape == (3, 6)
    assert cache_path(e, TEXTS, cache_dir=tmp_path) == store_path(tmp_path)
    assert store_path(tmp_path) == tmp_path / "embeddings" / "embeddings.sqlite3"
    assert store_path(tmp_path).is_file()


def test_reordered_subset_plus_new_items_encodes_only_the_new_ones(tmp_path) -> None:
    e = Counting()
    cached_encode(e, MANY, cache_dir=tmp_path, batch_size=8)
    assert e.encoded == 50
    e.seen.clear()
    new = ["a new caption", "another new caption"]
    mixed = [MANY[40], new[0], MANY[3], MANY[17], new[1], MANY[3]]
    out = cached_encode(e, mixed, cache_dir=tmp_path, batch_size=8)
    assert sorted(e.seen) == sorted(new)  # each new item once, nothing seen before
    np.testing.assert_array_equal(out, truth(mixed))


def test_repeated_items_are_encoded_once(tmp_path) -> None:
    e = Counting()
    items = ["x", "y", "x", "x", "y", "z"]
    out = cached_encode(e, items, cache_dir=tmp_path, batch_size=2)
    assert sorted(e.seen) == ["x", "y", "z"]
    np.testing.assert_array_equal(out, truth(items))


def test_the_same_files_in_another_folder_layout_are_hits(tmp_path) -> None:
    flat = tmp_path / "images"
    flat.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        path = flat / f"img_{i}.png"
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    e = Counting()
    first = cached_encode(e, [str(p) for p in paths], cache_dir=tmp_path / "cache")
    assert e.encoded == 6
    by_class = []
    for i, path in enumerate(paths):  # classify images/ then eval by_class/ on the same files
        target = tmp_path / "by_class" / ("odd" if i % 2 else "even") / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
        by_class.append(target)
    again = cached_encode(e, by_class[::-1], cache_dir=tmp_path / "cache")
    assert e.encoded == 6
    np.testing.assert_array_equal(again, first[::-1])
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(by_class[0])  # content changed
    cached_encode(e, by_class, cache_dir=tmp_path / "cache")
    assert e.encoded == 7


def test_an_interrupted_pass_keeps_its_finished_batches(tmp_path) -> None:
    crashing = Counting(fail_at_batch=3)
    with pytest.raises(KeyboardInterrupt):
        cached_encode(crashing, MANY, cache_dir=tmp_path, batch_size=5)
    assert crashing.encoded == 15  # three batches of five were finished
    e = Counting()
    out = cached_encode(e, MANY, cache_dir=tmp_path, batch_size=5)
    assert e.seen == MANY[15:]  # the rerun starts at 15/50, not at 0
    np.testing.assert_array_equal(out, truth(MANY))


def test_a_failed_encoder_leaves_only_whole_checked_rows(tmp_path) -> None:
    class Broken(Counting):
        def _encode_batch(self, batch):
            out = super()._encode_batch(batch)
            if "boom" in batch:
                out[0, 0] = np.nan
            return out

    with pytest.raises(Exception, match="NaN"):
        cached_encode(Broken(), ["fine", "boom", "later"], cache_dir=tmp_path, batch_size=1)
    with EmbeddingStore(tmp_path) as store:
        assert store.info().entries == 1  # "fine" only; the NaN batch never reached the store


@pytest.mark.parametrize("normalize", [True, False])
def test_output_options_are_the_same_on_a_hit_as_on_a_miss(tmp_path, normalize) -> None:
    e = Counting()
    miss = cached_encode(e, TEXTS, cache_dir=tmp_path, normalize_embeddings=normalize)
    hit = cached_encode(e, TEXTS, cache_dir=tmp_path, normalize_embeddings=normalize)
    assert e.encoded == 3
    np.testing.assert_array_equal(hit, miss)
    norms = np.linalg.norm(hit, axis=1)
    if normalize:
        np.testing.assert_allclose(norms, 1.0, rtol=1e-6)
    else:
        assert not np.allclose(norms, 1.0)
        np.testing.assert_array_equal(hit, truth(TEXTS))
    tensor = cached_encode(e, TEXTS, cache_dir=tmp_path, convert_to_tensor=True)
    assert type(tensor).__module__.startswith("torch")
    np.testing.assert_array_equal(tensor.numpy(), truth(TEXTS))
    with pytest.raises(InputError, match="normalise_embeddings"):
        cached_encode(e, TEXTS, cache_dir=tmp_path, normalise_embeddings=True)


def test_another_encoder_name_width_or_weights_is_a_miss(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    e = Counting()
    cached_encode(e, TEXTS, cache_dir=tmp_path)
    other = Counting(name="counting-v2")
    cached_encode(other, TEXTS, cache_dir=tmp_path)
    assert other.encoded == 3
    wider = Counting(dim=8)
    assert cached_encode(wider, TEXTS, cache_dir=tmp_path).shape == (3, 8)
    assert wider.encoded == 3

    class Linear(BatchedEncoder):
        """Same name before and after its weights change: only the fingerprint tells."""

        def __init__(self) -> None:
            self._name, self._dim = "linear", 2
            self._model = torch.nn.Linear(1, 2)
            self._model.register_buffer("empty", torch.zeros(0, 3))  # hashed without a copy
            self.calls = 0

        def _encode_batch(self, batch):
            self.calls += len(batch)
            with torch.no_grad():
                return self._model(torch.tensor([[float(x)] for x in batch])).numpy()

    lin = Linear()
    before = encoder_identity(lin)
    first = cached_encode(lin, [1.0, 2.0], cache_dir=tmp_path)
    cached_encode(lin, [1.0, 2.0], cache_dir=tmp_path)
    assert lin.calls == 2
    with torch.no_grad():
        lin._model.weight.add_(1.0)  # fine-tuned in place
    assert encoder_identity(lin) != before
    second = cached_encode(lin, [1.0, 2.0], cache_dir=tmp_path)
    assert lin.calls == 4
    assert not np.allclose(first, second)


def test_a_caller_key_replaces_the_content_fingerprint(tmp_path) -> None:
    e = Counting()
    a = cached_encode(e, TEXTS, key="fashion/train", cache_dir=tmp_path)
    b = cached_encode(e, ["x", "y", "z"], key="fashion/train", cache_dir=tmp_path)
    assert e.encoded == 3  # the key vouches for the data
    np.testing.assert_array_equal(a, b)
    cached_encode(e, TEXTS, key="fashion/test", cache_dir=tmp_path)
    assert e.encoded == 6
    cached_encode(e, ["x", "y"], key="fashion/train", cache_dir=tmp_path)
    assert e.encoded == 8  # a list of another length under the key is never read as it


def test_array_items_stay_an_array_and_are_keyed_by_value(tmp_path) -> None:
    class RowSums(Counting):
        def _encode_batch(self, batch):
            assert isinstance(batch, np.ndarray)
            self.seen.extend(str(row.tolist()) for row in batch)
            return np.stack([batch.sum(axis=(1, 2)) + 1, batch.max(axis=(1, 2)) + 1], axis=1)

    images = np.arange(5 * 3 * 3, dtype=np.uint8).reshape(5, 3, 3)
    e = RowSums(dim=2)
    first = cached_encode(e, images, cache_dir=tmp_path)
    again = cached_encode(e, np.concatenate([images[[4, 1]], images[:1] + 100]), cache_dir=tmp_path)
    assert e.encoded == 6
    np.testing.assert_array_equal(again[:2], first[[4, 1]])


def test_an_empty_list_gives_an_empty_array_and_a_string_is_refused(tmp_path) -> None:
    out = cached_encode(Counting(), [], cache_dir=tmp_path)
    assert out.shape == (0, 6) and out.dtype == np.float32
    with pytest.raises(InputError, match="single string"):
        cached_encode(Counting(), "a red dress", cache_dir=tmp_path)


def test_default_dir_comes_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CSA_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    cached_encode(Counting(), TEXTS)
    assert (tmp_path / "env" / "embeddings" / "embeddings.sqlite3").is_file()
    monkeypatch.delenv("CSA_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "csa"


def test_old_whole_list_entries_are_ignored(tmp_path) -> None:
    legacy = tmp_path / "embeddings" / "counting-0123abcd.npy"
    legacy.parent.mkdir(parents=True)
    np.save(legacy, np.zeros((3, 6), dtype=np.float32))
    e = Counting()
    np.testing.assert_array_equal(cached_encode(e, TEXTS, cache_dir=tmp_path), truth(TEXTS))
    assert e.encoded == 3


def _worker(args) -> np.ndarray:
    cache_dir, items = args
    return cached_encode(Counting(), items, cache_dir=cache_dir, batch_size=3)


def test_two_processes_share_one_store(tmp_path) -> None:
    halves = [MANY[:35], MANY[15:]]  # overlapping, written at the same time
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        outs = pool.map(_worker, [(str(tmp_path), items) for items in halves])
    for items, out in zip(halves, outs, strict=True):
        np.testing.assert_array_equal(out, truth(items))
    e = Counting()
    np.testing.assert_array_equal(cached_encode(e, MANY, cache_dir=tmp_path), truth(MANY))
    assert e.encoded == 0
    with EmbeddingStore(tmp_path) as store:
        assert store.info().entries == 50


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

    path = tmp_path / "im.png"  # an image given by path is keyed by the file's bytes
    Image.fromarray(img).save(path)
    before = (fingerprint([path]), fingerprint([str(path)]))
    Image.fromarray(changed).save(path)
    after = (fingerprint([path]), fingerprint([str(path)]))
    assert before[0] != after[0] and before[1] != after[1]
    assert fingerprint([Path(tmp_path / "missing.png")]) != fingerprint([path])

    with pytest.raises(DtypeError, match="cache key"):
        fingerprint([object()])
    with pytest.raises(DtypeError, match="cache key"):
        cached_encode(Counting(), [object()], cache_dir=tmp_path)


def test_a_rewritten_feature_file_or_a_declared_fingerprint_is_a_new_encoder(tmp_path) -> None:
    table = tmp_path / "features.npy"
    np.save(table, np.ones((4, 6), dtype=np.float32))

    class FromFile(Counting):
        def __init__(self) -> None:
            super().__init__(name="from-file")
            self._path = table

    e = FromFile()
    cached_encode(e, TEXTS, cache_dir=tmp_path / "c")
    cached_encode(e, TEXTS, cache_dir=tmp_path / "c")
    assert e.encoded == 3
    np.save(table, np.ones((5, 6), dtype=np.float32))  # the features behind the name changed
    cached_encode(e, TEXTS, cache_dir=tmp_path / "c")
    assert e.encoded == 6

    class Declared(Counting):
        version = "1"

        def weights_fingerprint(self) -> str:
            return self.version

    d = Declared()
    cached_encode(d, TEXTS, cache_dir=tmp_path / "c")
    d.version = "2"
    cached_encode(d, TEXTS, cache_dir=tmp_path / "c")
    assert d.encoded == 6
    assert encoder_identity(d)["weights"] == "2"
