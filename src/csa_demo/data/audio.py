"""Audio <-> text data sets, synthesized reproducibly and cached on disk.

Two sets, both paired with text:

* ``spoken_words``: digits and common words said by espeak-ng (many accents, variants,
  speeds, pitches) and by flite (several voices, tempos, pitches). The two engines share no
  code or voices, so training on one and testing on the other measures generalisation to
  unseen speakers rather than memorised waveforms.
* ``gm_notes``: single notes of the 128 General MIDI instruments, sampled from the
  FluidR3 soundfont at several pitches and velocities, captioned "the sound of a trumpet".

A seed fixes every random choice; the rendered audio is cached as an ``.npz`` (no pickle)
keyed by the settings, and :meth:`AudioClips.fingerprint` hashes the samples so tests can
check that the same seed gives the same audio.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from csa import DatasetError
from csa.audio_signal import SAMPLE_RATE
from csa.datasets import PairedDataset
from csa.files import atomic_write, cache_root, content_fingerprint
from csa_demo.data.audio_gm import GM_PROGRAMS, gm_family
from csa_demo.data.audio_synth import (
    EspeakVoice,
    FliteVoice,
    Note,
    espeak_say,
    flite_say,
    render_notes,
)

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
WORDS = (
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
    "cat", "dog", "bird", "house", "tree", "water", "music", "happy", "red", "blue",
)  # fmt: skip

ESPEAK_ACCENTS = (
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)  # fmt: skip
ESPEAK_VARIANTS = ("", "m1", "m3", "m5", "f1", "f2", "f4", "klatt", "croak", "whisper")
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")

CACHE_VERSION = 1


@dataclass
class AudioClips:
    """Waveforms (16 kHz float32), their captions, and per-clip metadata columns."""

    audio: list[np.ndarray]
    text: list[str]
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    sample_rate: int = SAMPLE_RATE

    def __len__(self) -> int:
        return len(self.audio)

    def subset(self, index: np.ndarray) -> AudioClips:
        """The clips at ``index`` (integer positions or a boolean mask), metadata included."""
        idx = np.arange(len(self))[np.asarray(index)]
        return AudioClips(
            audio=[self.audio[i] for i in idx],
            text=[self.text[i] for i in idx],
            meta={k: v[idx] for k, v in self.meta.items()},
            sample_rate=self.sample_rate,
        )

    def fingerprint(self) -> str:
        """SHA-256 of every sample and caption: equal fingerprints mean equal data."""
        waves = [np.ascontiguousarray(wave, dtype="<f4") for wave in self.audio]
        meta = [(key, np.asarray(self.meta[key]).astype(str)) for key in sorted(self.meta)]
        return content_fingerprint([waves, list(self.text), meta], namespace="csa-audio-clips")


def _save(path: Path, clips: AudioClips) -> None:
    lengths = np.array([w.shape[0] for w in clips.audio], dtype=np.int64)
    arrays = {
        "samples": np.concatenate(clips.audio).astype(np.float32)
        if clips.audio
        else np.zeros(0, np.float32),
        "lengths": lengths,
        "text": np.array(clips.text, dtype=str),
    }
    arrays.update({f"meta__{k}": np.asarray(v) for k, v in clips.meta.items()})
    atomic_write(path, lambda tmp: np.savez(tmp, **arrays), error=DatasetError, what="audio cache")


def _load(path: Path) -> AudioClips:
    try:
        with np.load(path, allow_pickle=False) as z:
            bounds = np.concatenate([[0], np.cumsum(z["lengths"])])
            samples = z["samples"]
            audio = [samples[a:b].copy() for a, b in itertools.pairwise(bounds)]
            meta = {k[6:]: z[k] for k in z.files if k.startswith("meta__")}
            return AudioClips(audio=audio, text=[str(t) for t in z["text"]], meta=meta)
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(
            f"audio cache {path} is unreadable ({exc}); delete it to rebuild"
        ) from exc


def _cached(name: str, config: dict, cache_dir: str | os.PathLike[str] | None,
            build: Callable[[], AudioClips]) -> AudioClips:  # fmt: skip
    key = hashlib.sha256(
        json.dumps({**config, "v": CACHE_VERSION}, sort_keys=True).encode()
    ).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    path = root / "datasets" / "audio" / f"{name}-{key}.npz"
    if path.is_file():
        try:
            return _load(path)
        except DatasetError:
            path.unlink(missing_ok=True)
    clips = build()
    _save(path, clips)
    return clips


def _espeak_voices(rng: np.random.Generator, n: int) -> list[EspeakVoice]:
    voices: set[EspeakVoice] = set()
    out: list[EspeakVoice] = []
    while len(out) < n:
        v = EspeakVoice(
            voice=str(rng.choice(ESPEAK_ACCENTS)),
            variant=str(rng.choice(ESPEAK_VARIANTS)),
            speed=int(rng.integers(110, 221)),
            pitch=int(rng.integers(20, 81)),
        )
        if v not in voices:
            voices.add(v)
            out.append(v)
    return out


def _flite_voices(rng: np.random.Generator, n: int) -> list[FliteVoice]:
    out: list[FliteVoice] = []
    seen: set[FliteVoice] = set()
    stretches = (0.8, 0.9, 1.0, 1.15, 1.3)
    f0s: tuple[float | None, ...] = (None, None, 95.0, 130.0, 170.0)
    while len(out) < n:
        v = FliteVoice(
            voice=FLITE_VOICES[len(out) % len(FLITE_VOICES)],
            stretch=float(rng.choice(stretches)),
            f0=f0s[int(rng.integers(len(f0s)))],
        )
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def spoken_words(
    words: tuple[str, ...] = DIGITS + WORDS,
    n_espeak: int = 24,
    n_flite: int = 10,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> AudioClips:
    """Each word said by ``n_espeak`` espeak-ng voices and ``n_flite`` flite voices.

    Every word gets the same set of voices (drawn once from ``seed``), so a split by voice
    leaves every class in both halves. Metadata: ``word``, ``engine`` (espeak/flite),
    ``voice`` (the full setting), ``voice_id`` (index within its engine).
    """
    if not words:
        raise DatasetError("spoken_words needs at least one word")
    config = {"words": list(words), "n_espeak": n_espeak, "n_flite": n_flite, "seed": seed}

    def build() -> AudioClips:
        rng = np.random.default_rng(seed)
        espeak = _espeak_voices(rng, n_espeak)
        flite = _flite_voices(rng, n_flite)
        audio, text, engine, voice, voice_id = [], [], [], [], []
        for word in words:
            for i, v in enumerate(espeak):
                audio.append(espeak_say(word, v))
                text.append(word), engine.append("espeak"), voice.append(v.label)
                voice_id.append(i)
            for i, f in enumerate(flite):
                audio.append(flite_say(word, f))
                text.append(word), engine.append("flite"), voice.append(f.label)
                voice_id.append(i)
        meta = {
            "word": np.array(text, dtype=str),
            "engine": np.array(engine, dtype=str),
            "voice": np.array(voice, dtype=str),
            "voice_id": np.array(voice_id, dtype=np.int64),
        }
        return AudioClips(audio=audio, text=list(text), meta=meta)

    return _cached("spoken-words", config, cache_dir, build)


CAPTION_TEMPLATES = (
    "the sound of {a_name}",
    "{a_name} playing a note",
    "a note played on {a_name}, {a_family} instrument",
)


def with_article(noun: str) -> str:
    """'a trumpet', 'an oboe': captions read as real English for the sentence encoder."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def gm_notes(
    programs: tuple[int, ...] = tuple(range(128)),
    pitches: tuple[int, ...] = (48, 60, 72),
    velocities: tuple[int, ...] = (64, 110),
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> AudioClips:
    """Every program x pitch x velocity rendered from the GM soundfont, with a caption.

    The caption template is drawn per note from ``seed``; one in three names the family,
    as real captions sometimes do. Metadata: ``program``, ``name``, ``family``, ``pitch``,
    ``velocity``.
    """
    bad = [p for p in programs if not 0 <= p < 128]
    if bad or not programs:
        raise DatasetError(f"GM programs must be in 0..127 and non-empty, got {bad or programs}")
    config = {
        "programs": list(programs),
        "pitches": list(pitches),
        "velocities": list(velocities),
        "seed": seed,
    }

    def build() -> AudioClips:
        rng = np.random.default_rng(seed)
        notes = [Note(p, k, v) for p in programs for k in pitches for v in velocities]
        audio = render_notes(notes)
        names = [GM_PROGRAMS[n.program] for n in notes]
        families = [gm_family(n.program) for n in notes]
        picks = rng.integers(len(CAPTION_TEMPLATES), size=len(notes))
        text = [
            CAPTION_TEMPLATES[t].format(a_name=with_article(name), a_family=with_article(fam))
            for t, name, fam in zip(picks, names, families, strict=True)
        ]
        meta = {
            "program": np.array([n.program for n in notes], dtype=np.int64),
            "name": np.array(names, dtype=str),
            "family": np.array(families, dtype=str),
            "pitch": np.array([n.pitch for n in notes], dtype=np.int64),
            "velocity": np.array([n.velocity for n in notes], dtype=np.int64),
        }
        return AudioClips(audio=audio, text=text, meta=meta)

    return _cached("gm-notes", config, cache_dir, build)


def load_spoken_words(
    words: tuple[str, ...] = DIGITS + WORDS,
    n_espeak: int = 24,
    n_flite: int = 10,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> PairedDataset:
    """Spoken digits and words (espeak-ng and flite) paired with the word; labels are words.

    ``info`` holds the per-clip metadata (``engine``, ``voice``, ``voice_id``) for
    engine-wise splits: train on espeak, test on flite.
    """
    clips = spoken_words(words, n_espeak=n_espeak, n_flite=n_flite, seed=seed, cache_dir=cache_dir)
    index = {w: i for i, w in enumerate(words)}
    labels = np.array([index[w] for w in clips.meta["word"].tolist()], dtype=np.int64)
    return PairedDataset(
        name="spoken-words",
        a=clips.audio,
        b=clips.text,
        modalities=("audio", "text"),
        labels=labels,
        class_names=tuple(words),
        info={"meta": clips.meta, "sample_rate": clips.sample_rate},
    )


def load_gm_instruments(
    pitches: tuple[int, ...] = (48, 60, 72),
    velocities: tuple[int, ...] = (64, 110),
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> PairedDataset:
    """Notes of the 128 GM instruments (FluidR3 soundfont) paired with captions.

    Labels are the 16 GM families; ``info["meta"]`` holds ``program``, ``name``, ``pitch``,
    ``velocity`` for splits that hold out whole instruments.
    """
    from csa_demo.data.audio_gm import GM_FAMILIES

    clips = gm_notes(pitches=pitches, velocities=velocities, seed=seed, cache_dir=cache_dir)
    return PairedDataset(
        name="gm-instruments",
        a=clips.audio,
        b=clips.text,
        modalities=("audio", "text"),
        labels=(clips.meta["program"] // 8).astype(np.int64),
        class_names=GM_FAMILIES,
        info={"meta": clips.meta, "sample_rate": clips.sample_rate},
    )


__all__ = [
    "DIGITS",
    "WORDS",
    "AudioClips",
    "gm_notes",
    "load_gm_instruments",
    "load_spoken_words",
    "spoken_words",
    "with_article",
]
