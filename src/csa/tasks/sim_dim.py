"""Choosing CSA's ``sim_dim`` (the number of canonical dimensions in the score) on held-out pairs.

The canonical dimensions are nested, so one fitted model scores with any s at query
time: the selection is a loop over candidates on validation pairs, with no refit. Few
dimensions drop information; many add dimensions whose correlation is mostly noise.
This is the query-option scan of :func:`csa.tasks.tune` on a model already fitted; the
metrics, relevance and tie rules are those of :mod:`csa.tasks.selection`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from csa.errors import InputError, SimDimError
from csa.tasks._common import ResultMixin, n_rows
from csa.tasks.selection import (
    HeldOut,
    check_held_out,
    check_metric,
    default_candidates,
    n_components,
    task_score,
)
from csa.validation import check_ks


@dataclass
class SimDimSelection(ResultMixin):
    """The chosen s and the validation curve it was chosen from (metric value per s)."""

    best: int
    best_score: float
    metric: str
    curve: dict[int, float]
    n_pairs: int


def best_of_curve(curve: dict[int, float]) -> int:
    """The s with the highest score; among equal scores the smallest s (fewer, less noisy dims)."""
    if not curve:
        raise InputError("the validation curve is empty")
    return max(curve, key=lambda s: (curve[s], -s))


def select_sim_dim(
    model: Any,
    a_val: Any,
    b_val: Any,
    candidates: Sequence[int] | None = None,
    metric: str = "map",
    *,
    groups: Any | None = None,
    labels_a: Any | None = None,
    labels_b: Any | None = None,
    identical: bool = True,
    class_embeddings: Any | None = None,
    labels: Any | None = None,
    inputs_side: Literal["a", "b"] = "a",
    seed: int = 0,
    block_size: int | None = None,
) -> SimDimSelection:
    """Score every candidate s on held-out pairs (row i of a with row i of b); pick the best.

    ``metric``: "map" (retrieval mAP over both directions), "recall@K", "auc" (genuine
    pairs against label-aware mismatches), "accuracy" / "accuracy@K" (zero-shot, with
    ``class_embeddings`` and ``labels``). Identical captions or items count as relevant
    by default (``identical=True``), or as ``groups`` / ``labels_a``/``labels_b`` say. Ties
    go to the smaller s. The model is not changed: pass the result's ``best`` as
    ``sim_dim`` at query time, or set it on the model.
    """
    metric = check_metric(metric)
    data = HeldOut(
        a_val, b_val, groups, labels_a, labels_b, identical, class_embeddings, labels,
        inputs_side, seed, block_size,
    )  # fmt: skip
    check_held_out(data, metric)
    n_dims = n_components(model)
    if n_dims is None:
        raise InputError(
            f"{type(model).__name__} has no canonical_correlations_; select_sim_dim needs a "
            "fitted model that takes sim_dim at query time (CSA or CCA)"
        )
    cands = (
        default_candidates(n_dims)
        if candidates is None
        else sorted(set(check_ks(candidates, "candidates", minimum=None)))
    )
    bad = [s for s in cands if not 1 <= s <= n_dims]
    if bad:
        raise SimDimError(f"candidates {bad} lie outside 1..{n_dims} (the model's canonical dims)")
    curve = {s: task_score(model, metric, data, {"sim_dim": s}) for s in cands}
    best = best_of_curve(curve)
    return SimDimSelection(
        best=best,
        best_score=curve[best],
        metric=metric,
        curve=curve,
        n_pairs=n_rows(a_val, "a_val"),
    )


__all__ = ["SimDimSelection", "best_of_curve", "default_candidates", "select_sim_dim"]
