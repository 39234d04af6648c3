"""Choosing CSA's ``sim_dim`` (the number of canonical dimensions in the score) on held-out pairs.

The canonical dimensions are nested, so one fitted model scores with any s at query
time: the selection is a loop over candidates on validation pairs, with no refit. Few
dimensions drop information; many add dimensions whose correlation is mostly noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from csa.errors import InputError, NotFittedError, ShapeError, SimDimError
from csa.tasks._common import ResultMixin, n_rows
from csa.tasks.detection import detect_out_of_context
from csa.tasks.retrieval import evaluate_retrieval

Metric = Literal["map", "recall@1", "auc"]


@dataclass
class SimDimSelection(ResultMixin):
    """The chosen s and the validation curve it was chosen from (metric value per s)."""

    best: int
    best_score: float
    metric: str
    curve: dict[int, float]
    n_pairs: int


def default_candidates(n_dims: int, max_candidates: int = 24) -> list[int]:
    """Every s up to 8, then a geometric grid to ``n_dims`` (always included)."""
    if n_dims < 1:
        raise InputError(f"the model has {n_dims} canonical dimensions; nothing to select")
    small = list(range(1, min(n_dims, 8) + 1))
    if n_dims <= 8:
        return small
    grid = np.geomspace(8, n_dims, num=max(2, max_candidates - 8)).round().astype(int)
    return sorted({*small, *(int(s) for s in grid), n_dims})


def _n_canonical_dims(model: Any) -> int:
    try:
        rho = model.canonical_correlations_
    except NotFittedError:
        raise
    except AttributeError:
        raise InputError(
            f"{type(model).__name__} has no canonical_correlations_; select_sim_dim needs a "
            "fitted model that takes sim_dim at query time (CSA or CCA)"
        ) from None
    return int(np.asarray(rho).shape[0])


def select_sim_dim(
    model: Any,
    a_val: Any,
    b_val: Any,
    candidates: Sequence[int] | None = None,
    metric: Metric = "map",
    *,
    seed: int = 0,
    block_size: int | None = None,
) -> SimDimSelection:
    """Score every candidate s on held-out pairs (row i of a with row i of b); pick the best.

    ``metric``: "map" is retrieval mAP averaged over both directions, "recall@1" the
    same for Recall@1, "auc" the ROC AUC of genuine pairs against a seeded derangement.
    Ties go to the smaller s (fewer dimensions, less noise). The model is not changed:
    pass the result's ``best`` as ``sim_dim`` at query time, or set it on the model.
    """
    if metric not in ("map", "recall@1", "auc"):
        raise InputError(f"metric must be 'map', 'recall@1' or 'auc', got {metric!r}")
    n = n_rows(a_val, "a_val")
    if n_rows(b_val, "b_val") != n:
        raise ShapeError(f"a_val has {n} rows but b_val has {n_rows(b_val, 'b_val')}")
    if n < 2:
        raise InputError("select_sim_dim needs at least 2 held-out pairs")
    n_dims = _n_canonical_dims(model)
    cands = (
        default_candidates(n_dims) if candidates is None else sorted({int(s) for s in candidates})
    )
    if not cands:
        raise InputError("candidates is empty")
    bad = [s for s in cands if not 1 <= s <= n_dims]
    if bad:
        raise SimDimError(f"candidates {bad} lie outside 1..{n_dims} (the model's canonical dims)")

    curve: dict[int, float] = {}
    for s in cands:
        if metric == "auc":
            curve[s] = detect_out_of_context(model, a_val, b_val, seed=seed, sim_dim=s).auc
        else:
            res = evaluate_retrieval(model, a_val, b_val, sim_dim=s, block_size=block_size)
            if metric == "map":
                curve[s] = res.mean_map
            else:
                curve[s] = float(np.mean([d.recall[1] for d in res.directions.values()]))
    best = max(cands, key=lambda s: (curve[s], -s))
    return SimDimSelection(best=best, best_score=curve[best], metric=metric, curve=curve, n_pairs=n)


__all__ = ["SimDimSelection", "default_candidates", "select_sim_dim"]
