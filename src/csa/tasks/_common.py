"""Plumbing shared by the task modules: array checks, model calls, JSON-ready results.

The tasks must work unchanged with CSA and every baseline, and only CSA and CCA
accept ``sim_dim``; routing every model call through :func:`call_similarity` and
:func:`call_score_pairs` keeps that rule in one place.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from csa.errors import DtypeError, InputError, NonFiniteError, ShapeError


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


def as_scores(x: Any, name: str, ndim: int) -> np.ndarray:
    """A finite float64 array of the given rank; NaN scores would rank silently wrong."""
    arr = to_numpy(x, name)
    if arr.ndim != ndim:
        raise ShapeError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ShapeError(f"{name} is empty (shape {arr.shape})")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise NonFiniteError(f"{name} holds {bad} NaN or infinite values")
    return arr


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


def call_similarity(model: Any, a: Any, b: Any, sim_dim: int | None) -> np.ndarray:
    """``model.similarity`` with ``sim_dim`` passed only when given (ASIF/LinearMap lack it)."""
    out = model.similarity(a, b) if sim_dim is None else model.similarity(a, b, sim_dim=sim_dim)
    return as_scores(out, "model.similarity output", 2)


def call_score_pairs(model: Any, a: Any, b: Any, sim_dim: int | None) -> np.ndarray:
    """``model.score_pairs`` with ``sim_dim`` passed only when given."""
    out = model.score_pairs(a, b) if sim_dim is None else model.score_pairs(a, b, sim_dim=sim_dim)
    return as_scores(out, "model.score_pairs output", 1)


def take_rows(x: Any, idx: np.ndarray) -> Any:
    """Index rows of a numpy array or torch tensor alike, keeping its type for the model."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        import torch

        return x[torch.as_tensor(idx, dtype=torch.long)]
    return np.asarray(x)[idx]


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.metadata.get("json", True)
        }
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
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
        return _jsonable(self)
