"""Data sets: real data in small slices, seeded sampling, users' files, and errors."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

import csa.datasets as ds
from csa.datasets import PairedDataset
from csa.datasets.idx import parse_idx
from csa.errors import CSAError, DatasetError, NonFiniteError

FMNIST = Path("/usr/share/datasets/fashion-mnist")
needs_fmnist = pytest.mark.skipif(
    not FMNIST.is_dir(), reason="Debian package dataset-fashion-mnist not installed (make setup)"
)


# -- bundled data -------------------------------------------------------------------------


@needs_fmnist
def test_fashion_mnist_counts_and_items():
    train = ds.load("fashion-mnist", split="train")
    test = ds.load("fashion-mnist", split="test")
    assert len(train) == 60000 and len(test) == 10000
    assert train.a.shape == (60000, 28, 28) and train.a.dtype == np.uint8
    assert train.class_names[:2] == ("T-shirt/top", "Trouser") and train.n_classes == 10
    assert train.modalities == ("image", "text")
    # Official Fashion-MNIST is exactly balanced: 6000 / 1000 per class.
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    # Captions follow the labels and the grammar of the class name.
    captions = dict(zip(train.labels.tolist(), train.b, strict=True))
    assert captions[1] == "a photo of a trouser"
    assert captions[9] == "a photo of an ankle boot"
    # Images are real pictures, not blank or constant arrays.
    assert 30 < train.a[:100].mean() < 130 and train.a.max() == 255
    assert train.fingerprint != test.fingerprint


@needs_fmnist
def test_fashion_mnist_from_uncompressed_copy(tmp_path):
    for gz in FMNIST.glob("t10k-*.gz"):
        (tmp_path / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    copy = ds.load_fashion_mnist(split="test", root=tmp_path, n=50, seed=3)
    original = ds.load_fashion_mnist(split="test", n=50, seed=3)
    assert np.array_equal(copy.a, original.a) and copy.fingerprint == original.fingerprint


def test_fashion_mnist_missing_package_names_it(tmp_path):
    with pytest.raises(DatasetError, match="dataset-fashion-mnist"):
        ds.load("fashion-mnist", root=tmp_path)


@needs_fmnist
def test_fashion_mnist_truncated_file(tmp_path):
    shutil.copy(FMNIST / "t10k-labels-idx1-ubyte.gz", tmp_path)
    raw = gzip.decompress((FMNIST / "t10k-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(raw[:-100])
    with pytest.raises(DatasetError, match="idx header promises"):
        ds.load_fashion_mnist(split="test", root=tmp_path)


def test_parse_idx_round_trip_and_bad_magic():
    values = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    raw = bytes([0, 0, 0x0C, 3]) + np.array([2, 3, 4], dtype=">u4").tobytes() + values.tobytes()
    out = parse_idx(raw)
    assert out.dtype == np.int32 and np.array_equal(out, values)
    with pytest.raises(DatasetError, match="not an idx file"):
        parse_idx(b"\x1f\x8b\x08\x00garbage")


def test_bbc_news_counts_and_pairs():
    bbc = ds.load("bbc-news")
    assert len(bbc) == 2225
    assert bbc.class_names == ("business", "entertainment", "politics", "sport", "tech")
    assert np.bincount(bbc.labels).tolist() == [510, 386, 417, 511, 401]
    assert bbc.modalities == ("text", "text")
    # Headline is one short line; body is the article, many times longer.
    assert all("\n" not in h and 0 < len(h) < 120 for h in bbc.a)
    assert all(len(body) > 3 * len(h) for h, body in zip(bbc.a, bbc.b, strict=True))
    assert bbc.a[0] == "Ad sales boost Time Warner profit"
    assert bbc.b[0].startswith("Quarterly profits at US media giant TimeWarner")
    # The one cp1252 article decodes to a pound sign, not a replacement character.
    assert not any("\ufffd" in body for body in bbc.b)
    # Repeated headlines share a group; deduplication drops the 98 exact copies.
    assert len(np.unique(bbc.groups)) == len({h.casefold() for h in bbc.a}) < 2225
    assert len(ds.load("bbc-news", dedupe=True)) == 2225 - 98


def test_bbc_news_split_keeps_groups_apart_and_is_stratified():
    train = ds.load("bbc-news", split="train")
    test = ds.load("bbc-news", split="test")
    assert len(train) + len(test) == 2225
    assert 0.17 < len(test) / 2225 < 0.23
    assert not set(train.groups.tolist()) & set(test.groups.tolist())
    assert not set(train.a) & set(test.a)
    share = np.bincount(test.labels, minlength=5) / len(test)
    full = np.bincount(ds.load("bbc-news").labels) / 2225
    assert np.abs(share - full).max() < 0.03


def test_digits():
    digits = ds.load("digits")
    assert len(digits) == 1797 and digits.a.shape == (1797, 8, 8) and digits.a.dtype == np.uint8
    assert digits.a.max() == 255 and digits.n_classes == 10
    assert digits.b[int(np.flatnonzero(digits.labels == 3)[0])] == "a handwritten digit three"
    train, test = ds.load("digits", split="train"), ds.load("digits", split="test")
    assert len(train) + len(test) == 1797
    assert train.fingerprint != test.fingerprint


# -- sampling and splitting -----------------------------------------------------------------


def _toy(n=100, classes=4) -> PairedDataset:
    labels = np.arange(n) % classes
    return PairedDataset(
        name="toy",
        a=np.arange(n * 2, dtype=np.float32).reshape(n, 2),
        b=[f"item {i}" for i in range(n)],
        modalities=("embedding", "text"),
        labels=labels,
        class_names=tuple(f"c{k}" for k in range(classes)),
    )


def test_subsample_is_deterministic_stratified_and_nested():
    bbc = ds.load("bbc-news")
    one = ds.load("bbc-news", n=200, seed=7)
    again = ds.load("bbc-news", n=200, seed=7)
    other = ds.load("bbc-news", n=200, seed=8)
    assert one.a == again.a and one.fingerprint == again.fingerprint
    assert one.a != other.a and one.fingerprint != other.fingerprint
    counts = np.bincount(one.labels, minlength=5)
    expected = 200 * np.bincount(bbc.labels) / len(bbc)
    assert np.abs(counts - expected).max() <= 1
    # Samples of growing n are nested, which keeps data-efficiency curves comparable.
    small = ds.load("bbc-news", n=20, seed=7)
    assert set(small.a) <= set(one.a)
    # Ten pairs of a ten-class balanced set: one per class.
    digits10 = ds.load("digits", n=10, seed=4)
    assert sorted(digits10.labels.tolist()) == list(range(10))


def test_subsample_without_labels_and_bad_n():
    toy = _toy()
    plain = PairedDataset("plain", toy.a, toy.b, toy.modalities)
    s = plain.subsample(30, seed=1)
    assert len(s) == 30 and len(set(s.b)) == 30
    assert np.array_equal(s.a, plain.subsample(30, seed=1).a)
    with pytest.raises(DatasetError, match="holds only 100"):
        toy.subsample(101)
    with pytest.raises(DatasetError, match="positive integer"):
        toy.subsample(0)


def test_split_partitions_pairs_and_respects_groups():
    toy = _toy()
    train, test = toy.split(test_fraction=0.25, seed=0)
    assert len(train) == 75 and len(test) == 25
    assert sorted(train.b + test.b) == sorted(toy.b)
    assert np.ptp(np.bincount(test.labels)) <= 1  # stratified: the toy classes are equal
    grouped = PairedDataset(
        "grouped", toy.a, toy.b, toy.modalities, toy.labels, toy.class_names,
        groups=np.arange(100) // 5,
    )  # fmt: skip
    gtrain, gtest = grouped.split(0.3, seed=2)
    assert not set(gtrain.groups.tolist()) & set(gtest.groups.tolist())
    assert len(gtest) == 30
    with pytest.raises(DatasetError, match="strictly between"):
        toy.split(1.0)


def test_subset_keeps_alignment():
    toy = _toy()
    sub = toy.subset([5, 1, 5])
    assert sub.b == ["item 5", "item 1", "item 5"]
    assert np.array_equal(sub.a[:, 0], [10, 2, 10])
    assert sub.labels.tolist() == [1, 1, 1]


def test_paired_dataset_validation():
    with pytest.raises(DatasetError, match="side a has 3 items but side b has 2"):
        PairedDataset("bad", ["x", "y", "z"], ["x", "y"], ("text", "text"))
    with pytest.raises(DatasetError, match="no pairs"):
        PairedDataset("empty", [], [], ("text", "text"))
    with pytest.raises(DatasetError, match="2 class names"):
        PairedDataset("bad", ["x", "y"], ["x", "y"], ("text", "text"), np.array([0, 2]), ("a", "b"))


def test_fingerprint_depends_on_content_only():
    a = PairedDataset("one", ["x", "y"], ["p", "q"], ("text", "text"))
    b = PairedDataset("two", ["x", "y"], ["p", "q"], ("text", "text"))
    c = PairedDataset("one", ["x", "y"], ["p", "Q"], ("text", "text"))
    # Concatenation must not collide: ["ab", "c"] is not ["a", "bc"].
    d = PairedDataset("d", ["ab", "c"], ["p", "q"], ("text", "text"))
    e = PairedDataset("e", ["a", "bc"], ["p", "q"], ("text", "text"))
    assert a.fingerprint == b.fingerprint and a.fingerprint_a == c.fingerprint_a
    assert a.fingerprint != c.fingerprint and a.fingerprint_b != c.fingerprint_b
    assert d.fingerprint_a != e.fingerprint_a


# -- registry -------------------------------------------------------------------------------


def test_registry_names_and_errors():
    names = ds.available()
    assert {"fashion-mnist", "bbc-news", "digits", "image-folder", "embeddings"} <= set(names)
    with pytest.raises(DatasetError, match=r"unknown data set 'mnist'; known: .*bbc-news"):
        ds.load("mnist")
    with pytest.raises(DatasetError, match="accepts: split, n, seed"):
        ds.load("digits", colour=True)
    assert len(ds.load("DIGITS", n=12)) == 12  # case and _/- do not matter
    assert issubclass(DatasetError, CSAError)


def test_register_hook():
    def toy_loader(n: int = 8) -> PairedDataset:
        return _toy(n, 2)

    ds.register("toy-test-set", toy_loader, description="a toy")
    try:
        assert "toy-test-set" in ds.available()
        assert len(ds.load("toy_test_set", n=6)) == 6
        assert ds.describe()["toy-test-set"] == "a toy"
        with pytest.raises(DatasetError, match="already registered"):
            ds.register("toy-test-set", lambda: _toy())
        ds.register("toy-test-set", lambda: _toy(4, 2), overwrite=True)
        assert len(ds.load("toy-test-set")) == 4
    finally:
        from csa.datasets import registry

        registry._REGISTRY.pop("toy-test-set", None)


# -- users' own data ------------------------------------------------------------------------


def _write_folder(root: Path, n: int = 6, label: bool = True) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    lines = ["file,caption" + (",label" if label else "")]
    for i in range(n):
        pixels = rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"img{i}.png")
        kind = "cat" if i % 2 else "dog"
        lines.append(f'img{i}.png,"a {kind}, number {i}"' + (f",{kind}" if label else ""))
    csv_path = root / "pairs.csv"
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path


def test_image_folder_loads_pixels_captions_labels(tmp_path):
    from PIL import Image

    csv_path = _write_folder(tmp_path)
    data = ds.load("image-folder", csv_path=csv_path)
    assert len(data) == 6 and data.a.shape == (6, 12, 10, 3) and data.a.dtype == np.uint8
    assert np.array_equal(data.a[3], np.asarray(Image.open(tmp_path / "img3.png")))
    assert data.b[1] == "a cat, number 1"
    assert data.class_names == ("cat", "dog") and data.labels.tolist() == [1, 0, 1, 0, 1, 0]
    gray = ds.load_image_folder(csv_path, mode="L")
    assert gray.a.shape == (6, 12, 10) and gray.fingerprint != data.fingerprint
    assert len(ds.load_image_folder(csv_path, n=4, seed=0)) == 4


def test_image_folder_without_labels_and_mixed_sizes(tmp_path):
    from PIL import Image

    csv_path = _write_folder(tmp_path, n=3, label=False)
    Image.new("RGB", (5, 7)).save(tmp_path / "img1.png")
    data = ds.load_image_folder(csv_path)
    assert data.labels is None and isinstance(data.a, list)
    assert data.a[1].shape == (7, 5, 3) and data.a[0].shape == (12, 10, 3)
    assert len(data.fingerprint) == 16


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        ds.load_image_folder(tmp_path / "nope.csv")
    csv_path = _write_folder(tmp_path)
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("path,text\nimg0.png,hello\n")
    with pytest.raises(DatasetError, match=r"missing column.*'file'.*'caption'.*header has 'path'"):
        ds.load_image_folder(bad_header)
    missing = tmp_path / "missing.csv"
    missing.write_text("file,caption\nimg0.png,ok\nghost.png,boo\n")
    with pytest.raises(DatasetError, match=r"1 image file\(s\).*ghost.png"):
        ds.load_image_folder(missing)
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    broken = tmp_path / "broken.csv"
    broken.write_text("file,caption\nimg0.png,ok\nbroken.png,bad\n")
    with pytest.raises(DatasetError, match=r"unreadable image .*broken.png"):
        ds.load_image_folder(broken)
    empty_caption = tmp_path / "empty.csv"
    empty_caption.write_text("file,caption\nimg0.png,\n")
    with pytest.raises(DatasetError, match="empty 'caption' on line"):
        ds.load_image_folder(empty_caption)
    assert csv_path.exists()


def test_embedding_pair_npy_and_parquet(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=(40, 5)), rng.normal(size=(40, 3))
    np.save(tmp_path / "a.npy", xa)
    np.save(tmp_path / "b.npy", xb)
    np.save(tmp_path / "labels.npy", np.arange(40) % 4)
    data = ds.load("embeddings", a=tmp_path / "a.npy", b=tmp_path / "b.npy",
                   labels=tmp_path / "labels.npy")  # fmt: skip
    assert data.a.dtype == np.float32 and data.a.shape == (40, 5) and data.b.shape == (40, 3)
    np.testing.assert_allclose(data.a, xa, rtol=1e-6)
    assert data.n_classes == 4 and data.class_names == ("0", "1", "2", "3")
    names = np.array(["red", "green"])[np.arange(40) % 2]
    pd.DataFrame({"embedding": list(xa), "label": names}).to_parquet(tmp_path / "a.parquet")
    pd.DataFrame(xb, columns=["u", "v", "w"]).to_parquet(tmp_path / "b.parquet")
    pq = ds.load_embedding_pair(tmp_path / "a.parquet", tmp_path / "b.parquet")
    np.testing.assert_allclose(pq.a, xa, rtol=1e-6)
    np.testing.assert_allclose(pq.b, xb, rtol=1e-6)
    assert pq.class_names == ("green", "red") and pq.labels[:2].tolist() == [1, 0]
    train = ds.load_embedding_pair(tmp_path / "a.npy", tmp_path / "b.npy", split="train")
    assert len(train) == 32


def test_embedding_pair_errors(tmp_path):
    import pandas as pd

    np.save(tmp_path / "a.npy", np.ones((10, 4)))
    np.save(tmp_path / "b9.npy", np.ones((9, 4)))
    with pytest.raises(DatasetError, match=r"row-count mismatch.*10 rows.*9"):
        ds.load_embedding_pair(tmp_path / "a.npy", tmp_path / "b9.npy")
    with pytest.raises(DatasetError, match="not found"):
        ds.load_embedding_pair(tmp_path / "a.npy", tmp_path / "nope.npy")
    np.save(tmp_path / "flat.npy", np.ones(10))
    with pytest.raises(DatasetError, match="2-D"):
        ds.load_embedding_pair(tmp_path / "a.npy", tmp_path / "flat.npy")
    nan = np.ones((10, 4))
    nan[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    with pytest.raises(NonFiniteError, match=r"NaN or infinite.*\[3\]"):
        ds.load_embedding_pair(tmp_path / "a.npy", tmp_path / "nan.npy")
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}] * 10), allow_pickle=True)
    with pytest.raises(DatasetError, match="pickled"):
        ds.load_embedding_pair(tmp_path / "a.npy", tmp_path / "obj.npy")
    (tmp_path / "a.csv").write_text("1,2\n")
    with pytest.raises(DatasetError, match=r"unsupported file type '\.csv'"):
        ds.load_embedding_pair(tmp_path / "a.csv", tmp_path / "a.npy")
    pd.DataFrame({"x": np.ones(10), "note": ["t"] * 10}).to_parquet(tmp_path / "s.parquet")
    with pytest.raises(DatasetError, match=r"non-numeric column.*note"):
        ds.load_embedding_pair(tmp_path / "a.npy", tmp_path / "s.parquet")
    with pytest.raises(DatasetError, match="3 labels for 10 pairs"):
        ds.load_embedding_pair(tmp_path / "a.npy", tmp_path / "a.npy", labels=[0, 1, 2])
