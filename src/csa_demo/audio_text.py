"""Audio <-> text: CSA and its baselines on synthesized speech and sampled instruments.

Two evaluations, each built so that a good score needs generalisation, not recall:

* spoken words: the pairs come from espeak-ng voices; the test is flite, a different
  synthesizer with different voices. Classes are the words; a clip is classified by
  its best-scoring word among all words' text embeddings.
* instruments: whole GM instruments (2 per family) are held out for the test, then
  classified zero-shot by family ("the sound of a brass instrument") and by name
  among the held-out instruments only, names never seen in training.

What is held out where: each budget of ``n_pairs`` training pairs (class-balanced,
seeded, nested for growing ``n_pairs``) is all a method gets. The tuned rows
(:func:`~csa_demo.sweep.run_tasks`) hold out a seeded fifth of that budget to choose
every method's knobs by zero-shot accuracy on it (words; families; instrument names),
then refit on the whole budget. The test synthesizer and test instruments are never
used for any choice.

Floors and ceilings: chance, and a supervised logistic-regression probe on the audio
features of the same budget (for families and words; names of held-out instruments
have no labelled training clips, so no probe exists for them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from csa.datasets import PairedDataset
from csa.encoders import Encoder, cached_encode, get
from csa.tasks import zero_shot_classify
from csa_demo.data.audio import load_gm_instruments, load_spoken_words
from csa_demo.probe import probe_accuracy
from csa_demo.status import encoding
from csa_demo.sweep import Selection, run_tasks
from csa_demo.sweep import Task as SweepTask

EXPERIMENT = "audio-text"
METRIC = "zero-shot top-1"
FAMILY_PROMPT = "the sound of {a_family} instrument"
NAME_PROMPT = "the sound of {a_name}"
#: The quick run's vocabulary; the full run takes the data set's own (digits and words).
QUICK_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Audio encoders by registry name: Whisper on a 5 s window (every clip is shorter).
QUICK_ENCODERS = ("whisper-tiny.en@5s",)
FULL_ENCODERS = ("mfcc", "whisper-tiny.en@5s", "whisper-base@5s")


def with_article(noun: str) -> str:
    """'a trumpet', 'an oboe': prompts read as English for the sentence encoder."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


@dataclass(frozen=True)
class Task:
    """One zero-shot evaluation of a pool: its selection labels and its test set."""

    suffix: str
    labels: np.ndarray  # one per pool row: its class among ``classes`` (tuned rows' selection)
    classes: np.ndarray  # class embeddings the selection scores pool rows against
    x_test: np.ndarray
    classes_test: np.ndarray
    y_test: np.ndarray
    probe: bool = True  # whether ``labels`` can train a supervised probe for this test


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

    Budgets are drawn stratified by ``strata``; the default fits are shared by the tasks,
    hyperparameters chosen per task on the budget's own held-out rows, as a user tuning
    for that task would.
    """
    pool = PairedDataset(name=dataset, a=a, b=b, modalities=("audio", "text"), labels=strata)
    grid = sorted({min(int(k), len(pool)) for k in n_pairs})

    def as_task(task: Task) -> SweepTask:
        def score(model: Any, options: dict[str, Any], seed: int) -> dict:
            result = zero_shot_classify(
                model, task.x_test, task.classes_test, task.y_test, top_k=(1,), **options
            )
            return {METRIC: result.top1}

        def probe(index: np.ndarray, seed: int) -> dict:
            if not task.probe:
                return {}
            acc = probe_accuracy(a[index], task.labels[index], task.x_test, task.y_test)
            return {"linear-probe": {METRIC: acc}}

        return SweepTask(
            f"{dataset}{task.suffix} (test {task.y_test.size})",
            score,
            Selection("accuracy", task.labels, task.classes),
            references=probe,
            floors={"chance": {METRIC: 1.0 / task.classes_test.shape[0]}},
        )

    return run_tasks(
        EXPERIMENT,
        a,
        b,
        [as_task(task) for task in tasks],
        n_pairs=grid,
        sample_index=lambda n, seed: pool.sample_index(n, seed=seed),
        seeds=seeds,
    )


def _encode_audio(encoder: Encoder, data: PairedDataset, cache_dir: Any) -> np.ndarray:
    encoding(EXPERIMENT, len(data), f"{data.name} clips with {encoder.name}")
    key = f"audio-{data.fingerprint_a[:24]}"
    return cached_encode(encoder, data.a, key=key, cache_dir=cache_dir)


def _encode_text(encoder: Encoder, texts: Sequence[str], cache_dir: Any) -> np.ndarray:
    return cached_encode(encoder, list(texts), cache_dir=cache_dir, show_progress=False)


def _words(
    enc_name: str, quick: bool, seed: int, seeds: Sequence[int], cache_dir: Any, text_enc: Any
) -> list[dict[str, Any]]:
    n_espeak, n_flite = (8, 4) if quick else (16, 8)
    options: dict[str, Any] = {"words": QUICK_WORDS} if quick else {}
    data = load_spoken_words(
        n_espeak=n_espeak, n_flite=n_flite, seed=seed, cache_dir=cache_dir,
        **options,
    )  # fmt: skip
    words = list(data.class_names)
    x = _encode_audio(get(enc_name), data, cache_dir)
    t = _encode_text(text_enc, data.b, cache_dir)
    classes = _encode_text(text_enc, words, cache_dir)
    y = np.asarray(data.labels)
    engine = np.asarray(data.info["meta"]["engine"])
    train, test = engine == "espeak", engine == "flite"
    task = Task("", y[train], classes, x[test], classes, y[test])
    grid = [k * len(words) for k in ((2, 4, 8) if quick else (1, 3, 6, 16))]
    dataset = f"spoken-{'digits' if quick else 'words'} espeak->flite [{enc_name}]"
    return sweep(dataset, x[train], t[train], y[train], grid, [task], seeds)


def _test_programs(programs: np.ndarray, n_families: int, seed: int, per_family: int = 2):
    """Mask of the clips whose instrument is one of ``per_family`` drawn from each family."""
    rng = np.random.default_rng(seed + 1)
    present = np.unique(programs)
    held_out = [
        int(p)
        for family in range(n_families)
        for p in rng.permutation(present[present // 8 == family])[:per_family]
    ]
    return np.isin(programs, held_out)


def _instruments(
    enc_name: str, quick: bool, seed: int, seeds: Sequence[int], cache_dir: Any, text_enc: Any
) -> list[dict[str, Any]]:
    pitches = (55,) if quick else (48, 60, 72)
    data = load_gm_instruments(pitches=pitches, velocities=(100,), seed=seed, cache_dir=cache_dir)
    x = _encode_audio(get(enc_name), data, cache_dir)
    t = _encode_text(text_enc, data.b, cache_dir)
    meta = data.info["meta"]
    prog = np.asarray(meta["program"])
    fam = np.asarray(data.labels)
    test = _test_programs(prog, len(data.class_names), seed)
    train = ~test
    fam_prompts = [FAMILY_PROMPT.format(a_family=with_article(f)) for f in data.class_names]
    fam_classes = _encode_text(text_enc, fam_prompts, cache_dir)
    name_of = dict(zip(prog.tolist(), np.asarray(meta["name"]).tolist(), strict=True))

    def named(programs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Name prompts of just these clips' instruments, and each clip's index among them."""
        present, index = np.unique(programs, return_inverse=True)
        prompts = [NAME_PROMPT.format(a_name=with_article(name_of[p])) for p in present]
        return _encode_text(text_enc, prompts, cache_dir), index

    # Held-out instruments are named among themselves only: names never seen in training;
    # the selection names the pool's instruments among the pool's.
    pool_names, pool_index = named(prog[train])
    test_names, test_index = named(prog[test])
    tasks = [
        Task(" by family", fam[train], fam_classes, x[test], fam_classes, fam[test]),
        Task(" by name", pool_index, pool_names, x[test], test_names, test_index, probe=False),
    ]
    grid = [24, 48, 96] if quick else [48, 96, 192, 288]
    dataset = f"gm-instruments held-out [{enc_name}]"
    return sweep(dataset, x[train], t[train], fam[train], grid, tasks, seeds)


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
    and Whisper base encoders. Whisper runs on a 5 s window instead of its native 30 s
    (registry names ``whisper-tiny.en@5s``): every clip is shorter than 5 s, only the
    frames that hold audio are pooled, and the encoder costs 12x less on a CPU. Pass
    ``encoders`` (registry names) for others. ``seed`` draws the data (voices, held-out
    instruments); ``seeds`` draw the budgets. Data and embeddings are cached under
    ``cache_dir``, so reruns skip the slow parts.
    """
    encoders = encoders or (QUICK_ENCODERS if quick else FULL_ENCODERS)
    budget_seeds = seeds[:1] if quick else seeds
    text_enc = get("minilm-l6")
    rows: list[dict[str, Any]] = []
    for enc_name in encoders:
        for part in (_words, _instruments):
            start = time.perf_counter()
            rows.extend(part(enc_name, quick, seed, budget_seeds, cache_dir, text_enc))
            if verbose:
                print(f"{part.__name__[1:]} [{enc_name}]: {time.perf_counter() - start:.1f} s")
    return rows
