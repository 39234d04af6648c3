"""What every data-efficiency experiment shares: the methods, the budgets, the
choice of ``sim_dim`` on held-out pairs, and the result rows.

A result row is a plain dict, ``{"experiment", "dataset", "method", "n_pairs",
"metric", "value", "seed"}``, so sections written independently (image, news, audio,
time series) all feed one report.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from csa.base import PairedModel
from csa.baselines import ASIF, CCA, LinearMap
from csa.errors import WeakFitWarning
from csa.model import CSA
from csa.tasks.sim_dim import default_candidates

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


def quiet_fit(model: PairedModel, a: np.ndarray, b: np.ndarray) -> PairedModel:
    """Fit, silencing the weak-fit warning: small budgets are the point of the sweep."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakFitWarning)
        return model.fit(a, b)


def choose_sim_dim(
    method: str,
    a: np.ndarray,
    b: np.ndarray,
    evaluate: Callable[[PairedModel, np.ndarray, int], float],
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> int | None:
    """Pick ``sim_dim`` using only the training budget: fit on part, validate on the rest.

    ``evaluate(model, val_index, s)`` scores a candidate on the held-out rows of the
    budget (higher is better). Returns ``None`` (keep every dimension) when the budget
    is too small to hold anything out. Ties go to the smaller ``s``.
    """
    n = a.shape[0]
    n_val = max(2, round(val_fraction * n))
    if n - n_val < 3:
        return None
    order = np.random.default_rng(seed).permutation(n)
    val_idx, fit_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    model = quiet_fit(METHODS[method](), a[fit_idx], b[fit_idx])
    curve = {s: evaluate(model, val_idx, s) for s in default_candidates(model.n_components_)}
    return max(curve, key=lambda s: (curve[s], -s))


def fit_methods(
    a: np.ndarray,
    b: np.ndarray,
    evaluate: Callable[[PairedModel, np.ndarray, int], float],
    *,
    methods: Sequence[str] = tuple(METHODS),
    seed: int = 0,
) -> dict[str, tuple[PairedModel, dict[str, Any]]]:
    """Every method fitted on the same pairs, with the query options each should use."""
    fitted = {}
    for method in methods:
        model = quiet_fit(METHODS[method](), a, b)
        options: dict[str, Any] = {}
        if method in TUNES_SIM_DIM:
            s = choose_sim_dim(method, a, b, evaluate, seed=seed)
            if s is not None:
                options["sim_dim"] = min(s, model.n_components_)
        fitted[method] = (model, options)
    return fitted
