"""Encoder names carry their options; sentence-transformers' conventions; offline failures."""

from __future__ import annotations

import time

import numpy as np
import pytest

import csa.encoders as enc
from csa.encoders import _hub
from csa.encoders.names import format_name, parse_name
from csa.errors import EncoderError, InputError


@pytest.mark.parametrize(
    ("name", "base", "options"),
    [
        ("whisper-base@5s", "whisper-base", {"window_seconds": 5}),
        ("whisper-base?window=5", "whisper-base", {"window_seconds": 5}),
        ("whisper-tiny.en@2.5s", "whisper-tiny.en", {"window_seconds": 2.5}),
        ("minilm-l6@128", "minilm-l6", {"max_seq_length": 128}),
        ("efficientnet-lite0?pooling=mean&size=2", "efficientnet-lite0", {"pooling": "mean",
                                                                         "size": 2}),
        ("st:user/model-v2", "st:user/model-v2", {}),
        ("precomputed:/data/a@home/f.npy", "precomputed:/data/a@home/f.npy", {}),
    ],
)  # fmt: skip
def test_names_parse_and_format_back(name, base, options):
    parsed_base, parsed = parse_name(name)
    assert (parsed_base, parsed) == (base, options)
    again = format_name(parsed_base, parsed)
    assert parse_name(again) == (base, options)


def test_one_spelling_per_setting_and_bad_options():
    assert format_name("whisper-base", {"window_seconds": 5.0}) == "whisper-base@5s"
    assert format_name("m", {"b": 1, "a": True, "c": None}) == "m?a=true&b=1&c=none"
    assert format_name("m", {"ids": [1, 2]}) is None  # cannot round-trip through text
    with pytest.raises(EncoderError, match="twice"):
        parse_name("whisper-base@5s?window=5")
    with pytest.raises(EncoderError, match="contradicts"):
        enc.get("mfcc?n_mfcc=13", n_mfcc=20)
    with pytest.raises(EncoderError, match="does not take"):
        enc.get("mfcc?colour=blue", reuse=False)


def test_get_of_the_name_rebuilds_the_encoder():
    """The demo's names resolve, and ``get(encoder.name)`` gives the same encoder back."""
    whisper = enc.get("whisper-tiny.en@5s", reuse=False)
    assert whisper.window_seconds == 5.0 and whisper.name == "whisper-tiny.en@5s"
    assert enc.get("whisper-tiny.en", window_seconds=5, reuse=False).name == whisper.name
    assert enc.get("whisper-tiny.en?window=5", reuse=False).name == whisper.name
    mfcc = enc.get("mfcc", n_mfcc=13, reuse=False)
    assert mfcc.name == "mfcc?n_mfcc=13"
    rebuilt = enc.get(mfcc.name, reuse=False)
    assert rebuilt.n_mfcc == 13 and rebuilt.dim == mfcc.dim == 52
    # Different settings never share a name (the embedding cache keys on it).
    assert enc.get("mfcc", reuse=False).name != mfcc.name


def test_precomputed_names_are_absolute_paths(tmp_path, monkeypatch):
    np.save(tmp_path / "f.npy", np.arange(6.0).reshape(3, 2))
    monkeypatch.chdir(tmp_path)
    e = enc.get("precomputed:f.npy", reuse=False)
    assert e.name == f"precomputed:{(tmp_path / 'f.npy').resolve()}"
    assert enc.get(e.name, reuse=False).encode([2]).tolist() == [[4.0, 5.0]]


class _Doubler(enc.BatchedEncoder):
    def __init__(self) -> None:
        self._name, self._dim = "doubler", 2

    def _encode_batch(self, batch):
        return np.array([[3.0 * x, 4.0 * x] for x in batch])


def test_sentence_transformers_keywords():
    e = _Doubler()
    raw = e.encode([1.0, 2.0], show_progress_bar=False, convert_to_numpy=True)
    np.testing.assert_array_equal(raw, [[3.0, 4.0], [6.0, 8.0]])
    unit = e.encode([1.0, 2.0], normalize_embeddings=True, batch_size=1)
    np.testing.assert_allclose(unit, [[0.6, 0.8], [0.6, 0.8]], rtol=1e-6)
    tensor = e.encode([1.0], convert_to_tensor=True)
    assert type(tensor).__module__.startswith("torch") and tuple(tensor.shape) == (1, 2)
    with pytest.raises(InputError, match="disagree"):
        e.encode([1.0], show_progress=True, show_progress_bar=False)


def test_cached_encode_takes_the_same_keywords(tmp_path):
    e = _Doubler()
    first = enc.cached_encode(e, [1.0], cache_dir=tmp_path, normalize_embeddings=True)
    again = enc.cached_encode(e, [1.0], cache_dir=tmp_path, show_progress_bar=False)
    np.testing.assert_allclose(first, [[0.6, 0.8]], rtol=1e-6)
    np.testing.assert_array_equal(again, [[3.0, 4.0]])  # the cache holds the raw output


def test_wrap_passes_encoders_through_and_refuses_strangers():
    e = _Doubler()
    assert enc.wrap(e) is e and enc.get(e) is e
    with pytest.raises(EncoderError, match="cannot make an encoder"):
        enc.wrap(object())


@pytest.mark.slow
def test_a_sentence_transformer_object_is_wrapped():
    bundled = enc.get("minilm-l6")
    model = bundled._model  # the SentenceTransformer a user would hold
    wrapped = enc.get(model)
    assert wrapped.dim == 384 and wrapped.name.startswith("st-object:SentenceTransformer-")
    texts = ["a photo of a cat", "stock markets fell"]
    np.testing.assert_allclose(wrapped.encode(texts), bundled.encode(texts), atol=1e-6)
    assert enc.wrap(model).name == wrapped.name  # the name is a hash of the weights


def test_hub_names_fail_fast_offline(monkeypatch):
    monkeypatch.setattr(_hub, "hub_offline", lambda: True)
    start = time.perf_counter()
    with pytest.raises(EncoderError, match=r"HF_HUB_OFFLINE.*local directory"):
        enc.get("st:no-such-org/no-such-model-xyz", reuse=False)
    with pytest.raises(EncoderError, match="HF_HUB_OFFLINE"):
        enc.get("hf-image:no-such-org/no-such-model-xyz", reuse=False)
    assert time.perf_counter() - start < 5.0


def test_unreachable_hub_is_probed_once(monkeypatch):
    calls = []

    def refuse(address, timeout):
        calls.append((address, timeout))
        raise OSError("network is unreachable")

    monkeypatch.setattr(_hub, "hub_offline", lambda: False)
    monkeypatch.setattr(_hub, "_reachable", {})
    monkeypatch.setattr(_hub.socket, "create_connection", refuse)
    for _ in range(2):
        with pytest.raises(EncoderError, match="cannot be reached"):
            _hub.hub_access("sentence-transformers", "no-such-org/no-such-model-xyz")
    assert len(calls) == 1 and calls[0][1] <= 2.0


def test_a_local_folder_needs_no_network(monkeypatch, tmp_path):
    monkeypatch.setattr(_hub, "hub_offline", lambda: True)
    assert _hub.hub_access("sentence-transformers", str(tmp_path)) is True
