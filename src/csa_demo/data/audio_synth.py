"""Render audio with Debian's speech and music synthesizers: espeak-ng, flite, fluidsynth.

Real recordings cannot be downloaded here, but these three tools ship real voices and a
real sampled-instrument soundfont, and they are deterministic: the same text, voice and
settings give the same samples, so a data set is reproducible from its seed alone.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from csa import DatasetError
from csa.audio_signal import SAMPLE_RATE, resample
from csa.extras import require

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DatasetError(
            f"`{name}` is not installed; it comes with the Debian package {package} "
            f"(make setup, or apt-get install {package})"
        )
    return path


def _read_wav(path: Path) -> np.ndarray:
    sf = require("soundfile", extra="audio", purpose="reading synthesised speech")
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(data.mean(axis=1), rate, SAMPLE_RATE)


def _run(cmd: Sequence[str]) -> None:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise DatasetError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()[:400]}")


def trim_silence(
    wave: np.ndarray, threshold_db: float = -40.0, margin_s: float = 0.05
) -> np.ndarray:
    """Cut leading and trailing near-silence so 'frames that hold audio' means sound."""
    if wave.size == 0:
        return wave
    peak = float(np.max(np.abs(wave)))
    if peak == 0.0:
        return wave[: int(0.1 * SAMPLE_RATE)] if wave.size > 0 else wave
    loud = np.flatnonzero(np.abs(wave) >= peak * 10.0 ** (threshold_db / 20.0))
    margin = int(margin_s * SAMPLE_RATE)
    return wave[max(0, loud[0] - margin) : min(wave.size, loud[-1] + margin + 1)]


@dataclass(frozen=True)
class EspeakVoice:
    """One espeak-ng rendering setup: accent (voice), variant, words per minute, pitch 0-99."""

    voice: str = "en-us"
    variant: str = ""
    speed: int = 160
    pitch: int = 50

    @property
    def label(self) -> str:
        v = f"{self.voice}+{self.variant}" if self.variant else self.voice
        return f"espeak:{v}:s{self.speed}:p{self.pitch}"


@dataclass(frozen=True)
class FliteVoice:
    """One flite setup: voice, duration stretch (>1 is slower), target mean pitch in Hz."""

    voice: str = "slt"
    stretch: float = 1.0
    f0: float | None = None

    @property
    def label(self) -> str:
        f0 = "" if self.f0 is None else f":f{self.f0:g}"
        return f"flite:{self.voice}:x{self.stretch:g}{f0}"


def espeak_say(text: str, voice: EspeakVoice) -> np.ndarray:
    """Speak ``text`` with espeak-ng; 16 kHz float32, silence trimmed."""
    exe = _tool("espeak-ng", "espeak-ng")
    name = f"{voice.voice}+{voice.variant}" if voice.variant else voice.voice
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "say.wav"
        _run(
            [exe, "-v", name, "-s", str(voice.speed), "-p", str(voice.pitch), "-w", str(out), text]
        )
        return trim_silence(_read_wav(out))


def flite_say(text: str, voice: FliteVoice) -> np.ndarray:
    """Speak ``text`` with flite; 16 kHz float32, silence trimmed."""
    exe = _tool("flite", "flite")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "say.wav"
        cmd = [exe, "-voice", voice.voice, "--setf", f"duration_stretch={voice.stretch}"]
        if voice.f0 is not None:
            cmd += ["--setf", f"int_f0_target_mean={voice.f0}"]
        _run([*cmd, "-t", text, "-o", str(out)])
        return trim_silence(_read_wav(out))


def soundfont_path() -> Path:
    """The General MIDI soundfont of Debian's fluid-soundfont-gm."""
    for cand in SOUNDFONT_CANDIDATES:
        if Path(cand).is_file():
            return Path(cand)
    raise DatasetError(
        "no General MIDI soundfont: install the Debian package fluid-soundfont-gm "
        "(make setup, or apt-get install fluid-soundfont-gm)"
    )


@dataclass(frozen=True)
class Note:
    """One note to render: GM program 0-127, MIDI pitch, velocity 1-127."""

    program: int
    pitch: int
    velocity: int


def write_midi(path: Path, notes: Sequence[Note], hold_s: float, gap_s: float) -> None:
    """A one-track MIDI file playing ``notes`` one after another on channel 0.

    Channel 0, not 9: channel 9 is GM's drum kit and would ignore the program change.
    """
    mido = require("mido", extra="demo", purpose="writing the GM notes' MIDI file")
    ticks_per_beat = 480
    tempo = 500_000  # microseconds per beat: 960 ticks per second
    tps = ticks_per_beat * 1_000_000 / tempo
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    hold = round(hold_s * tps)
    gap = round(gap_s * tps)
    for i, note in enumerate(notes):
        track.append(
            mido.Message("program_change", program=note.program, channel=0, time=gap if i else 0)
        )
        track.append(mido.Message("note_on", note=note.pitch, velocity=note.velocity, time=0))
        track.append(mido.Message("note_off", note=note.pitch, velocity=0, time=hold))
    track.append(mido.MetaMessage("end_of_track", time=gap))
    midi.save(str(path))


def render_notes(
    notes: Sequence[Note], hold_s: float = 1.0, gap_s: float = 0.6
) -> list[np.ndarray]:
    """Render each note with fluidsynth; one process for all notes (the soundfont loads once).

    Reverb and chorus are off so one note's tail never leaks into the next slice, and output
    is float so no dither noise makes two renders differ.
    """
    exe = _tool("fluidsynth", "fluidsynth")
    sf2 = soundfont_path()
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "notes.mid"
        wav = Path(tmp) / "notes.wav"
        write_midi(mid, notes, hold_s, gap_s)
        _run(
            [exe, "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(SAMPLE_RATE),
             "-O", "float", "-T", "wav", "-F", str(wav), str(sf2), str(mid)]
        )  # fmt: skip
        full = _read_wav(wav)
    step = (hold_s + gap_s) * SAMPLE_RATE
    length = int((hold_s + gap_s * 0.9) * SAMPLE_RATE)
    clips = []
    for i in range(len(notes)):
        start = round(i * step)
        clip = full[start : start + length]
        clips.append(trim_silence(clip) if np.any(clip) else clip[: SAMPLE_RATE // 10])
    return clips
