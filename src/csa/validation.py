"""The single path every array and parameter takes into csa.

Users hand in numpy arrays, memory maps, torch tensors, lists or data frames; whatever
arrives leaves here as a 2-D float32 or float64 numpy array whose values are finite and
within the range where their squares can be summed in float64, or as a
:mod:`csa.errors` exception that names what is wrong. Checking once, at the boundary,
lets the numerical code below assume clean input.

Arrays are never copied here when they are float32 or float64 already: the checks run
over row blocks, so validating a memory-mapped file costs one block of working memory,
not a boolean array the size of the input.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from csa.errors import (
    DtypeError,
    InputError,
    NonFiniteError,
    ParameterError,
    ShapeError,
    TooFewPairsError,
)

_NUMERIC_KINDS = frozenset("biuf")
# Elements per block scanned for non-finite values (a few MB of temporaries).
_SCAN_ELEMENTS = 1 << 20
# Features larger than this overflow float64 once squared and summed over rows; smaller
# (non-zero) ones underflow. Embeddings live many orders of magnitude inside both.
_MAX_MAGNITUDE = 1e150
_MIN_MAGNITUDE = 1e-150
# A relative ridge beyond this leaves whitening equal to the identity to machine precision.
MAX_RIDGE = 1e8


# ---- arrays ----------------------------------------------------------------------------
def _to_numpy(x: Any, name: str) -> np.ndarray:
    """Turn tensors and array-likes into numpy without copying when possible."""
    if hasattr(x, "nnz") and hasattr(x, "tocsr"):
        raise DtypeError(
            f"{name} is a scipy.sparse matrix; csa needs dense features: pass "
            f"{name}.toarray() (embeddings are dense anyway)"
        )
    if hasattr(x, "detach") and hasattr(x, "cpu") and type(x).__module__.startswith("torch"):
        import torch  # already imported by whoever made the tensor

        tensor = x.detach().cpu()
        if tensor.is_complex():
            raise DtypeError(f"{name} is a complex tensor; csa needs real-valued features")
        if tensor.dtype in (torch.float32, torch.float64) or not tensor.dtype.is_floating_point:
            return tensor.numpy()
        # bfloat16 and float16 are widened, as they would be for the maths anyway.
        return tensor.double().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise DtypeError(f"{name} cannot be read as a numeric array: {exc}") from exc


def _numeric(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype.kind in _NUMERIC_KINDS:
        return arr
    if arr.dtype.kind == "c":
        raise DtypeError(f"{name} has complex dtype {arr.dtype}; csa needs real-valued features")
    if arr.dtype.kind == "O":
        try:
            return arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise DtypeError(
                f"{name} has dtype object and its values are not all numbers ({exc}); "
                "encode raw items with an encoder first"
            ) from exc
    raise DtypeError(
        f"{name} has non-numeric dtype {arr.dtype}; csa compares feature arrays, "
        "so encode raw items (text, images) with an encoder first"
    )


def _scan_values(arr: np.ndarray, name: str, first_row: int) -> None:
    """Refuse non-finite values and magnitudes whose squares leave float64, block by block."""
    rows = max(1, _SCAN_ELEMENTS // max(arr.shape[1], 1))
    largest = 0.0
    for start in range(0, arr.shape[0], rows):
        block = arr[start : start + rows]
        peak = float(np.max(np.abs(block)))
        if not np.isfinite(peak):
            finite = np.isfinite(block)
            bad_rows = np.flatnonzero(~finite.all(axis=1))
            kind = "NaN" if np.isnan(block).any() else "infinite"
            raise NonFiniteError(
                f"{name} holds non-finite values ({kind} among them), first at row "
                f"{first_row + start + int(bad_rows[0])}; drop or impute them before fitting"
            )
        largest = max(largest, peak)
    if largest > _MAX_MAGNITUDE:
        raise InputError(
            f"{name} holds values up to {largest:.3g}: their squares overflow float64 when "
            f"summed; rescale the features (e.g. divide by {largest:.0e}); CSA's scores do "
            "not depend on the scale"
        )
    if 0 < largest < _MIN_MAGNITUDE:
        raise InputError(
            f"{name}'s largest value is {largest:.3g}: its squares underflow float64, so its "
            f"variance would read as zero; rescale the features (e.g. multiply by "
            f"{1 / largest:.0e}); CSA's scores do not depend on the scale"
        )


def check_features(
    x: Any, name: str = "a", *, n_features: int | None = None, first_row: int = 0
) -> np.ndarray:
    """Validate one side's features and return them as a float ``(n, d)`` array.

    float32 and float64 arrays (and memory maps) pass through without a copy; integer,
    boolean and low-precision float input is converted to float64; strings, objects,
    complex numbers and sparse matrices are refused, because they mean the items were
    never encoded. ``first_row`` is the position of row 0 in a longer stream, so that
    a bad value is reported where the user will look for it.
    """
    arr = _numeric(_to_numpy(x, name), name)
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
        arr = np.asarray(arr, dtype=np.float64)
    _scan_values(arr, name, first_row)
    return arr


def check_pair(
    a: Any,
    b: Any,
    *,
    n_features_a: int | None = None,
    n_features_b: int | None = None,
    min_pairs: int = 1,
    first_row: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate paired features: both sides clean and with one row per pair."""
    a_arr = check_features(a, "a", n_features=n_features_a, first_row=first_row)
    b_arr = check_features(b, "b", n_features=n_features_b, first_row=first_row)
    if a_arr.shape[0] != b_arr.shape[0]:
        raise ShapeError(
            f"a has {a_arr.shape[0]} rows but b has {b_arr.shape[0]}: row i of a and row i "
            "of b form pair i, so the counts must match"
        )
    if a_arr.shape[0] < min_pairs:
        raise TooFewPairsError(
            f"got {a_arr.shape[0]} pair(s) (n_samples={a_arr.shape[0]}); at least {min_pairs} "
            "are needed to estimate a covariance"
        )
    return a_arr, b_arr


# ---- parameters ----------------------------------------------------------------------
def _is_real_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_ridge_value(value: Any, name: str = "ridge", words: Sequence[str] = ()) -> Any:
    """One side's ridge: a word of ``words`` or a finite number in ``[0, MAX_RIDGE]``."""
    if isinstance(value, str):
        if value in words:
            return value
        choices = " or ".join(repr(w) for w in words)
        raise ParameterError(f"{name} must be {choices} or a number >= 0; got {value!r}")
    if not _is_real_number(value):
        allowed = "".join(f"{w!r}, " for w in words)
        raise ParameterError(
            f"{name} must be {allowed}a number >= 0; got {value!r} ({type(value).__name__})"
        )
    number = float(value)
    if not np.isfinite(number) or number < 0:
        raise ParameterError(f"{name} must be a finite number >= 0; got {value!r}")
    if number > MAX_RIDGE:
        raise ParameterError(
            f"{name}={value!r} exceeds {MAX_RIDGE:g} times the mean variance: whitening would "
            "be the identity to machine precision; ridges are relative, so 0.01-100 covers "
            "almost every use"
        )
    return number


def check_ridge(value: Any, *, words: Sequence[str], pair: bool) -> Any:
    """A ridge for one side or, where ``pair``, a ``(ridge_a, ridge_b)`` pair."""
    if isinstance(value, tuple | list):
        if not pair:
            raise ParameterError(
                f"ridge={value!r}: this model regularises one side only; give one number"
            )
        if len(value) != 2:
            raise ParameterError(
                f"ridge as a sequence must have 2 entries (a, b); got {len(value)}"
            )
        return (
            check_ridge_value(value[0], "ridge_a", words),
            check_ridge_value(value[1], "ridge_b", words),
        )
    return check_ridge_value(value, "ridge", words)


def check_int(value: Any, name: str, *, minimum: int, allow_none: bool = False) -> int | None:
    """An integer parameter ``>= minimum`` (``None`` where allowed); bools and 1.5 refused."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        kind = " or None" if allow_none else ""
        raise ParameterError(f"{name} must be an integer >= {minimum}{kind}; got {value!r}")
    if value < minimum:
        raise ParameterError(f"{name}={value} must be at least {minimum}")
    return int(value)


def check_positive_number(value: Any, name: str) -> float:
    """A finite number > 0."""
    if not _is_real_number(value) or not (np.isfinite(float(value)) and float(value) > 0):
        raise ParameterError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


def check_choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """One of ``choices``."""
    if not isinstance(value, str | type(None)) or value not in choices:
        raise ParameterError(f"{name} must be one of {list(choices)}; got {value!r}")
    return value


def check_number(value: Any, name: str) -> float:
    """A finite real number: strings ("0.5"), bools and NaN are refused, not coerced.

    A threshold of NaN compares false with every score, so it would flag nothing and
    look like a clean result; a string would be silently parsed in one place and
    refused in another.
    """
    if not _is_real_number(value) or not np.isfinite(float(value)):
        raise ParameterError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def check_fraction(value: Any, name: str, *, allow_zero: bool = True) -> float:
    """A number in ``[0, 1)`` (``(0, 1)`` without ``allow_zero``): held-out and flip shares."""
    number = check_number(value, name)
    low_ok = number >= 0 if allow_zero else number > 0
    if not (low_ok and number < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise ParameterError(f"{name} must lie in {interval}; got {value!r}")
    return number


def check_seed(value: Any, name: str = "seed") -> int:
    """A non-negative integer seed (what ``numpy.random.default_rng`` takes); 1.5 is refused."""
    return int(check_int(value, name, minimum=0))  # type: ignore[arg-type]


def check_ks(values: Any, name: str = "ks", *, minimum: int | None = 1) -> tuple[int, ...]:
    """A non-empty sequence of integers ``>= minimum`` (cut-offs such as Recall@k), in order.

    1.5 is refused rather than truncated to 1: a report headed "R@1.5" that holds R@1 is
    a silent wrong answer. ``minimum=None`` leaves the range to the caller, whose error
    can name the valid range (1..the model's dimensions).
    """
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise ParameterError(f"{name} must be a sequence of positive integers; got {values!r}")
    if len(values) == 0:
        raise ParameterError(f"{name} is empty: give at least one positive integer")
    floor = -(2**63) if minimum is None else minimum
    return tuple(int(check_int(k, f"each of {name}", minimum=floor)) for k in values)  # type: ignore[arg-type]


#: Which side of a pair: the encoder and features of "a" or of "b".
Side = Literal["a", "b"]


def check_side(value: Any, name: str = "side") -> Side:
    """``"a"`` or ``"b"``: which encoder, which columns of a pair."""
    if not isinstance(value, str) or value not in ("a", "b"):
        raise ParameterError(f"{name} must be 'a' or 'b'; got {value!r}")
    return value  # type: ignore[return-value]


def other_side(side: Any) -> Side:
    """The side opposite ``side`` (checked)."""
    return "b" if check_side(side) == "a" else "a"
