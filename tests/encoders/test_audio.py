"""Audio encoders: front end and encoders, on speech synthesised by the demo's data sets."""

from __future__ import annotations

import numpy as np
import pytest

from csa.encoders.audio import MFCCEncoder, WhisperEncoder, whisper_model_dir
from csa.encoders.audio_features import (
    SAMPLE_RATE,
    audio_frames,
    load_audio,
    log_mel_spectrogram,
    mel_filterbank,
)
from csa.errors import EncoderError, ShapeError
from csa_demo.data.audio import spoken_words


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("audio-cache")


@pytest.fixture(scope="module")
def small_words(cache):
    return spoken_words(("seven", "two", "nine"), n_espeak=2, n_flite=1, seed=3, cache_dir=cache)


def _chirp(seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * (200 + 900 * t) * t)).astype(np.float32)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_mel_filters_match_librosa():
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=400, n_mels=80)
    np.testing.assert_allclose(mel_filterbank(), ref, atol=1e-6)


@pytest.mark.parametrize("source", ["chirp", "espeak"])
def test_log_mel_matches_transformers_whisper_front_end(source, small_words):
    from transformers import WhisperFeatureExtractor

    wave = _chirp() if source == "chirp" else small_words.audio[0]
    ours = log_mel_spectrogram(wave)
    ref = WhisperFeatureExtractor(feature_size=80)(
        wave, sampling_rate=SAMPLE_RATE, return_tensors="np"
    )["input_features"][0]
    assert ours.shape == ref.shape == (80, 3000)
    assert _cosine(ours, ref) >= 0.97
    assert np.abs(ours - ref).max() < 1e-3


def test_log_mel_floor_and_frames():
    mel = log_mel_spectrogram(_chirp(), window_seconds=5.0)
    assert mel.shape == (80, 500) and mel.dtype == np.float32
    # Whisper's compression: nothing lies more than 8 (log10 units) / 4 below the maximum.
    assert mel.max() - mel.min() <= 2.0 + 1e-6
    assert audio_frames(16_000) == 50 and audio_frames(1) == 1
    assert audio_frames(10**8) == 1500
    with pytest.raises(ShapeError):
        log_mel_spectrogram(np.zeros((2, 100)))


def test_load_audio_resamples_pairs_and_rejects_bad_input():
    wave = load_audio((np.zeros(22_050, dtype=np.float32), 22_050))
    assert wave.shape == (16_000,)
    with pytest.raises(ShapeError):
        load_audio(np.zeros(0))


def test_mfcc_encoder_shape_and_determinism(small_words):
    enc = MFCCEncoder()
    first = enc.encode(small_words.audio)
    assert first.shape == (len(small_words), enc.dim) and first.dtype == np.float32
    np.testing.assert_array_equal(first, enc.encode(small_words.audio, batch_size=2))


def test_whisper_tiny_shape_determinism_and_padding_independence(small_words):
    enc = WhisperEncoder("tiny.en", window_seconds=3.0)
    assert enc.dim == 768 and "w3s" in enc.name
    x = enc.encode(small_words.audio[:3], batch_size=2)
    assert x.shape == (3, 768) and np.all(np.isfinite(x))
    np.testing.assert_allclose(x, enc.encode(small_words.audio[:3], batch_size=3), atol=1e-5)
    # Different words give different features; pooling ignores the padded frames.
    assert not np.allclose(x[0], x[2])


def test_whisper_full_window_runs(small_words):
    enc = WhisperEncoder("tiny.en")
    x = enc.encode(small_words.audio[:1])
    assert enc.name == "whisper-tiny.en-ct2-int8-meanstd" and x.shape == (1, 768)


@pytest.mark.slow
def test_whisper_base_is_assembled_once(tmp_path, small_words):
    folder = whisper_model_dir("base", cache_dir=tmp_path)
    assert (folder / "model.bin").stat().st_size > 100_000_000
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert whisper_model_dir("base", cache_dir=tmp_path) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == stamp
    enc = WhisperEncoder("base", window_seconds=2.0, cache_dir=tmp_path)
    assert enc.encode(small_words.audio[:1]).shape == (1, 1024)


def test_unknown_whisper_model_fails_offline_with_its_name():
    with pytest.raises(EncoderError, match="large-v9"):
        _ = WhisperEncoder("large-v9").dim


def test_encoders_are_registered():
    from csa.encoders import get

    assert isinstance(get("mfcc"), MFCCEncoder)
    # Made by the registry, an encoder is named by its registry name (options included).
    assert get("whisper-tiny.en").name == "whisper-tiny.en"
    assert get("whisper-tiny.en").model == WhisperEncoder("tiny.en").model
