"""One public path for choosing hyperparameters by a task metric on held-out pairs.

:func:`task_score` turns a fitted model, held-out pairs and a metric name into one
number (higher is better); :func:`tune` fits one model per constructor candidate and
scans query options (``sim_dim``) on each fit without refitting;
:func:`csa.tasks.select_sim_dim` is the scan alone, on a model already fitted.

How this differs from ``CSA()``'s own selection: with no arguments, CSA picks its ridge
and ``sim_dim`` inside ``fit`` from K held-out folds of its own moments, scoring the
held-out *canonical correlations*. That needs no data kept aside and streams, but it
optimises a proxy and only for CSA/CCA's own parameters. :func:`tune` scores the task
you care about (retrieval mAP or R@k, zero-shot accuracy, mismatch AUC) on real held-out
pairs that the fit never saw, for any method (CSA, CCA, ASIF's k and p, LinearMap's
ridge) under one protocol, so a comparison tunes every method the same way. It costs
one fit per constructor candidate and one evaluation per (candidate, query option).

Metrics (``metric=``):

- ``"map"``: retrieval mAP, averaged over both directions;
- ``"recall@K"`` (``"recall@1"``, ``"recall@5"``, ...): retrieval Recall@K, averaged
  over both directions;
- ``"auc"``: ROC AUC of genuine held-out pairs against mismatched ones (out of context);
- ``"accuracy"`` or ``"accuracy@K"``: zero-shot top-1 (top-K) accuracy of the held-out
  inputs against ``class_embeddings`` with true ``labels``.

Identical items count as relevant by default (``identical=True``; see
:mod:`csa.tasks.groups`), or by ``groups`` (one id per pair) or ``labels_a``/``labels_b``.
Ties go to the simpler candidate: the earlier constructor candidate in the grid, then
the smaller ``sim_dim``, then the earlier query option.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from csa.errors import CSAError, InputError, NotFittedError, ShapeError
from csa.tasks._common import ResultMixin, n_rows
from csa.tasks.detection import detect_out_of_context
from csa.tasks.retrieval import evaluate_retrieval
from csa.tasks.zero_shot import zero_shot_classify

_METRIC = re.compile(r"^(map|auc|accuracy|recall@(\d+)|accuracy@(\d+))$")


@dataclass(frozen=True)
class HeldOut:
    """Held-out pairs and what counts as a correct answer among them."""

    a: Any
    b: Any
    groups: Any | None = None
    labels_a: Any | None = None
    labels_b: Any | None = None
    identical: bool = True
    class_embeddings: Any | None = None
    labels: Any | None = None
    inputs_side: Literal["a", "b"] = "a"
    seed: int = 0
    block_size: int | None = None


def check_metric(metric: str) -> str:
    """The metric name, lower-cased, or an InputError listing the accepted forms."""
    name = str(metric).strip().lower()
    match = _METRIC.match(name)
    if not match or (match.group(2) or match.group(3) or "1") == "0":
        raise InputError(
            f"metric must be 'map', 'recall@K', 'auc', 'accuracy' or 'accuracy@K' "
            f"(K >= 1), got {metric!r}"
        )
    return name


def check_held_out(data: HeldOut, metric: str) -> None:
    n = n_rows(data.a, "a_val")
    if n_rows(data.b, "b_val") != n:
        raise ShapeError(f"a_val has {n} rows but b_val has {n_rows(data.b, 'b_val')}")
    if n < 2:
        raise InputError("selection needs at least 2 held-out pairs")
    if metric.startswith("accuracy"):
        if data.class_embeddings is None or data.labels is None:
            raise InputError(
                f"metric={metric!r} scores zero-shot accuracy: give class_embeddings "
                "(one row per class, on the side opposite the inputs) and labels"
            )
    elif data.class_embeddings is not None or data.labels is not None:
        raise InputError(
            f"class_embeddings and labels are used by the zero-shot metrics only, not {metric!r}"
        )
    if metric == "auc" and (data.labels_a is not None or data.labels_b is not None):
        raise InputError(
            "metric='auc' draws mismatched pairs from other groups: give groups= (one id "
            "per held-out pair) rather than labels_a/labels_b"
        )


def task_score(model: Any, metric: str, data: HeldOut, query: Mapping[str, Any]) -> float:
    """One number, higher is better, for a fitted ``model`` under query options ``query``."""
    metric = check_metric(metric)
    options = dict(query)
    if metric.startswith("accuracy"):
        k = int(metric.partition("@")[2] or 1)
        inputs = data.a if data.inputs_side == "a" else data.b
        res = zero_shot_classify(
            model,
            inputs,
            data.class_embeddings,
            data.labels,
            top_k=sorted({1, k}),
            inputs_side=data.inputs_side,
            sim_dim=options,
        )
        return res.top_k[k]
    if metric == "auc":
        return detect_out_of_context(
            model,
            data.a,
            data.b,
            groups=data.groups,
            identical=data.identical,
            seed=data.seed,
            sim_dim=options,
        ).auc
    k = int(metric.partition("@")[2] or 1)
    res = evaluate_retrieval(
        model,
        data.a,
        data.b,
        labels_a=data.labels_a,
        labels_b=data.labels_b,
        groups=data.groups,
        identical=data.identical,
        ks=(k,),
        sim_dim=options,
        block_size=data.block_size,
    )
    if metric == "map":
        return res.mean_map
    return float(np.mean([d.recall[k] for d in res.directions.values()]))


def n_components(model: Any) -> int | None:
    """Number of canonical dimensions of a fitted model that takes ``sim_dim``, else None."""
    if getattr(model, "is_fitted", True) is False:
        raise NotFittedError(f"{type(model).__name__} is not fitted yet: call fit(a, b) first")
    for name in ("n_components_", "canonical_correlations_"):
        try:
            value = getattr(model, name)
        except AttributeError:  # csa models raise NotFittedError, an AttributeError
            continue
        return int(value) if np.ndim(value) == 0 else int(np.asarray(value).shape[0])
    return None


def default_candidates(n_dims: int, max_candidates: int = 24) -> list[int]:
    """Every s up to 8, then a geometric grid to ``n_dims`` (always included)."""
    if n_dims < 1:
        raise InputError(f"the model has {n_dims} canonical dimensions; nothing to select")
    small = list(range(1, min(n_dims, 8) + 1))
    if n_dims <= 8:
        return small
    grid = np.geomspace(8, n_dims, num=max(2, max_candidates - 8)).round().astype(int)
    return sorted({*small, *(int(s) for s in grid), n_dims})


def expand_grid(grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None) -> list:
    """Candidates of a grid, in order: a dict of lists (all combinations, the last key
    varying fastest, as scikit-learn's ParameterGrid) or a list of dicts taken as given.
    """
    if grid is None:
        return [{}]
    if isinstance(grid, Mapping):
        keys = list(grid)
        values = []
        for key in keys:
            v = grid[key]
            if isinstance(v, str) or not isinstance(v, Sequence | np.ndarray):
                raise InputError(f"grid entry {key!r} must be a list of values, got {v!r}")
            if len(v) == 0:
                raise InputError(f"grid entry {key!r} is an empty list")
            values.append(list(v))
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]
    if isinstance(grid, str | bytes) or not isinstance(grid, Sequence):
        raise InputError(
            f"a grid is a dict of lists or a list of dicts, got {type(grid).__name__} {grid!r}"
        )
    if not grid:
        raise InputError("the grid is an empty list")
    bad = [c for c in grid if not isinstance(c, Mapping)]
    if bad:
        raise InputError(f"a list grid holds dicts of parameters; got {bad[0]!r} among them")
    return [dict(c) for c in grid]


def _query_candidates(model: Any, query_grid: Any) -> list[dict[str, Any]]:
    if isinstance(query_grid, str):
        if query_grid != "auto":
            raise InputError(
                f"query_grid must be None, 'auto', a dict or a list, got {query_grid!r}"
            )
        dims = n_components(model)
        return [{}] if dims is None else [{"sim_dim": s} for s in default_candidates(dims)]
    return expand_grid(query_grid)


def _tie_key(index: int, query: Mapping[str, Any], q_index: int, score: float) -> tuple:
    """Sort key, best first: score, then the earlier candidate, smaller sim_dim, earlier query."""
    s = query.get("sim_dim")
    return (-score, index, s if isinstance(s, int | np.integer) else 0, q_index)


@dataclass
class TuneResult(ResultMixin):
    """The best candidate and the score of every (constructor, query) candidate tried.

    ``table`` rows hold ``params``, ``query``, ``score`` (None where the fit or the query
    failed) and ``error`` (the message, else None). ``best_model`` is the fitted model of
    ``best_params``; pass ``best_query`` to its query methods (``**best_query``).
    """

    best_params: dict[str, Any]
    best_query: dict[str, Any]
    best_score: float
    metric: str
    table: list[dict[str, Any]]
    n_pairs: int
    best_model: Any = field(default=None, repr=False, metadata={"json": False})


def tune(
    make_model: Callable[..., Any],
    param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None,
    a_fit: Any,
    b_fit: Any,
    a_val: Any,
    b_val: Any,
    *,
    metric: str = "map",
    query_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | str | None = None,
    labels_a: Any | None = None,
    labels_b: Any | None = None,
    groups: Any | None = None,
    identical: bool = True,
    class_embeddings: Any | None = None,
    labels: Any | None = None,
    inputs_side: Literal["a", "b"] = "a",
    seed: int = 0,
    block_size: int | None = None,
) -> TuneResult:
    """Held-out grid search for any method: fit each constructor candidate, score each query.

    ``make_model`` is a class or factory called as ``make_model(**params)`` (``csa.CSA``,
    ``csa.ASIF``, a lambda); ``param_grid`` a dict of lists or a list of dicts (None: one
    fit with the defaults). Each candidate is fitted on ``(a_fit, b_fit)`` and scored on
    the held-out ``(a_val, b_val)`` for every query option of ``query_grid`` without a
    refit: None scores the model's defaults, ``"auto"`` scans ``sim_dim`` over
    :func:`default_candidates` for models that take it, a dict or list gives the options.
    A candidate whose fit or query raises a csa error is recorded with its message and
    skipped; if every candidate fails, the first error is raised. See the module
    docstring for the metrics, relevance and tie rules.
    """
    metric = check_metric(metric)
    data = HeldOut(
        a_val, b_val, groups, labels_a, labels_b, identical, class_embeddings, labels,
        inputs_side, seed, block_size,
    )  # fmt: skip
    check_held_out(data, metric)
    if not callable(make_model):
        raise InputError(f"make_model must be a model class or factory, got {make_model!r}")
    table: list[dict[str, Any]] = []
    best: tuple | None = None
    best_model = None
    first_error: CSAError | None = None
    for index, params in enumerate(expand_grid(param_grid)):
        try:
            model = make_model(**params)
            model.fit(a_fit, b_fit)
            queries = _query_candidates(model, query_grid)
        except CSAError as exc:
            first_error = first_error or exc
            table.append({"params": params, "query": {}, "score": None, "error": str(exc)})
            continue
        for q_index, query in enumerate(queries):
            try:
                score = task_score(model, metric, data, query)
            except CSAError as exc:
                first_error = first_error or exc
                table.append({"params": params, "query": query, "score": None, "error": str(exc)})
                continue
            table.append({"params": params, "query": query, "score": score, "error": None})
            key = _tie_key(index, query, q_index, score)
            if best is None or key < best[0]:
                best, best_model = (key, params, query, score), model
    if best is None:
        assert first_error is not None
        message = f"every candidate failed; the first: {first_error}"
        raise type(first_error)(message) from first_error
    _, params, query, score = best
    return TuneResult(
        best_params=dict(params),
        best_query=dict(query),
        best_score=float(score),
        metric=metric,
        table=table,
        n_pairs=n_rows(a_val, "a_val"),
        best_model=best_model,
    )


__all__ = [
    "HeldOut",
    "TuneResult",
    "check_held_out",
    "check_metric",
    "default_candidates",
    "expand_grid",
    "n_components",
    "task_score",
    "tune",
]
