"""Time series <-> text: zero-shot classification and retrieval with few pairs.

Each training series is paired with the MiniLM embedding of its class description, so
the text side holds only as many distinct vectors as there are classes; the question
is how well each method ties the time-series features to those descriptions from a
few dozen to a few hundred pairs. Everything is measured on the problem's official
test split, which neither the time-series encoder (MiniRocket draws its biases from
the training series) nor any method ever sees.

Protocol, per data set, encoder and seed:
- the official training split is cut (stratified, seeded) into a validation fifth and
  a pool; ``n_pairs`` pairs are drawn from the pool, nested for growing ``n_pairs``;
- CSA and CCA choose ``sim_dim`` by zero-shot accuracy on the validation fifth (ties
  go to the higher mean reciprocal rank, then to the smaller ``sim_dim``); ASIF and
  LinearMap have nothing to choose; all use default settings;
- floor: chance (1/classes for top-1; a random ranking, averaged over draws, for mAP);
  ceiling: a logistic regression trained on the same pairs' series and labels.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import csa
from csa.datasets.base import PairedDataset
from csa.datasets.timeseries import load_timeseries_text
from csa.encoders.base import Encoder
from csa.encoders.timeseries import Catch22Encoder, MiniRocketEncoder
from csa.errors import ParameterError, WeakFitWarning
from csa.tasks.metrics import mean_average_precision, top_k_accuracy, true_class_ranks

EXPERIMENT = "timeseries-text"
ZERO_SHOT = "zero-shot top-1"
RETRIEVAL = "retrieval mAP (text->series)"
METHODS = ("CSA", "CCA", "ASIF", "LinearMap")
VALIDATION_FRACTION = 0.2
#: MiniRocket kernels: 840 (10 sets of 84) keeps the CCA solve small; MiniRocket's own
#: default of 10,000 would make every fit an eigendecomposition of a 10k x 10k matrix.
NUM_KERNELS = 840
CHANCE_DRAWS = 200


@dataclass(frozen=True)
class _Setting:
    dataset: str
    encoder: str
    n_pairs: tuple[int, ...]


QUICK: tuple[_Setting, ...] = (_Setting("plaid", "minirocket", (50, 200, 430)),)
FULL: tuple[_Setting, ...] = (
    _Setting("plaid", "minirocket", (25, 50, 100, 200, 430)),
    _Setting("plaid", "catch22", (25, 50, 100, 200, 430)),
    _Setting("basic-motions", "minirocket", (8, 16, 32)),
    _Setting("basic-motions", "catch22", (8, 16, 32)),
    _Setting("italy-power-demand", "minirocket", (10, 25, 54)),
    _Setting("italy-power-demand", "catch22", (10, 25, 54)),
)


def _make_encoder(kind: str, train: PairedDataset) -> Encoder:
    """The time-series encoder, fitted on the training split where it needs a fit."""
    channels = train.a[0].shape[0]
    if kind == "minirocket":
        return MiniRocketEncoder(num_kernels=NUM_KERNELS, seed=0).fit(train.a)
    if kind == "catch22":
        return Catch22Encoder(channels=channels)
    raise ParameterError(f"unknown time-series encoder {kind!r}; use minirocket or catch22")


def _encode(encoder: Encoder, items: Sequence[Any], cache_dir: str | Path | None) -> np.ndarray:
    if cache_dir is None:
        return encoder.encode(items, show_progress=False)
    from csa.encoders.cache import cached_encode

    return cached_encode(encoder, items, cache_dir=cache_dir, batch_size=256, show_progress=False)


def _text_encoder() -> Encoder:
    from csa.encoders.registry import get

    return get("minilm-l6")


def _choose_sim_dim(model: Any, val_x: np.ndarray, val_y: np.ndarray, classes: np.ndarray) -> int:
    """The ``sim_dim`` with the best validation accuracy (then MRR, then the smallest)."""
    best: tuple[float, float, int] | None = None
    for s in range(1, len(model.canonical_correlations_) + 1):
        scores = model.similarity(val_x, classes, sim_dim=s)
        acc = top_k_accuracy(scores, val_y)
        mrr = float(np.mean(1.0 / true_class_ranks(scores, val_y)))
        key = (acc, mrr, -s)
        if best is None or key > best:
            best = key
    assert best is not None
    return -best[2]


def _scores_all(
    method: str,
    fit_x: np.ndarray,
    fit_t: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    test_x: np.ndarray,
    classes: np.ndarray,
) -> np.ndarray:
    """(m_test, C) similarities of test series to class descriptions for one method."""
    factories: dict[str, Callable[[], Any]] = {
        "CSA": csa.CSA,
        "CCA": csa.CCA,
        "ASIF": csa.ASIF,
        "LinearMap": csa.LinearMap,
    }
    with warnings.catch_warnings():
        # Ten class captions give a rank-deficient text side by design; the ridge is
        # meant to carry it, so the warning says nothing new here.
        warnings.simplefilter("ignore", WeakFitWarning)
        model = factories[method]().fit(fit_x, fit_t)
        if method in ("CSA", "CCA"):
            sim_dim = _choose_sim_dim(model, val_x, val_y, classes)
            return np.asarray(model.similarity(test_x, classes, sim_dim=sim_dim))
        return np.asarray(model.similarity(test_x, classes))


def _probe_scores(
    fit_x: np.ndarray, fit_y: np.ndarray, test_x: np.ndarray, n_classes: int
) -> np.ndarray:
    """Class probabilities of a standardised logistic regression; absent classes get -1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = np.full((test_x.shape[0], n_classes), -1.0)
    present = np.unique(fit_y)
    if present.size == 1:  # nothing to learn; every test series gets the one class
        out[:, present[0]] = 1.0
        return out
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(fit_x, fit_y)
    out[:, clf.classes_] = clf.predict_proba(test_x)
    return out


def _metrics(scores: np.ndarray, test_y: np.ndarray, n_classes: int) -> dict[str, float]:
    """Zero-shot top-1 on series -> classes and mAP with class descriptions as queries."""
    present = np.unique(test_y)
    return {
        ZERO_SHOT: top_k_accuracy(scores, test_y),
        RETRIEVAL: mean_average_precision(
            scores.T[present], query_labels=present, gallery_labels=test_y
        ),
    }


def _chance(test_y: np.ndarray, n_classes: int, seed: int) -> dict[str, float]:
    """Uniform guessing: 1/C for top-1 and the mean AP of random rankings."""
    rng = np.random.default_rng(seed)
    present = np.unique(test_y)
    aps = [
        mean_average_precision(
            rng.random((present.size, test_y.size)), query_labels=present, gallery_labels=test_y
        )
        for _ in range(CHANCE_DRAWS)
    ]
    return {ZERO_SHOT: 1.0 / n_classes, RETRIEVAL: float(np.mean(aps))}


def _index_dataset(train: PairedDataset) -> PairedDataset:
    """The training split with row numbers as items, to reuse its stratified sampling."""
    idx = np.arange(len(train))
    return PairedDataset(
        name=train.name,
        a=idx,
        b=idx,
        modalities=("index", "index"),
        labels=train.labels,
        class_names=train.class_names,
    )


def run_setting(
    setting: _Setting, seeds: Sequence[int], cache_dir: str | Path | None = None
) -> list[dict]:
    """All rows for one (data set, encoder): every method, n_pairs and seed."""
    train = load_timeseries_text(setting.dataset, "train")
    test = load_timeseries_text(setting.dataset, "test")
    assert train.labels is not None and test.labels is not None
    assert train.class_names is not None
    n_classes = len(train.class_names)
    encoder = _make_encoder(setting.encoder, train)
    train_x = _encode(encoder, train.a, cache_dir)
    test_x = _encode(encoder, test.a, cache_dir)
    descriptions = list(train.info["descriptions"])
    classes = np.asarray(_encode(_text_encoder(), descriptions, cache_dir), dtype=np.float64)
    train_t = classes[train.labels]
    label = f"{setting.dataset}/{setting.encoder}"

    rows: list[dict] = []

    def add(method: str, n: int, seed: int, values: dict[str, float]) -> None:
        for metric, value in values.items():
            rows.append(
                {
                    "experiment": EXPERIMENT,
                    "dataset": label,
                    "method": method,
                    "n_pairs": int(n),
                    "metric": metric,
                    "value": float(value),
                    "seed": int(seed),
                }
            )

    index = _index_dataset(train)
    for seed in seeds:
        pool, val = index.split(test_fraction=VALIDATION_FRACTION, seed=seed)
        val_idx = np.asarray(val.a)
        val_x, val_y = train_x[val_idx], train.labels[val_idx]
        chance = _chance(test.labels, n_classes, seed)
        for n in setting.n_pairs:
            n_eff = min(n, len(pool))
            fit_idx = np.asarray(pool.subsample(n_eff, seed=seed).a)
            fit_x, fit_t = train_x[fit_idx], train_t[fit_idx]
            for method in METHODS:
                scores = _scores_all(method, fit_x, fit_t, val_x, val_y, test_x, classes)
                add(method, n_eff, seed, _metrics(scores, test.labels, n_classes))
            add("chance", n_eff, seed, chance)
            probe = _probe_scores(fit_x, train.labels[fit_idx], test_x, n_classes)
            add("linear-probe", n_eff, seed, _metrics(probe, test.labels, n_classes))
    return rows


def run(quick: bool = False, cache_dir: str | Path | None = None) -> list[dict]:
    """Rows for the shared result format; ``quick`` is PLAID with MiniRocket, one seed.

    The full run adds catch22, BasicMotions and ItalyPowerDemand and three seeds.
    """
    settings, seeds = (QUICK, (0,)) if quick else (FULL, (0, 1, 2))
    rows: list[dict] = []
    for setting in settings:
        rows.extend(run_setting(setting, seeds, cache_dir))
    return rows


def table(rows: Sequence[dict], metric: str = ZERO_SHOT) -> str:
    """A plain-text method x n_pairs table of seed means, one block per data set."""
    lines: list[str] = []
    for dataset in sorted({r["dataset"] for r in rows}):
        sel = [r for r in rows if r["dataset"] == dataset and r["metric"] == metric]
        ns = sorted({r["n_pairs"] for r in sel})
        methods = [
            m for m in (*METHODS, "chance", "linear-probe") if any(r["method"] == m for r in sel)
        ]
        lines.append(f"{dataset}  {metric}")
        lines.append(f"{'method':<14}" + "".join(f"{n:>9}" for n in ns))
        for m in methods:
            cells = []
            for n in ns:
                vals = [r["value"] for r in sel if r["method"] == m and r["n_pairs"] == n]
                cells.append(f"{np.mean(vals):>9.3f}" if vals else f"{'':>9}")
            lines.append(f"{m:<14}" + "".join(cells))
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys
    import time

    t0 = time.perf_counter()
    result = run(quick="--full" not in sys.argv)
    print(table(result, ZERO_SHOT))
    print(table(result, RETRIEVAL))
    print(f"{len(result)} rows in {time.perf_counter() - t0:.1f} s")
