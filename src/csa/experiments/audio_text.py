"""Audio <-> text: CSA and its baselines on synthesized speech and sampled instruments.

Two evaluations, each built so that a good score needs generalisation, not recall:

* spoken words: fit on espeak-ng voices, choose ``sim_dim`` on other espeak-ng voices,
  test on flite, a different synthesizer with different voices. Classes are the words;
  a clip is classified by its best-scoring word among all words' text embeddings.
* instruments: whole GM instruments are held out (2 per family for testing, 1 for
  validation), then classified zero-shot by family ("the sound of a brass instrument")
  and by name among the held-out instruments only, names never seen in training.

Every method is fitted on the same nested subsets of training pairs. Floors and ceilings:
chance, and a supervised logistic-regression probe on the audio features with the same
training clips (for families and words; names of held-out instruments have no labelled
training clips, so no probe exists for them).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from csa.datasets.audio import DIGITS, WORDS, AudioClips, gm_notes, spoken_words, with_article
from csa.datasets.audio_gm import GM_FAMILIES
from csa.encoders.audio import MFCCEncoder, WhisperEncoder
from csa.errors import CSAError

EXPERIMENT = "audio-text"
METRIC = "zero-shot top-1"
FAMILY_PROMPT = "the sound of {a_family} instrument"
NAME_PROMPT = "the sound of {a_name}"


def _audio_encoder(name: str, cache_dir: str | os.PathLike[str] | None) -> Any:
    if name == "mfcc":
        return MFCCEncoder()
    if name.startswith("whisper-"):
        model, _, window = name.removeprefix("whisper-").partition("@")
        seconds = float(window.removesuffix("s")) if window else 30.0
        return WhisperEncoder(model, window_seconds=seconds, cache_dir=cache_dir)
    raise CSAError(f"unknown audio encoder {name!r}; use 'mfcc', 'whisper-tiny.en', 'whisper-base'")


def _encode(encoder: Any, clips: AudioClips, cache_dir: Any) -> np.ndarray:
    from csa.encoders.cache import cached_encode

    return cached_encode(
        encoder, clips.audio, key=f"audio-{clips.fingerprint()[:24]}", cache_dir=cache_dir
    )


def _nested_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """Seeded order whose prefixes stay class-balanced, so small n still covers every class."""
    rng = np.random.default_rng(seed)
    keys = np.empty(labels.shape[0])
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        keys[members] = (rng.permutation(members.size) + rng.random(members.size)) / members.size
    return np.argsort(keys, kind="stable")


def _methods() -> dict[str, Callable[[], Any]]:
    import csa

    return {"CSA": csa.CSA, "CCA": csa.CCA, "ASIF": csa.ASIF, "LinearMap": csa.LinearMap}


def _accuracy(
    model: Any, x: np.ndarray, classes: np.ndarray, y: np.ndarray, s: int | None
) -> float:
    from csa.tasks import zero_shot_classify

    return zero_shot_classify(model, x, classes, y, top_k=(1,), sim_dim=s).top_k[1]


def _pick_sim_dim(
    model: Any, x_val: np.ndarray, c_val: np.ndarray, y_val: np.ndarray
) -> int | None:
    """Best ``sim_dim`` by zero-shot accuracy on validation data; None for baselines without it."""
    from csa.tasks.sim_dim import default_candidates

    rho = getattr(model, "canonical_correlations_", None)
    if rho is None:
        return None
    scores = {s: _accuracy(model, x_val, c_val, y_val, s) for s in default_candidates(len(rho))}
    best = max(scores.values())
    return min(s for s, v in scores.items() if v == best)


def _probe(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if np.unique(y_tr).size < 2:
        return float("nan")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "more classes than half the samples"
        clf.fit(x_tr, y_tr)
    return float(np.mean(clf.predict(x_te) == y_te))


def _row(dataset: str, method: str, n: int, value: float, seed: int) -> dict[str, Any]:
    return {
        "experiment": EXPERIMENT,
        "dataset": dataset,
        "method": method,
        "n_pairs": int(n),
        "metric": METRIC,
        "value": float(value),
        "seed": int(seed),
    }


def _sweep(
    dataset: str,
    a_tr: np.ndarray,
    b_tr: np.ndarray,
    strata: np.ndarray,
    n_pairs: Sequence[int],
    evals: Sequence[tuple[str, Any]],
    seed: int,
) -> list[dict[str, Any]]:
    """Fit every method on nested class-balanced prefixes; score every evaluation.

    ``evals``: (suffix, spec) where spec holds validation and test inputs, class
    embeddings and labels, plus optional probe labels for the training clips.
    """
    rows: list[dict[str, Any]] = []
    order = _nested_order(strata, seed)
    for n in sorted({min(int(k), a_tr.shape[0]) for k in n_pairs}):
        idx = order[:n]
        fitted: dict[str, Any] = {}
        for method, make in _methods().items():
            model = make()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(a_tr[idx], b_tr[idx])
            except CSAError as exc:
                warnings.warn(f"{dataset}: {method} on {n} pairs failed: {exc}", stacklevel=2)
                continue
            fitted[method] = model
        for suffix, ev in evals:
            name = f"{dataset}{suffix}"
            for method, model in fitted.items():
                s = _pick_sim_dim(model, ev["x_val"], ev["c_val"], ev["y_val"])
                acc = _accuracy(model, ev["x_te"], ev["c_te"], ev["y_te"], s)
                rows.append(_row(name, method, n, acc, seed))
            rows.append(_row(name, "chance", n, 1.0 / ev["c_te"].shape[0], seed))
            if ev.get("probe_train") is not None:
                acc = _probe(a_tr[idx], ev["probe_train"][idx], ev["x_te"], ev["y_te"])
                rows.append(_row(name, "linear-probe", n, acc, seed))
    return rows


def _words(enc_name: str, quick: bool, seed: int, cache_dir: Any, text_enc: Any) -> list[dict]:
    from csa.encoders.cache import cached_encode

    words = DIGITS if quick else DIGITS + WORDS
    n_espeak, n_val, n_flite = (8, 2, 4) if quick else (16, 4, 8)
    clips = spoken_words(words, n_espeak=n_espeak, n_flite=n_flite, seed=seed, cache_dir=cache_dir)
    x = _encode(_audio_encoder(enc_name, cache_dir), clips, cache_dir)
    t = cached_encode(text_enc, list(clips.text), cache_dir=cache_dir, show_progress=False)
    classes = cached_encode(text_enc, list(words), cache_dir=cache_dir)
    index = {w: i for i, w in enumerate(words)}
    y = np.array([index[w] for w in clips.meta["word"].tolist()])
    espeak = clips.meta["engine"] == "espeak"
    train = espeak & (clips.meta["voice_id"] < n_espeak - n_val)
    val = espeak & ~train
    test = clips.meta["engine"] == "flite"
    ev = {
        "x_val": x[val], "c_val": classes, "y_val": y[val],
        "x_te": x[test], "c_te": classes, "y_te": y[test],
        "probe_train": y[train],
    }  # fmt: skip
    n_train = int(train.sum())
    grid = [len(words), 2 * len(words), 4 * len(words), n_train]
    if not quick:
        grid = [len(words), 3 * len(words), 6 * len(words), n_train]
    dataset = f"spoken-{'digits' if quick else 'words'} espeak->flite [{enc_name}]"
    return _sweep(dataset, x[train], t[train], y[train], grid, [("", ev)], seed)


def _split_programs(programs: np.ndarray, seed: int, n_test: int, n_val: int) -> tuple:
    """Per family: ``n_test`` programs to test, ``n_val`` to validate, the rest to train."""
    rng = np.random.default_rng(seed + 1)
    test, val = set(), set()
    for fam in range(16):
        members = [p for p in np.unique(programs) if p // 8 == fam]
        picked = rng.permutation(members)
        test.update(int(p) for p in picked[:n_test])
        val.update(int(p) for p in picked[n_test : n_test + n_val])
    return np.isin(programs, list(test)), np.isin(programs, list(val))


def _instruments(enc_name: str, quick: bool, seed: int, cache_dir: Any, text_enc: Any) -> list:
    from csa.encoders.cache import cached_encode

    if quick:
        clips = gm_notes(pitches=(55,), velocities=(100,), seed=seed, cache_dir=cache_dir)
    else:
        clips = gm_notes(pitches=(48, 60, 72), velocities=(100,), seed=seed, cache_dir=cache_dir)
    x = _encode(_audio_encoder(enc_name, cache_dir), clips, cache_dir)
    t = cached_encode(text_enc, list(clips.text), cache_dir=cache_dir, show_progress=False)
    prog = clips.meta["program"]
    test, val = _split_programs(prog, seed, n_test=2, n_val=1)
    train = ~(test | val)
    fam = prog // 8
    fam_prompts = [FAMILY_PROMPT.format(a_family=with_article(f)) for f in GM_FAMILIES]
    fam_classes = cached_encode(text_enc, fam_prompts, cache_dir=cache_dir)

    def by_name(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        names = sorted(set(clips.meta["name"][mask].tolist()))
        prompts = [NAME_PROMPT.format(a_name=with_article(n)) for n in names]
        lab = np.array([names.index(n) for n in clips.meta["name"][mask]])
        return cached_encode(text_enc, prompts, cache_dir=cache_dir), lab

    c_val, y_val = by_name(val)
    c_te, y_te = by_name(test)
    family = {
        "x_val": x[val], "c_val": fam_classes, "y_val": fam[val],
        "x_te": x[test], "c_te": fam_classes, "y_te": fam[test],
        "probe_train": fam[train],
    }  # fmt: skip
    name = {
        "x_val": x[val], "c_val": c_val, "y_val": y_val,
        "x_te": x[test], "c_te": c_te, "y_te": y_te,
    }  # fmt: skip
    n_train = int(train.sum())
    grid = [20, 40, n_train] if quick else [48, 96, 192, n_train]
    dataset = f"gm-instruments held-out [{enc_name}]"
    evals = [(" by family", family), (" by name", name)]
    return _sweep(dataset, x[train], t[train], fam[train], grid, evals, seed)


def run(
    quick: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    encoders: Sequence[str] | None = None,
    seed: int = 0,
    verbose: bool = False,
) -> list[dict[str, Any]]:
    """Zero-shot top-1 of CSA, CCA, ASIF and LinearMap at several numbers of pairs.

    ``quick`` uses digits only, fewer voices and one note per instrument, with the
    Whisper tiny.en encoder on a 5 s window instead of Whisper's 30 s (12x cheaper on a
    CPU; the CI and ``make demo`` setting); the full run uses 30 words,
    all 128 instruments at three pitches, and the MFCC, Whisper tiny.en and base encoders.
    Data and embeddings are cached under ``cache_dir``, so reruns skip the slow parts.
    """
    from csa.encoders import get as get_encoder

    if encoders is None:
        encoders = ("whisper-tiny.en@5s",) if quick else ("mfcc", "whisper-tiny.en", "whisper-base")
    text_enc = get_encoder("minilm-l6")
    rows: list[dict[str, Any]] = []
    for enc_name in encoders:
        for part in (_words, _instruments):
            start = time.perf_counter()
            rows.extend(part(enc_name, quick, seed, cache_dir, text_enc))
            if verbose:
                print(f"{part.__name__[1:]} [{enc_name}]: {time.perf_counter() - start:.1f} s")
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    """Plain-text table: one block per data set, methods as rows, n_pairs as columns."""
    lines: list[str] = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        sub = [r for r in rows if r["dataset"] == dataset]
        ns = sorted({r["n_pairs"] for r in sub})
        lines.append(f"{dataset} ({sub[0]['metric']})")
        lines.append(f"  {'method':<13}" + "".join(f"{n:>8}" for n in ns))
        for method in dict.fromkeys(r["method"] for r in sub):
            vals = {r["n_pairs"]: r["value"] for r in sub if r["method"] == method}
            cells = "".join(f"{vals[n]:>8.3f}" if n in vals else f"{'-':>8}" for n in ns)
            lines.append(f"  {method:<13}" + cells)
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - manual runs
    import sys

    result = run(quick="--full" not in sys.argv, verbose=True)
    print(table(result))
