"""Audio <-> text: CSA and its baselines on synthesized speech and sampled instruments.

Two evaluations, each built so that a good score needs generalisation, not recall:

* spoken words: the pairs come from espeak-ng voices; the test is flite, a different
  synthesizer with different voices. Classes are the words; a clip is classified by
  its best-scoring word among all words' text embeddings.
* instruments: whole GM instruments (2 per family) are held out for the test, then
  classified zero-shot by family ("the sound of a brass instrument") and by name
  among the held-out instruments only, names never seen in training.

What is held out where: each budget of ``n_pairs`` training pairs (class-balanced,
seeded, nested for growing ``n_pairs``) is all a method gets. :func:`fit_methods`
holds out a seeded fifth of that budget to choose every method's ridge and, for CSA
and CCA, ``sim_dim``, by the zero-shot task the test measures (words; families; names
among the held-out rows' own instruments), then refits on the whole budget. The test
synthesizer and test instruments are never used for any choice.

Floors and ceilings: chance, and a supervised logistic-regression probe on the audio
features of the same budget (for families and words; names of held-out instruments
have no labelled training clips, so no probe exists for them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from csa.datasets.audio import DIGITS, WORDS, AudioClips, gm_notes, spoken_words, with_article
from csa.datasets.audio_gm import GM_FAMILIES, GM_PROGRAMS
from csa.datasets.base import PairedDataset
from csa.encoders.audio import MFCCEncoder, WhisperEncoder
from csa.encoders.cache import cached_encode
from csa.errors import CSAError
from csa.tasks import zero_shot_classify
from csa_demo.common import (
    fit_methods,
    probe_accuracy,
    result_row,
    zero_shot_selection_score,
)

EXPERIMENT = "audio-text"
METRIC = "zero-shot top-1"
FAMILY_PROMPT = "the sound of {a_family} instrument"
NAME_PROMPT = "the sound of {a_name}"

# model, rows of the training pool held out from the fit, query options -> score
Validate = Callable[[Any, np.ndarray, dict[str, Any]], float]


@dataclass(frozen=True)
class Task:
    """One zero-shot evaluation: how to score held-out pool rows, and the test set."""

    suffix: str
    validate: Validate
    x_test: np.ndarray
    classes_test: np.ndarray
    y_test: np.ndarray
    probe_labels: np.ndarray | None = None  # the pool's labels, where a probe exists


def _audio_encoder(name: str, cache_dir: str | os.PathLike[str] | None) -> Any:
    if name == "mfcc":
        return MFCCEncoder()
    if name.startswith("whisper-"):
        model, _, window = name.removeprefix("whisper-").partition("@")
        seconds = float(window.removesuffix("s")) if window else 30.0
        return WhisperEncoder(model, window_seconds=seconds, cache_dir=cache_dir)
    raise CSAError(f"unknown audio encoder {name!r}; use 'mfcc', 'whisper-tiny.en', 'whisper-base'")


def _encode(encoder: Any, clips: AudioClips, cache_dir: Any) -> np.ndarray:
    return cached_encode(
        encoder, clips.audio, key=f"audio-{clips.fingerprint()[:24]}", cache_dir=cache_dir
    )


def _encode_text(encoder: Any, texts: Sequence[str], cache_dir: Any) -> np.ndarray:
    return cached_encode(encoder, list(texts), cache_dir=cache_dir, show_progress=False)


def _zero_shot_validation(x: np.ndarray, classes: np.ndarray, y: np.ndarray) -> Validate:
    """Score held-out pool rows against a fixed class list."""

    def validate(model: Any, rows: np.ndarray, options: dict[str, Any]) -> float:
        return zero_shot_selection_score(model, x[rows], classes, y[rows], options)

    return validate


def _by_name(programs: np.ndarray, name_classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class embeddings of just these clips' instruments, and each clip's index among them."""
    present, labels = np.unique(programs, return_inverse=True)
    return name_classes[present], labels


def sweep(
    dataset: str,
    a: np.ndarray,
    b: np.ndarray,
    strata: np.ndarray,
    n_pairs: Sequence[int],
    tasks: Sequence[Task],
    seeds: Sequence[int] = (0,),
) -> list[dict[str, Any]]:
    """Every method on class-balanced budgets of the pool ``(a, b)``, scored per task.

    Hyperparameters are chosen per task, on the budget's own held-out rows, as a user
    tuning for that task would; the probe and chance give the ceiling and the floor.
    """
    pool = PairedDataset(name=dataset, a=a, b=b, modalities=("audio", "text"), labels=strata)
    rows: list[dict[str, Any]] = []
    for n in sorted({min(int(k), len(pool)) for k in n_pairs}):
        for seed in seeds if n <= 300 else seeds[:1]:
            index = pool.sample_index(n, seed=seed)
            for task in tasks:
                name = f"{dataset}{task.suffix}"

                def evaluate(model: Any, val: np.ndarray, opts: dict, task=task, index=index):
                    return task.validate(model, index[val], opts)

                for method, (model, opts) in fit_methods(
                    a[index], b[index], evaluate, seed=seed
                ).items():
                    acc = zero_shot_classify(
                        model, task.x_test, task.classes_test, task.y_test, top_k=(1,), **opts
                    ).top1
                    rows.append(result_row(EXPERIMENT, name, method, n, METRIC, acc, seed))
                if task.probe_labels is not None:
                    acc = probe_accuracy(
                        a[index], task.probe_labels[index], task.x_test, task.y_test
                    )
                    rows.append(result_row(EXPERIMENT, name, "linear-probe", n, METRIC, acc, seed))
        for task in tasks:
            chance = 1.0 / task.classes_test.shape[0]
            rows.append(
                result_row(EXPERIMENT, f"{dataset}{task.suffix}", "chance", n, METRIC, chance)
            )
    return rows


def _words(
    enc_name: str, quick: bool, seed: int, seeds: Sequence[int], cache_dir: Any, text_enc: Any
) -> list[dict[str, Any]]:
    words = DIGITS if quick else DIGITS + WORDS
    n_espeak, n_flite = (8, 4) if quick else (16, 8)
    clips = spoken_words(words, n_espeak=n_espeak, n_flite=n_flite, seed=seed, cache_dir=cache_dir)
    x = _encode(_audio_encoder(enc_name, cache_dir), clips, cache_dir)
    t = _encode_text(text_enc, clips.text, cache_dir)
    classes = _encode_text(text_enc, words, cache_dir)
    y = np.array([words.index(w) for w in clips.meta["word"].tolist()])
    train = clips.meta["engine"] == "espeak"
    test = clips.meta["engine"] == "flite"
    task = Task(
        suffix="",
        validate=_zero_shot_validation(x[train], classes, y[train]),
        x_test=x[test],
        classes_test=classes,
        y_test=y[test],
        probe_labels=y[train],
    )
    grid = [k * len(words) for k in ((2, 4, 8) if quick else (1, 3, 6, 16))]
    dataset = f"spoken-{'digits' if quick else 'words'} espeak->flite [{enc_name}]"
    return sweep(dataset, x[train], t[train], y[train], grid, [task], seeds)


def _test_programs(programs: np.ndarray, seed: int, per_family: int = 2) -> np.ndarray:
    """Mask of the clips whose instrument is one of ``per_family`` drawn from each family."""
    rng = np.random.default_rng(seed + 1)
    present = np.unique(programs)
    held_out = [
        int(p)
        for family in range(len(GM_FAMILIES))
        for p in rng.permutation(present[present // 8 == family])[:per_family]
    ]
    return np.isin(programs, held_out)


def _instruments(
    enc_name: str, quick: bool, seed: int, seeds: Sequence[int], cache_dir: Any, text_enc: Any
) -> list[dict[str, Any]]:
    pitches = (55,) if quick else (48, 60, 72)
    clips = gm_notes(pitches=pitches, velocities=(100,), seed=seed, cache_dir=cache_dir)
    x = _encode(_audio_encoder(enc_name, cache_dir), clips, cache_dir)
    t = _encode_text(text_enc, clips.text, cache_dir)
    prog = clips.meta["program"]
    fam = prog // 8
    test = _test_programs(prog, seed)
    train = ~test
    fam_prompts = [FAMILY_PROMPT.format(a_family=with_article(f)) for f in GM_FAMILIES]
    fam_classes = _encode_text(text_enc, fam_prompts, cache_dir)
    name_prompts = [NAME_PROMPT.format(a_name=with_article(n)) for n in GM_PROGRAMS]
    name_classes = _encode_text(text_enc, name_prompts, cache_dir)
    x_pool, prog_pool = x[train], prog[train]

    def validate_names(model: Any, rows: np.ndarray, options: dict[str, Any]) -> float:
        classes, labels = _by_name(prog_pool[rows], name_classes)
        return zero_shot_selection_score(model, x_pool[rows], classes, labels, options)

    name_test_classes, name_test_labels = _by_name(prog[test], name_classes)
    tasks = [
        Task(
            suffix=" by family",
            validate=_zero_shot_validation(x_pool, fam_classes, fam[train]),
            x_test=x[test],
            classes_test=fam_classes,
            y_test=fam[test],
            probe_labels=fam[train],
        ),
        Task(
            suffix=" by name",
            validate=validate_names,
            x_test=x[test],
            classes_test=name_test_classes,
            y_test=name_test_labels,
        ),
    ]
    grid = [24, 48, 96] if quick else [48, 96, 192, 288]
    dataset = f"gm-instruments held-out [{enc_name}]"
    return sweep(dataset, x_pool, t[train], fam[train], grid, tasks, seeds)


def run(
    quick: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    encoders: Sequence[str] | None = None,
    seed: int = 0,
    verbose: bool = False,
    seeds: tuple[int, ...] = (0, 1, 2),
) -> list[dict[str, Any]]:
    """Zero-shot top-1 of CSA, CCA, ASIF and LinearMap at several numbers of pairs.

    ``quick`` uses digits only, fewer voices, one note per instrument, the Whisper
    tiny.en encoder and the first of ``seeds`` only (the CI setting); the default run
    uses 30 words, all 128 instruments at three pitches, and the MFCC, Whisper tiny.en
    and Whisper base encoders. Whisper runs on a 5 s window instead of its native 30 s:
    every clip is shorter than 5 s, only the frames that hold audio are pooled, and
    the encoder costs 12x less on a CPU (the 30 s window, ``"whisper-base"``, made the
    demo's audio section take most of an hour on 2 cores). Pass ``encoders`` for
    others. ``seed`` draws the data (voices, held-out instruments); ``seeds`` draw the
    budgets. Data and embeddings are cached under ``cache_dir``,
    so reruns skip the slow parts.
    """
    from csa.encoders import get as get_encoder

    if encoders is None:
        encoders = (
            ("whisper-tiny.en@5s",) if quick else ("mfcc", "whisper-tiny.en@5s", "whisper-base@5s")
        )
    budget_seeds = seeds[:1] if quick else seeds
    text_enc = get_encoder("minilm-l6")
    rows: list[dict[str, Any]] = []
    for enc_name in encoders:
        for part in (_words, _instruments):
            start = time.perf_counter()
            rows.extend(part(enc_name, quick, seed, budget_seeds, cache_dir, text_enc))
            if verbose:
                print(f"{part.__name__[1:]} [{enc_name}]: {time.perf_counter() - start:.1f} s")
    return rows


if __name__ == "__main__":  # pragma: no cover - manual runs
    import sys

    from csa_demo.report import markdown_tables

    print(markdown_tables(run(quick="--full" not in sys.argv, verbose=True)))
