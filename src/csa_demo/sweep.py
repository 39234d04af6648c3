"""The one data-efficiency loop: every method at every pair budget and seed.

Every section of the demo asks the same question (how good is each method with n
pairs?) and answers it the same way, here:

* **default rows** (``"CSA (default)"`` ...): the estimator as a user gets it with no
  hyperparameter given, fitted on the whole budget;
* **tuned rows** (``"CSA (tuned)"`` ...): every method's knobs chosen by one protocol,
  the library's public :func:`csa.tasks.tune` on a seeded held-out part of the budget
  (CSA and CCA: ridge and ``sim_dim``; LinearMap: ridge; ASIF: k and p), then refitted on
  the whole budget with the chosen constructor parameters;
* **references** the section supplies: supervised ceilings per budget (a linear probe on
  the budget's own labels) and pair-free floors (chance, one shared encoder).

A result row is a plain dict ``{"experiment", "dataset", "method", "n_pairs",
"metric", "value", "seed"}``; rows of fitted methods add ``"params"``: the ridge,
``sim_dim``, k and p the fit actually used, so results.json says what every number
came from.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import csa
from csa import tasks
from csa.progress import ProgressBar
from csa_demo.status import status

#: Constructors of the compared methods, by the name the tables show.
METHODS: dict[str, Callable[..., csa.PairedModel]] = {
    "CSA": csa.CSA,
    "CCA": csa.CCA,
    "ASIF": csa.ASIF,
    "LinearMap": csa.LinearMap,
}
#: Ridges tried by the tuned rows, in units of each side's mean variance.
RIDGE_GRID: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: What the tuned rows search per method (one protocol for all; ASIF's grid spans its
#: paper's k=800, p=8 and the smaller values that win with few anchors).
# sim_dim=None: the tuned rows scan sim_dim at query time on the held-out part, so the
# candidate fits need not run the estimator's own fold search for it.
PARAM_GRIDS: dict[str, dict[str, Sequence[Any]]] = {
    "CSA": {"ridge": RIDGE_GRID, "sim_dim": (None,)},
    "CCA": {"ridge": RIDGE_GRID, "sim_dim": (None,)},
    "LinearMap": {"ridge": RIDGE_GRID},
    "ASIF": {"k": (10, 50, 200, 800), "p": (1.0, 4.0, 8.0)},
}
DEFAULT = "default"
TUNED = "tuned"
#: Fewer held-out pairs than this cannot rank hyperparameters: no tuned row then.
MIN_VALIDATION_PAIRS = 10
#: Budgets up to this many pairs run for every seed; larger ones once.
MULTI_SEED_MAX_PAIRS = 300

Metrics = Mapping[str, float]
#: (fitted model, query options, seed) -> test metrics of that fit.
Score = Callable[[Any, dict[str, Any], int], Metrics]
#: (rows of the pool in this budget, seed) -> {reference method: metrics}.
References = Callable[[np.ndarray, int], Mapping[str, Metrics]]


def method_label(method: str, variant: str) -> str:
    """``"CSA (default)"``: the name a table column and a plot legend show."""
    return f"{method} ({variant})"


def result_row(
    experiment: str,
    dataset: str,
    method: str,
    n_pairs: int,
    metric: str,
    value: float,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One number of the report; ``params`` only for fitted methods."""
    row: dict[str, Any] = {
        "experiment": experiment,
        "dataset": dataset,
        "method": method,
        "n_pairs": int(n_pairs),
        "metric": metric,
        "value": float(value),
        "seed": int(seed),
    }
    if params is not None:
        row["params"] = dict(params)
    return row


def result_rows(
    experiment: str,
    dataset: str,
    method: str,
    n_pairs: int,
    values: Metrics,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One :func:`result_row` per metric of a method scored on several at once."""
    return [
        result_row(experiment, dataset, method, n_pairs, metric, value, seed, params)
        for metric, value in values.items()
    ]


#: A grid budget this close to the whole pool is left out: it would plot on top of the
#: pool's own point and cost nearly as much (3,000 beside clip art's 4,169 pairs).
NEAR_POOL = 1.5


def budgets(pool: int, smallest: int = 10) -> list[int]:
    """Pair budgets on a roughly 1-3-10 grid from ``smallest`` up to the whole pool."""
    grid = [n for n in (10, 30, 100, 300, 1000, 3000, 10000) if smallest <= n < pool / NEAR_POOL]
    return [*grid, pool]


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def fitted_params(model: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters a fit really used: chosen values where the model chose them."""
    out: dict[str, Any] = {}
    for key, value in model.get_params().items():
        if key in ("ridge", "sim_dim", "k", "p"):
            out[key] = _jsonable(value)
    for key in ("ridge", "sim_dim"):
        chosen = getattr(model, f"{key}_", None)
        if chosen is not None:
            out[key] = _jsonable(chosen)
    out.update({key: _jsonable(value) for key, value in options.items()})
    return out


@dataclass
class Fit:
    """One fitted method of one budget, with the query options it is scored with."""

    method: str
    variant: str
    model: Any
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return method_label(self.method, self.variant)

    @property
    def params(self) -> dict[str, Any]:
        return fitted_params(self.model, self.options)


@dataclass(frozen=True)
class Selection:
    """How the tuned rows score candidates on held-out pairs of the budget.

    ``metric`` is one of :func:`csa.tasks.tune`'s ("map", "recall@K", "auc",
    "accuracy"). ``labels`` hold one id per pool row: for retrieval and detection they
    are groups (identical captions count as relevant), for "accuracy" the row's class,
    an index into ``classes`` (the class embeddings zero-shot scores against).
    """

    metric: str
    labels: np.ndarray | None = None
    classes: np.ndarray | None = None

    def held_out(self, labels: np.ndarray | None) -> dict[str, Any]:
        """Keyword arguments of :func:`csa.tasks.tune` for these held-out rows' labels."""
        if self.metric.startswith("accuracy"):
            return {"class_embeddings": self.classes, "labels": labels}
        return {} if labels is None else {"groups": labels}


def _quiet_fit(model: Any, a: np.ndarray, b: np.ndarray) -> Any:
    with warnings.catch_warnings():
        # Few pairs in high dimensions is the point of the sweep, not a user error.
        warnings.simplefilter("ignore", csa.WeakFitWarning)
        return model.fit(a, b)


def validation_split(n: int, seed: int, val_fraction: float = 0.2) -> tuple[np.ndarray, ...] | None:
    """Seeded (fit, held-out) positions within a budget, or None when it is too small."""
    n_val = max(MIN_VALIDATION_PAIRS, round(val_fraction * n))
    if n - n_val < MIN_VALIDATION_PAIRS:
        return None
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def tune_method(
    method: str,
    a: np.ndarray,
    b: np.ndarray,
    selection: Selection,
    labels: np.ndarray | None,
    seed: int,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Constructor parameters and query options chosen on held-out pairs of ``(a, b)``.

    The budget's own rows are split (seeded); :func:`csa.tasks.tune` fits every
    candidate of :data:`PARAM_GRIDS` on one part and scores it, with every ``sim_dim``
    where the model takes one, on the other. ``labels`` are the budget's (one per row).
    None when the budget is too small to hold anything out.
    """
    split = validation_split(a.shape[0], seed)
    if split is None:
        return None
    fit_rows, val_rows = split
    held_out = selection.held_out(None if labels is None else labels[val_rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", csa.WeakFitWarning)
        result = tasks.tune(
            METHODS[method],
            PARAM_GRIDS[method],
            a[fit_rows],
            b[fit_rows],
            a[val_rows],
            b[val_rows],
            metric=selection.metric,
            query_grid="auto",
            seed=seed,
            **held_out,
        )
    return dict(result.best_params), dict(result.best_query)


def default_fits(
    a: np.ndarray,
    b: np.ndarray,
    methods: Sequence[str] = tuple(METHODS),
    on_fit: Callable[[], None] | None = None,
) -> list[Fit]:
    """Every method as a user gets it (no hyperparameter given), fitted on ``(a, b)``."""
    fits = []
    for method in methods:
        fits.append(Fit(method, DEFAULT, _quiet_fit(METHODS[method](), a, b)))
        if on_fit:
            on_fit()
    return fits


def tuned_fits(
    a: np.ndarray,
    b: np.ndarray,
    selection: Selection,
    *,
    labels: np.ndarray | None = None,
    seed: int = 0,
    methods: Sequence[str] = tuple(METHODS),
    on_fit: Callable[[], None] | None = None,
) -> list[Fit]:
    """Every method with the knobs :func:`tune_method` chose, refitted on all of ``(a, b)``;
    none when the budget is too small to hold pairs out."""
    fits: list[Fit] = []
    for method in methods:
        chosen = tune_method(method, a, b, selection, labels, seed)
        if chosen is not None:
            params, options = chosen
            model = _quiet_fit(METHODS[method](**params), a, b)
            if "sim_dim" in options:
                # Refitted on the whole budget, the model may have fewer dimensions than
                # the held-out part's fit had: keep the choice within what it has.
                options = {**options, "sim_dim": min(options["sim_dim"], model.n_components_)}
            fits.append(Fit(method, TUNED, model, options))
        if on_fit:
            on_fit()
    return fits


@dataclass(frozen=True)
class Task:
    """One evaluation of a sweep's fits: how they are scored and how tuned rows choose.

    ``dataset`` labels its rows; ``score(model, options, seed)`` measures a fit on the
    task's test set; ``references(index, seed)`` adds per-budget ceilings and ``floors``
    pair-free rows repeated at every budget, so they plot as lines.
    """

    dataset: str
    score: Score
    selection: Selection
    references: References | None = None
    floors: Mapping[str, Metrics] | None = None


def _plan_line(
    tasks: Sequence[Task],
    methods: Sequence[str],
    n_pairs: Sequence[int],
    seeds: Sequence[int],
    steps: int,
) -> str:
    """``"fitting 4 methods x 4 budgets x 3 seeds on news (test 436): 96 fits"``."""
    on = ", ".join(task.dataset for task in tasks)
    return (
        f"fitting {len(methods)} methods x {len(n_pairs)} budgets x {len(seeds)} seeds "
        f"on {on}: {steps:,} fits"
    )


def run_tasks(
    experiment: str,
    a: np.ndarray,
    b: np.ndarray,
    tasks: Sequence[Task],
    *,
    n_pairs: Sequence[int],
    sample_index: Callable[[int, int], np.ndarray],
    seeds: Sequence[int] = (0,),
    methods: Sequence[str] = tuple(METHODS),
) -> list[dict[str, Any]]:
    """Result rows of every task, method, reference and floor at every budget and seed.

    ``a``, ``b`` are the training pool's features; ``sample_index(n, seed)`` draws a
    budget's rows of it (class-balanced and nested where the data set can). The default
    fits of a budget do not depend on the task, so several tasks of one pool (one
    instrument set scored by family and by name) share them; tuned rows are chosen per
    task, by its own selection metric, as a user tuning for that task would.
    """
    plan = [(n, s) for n in n_pairs for s in (seeds if n <= MULTI_SEED_MAX_PAIRS else seeds[:1])]
    by_task: list[list[dict[str, Any]]] = [[] for _ in tasks]
    label = f"{experiment} {tasks[0].dataset}" + (f" (+{len(tasks) - 1})" if len(tasks) > 1 else "")
    steps = len(plan) * len(methods) * (1 + len(tasks))
    status(experiment, _plan_line(tasks, methods, n_pairs, seeds, steps))
    with ProgressBar(steps, label, unit="fit") as bar:
        for n, seed in plan:
            index = sample_index(n, seed)
            shared = default_fits(a[index], b[index], methods, on_fit=bar.advance)
            for task, out in zip(tasks, by_task, strict=True):
                selection = task.selection
                labels = None if selection.labels is None else selection.labels[index]
                fits = shared + tuned_fits(
                    a[index], b[index], selection, labels=labels, seed=seed, methods=methods,
                    on_fit=bar.advance,
                )  # fmt: skip
                for fit in fits:
                    metrics = task.score(fit.model, fit.options, seed)
                    out += result_rows(
                        experiment, task.dataset, fit.label, n, metrics, seed, fit.params
                    )
                if task.references is not None:
                    for name, metrics in task.references(index, seed).items():
                        out += result_rows(experiment, task.dataset, name, n, metrics, seed)
                if task.floors and seed == seeds[0]:
                    for name, metrics in task.floors.items():
                        out += result_rows(experiment, task.dataset, name, n, metrics)
    return [row for out in by_task for row in out]


def run_sweep(
    experiment: str,
    dataset: str,
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_pairs: Sequence[int],
    sample_index: Callable[[int, int], np.ndarray],
    score: Score,
    selection: Selection,
    seeds: Sequence[int] = (0,),
    references: References | None = None,
    floors: Mapping[str, Metrics] | None = None,
    methods: Sequence[str] = tuple(METHODS),
) -> list[dict[str, Any]]:
    """:func:`run_tasks` with one task: the sweep of a section with one test set."""
    task = Task(dataset, score, selection, references, floors)
    return run_tasks(
        experiment, a, b, [task], n_pairs=n_pairs, sample_index=sample_index, seeds=seeds,
        methods=methods,
    )  # fmt: skip
