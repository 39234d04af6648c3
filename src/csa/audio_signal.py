"""Waveform conventions shared by the audio data sets and the audio encoders.

Data sets render audio and encoders consume it; neither may import the other, so the
one sample rate both agree on, and the resampler that brings any file to it, live
here, in a module that depends on numpy and scipy only.
"""

from __future__ import annotations

import math

import numpy as np

#: Every waveform in csa is mono float32 at this rate (Whisper's input rate).
SAMPLE_RATE = 16_000


def resample(audio: np.ndarray, orig_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling; exact rational ratio, so 22.05 kHz -> 16 kHz adds no drift."""
    if orig_rate == target_rate:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(int(orig_rate), int(target_rate))
    out = resample_poly(audio.astype(np.float64), target_rate // g, int(orig_rate) // g)
    return out.astype(np.float32)


__all__ = ["SAMPLE_RATE", "resample"]
