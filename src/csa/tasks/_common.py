"""Plumbing shared by the task modules: array checks, model calls, JSON-ready results.

Every csa model takes ``sim_dim=None`` in its query methods (ASIF and LinearMap refuse
a number). The tasks also score with foreign objects that have only ``similarity(a,
b)`` (a CLIP wrapper, a cosine); routing every model call through
:func:`call_similarity` and :func:`call_score_pairs` keeps the one rule for them here:
query options are passed only when given, and one such a scorer does not take is an
error that names it rather than a bare TypeError.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from csa.errors import DtypeError, InputError, NonFiniteError, ParameterError, ShapeError


def to_numpy(x: Any, name: str) -> np.ndarray:
    """Turn numpy arrays, torch tensors and lists into a numpy array, refusing non-numbers.

    Model outputs may come back as torch tensors; detaching here keeps every metric in numpy.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise DtypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise DtypeError(f"{name} must hold real numbers, got complex dtype {arr.dtype}")
    return arr


#: Scores that agree in all but this many last bits of their dtype's precision count as
#: tied in the ranking metrics (6 bits: 64 units of round-off).
TIE_BITS = 6


def as_scores(x: Any, name: str, ndim: int, ties: bool = False) -> np.ndarray:
    """A finite float64 array of the given rank; NaN scores would rank silently wrong.

    ``ties=True`` makes scores that differ by round-off only exact ties, see
    :func:`round_off_ties`.
    """
    arr = to_numpy(x, name)
    if arr.ndim != ndim:
        raise ShapeError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ShapeError(f"{name} is empty (shape {arr.shape})")
    floating = np.issubdtype(arr.dtype, np.floating)
    bits = int(np.finfo(arr.dtype).nmant) if floating else 0
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise NonFiniteError(f"{name} holds {bad} NaN or infinite values")
    if ties and bits > TIE_BITS:
        arr = round_off_ties(arr, bits - TIE_BITS)
    return arr


def round_off_ties(scores: np.ndarray, bits: int) -> np.ndarray:
    """Scores rounded to ``bits`` bits of mantissa, each relative to its own magnitude.

    Two items a model scores identically in exact arithmetic often come out a few bits
    apart: a cosine that is exactly 1 computed as 0.9999999999999998, the same prediction
    summed in another order after the rows were shuffled. The pessimistic tie rule would
    then be decided by the last bit, and a metric would move with the row order (text ->
    series mAP on two-class data moved by 0.02 between seeds of one fit). Rounding the
    mantissa is monotone, so it never reorders scores, and relative, so small scores that
    differ in their leading bits (ASIF's powered similarities of 1e-20) stay apart.
    """
    mantissa, exponent = np.frexp(scores)
    scale = float(2**bits)
    return np.ldexp(np.round(mantissa * scale) / scale, exponent)


def as_labels(x: Any, name: str, n: int | None = None) -> np.ndarray:
    """A 1-D label array (any hashable dtype numpy can compare), optionally of length n."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ShapeError(f"{name} must be 1-D, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ShapeError(f"{name} has {arr.shape[0]} entries but {n} were expected")
    return arr


def n_rows(x: Any, name: str) -> int:
    """Row count of a 2-D feature array without copying it (the model validates the rest)."""
    shape = tuple(getattr(x, "shape", np.shape(x)))
    if len(shape) != 2:
        raise ShapeError(f"{name} must be 2-D (n, d), got shape {shape}")
    if shape[0] == 0:
        raise ShapeError(f"{name} has no rows")
    return int(shape[0])


def check_block_size(block_size: int) -> int:
    if not isinstance(block_size, int | np.integer) or block_size < 1:
        raise InputError(f"block_size must be a positive integer, got {block_size!r}")
    return int(block_size)


QueryOptions = int | None | Mapping[str, Any]


def query_kwargs(options: QueryOptions) -> dict[str, Any]:
    """Keyword arguments for a scorer's query methods.

    ``options`` is a ``sim_dim`` (an int, or None for the model's default) or a mapping
    of query options such as ``{"sim_dim": 8}``; None values are dropped, so a foreign
    scorer whose ``similarity(a, b)`` takes no options runs the same code.
    """
    if options is None:
        return {}
    if isinstance(options, Mapping):
        return {str(k): v for k, v in options.items() if v is not None}
    return {"sim_dim": options}


def _check_takes(method: Any, kwargs: Mapping[str, Any]) -> None:
    """Refuse query options the scorer's method cannot take, by name, before calling it."""
    if not kwargs:
        return
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = [name for name in kwargs if name not in params]
    if unknown:
        owner = type(getattr(method, "__self__", method)).__name__
        raise ParameterError(
            f"{owner}.{getattr(method, '__name__', 'similarity')} takes no "
            f"{', '.join(unknown)}; query options are for scorers that accept them (csa models)"
        )


def call_similarity(model: Any, a: Any, b: Any, options: QueryOptions) -> np.ndarray:
    """``model.similarity`` with the query options passed only when given."""
    kwargs = query_kwargs(options)
    _check_takes(model.similarity, kwargs)
    return as_scores(model.similarity(a, b, **kwargs), "model.similarity output", 2)


def call_score_pairs(model: Any, a: Any, b: Any, options: QueryOptions) -> np.ndarray:
    """``model.score_pairs`` with the query options passed only when given."""
    kwargs = query_kwargs(options)
    _check_takes(model.score_pairs, kwargs)
    return as_scores(model.score_pairs(a, b, **kwargs), "model.score_pairs output", 1)


def embeds(model: Any) -> bool:
    """True for models with ``embed_a``/``embed_b`` (every csa model): score by inner product."""
    return callable(getattr(model, "embed_a", None)) and callable(getattr(model, "embed_b", None))


def scoring_inputs(
    model: Any, queries: Any, gallery: Any, query_side: str, options: QueryOptions
) -> tuple[Any, Any, Callable[[Any, Any], np.ndarray] | None]:
    """What :func:`csa.scoring.iter_score_blocks` needs to score ``queries`` against ``gallery``.

    A model that embeds is asked once per side, so a gallery is embedded once rather
    than once per block of queries; the scores are its inner products. Any other scorer
    (only ``similarity``) gets the raw rows and is called per block.
    """
    kwargs = query_kwargs(options)
    if embeds(model):
        embed_q = model.embed_a if query_side == "a" else model.embed_b
        embed_g = model.embed_b if query_side == "a" else model.embed_a
        return embed_q(queries, **kwargs), embed_g(gallery, **kwargs), None
    if query_side == "a":
        return queries, gallery, lambda q, g: call_similarity(model, q, g, kwargs)
    return queries, gallery, lambda q, g: call_similarity(model, g, q, kwargs).T


def take_rows(x: Any, idx: np.ndarray) -> Any:
    """Index rows of a numpy array or torch tensor alike, keeping its type for the model."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        import torch

        return x[torch.as_tensor(idx, dtype=torch.long)]
    return np.asarray(x)[idx]


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays, tuples and dataclasses turned into JSON types.

    Infinite floats become the strings "inf"/"-inf" and NaN becomes None, which
    ``json.dumps`` would otherwise write as invalid JSON.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.metadata.get("json", True)
        }
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        # JSON has no inf/NaN; a threshold at +inf means "this score is not used".
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


class ResultMixin:
    """Gives result dataclasses a ``to_dict`` that ``json.dumps`` accepts as is.

    Fields declared with ``metadata={"json": False}`` (per-sample arrays) are left out:
    the dictionary is a summary for a results file.
    """

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)
