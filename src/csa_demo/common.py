"""What every data-efficiency experiment shares: the methods, the budgets, the
choice of ``sim_dim`` on held-out pairs, and the result rows.

A result row is a plain dict, ``{"experiment", "dataset", "method", "n_pairs",
"metric", "value", "seed"}``, so sections written independently (image, news, audio,
time series) all feed one report.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from csa.base import PairedModel
from csa.baselines import ASIF, CCA, LinearMap
from csa.errors import WeakFitWarning
from csa.model import CSA
from csa.moments import PairMoments, moments_of
from csa.tasks.metrics import true_class_ranks
from csa.tasks.sim_dim import default_candidates
from csa.tasks.zero_shot import zero_shot_scores

METHODS: dict[str, Callable[[], PairedModel]] = {
    "CSA": CSA,
    "CCA": CCA,
    "ASIF": ASIF,
    "LinearMap": LinearMap,
}
# Methods whose number of canonical dimensions is chosen on held-out pairs.
TUNES_SIM_DIM = frozenset({"CSA", "CCA"})


def result_row(
    experiment: str,
    dataset: str,
    method: str,
    n_pairs: int,
    metric: str,
    value: float,
    seed: int = 0,
) -> dict[str, Any]:
    return {
        "experiment": experiment,
        "dataset": dataset,
        "method": method,
        "n_pairs": int(n_pairs),
        "metric": metric,
        "value": float(value),
        "seed": int(seed),
    }


def budgets(pool: int, smallest: int = 10) -> list[int]:
    """Pair budgets on a roughly 1-3-10 grid from ``smallest`` up to the whole pool."""
    grid = [n for n in (10, 30, 100, 300, 1000, 3000, 10000) if smallest <= n < pool]
    return [*grid, pool]


# Ridges tried on held-out pairs, in units of each side's mean variance ("auto" = OAS).
RIDGE_GRID: tuple[float | str, ...] = ("auto", 0.1, 0.3, 1.0, 3.0, 10.0)
# Fewer held-out pairs than this cannot rank hyperparameters; defaults are used instead.
MIN_VALIDATION_PAIRS = 10

Evaluate = Callable[[PairedModel, np.ndarray, dict[str, Any]], float]


def _candidates(method: str, model: PairedModel) -> list[dict[str, Any]]:
    """Query options worth trying on one fitted model (sim_dim costs no refit)."""
    if method in TUNES_SIM_DIM:
        return [{"sim_dim": s} for s in default_candidates(model.n_components_)]
    return [{}]


def _split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Seeded (fit, held-out) indices of the budget, or None when it is too small."""
    n_val = max(MIN_VALIDATION_PAIRS, round(val_fraction * n))
    if n - n_val < MIN_VALIDATION_PAIRS:
        return None
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def choose_hyperparameters(
    method: str,
    moments: PairMoments,
    val_idx: np.ndarray,
    evaluate: Evaluate,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pick the ridge and ``sim_dim`` on held-out pairs of the training budget.

    ``moments`` are those of the budget's fitting part; every ridge of
    :data:`RIDGE_GRID` and, for CSA and CCA, every ``sim_dim`` is scored by
    ``evaluate(model, val_idx, query_options)`` (higher is better). One protocol for
    every method with such knobs. Returns ``(constructor options, query options)``.
    """
    if method not in TUNES_SIM_DIM and method != "LinearMap":
        return {}, {}
    best: tuple[float, int, dict[str, Any], dict[str, Any]] | None = None
    for ridge in RIDGE_GRID:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", WeakFitWarning)
            model = METHODS[method](ridge=ridge).fit_moments(moments)
        for options in _candidates(method, model):
            score = evaluate(model, val_idx, options)
            # Ties go to the earlier ridge and the smaller sim_dim: the simpler model.
            key = (score, -options.get("sim_dim", 0))
            if best is None or key > best[:2]:
                best = (*key, {"ridge": ridge}, options)
    assert best is not None
    return best[2], best[3]


def fit_methods(
    a: np.ndarray,
    b: np.ndarray,
    evaluate: Evaluate,
    *,
    methods: Sequence[str] = tuple(METHODS),
    val_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, tuple[PairedModel, dict[str, Any]]]:
    """Every method fitted on the same pairs, with the query options each should use.

    Hyperparameters are chosen on a seeded held-out part of the same budget (the same
    split for every method), then each model is refitted on the whole budget. With
    fewer than :data:`MIN_VALIDATION_PAIRS` pairs to hold out, defaults are used.
    ASIF keeps its paper's k=800, p=8. The moments are computed once and shared.
    """
    split = _split(a.shape[0], val_fraction, seed)
    fit_moments = None if split is None else moments_of(a[split[0]], b[split[0]])
    all_moments = moments_of(a, b)
    fitted = {}
    for method in methods:
        params: dict[str, Any] = {}
        options: dict[str, Any] = {}
        if split is not None:
            params, options = choose_hyperparameters(method, fit_moments, split[1], evaluate)
        model = METHODS[method](**params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", WeakFitWarning)
            if hasattr(model, "fit_moments"):
                model.fit_moments(all_moments)
            else:
                model.fit(a, b)
        if "sim_dim" in options:
            options = {"sim_dim": min(options["sim_dim"], model.n_components_)}
        fitted[method] = (model, options)
    return fitted


def result_rows(
    experiment: str,
    dataset: str,
    method: str,
    n_pairs: int,
    values: Mapping[str, float],
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One :func:`result_row` per metric, for a method scored on several metrics at once."""
    return [
        result_row(experiment, dataset, method, n_pairs, metric, value, seed)
        for metric, value in values.items()
    ]


def zero_shot_selection_score(
    model: PairedModel,
    x: np.ndarray,
    classes: np.ndarray,
    y: np.ndarray,
    options: Mapping[str, Any],
) -> float:
    """Zero-shot top-1 on held-out rows, ties broken by the mean reciprocal rank.

    A few dozen held-out rows give only a few distinct accuracies, so many settings
    tie; the reciprocal rank tells them apart. It is scaled under one held-out row's
    worth of accuracy, so it never overturns a difference in top-1.
    """
    ranks = true_class_ranks(zero_shot_scores(model, x, classes, **options), y)
    return float(np.mean(ranks == 1) + np.mean(1.0 / ranks) / (ranks.size + 1))


# Inverse regularisation of the linear probe, on standardised features.
PROBE_C = 0.1


def probe_scores(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, n_classes: int) -> np.ndarray:
    """(m, n_classes) probabilities of a logistic regression on the budget's own labels.

    The supervised ceiling: what the same features reach when the labels are given,
    with no text side at all. Classes missing from ``y`` score -1, below any
    probability, so they are never predicted; a single class is predicted everywhere.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = np.full((x_test.shape[0], n_classes), -1.0)
    present = np.unique(y)
    if present.size == 1:
        out[:, present[0]] = 1.0
        return out
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=PROBE_C))
    with warnings.catch_warnings():
        # Few clips per class (or more classes than half the clips) is the point here.
        warnings.simplefilter("ignore", UserWarning)
        probe.fit(x, y)
    out[:, probe.classes_] = probe.predict_proba(x_test)
    return out


def probe_accuracy(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Top-1 accuracy of :func:`probe_scores` on labelled test features."""
    n_classes = int(max(np.max(y), np.max(y_test))) + 1
    predictions = probe_scores(x, y, x_test, n_classes).argmax(axis=1)
    return float(np.mean(predictions == y_test))
