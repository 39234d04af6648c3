"""The demo's audio data: spoken words (espeak-ng, flite) and GM notes, synthesised and cached."""

from __future__ import annotations

import numpy as np
import pytest

from csa_demo.data.audio import gm_notes, load_spoken_words, spoken_words


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("audio-cache")


@pytest.fixture(scope="module")
def small_words(cache):
    return spoken_words(("seven", "two", "nine"), n_espeak=2, n_flite=1, seed=3, cache_dir=cache)


def test_spoken_words_same_seed_same_audio(tmp_path, small_words):
    again = spoken_words(
        ("seven", "two", "nine"), n_espeak=2, n_flite=1, seed=3, cache_dir=tmp_path
    )
    assert again.fingerprint() == small_words.fingerprint()
    assert set(again.meta["engine"]) == {"espeak", "flite"}
    assert len(again) == 9 and all(w.size > 1600 for w in again.audio)
    other = spoken_words(
        ("seven", "two", "nine"), n_espeak=2, n_flite=1, seed=4, cache_dir=tmp_path
    )
    assert other.fingerprint() != again.fingerprint()
    # The second call with the same settings reads the cache and gives the same data.
    cached = spoken_words(
        ("seven", "two", "nine"), n_espeak=2, n_flite=1, seed=3, cache_dir=tmp_path
    )
    assert cached.fingerprint() == again.fingerprint()


def test_gm_notes_deterministic_and_captioned(tmp_path, cache):
    kw = {"programs": (0, 56, 73), "pitches": (60,), "velocities": (100,), "seed": 1}
    a = gm_notes(cache_dir=tmp_path, **kw)
    b = gm_notes(cache_dir=cache, **kw)
    assert a.fingerprint() == b.fingerprint()
    assert list(a.meta["name"]) == ["acoustic grand piano", "trumpet", "flute"]
    assert list(a.meta["family"]) == ["piano", "brass", "pipe"]
    assert "trumpet" in a.text[1]
    assert all(np.abs(w).max() > 0.01 for w in a.audio)


def test_spoken_words_loader_pairs_audio_with_text(cache):
    ds = load_spoken_words(words=("one", "two"), n_espeak=1, n_flite=1, cache_dir=cache)
    assert ds.modalities == ("audio", "text") and list(ds.labels) == [0, 0, 1, 1]
