"""Encoders on real models and a handful of real items, plus the registry and file inputs.

Each bundled model is loaded once per module (fixtures below); every test feeds
it a few items only, so the whole file stays well under a minute on two cores.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

import csa.encoders as enc
from csa.encoders.base import BatchedEncoder, Encoder, wants_progress
from csa.errors import (
    DatasetError,
    DtypeError,
    EncoderError,
    InputError,
    MissingExtraError,
    NonFiniteError,
    ShapeError,
)

SYNONYMS = ("A man is eating food.", "A man eats a meal.")
UNRELATED = "The stock market crashed today."
SENTENCES = [
    *SYNONYMS,
    UNRELATED,
    "Shares fell sharply on Wall Street after the tariff announcement.",
    "A dog runs across the park chasing a ball.",
    "A puppy is playing fetch on the grass.",
    "The recipe needs two cups of flour and an egg.",
    "Bake the dough for twenty minutes until golden.",
]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _cos_matrix(x: np.ndarray) -> np.ndarray:
    n = x / np.linalg.norm(x, axis=1, keepdims=True)
    return n @ n.T


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Run torch on one thread here: on a busy 2-core runner, two OpenMP threads wait on
    each other at every layer and a 0.1 s forward pass takes seconds."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def minilm() -> Encoder:
    return enc.get("minilm-l6")


@pytest.fixture(scope="module")
def onnx_minilm() -> Encoder:
    return enc.get("minilm-l3-onnx")


@pytest.fixture(scope="module")
def effnet() -> Encoder:
    return enc.get("efficientnet-lite0")


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {n: load_sample_image(f"{n}.jpg") for n in ("china", "flower")}


# ---------------------------------------------------------------- text: MiniLM-L6


def test_minilm_shape_dtype_and_normalised(minilm: Encoder) -> None:
    x = minilm.encode(SENTENCES[:3])
    assert minilm.name == "minilm-l6" and minilm.dim == 384
    assert x.shape == (3, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_minilm_synonyms_closer_than_unrelated(minilm: Encoder) -> None:
    a, b, c = minilm.encode([*SYNONYMS, UNRELATED])
    assert _cos(a, b) > _cos(a, c) + 0.3
    assert _cos(a, b) > _cos(b, c) + 0.3


def test_minilm_deterministic_and_batch_invariant(minilm: Encoder) -> None:
    first = minilm.encode(SENTENCES, batch_size=8)
    np.testing.assert_array_equal(first, minilm.encode(SENTENCES, batch_size=8))
    np.testing.assert_allclose(first, minilm.encode(SENTENCES, batch_size=3), atol=2e-5)


def test_minilm_shorter_cut_off_is_named_and_applied(minilm: Encoder) -> None:
    short = enc.get("minilm-l6", max_seq_length=16)
    assert short.name == "minilm-l6@16" and short.name != minilm.name
    long_text = " ".join(SENTENCES)  # far past 16 word pieces
    a, b = short.encode([SYNONYMS[0], long_text]), minilm.encode([SYNONYMS[0], long_text])
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)  # short text: untouched
    assert _cos(a[1], b[1]) < 0.99  # long text: only its start was read


def test_text_encoders_refuse_non_strings(minilm: Encoder, onnx_minilm: Encoder) -> None:
    for e in (minilm, onnx_minilm):
        with pytest.raises(DtypeError, match="strings"):
            e.encode(["fine", None])
        with pytest.raises(InputError, match="single string"):
            e.encode("a lone string")
        assert e.encode([]).shape == (0, 384)


# ---------------------------------------------------------------- text: MiniLM-L3 ONNX


def test_onnx_synonyms_closer_than_unrelated(onnx_minilm: Encoder) -> None:
    a, b, c = onnx_minilm.encode([*SYNONYMS, UNRELATED])
    assert onnx_minilm.dim == 384
    assert _cos(a, b) > _cos(a, c) + 0.3
    assert _cos(a, b) > _cos(b, c) + 0.3


def test_onnx_mean_pooling_matches_the_graphs_own_pooled_output(onnx_minilm) -> None:
    """The export also carries sentence-transformers' pooled vector; ours must equal it.

    Sentences of different lengths are batched together, so padding is exercised.
    """
    texts = [SENTENCES[0], SENTENCES[3], "Hi."]
    ours = onnx_minilm.encode(texts)
    tok = onnx_minilm._tokenizer.encode_batch(texts)
    ids = np.array([t.ids for t in tok], dtype=np.int64)
    mask = np.array([t.attention_mask for t in tok], dtype=np.int64)
    assert mask.sum(axis=1).min() < ids.shape[1]  # some rows really are padded
    session = onnx_minilm._session
    pooled_names = [
        o.name for o in session.get_outputs() if o.type == "tensor(float)" and len(o.shape) == 2
    ]
    assert pooled_names, "expected the export's 2-D pooled output"
    (theirs,) = session.run(pooled_names[:1], {"input_ids": ids, "attention_mask": mask})
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_onnx_padding_does_not_leak(onnx_minilm: Encoder) -> None:
    texts = [SENTENCES[0], SENTENCES[3], "Hi."]
    batched = onnx_minilm.encode(texts, batch_size=3)
    alone = np.concatenate([onnx_minilm.encode([t]) for t in texts])
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_onnx_tokenizer_vocabulary_fits_the_models_embedding_table(onnx_minilm) -> None:
    """The reused tokenizer must address exactly the graph's word-embedding rows."""
    vocab = onnx_minilm._tokenizer.get_vocab_size()
    session, out = onnx_minilm._session, onnx_minilm._token_output
    mask = np.ones((1, 3), dtype=np.int64)
    session.run([out], {"input_ids": np.array([[101, vocab - 1, 102]]), "attention_mask": mask})
    with pytest.raises(Exception, match=r"out of (data )?bounds"):
        session.run([out], {"input_ids": np.array([[101, vocab, 102]]), "attention_mask": mask})


def test_onnx_similarity_structure_agrees_with_minilm_l6(minilm, onnx_minilm) -> None:
    """Two different MiniLMs should see the same structure: a check on tokenizer and pooling.

    SENTENCES come in four topical pairs (0-1, 2-3, 4-5, 6-7): each sentence's
    nearest neighbour must be its partner under both models, and the pairwise
    cosines of the two models must correlate strongly.
    """
    iu = np.triu_indices(len(SENTENCES), k=1)
    l6 = _cos_matrix(minilm.encode(SENTENCES))
    l3 = _cos_matrix(onnx_minilm.encode(SENTENCES))
    assert np.corrcoef(l6[iu], l3[iu])[0, 1] > 0.8
    partner = np.arange(len(SENTENCES)) ^ 1
    for sims in (l6, l3):
        np.fill_diagonal(sims, -np.inf)
        np.testing.assert_array_equal(sims.argmax(axis=1), partner)


# ---------------------------------------------------------------- images: EfficientNet-Lite0


def test_effnet_shape_determinism_and_batch_invariance(effnet, photos) -> None:
    items = [photos["china"][::2, ::2], photos["flower"][::2, ::2]]
    x = effnet.encode(items, batch_size=2)
    assert effnet.name == "efficientnet-lite0" and effnet.dim == 1280
    assert x.shape == (2, 1280) and x.dtype == np.float32
    np.testing.assert_array_equal(x, effnet.encode(items, batch_size=2))
    np.testing.assert_allclose(x, effnet.encode(items, batch_size=1), atol=1e-4)


def test_effnet_two_crops_of_one_image_closer_than_other_images(effnet, photos) -> None:
    china, flower = photos["china"], photos["flower"]
    crop_a, crop_b = china[:320, :460], china[100:, 180:]
    fa, fb, ff, fc = effnet.encode([crop_a, crop_b, flower, flower[60:, 100:]])
    assert _cos(fa, fb) > _cos(fa, ff) + 0.1
    assert _cos(fa, fb) > _cos(fb, ff) + 0.1
    assert _cos(ff, fc) > _cos(fc, fa) + 0.1


def test_effnet_preprocessing_matches_the_weights(effnet, photos) -> None:
    """Through the bundled ImageNet head, the daisy photo must be 'daisy' (class 985)."""
    probs = effnet.classify([photos["flower"]])
    assert probs.shape == (1, 1000)
    assert int(probs[0].argmax()) == 985


def test_effnet_accepts_paths_pil_gray_rgba_and_float(effnet, photos, tmp_path) -> None:
    rgb = photos["flower"][::4, ::4]
    path = tmp_path / "flower.png"
    Image.fromarray(rgb).save(path)
    gray = rgb.mean(axis=2).round().astype(np.uint8)
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
    items = [rgb, path, str(path), Image.fromarray(rgb), rgba, rgb.astype(np.float32) / 255.0]
    x = effnet.encode(items)
    for row in x[1:]:
        np.testing.assert_allclose(row, x[0], atol=1e-4)
    g = effnet.encode([gray, gray[:, :, None], np.repeat(gray[:, :, None], 3, axis=2)])
    np.testing.assert_allclose(g[0], g[2], atol=1e-5)
    np.testing.assert_allclose(g[1], g[2], atol=1e-5)


def test_effnet_small_grayscale_like_fashion_mnist(effnet) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    x = effnet.encode(images)  # a 3-D array is a stack of HxW images
    assert x.shape == (3, 1280) and np.isfinite(x).all()
    assert not np.allclose(x[0], x[1])


def test_effnet_bad_images_are_clear_errors(effnet, tmp_path) -> None:
    with pytest.raises(ShapeError, match="HxW"):
        effnet.encode([np.zeros(10, dtype=np.uint8)])
    with pytest.raises(DtypeError, match=r"\[0, 1\]"):
        effnet.encode([np.full((8, 8), 3.0)])
    with pytest.raises(DtypeError, match="uint8"):
        effnet.encode([np.zeros((8, 8), dtype=np.int64)])
    with pytest.raises(DatasetError, match="not found"):
        effnet.encode([tmp_path / "missing.png"])
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="cannot read"):
        effnet.encode([tmp_path / "bad.png"])
    with pytest.raises(DtypeError, match="PIL image"):
        effnet.encode([42])


# ---------------------------------------------------------------- by name, offline


@pytest.fixture
def hub_offline(monkeypatch):
    """Make the Hugging Face libraries refuse the network, as HF_HUB_OFFLINE=1 does."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.mark.parametrize("family", ["st", "hf-image"])
def test_unknown_hub_model_offline_is_a_clear_encoder_error(hub_offline, family) -> None:
    model = "csa-tests/no-such-model-3b7f"
    with pytest.raises(EncoderError) as info:
        enc.get(f"{family}:{model}", reuse=False)
    msg = str(info.value)
    assert model in msg
    assert "offline" in msg and "local directory" in msg and "pre-download" in msg


def test_missing_timm_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm -> ImportError
    with pytest.raises(MissingExtraError, match="pip install timm"):
        enc.get("timm:resnet18", reuse=False)


def test_hf_image_encoder_loads_a_local_model_directory(tmp_path, photos) -> None:
    """The by-name path with a local copy: a tiny ViT saved to disk, loaded by its directory."""
    import torch
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
    )
    ViTModel(config).save_pretrained(tmp_path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    e = enc.get(f"hf-image:{tmp_path}", reuse=False, local_files_only=True)
    assert e.name == f"hf-image:{tmp_path}" and e.dim == 32
    x = e.encode([photos["china"], photos["flower"]])
    assert x.shape == (2, 32) and x.dtype == np.float32
    np.testing.assert_array_equal(x, e.encode([photos["china"], photos["flower"]]))
    assert not np.allclose(x[0], x[1])


# ---------------------------------------------------------------- registry


def test_available_lists_every_builtin() -> None:
    names = enc.available()
    for n in ("minilm-l6", "minilm-l3-onnx", "efficientnet-lite0"):
        assert n in names
    for family in ("precomputed:", "st:", "hf-image:", "timm:"):
        assert any(n.startswith(family + "<") for n in names)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(EncoderError) as info:
        enc.get("minilm-l7")
    msg = str(info.value)
    assert "minilm-l7" in msg and "Did you mean 'minilm-l6'" in msg
    for n in enc.available():
        assert n in msg
    with pytest.raises(EncoderError, match="argument after the colon"):
        enc.get("st:")
    with pytest.raises(EncoderError, match="strings"):
        enc.get(3)  # type: ignore[arg-type]


class _Fixed(BatchedEncoder):
    """A tiny deterministic encoder for registry and base-class tests."""

    def __init__(self, dim: int = 4, bad: str | None = None) -> None:
        self._dim, self._bad = dim, bad
        self.batches: list[int] = []

    @property
    def name(self) -> str:
        return f"fixed-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _encode_batch(self, batch):
        self.batches.append(len(batch))
        out = np.array([[float(i)] * self._dim for i in batch])
        if self._bad == "shape":
            return out[:, :-1]
        if self._bad == "nan":
            out[0, 0] = np.nan
        return out


def test_register_get_reuse_and_unregister() -> None:
    enc.register("test-fixed", _Fixed, description="test")
    enc.register("test-fam:", lambda arg, **kw: _Fixed(int(arg)), argument="dim")
    try:
        a = enc.get("test-fixed")
        assert a is enc.get("test-fixed")  # loaded once, handed out again
        assert a is not enc.get("test-fixed", reuse=False)
        assert enc.get("test-fixed", dim=3).dim == 3
        assert enc.get("test-fam:7").dim == 7
        assert "test-fam:<dim>" in enc.available()
        assert enc.describe()["test-fixed"] == "test"
        with pytest.raises(EncoderError, match="already registered"):
            enc.register("test-fixed", _Fixed)
        enc.register("test-fixed", lambda: _Fixed(5), overwrite=True)
        assert enc.get("test-fixed").dim == 5  # the kept instance was dropped
        enc.register("test-broken", lambda: object())
        with pytest.raises(EncoderError, match="lacks name, dim or encode"):
            enc.get("test-broken")
    finally:
        for n in ("test-fixed", "test-fam:", "test-broken"):
            if any(x == n or x.startswith(n + "<") for x in enc.available()):
                enc.unregister(n)
    assert "test-fixed" not in enc.available()
    with pytest.raises(EncoderError, match="not registered"):
        enc.unregister("test-fixed")
    with pytest.raises(EncoderError, match="colon"):
        enc.register("a:b:", _Fixed)


# ---------------------------------------------------------------- base class


def test_batched_encoder_batches_and_checks_output() -> None:
    e = _Fixed()
    x = e.encode(list(range(10)), batch_size=4)
    assert e.batches == [4, 4, 2]
    assert x.dtype == np.float32 and x.shape == (10, 4)
    np.testing.assert_array_equal(x[:, 0], np.arange(10))
    assert isinstance(e, Encoder)
    with pytest.raises(EncoderError, match="shape"):
        _Fixed(bad="shape").encode([1, 2])
    with pytest.raises(EncoderError, match="NaN"):
        _Fixed(bad="nan").encode([1, 2])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="batch_size"):
            e.encode([1], batch_size=bad)


def test_progress_is_automatic_only_for_long_runs() -> None:
    assert not wants_progress(None, 10, 32)
    assert wants_progress(None, 10_000, 32)
    assert wants_progress(True, 1, 32) and not wants_progress(False, 10_000, 32)


# ---------------------------------------------------------------- precomputed features


def test_precomputed_npy_by_row_and_by_id(tmp_path) -> None:
    feats = np.arange(12, dtype=np.float64).reshape(4, 3)
    path = tmp_path / "f.npy"
    np.save(path, feats)
    e = enc.get(f"precomputed:{path}", reuse=False)
    assert isinstance(e, Encoder) and e.dim == 3 and len(e) == 4
    x = e.encode([2, 0, 2])
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, feats[[2, 0, 2]])
    np.testing.assert_array_equal(e.encode(np.array([3])), feats[[3]])
    with pytest.raises(ShapeError, match="out of range"):
        e.encode([4])
    with pytest.raises(ShapeError, match="out of range"):
        e.encode([-1])
    with pytest.raises(DtypeError, match="row numbers"):
        e.encode(["a"])
    by_id = enc.PrecomputedEncoder(path, ids=["w", "x", "y", "z"])
    np.testing.assert_array_equal(by_id.encode(["z", "w"]), feats[[3, 0]])
    with pytest.raises(InputError, match="not in"):
        by_id.encode(["q"])
    with pytest.raises(ShapeError, match="3 ids for 4"):
        enc.PrecomputedEncoder(path, ids=["a", "b", "c"])


def test_precomputed_parquet_columns_and_vector_column(tmp_path) -> None:
    import pandas as pd

    feats = np.random.default_rng(1).normal(size=(5, 3))
    frame = pd.DataFrame(feats, columns=["f0", "f1", "f2"])
    frame.insert(0, "id", [f"item{i}" for i in range(5)])
    wide = tmp_path / "wide.parquet"
    frame.to_parquet(wide)
    e = enc.PrecomputedEncoder(wide, id_column="id")
    assert e.dim == 3 and e.ids == [f"item{i}" for i in range(5)]
    np.testing.assert_allclose(e.encode(["item4", "item1"]), feats[[4, 1]], rtol=1e-6)
    # Without id_column, the text column named "id" is metadata, not a feature (issue 9),
    # and items are row numbers.
    by_row = enc.PrecomputedEncoder(wide)
    assert by_row.dim == 3 and by_row.ids is None
    np.testing.assert_allclose(by_row.encode([4]), feats[[4]], rtol=1e-6)
    frame.insert(1, "note", ["n"] * 5)
    frame.to_parquet(wide)
    with pytest.raises(DatasetError, match=r"non-numeric.*note"):
        enc.PrecomputedEncoder(wide, id_column="id")
    two = enc.PrecomputedEncoder(wide, id_column="id", columns=["f2", "f0"])
    np.testing.assert_allclose(two.encode(["item0"]), feats[[0]][:, [2, 0]], rtol=1e-6)

    vec = tmp_path / "vec.parquet"
    pd.DataFrame({"key": [10, 11, 12, 13, 14], "embedding": list(feats)}).to_parquet(vec)
    v = enc.get(f"precomputed:{vec}", reuse=False, id_column="key")
    np.testing.assert_allclose(v.encode([12, 10]), feats[[2, 0]], rtol=1e-6)


def test_precomputed_bad_files(tmp_path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        enc.PrecomputedEncoder(tmp_path / "none.npy")
    np.save(tmp_path / "flat.npy", np.zeros(4))
    with pytest.raises(DatasetError, match="2-D"):
        enc.PrecomputedEncoder(tmp_path / "flat.npy")
    bad = np.ones((3, 2))
    bad[1, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(NonFiniteError, match="row 1"):
        enc.PrecomputedEncoder(tmp_path / "nan.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match="not a plain numeric"):
        enc.PrecomputedEncoder(tmp_path / "obj.npy")
    (tmp_path / "f.csv").write_text("1,2\n")
    with pytest.raises(DatasetError, match=r"\.npy or \.parquet"):
        enc.PrecomputedEncoder(tmp_path / "f.csv")
