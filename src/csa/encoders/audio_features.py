"""Whisper's log-mel front end in plain numpy, plus waveform loading.

Whisper's encoder only gives sensible features for exactly the input it was trained on:
16 kHz audio zero-padded to a 30 s window, an 80-band Slaney mel filterbank on a 25 ms /
10 ms STFT, and its own log compression (log10, floor at max - 8, then (x + 4) / 4). The
front end lives here, apart from any model runtime, so it can be checked against a second
implementation and reused by any encoder that wants Whisper-style input.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from csa.audio_signal import SAMPLE_RATE, resample
from csa.errors import DtypeError, EncoderError, ShapeError
from csa.extras import require

N_FFT = 400
HOP_LENGTH = 160
N_MELS = 80
WINDOW_SECONDS = 30.0


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    # Slaney's scale: linear up to 1 kHz, logarithmic above; Whisper's filters use it.
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3.0
    mel = hz / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    above = hz >= min_log_hz
    mel[above] = min_log_mel + np.log(hz[above] / min_log_hz) / logstep
    return mel


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3.0
    hz = mel * f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    above = mel >= min_log_mel
    hz[above] = min_log_hz * np.exp(logstep * (mel[above] - min_log_mel))
    return hz


@lru_cache(maxsize=8)
def mel_filterbank(
    sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS
) -> np.ndarray:
    """Triangular, area-normalised (Slaney) mel filters, shape ``(n_mels, n_fft // 2 + 1)``.

    Area normalisation keeps wide high-frequency bands from dominating the energy, which is
    what the pretrained Whisper weights saw.
    """
    fft_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    mel_edges = np.linspace(
        _hz_to_mel_slaney(np.array([0.0]))[0],
        _hz_to_mel_slaney(np.array([sample_rate / 2.0]))[0],
        n_mels + 2,
    )
    hz_edges = _mel_to_hz_slaney(mel_edges)
    widths = np.diff(hz_edges)
    ramps = hz_edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (hz_edges[2:] - hz_edges[:-2]))[:, None]
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=4)
def _hann_periodic(n: int) -> np.ndarray:
    # Periodic (not symmetric) Hann, as torch.hann_window gives by default.
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    w.setflags(write=False)
    return w


def pad_or_trim(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Zero-pad or cut a waveform to ``n_samples`` (Whisper's fixed window)."""
    if audio.shape[0] >= n_samples:
        return audio[:n_samples]
    return np.pad(audio, (0, n_samples - audio.shape[0]))


def log_mel_spectrogram(
    audio: np.ndarray, window_seconds: float = WINDOW_SECONDS, n_mels: int = N_MELS
) -> np.ndarray:
    """Whisper's normalised log-mel input for one 16 kHz waveform: ``(n_mels, frames)`` float32.

    ``frames`` is ``window_seconds * 100`` (3000 for the 30 s window). The max - 8 floor is
    taken per clip, over the padded window, as Whisper does.
    """
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ShapeError(f"a waveform must be 1-D, got shape {audio.shape}")
    n_samples = round(window_seconds * SAMPLE_RATE)
    x = pad_or_trim(audio.astype(np.float64, copy=False), n_samples)
    half = N_FFT // 2
    x = np.pad(x, (half, half), mode="reflect")
    n_frames = 1 + (x.shape[0] - N_FFT) // HOP_LENGTH
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(n_frames, N_FFT), strides=(x.strides[0] * HOP_LENGTH, x.strides[0])
    )
    spec = np.fft.rfft(frames * _hann_periodic(N_FFT), axis=1)
    power = (spec.real**2 + spec.imag**2)[:-1]  # Whisper drops the last frame
    mel = mel_filterbank(SAMPLE_RATE, N_FFT, n_mels) @ power.T
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def audio_frames(n_samples: int, window_seconds: float = WINDOW_SECONDS) -> int:
    """Number of Whisper encoder frames (20 ms each) that overlap real audio, at least 1."""
    mel_frames = min(math.ceil(n_samples / HOP_LENGTH), round(window_seconds * 100))
    return max(1, math.ceil(mel_frames / 2))


def load_audio(item: Any, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """One item -> mono float32 waveform at ``sample_rate``.

    Accepts a 1-D array (taken to be at ``sample_rate`` already), a ``(array, rate)`` pair,
    or a path to any file libsndfile reads (wav, flac, ogg).
    """
    if isinstance(item, (str, Path)):
        sf = require("soundfile", extra="audio", purpose="reading audio files")
        try:
            data, rate = sf.read(str(item), dtype="float32", always_2d=True)
        except Exception as exc:
            raise EncoderError(f"cannot read audio file {item}: {exc}") from exc
        return resample(data.mean(axis=1), rate, sample_rate)
    if isinstance(item, tuple) and len(item) == 2:
        wave, rate = item
        return load_audio(resample(np.asarray(wave, dtype=np.float32), int(rate), sample_rate))
    wave = np.asarray(item)
    if wave.dtype.kind not in "fiu":
        raise DtypeError(f"a waveform must hold real numbers, got dtype {wave.dtype}")
    if wave.ndim == 2 and 1 in wave.shape:
        wave = wave.reshape(-1)
    if wave.ndim != 1 or wave.shape[0] == 0:
        raise ShapeError(f"a waveform must be a non-empty 1-D array, got shape {wave.shape}")
    if wave.dtype.kind in "iu":
        wave = wave.astype(np.float32) / float(np.iinfo(wave.dtype).max)
    wave = wave.astype(np.float32, copy=False)
    if not np.all(np.isfinite(wave)):
        from csa.errors import NonFiniteError

        raise NonFiniteError("a waveform holds NaN or infinite samples")
    return wave
