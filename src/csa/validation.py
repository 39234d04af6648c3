"""The single path every array takes into csa.

Users hand in numpy arrays, torch tensors, lists or data frames; whatever arrives, it
leaves here as a finite, 2-D float32 or float64 numpy array, or a :mod:`csa.errors` exception
that names what is wrong. Checking once, at the boundary, is what lets the numerical
code below assume clean input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from csa.errors import DtypeError, NonFiniteError, ShapeError, TooFewPairsError

_NUMERIC_KINDS = frozenset("biuf")


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """Turn tensors and array-likes into numpy without copying when possible."""
    if hasattr(x, "detach") and hasattr(x, "cpu") and type(x).__module__.startswith("torch"):
        import torch  # already imported by whoever made the tensor

        tensor = x.detach().cpu()
        if tensor.is_complex():
            raise DtypeError(f"{name} is a complex tensor; csa needs real-valued features")
        if not tensor.dtype.is_floating_point:
            return tensor.numpy()
        if tensor.dtype in (torch.float32, torch.float64):
            return tensor.numpy()
        # bfloat16 and float16 are widened, as they would be for the maths anyway.
        return tensor.double().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise DtypeError(f"{name} cannot be read as a numeric array: {exc}") from exc


def check_features(x: Any, name: str = "a", *, n_features: int | None = None) -> np.ndarray:
    """Validate one side's features and return them as a float ``(n, d)`` array.

    Integer, boolean and low-precision float input is converted; strings, objects and
    complex numbers are refused, because they mean the items were never encoded.
    """
    arr = _to_numpy(x, name)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        if arr.dtype.kind == "c":
            raise DtypeError(
                f"{name} has complex dtype {arr.dtype}; csa needs real-valued features"
            )
        if arr.dtype.kind == "O":
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise DtypeError(
                    f"{name} has dtype object and its values are not all numbers ({exc}); "
                    "encode raw items with an encoder first"
                ) from exc
        else:
            raise DtypeError(
                f"{name} has non-numeric dtype {arr.dtype}; csa compares feature arrays, "
                "so encode raw items (text, images) with an encoder first"
            )
    if arr.ndim != 2:
        hint = ""
        if arr.ndim == 1:
            hint = (
                "; use x.reshape(-1, 1) if it is one feature per sample, "
                "or x.reshape(1, -1) if it is one sample"
            )
        raise ShapeError(
            f"{name} must be 2-D (n_samples, n_features); got {arr.ndim}-D with shape "
            f"{arr.shape}{hint}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(f"{name} is empty: shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ShapeError(
            f"{name} has {arr.shape[1]} features, but the model was fitted with {n_features}"
        )
    if arr.dtype not in (np.float32, np.float64):
        # float32 stays as it is: moments accumulate in float64 whatever the input, and a
        # copy of every streamed chunk would cost time and memory for nothing.
        arr = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(arr)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        n_bad = int((~finite).sum())
        kind = "NaN" if np.isnan(arr).any() else "infinite"
        raise NonFiniteError(
            f"{name} holds {n_bad} non-finite value(s) ({kind} among them) in {bad_rows.size} "
            f"row(s), first at row {int(bad_rows[0])}; drop or impute them before fitting"
        )
    return arr


def check_pair(
    a: Any,
    b: Any,
    *,
    n_features_a: int | None = None,
    n_features_b: int | None = None,
    min_pairs: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate paired features: both sides clean and with one row per pair."""
    a_arr = check_features(a, "a", n_features=n_features_a)
    b_arr = check_features(b, "b", n_features=n_features_b)
    if a_arr.shape[0] != b_arr.shape[0]:
        raise ShapeError(
            f"a has {a_arr.shape[0]} rows but b has {b_arr.shape[0]}: row i of a and row i "
            "of b form pair i, so the counts must match"
        )
    if a_arr.shape[0] < min_pairs:
        raise TooFewPairsError(
            f"got {a_arr.shape[0]} pair(s); at least {min_pairs} are needed to estimate "
            "a covariance"
        )
    return a_arr, b_arr
