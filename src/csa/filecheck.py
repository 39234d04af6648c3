"""What a model file means, checked: a recomputed checksum proves nothing.

Anyone can edit a model file and recompute its SHA-256, so the checksum only catches
accidents. A file is then read as if a stranger wrote it: every JSON entry is parsed
with a nesting limit and without NaN, and the loaded model's public fitted attributes
must make sense together (shapes, finite values, correlations in [0, 1] and
descending, weights that follow from the correlations, projections that whiten the
stored moments and give back the stored correlations, unit ASIF anchors). Each
refusal is a :class:`ModelFileError` that names the field, because "corrupted" alone
tells a user nothing about which tool or edit broke the file.

These checks read only public attributes (``projection_a_``, ``weights_``,
``moments_``...), so they hold whether or not a file keeps its fold moments.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from csa.errors import ModelFileError

#: Deepest JSON nesting read: csa writes at most 4 levels; Python's parser recurses.
MAX_JSON_DEPTH = 32
#: Largest row count believed: beyond 2**53 a float64 mean no longer counts rows exactly.
MAX_ROWS = 2**53
# Stored solutions satisfy A'(C + r I)A = I and A' C_ab B = diag(rho) to about 1e-10
# (3e-10 measured at d > n with ridge 1e-8); an edit of one fold's row count moves them
# by its share of n. This bound sits between the two.
_IDENTITY_TOL = 1e-5
_UNIT_TOL = 1e-4


# ---- JSON ----------------------------------------------------------------------------
def json_depth(text: str) -> int:
    """Deepest nesting of ``[`` / ``{`` in JSON text, outside strings (a linear scan)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return text.count("[") + text.count("{")
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number csa writes")


def parse_json(text: Any, field: str) -> Any:
    """JSON from a file header, refused (as :class:`ModelFileError`) if it could hurt.

    Refused: non-text, nesting deeper than :data:`MAX_JSON_DEPTH` (Python's parser
    would recurse until it crashes), NaN and Infinity (not JSON, and never written by
    csa), and integers too long for Python to convert.
    """
    if not isinstance(text, str):
        raise ModelFileError(f"header entry {field!r} is not text")
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ModelFileError(
            f"header entry {field!r} nests {depth} levels deep; csa reads at most {MAX_JSON_DEPTH}"
        )
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ModelFileError(f"header entry {field!r} is not valid JSON ({exc})") from exc


# ---- small checks ----------------------------------------------------------------------
def finite_number(
    value: Any,
    field: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """A real number (not bool, not NaN or infinite) within the bounds, as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ModelFileError(f"{field} must be a number; the file has {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ModelFileError(f"{field} must be finite; the file has {value!r}")
    if low is not None and (number < low or (low_open and number == low)):
        bound = ">" if low_open else ">="
        raise ModelFileError(f"{field} must be {bound} {low:g}; the file has {value!r}")
    if high is not None and number > high:
        raise ModelFileError(f"{field} must be <= {high:g}; the file has {value!r}")
    return number


def whole_number(value: Any, field: str, *, low: int = 0, high: int = MAX_ROWS) -> int:
    """An integer (not bool) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ModelFileError(f"{field} must be an integer; the file has {value!r}")
    if not low <= int(value) <= high:
        raise ModelFileError(f"{field} must be in {low}..{high}; the file has {value!r}")
    return int(value)


def _array(model: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    value = vars(model).get(name)
    if not isinstance(value, np.ndarray):
        raise ModelFileError(f"{name.rstrip('_')} is missing")
    if value.shape != shape:
        raise ModelFileError(f"{name.rstrip('_')} has shape {value.shape}; expected {shape}")
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        raise ModelFileError(f"{name.rstrip('_')} holds NaN or infinite values")
    return value


# ---- fitted models ---------------------------------------------------------------------
def check_loaded(model: Any) -> None:
    """Refuse a loaded model whose fitted attributes do not make sense together."""
    attributes = vars(model)
    da = whole_number(attributes.get("n_features_a_"), "n_features_a", low=1)
    db = whole_number(attributes.get("n_features_b_"), "n_features_b", low=1)
    if "anchors_a_" in attributes:
        _check_anchors(model, da, db)
        return
    moments = attributes.get("moments_")
    if moments is not None:
        _check_moments(moments, da, db)
    _array(model, "mean_a_", (da,))
    _array(model, "mean_b_", (db,))
    if moments is not None:
        total = moments.total
        for side, mean, stored in (
            ("a", model.mean_a_, total.mean_a),
            ("b", model.mean_b_, total.mean_b),
        ):
            scale = max(float(np.max(np.abs(stored))), 1.0)
            if not np.allclose(mean, stored, rtol=1e-9, atol=1e-12 * scale):
                raise ModelFileError(f"mean_{side} differs from the mean of the stored moments")
    if "projection_a_" in attributes:
        _check_canonical(model, da, db)
    if "coef_" in attributes:
        _check_linear_map(model, da, db)


def _check_anchors(model: Any, da: int, db: int) -> None:
    n = model.anchors_a_.shape[0] if isinstance(model.anchors_a_, np.ndarray) else -1
    if n < 2:
        raise ModelFileError(f"anchors_a holds {n} anchors; an ASIF model has at least 2")
    for side, d in (("a", da), ("b", db)):
        anchors = _array(model, f"anchors_{side}_", (n, d))
        norms = np.linalg.norm(anchors.astype(np.float64), axis=1)
        # unit_rows keeps an all-zero row zero; every other row has length 1.
        bad = np.flatnonzero((norms != 0) & (np.abs(norms - 1.0) > _UNIT_TOL))
        if bad.size:
            raise ModelFileError(
                f"anchors_{side} row {int(bad[0])} has length {norms[bad[0]]:.6g}; ASIF "
                "anchors are unit rows"
            )


def _check_moments(moments: Any, da: int, db: int) -> None:
    folds = getattr(moments, "folds", None)
    if not folds:
        raise ModelFileError("the stored moments hold no folds")
    for k, fold in enumerate(folds):
        name = f"folds.{k}"
        n = whole_number(fold.n, f"{name}.n", low=0)
        for field, shape in (
            ("mean_a", (da,)),
            ("mean_b", (db,)),
            ("comoment_aa", (da, da)),
            ("comoment_bb", (db, db)),
            ("comoment_ab", (da, db)),
        ):
            value = getattr(fold, field)
            if value.shape != shape:
                raise ModelFileError(f"{name}.{field} has shape {value.shape}; expected {shape}")
        for field in ("comoment_aa", "comoment_bb"):
            square = getattr(fold, field)
            scale = max(float(np.max(np.abs(square))), np.finfo(float).tiny)
            if np.max(np.abs(square - square.T)) > 1e-9 * scale:
                raise ModelFileError(f"{name}.{field} is not symmetric")
            if np.any(np.diag(square) < 0):
                raise ModelFileError(
                    f"{name}.{field} has a negative diagonal (a negative sum of squares)"
                )
        empty_means = n == 0 and (np.any(fold.mean_a) or np.any(fold.mean_b))
        comoments = (fold.comoment_aa, fold.comoment_bb, fold.comoment_ab)
        if empty_means or (n <= 1 and any(np.any(c) for c in comoments)):
            raise ModelFileError(
                f"{name}.n is {n} but the fold's moments are not those of {n} row(s)"
            )
    total = sum(int(fold.n) for fold in folds)
    whole_number(total, "the stored row count (sum of folds.*.n)", low=2)


def _check_canonical(model: Any, da: int, db: int) -> None:
    rho = vars(model).get("canonical_correlations_")
    if not isinstance(rho, np.ndarray) or rho.ndim != 1 or rho.shape[0] < 1:
        raise ModelFileError("canonical_correlations is missing or not a (k,) array")
    k = int(rho.shape[0])
    rho = _array(model, "canonical_correlations_", (k,))
    if np.any(rho < 0) or np.any(rho > 1 + 1e-9) or np.any(np.diff(rho) > 1e-12):
        raise ModelFileError("canonical_correlations must descend within [0, 1]")
    proj_a = _array(model, "projection_a_", (da, k))
    proj_b = _array(model, "projection_b_", (db, k))
    weights = _array(model, "weights_", (k,))
    if whole_number(vars(model).get("n_components_"), "n_components", low=1) != k:
        raise ModelFileError(f"n_components is {model.n_components_}; the file holds {k}")
    whole_number(vars(model).get("sim_dim_"), "sim_dim", low=1, high=k)
    ridge = vars(model).get("ridge_")
    if not isinstance(ridge, tuple | list) or len(ridge) != 2:
        raise ModelFileError(f"ridge must be a pair of numbers; the file has {ridge!r}")
    ridge_a = finite_number(ridge[0], "ridge_a", low=0.0)
    ridge_b = finite_number(ridge[1], "ridge_b", low=0.0)
    if np.any(weights < 0):
        raise ModelFileError(
            "weights must not be negative (a negative weight rewards disagreement)"
        )
    # CCA is the canonical model without a weights parameter (checked by name, not by
    # importing csa.model, which imports the model-file layer that calls this module).
    if "weights" not in model.get_params():
        if not np.all(weights == 1.0):
            raise ModelFileError("weights of a CCA model are all 1")
    elif getattr(model, "weights", "canonical") == "canonical":
        if np.max(np.abs(weights - rho)) > 1e-12:
            raise ModelFileError("weights differ from canonical_correlations (weights='canonical')")
    elif np.any(weights > 1 + 1e-9):
        raise ModelFileError("held-out weights are correlations: they cannot exceed 1")
    moments = vars(model).get("moments_")
    if moments is not None:
        total = moments.total
        _check_solution(total, proj_a, proj_b, rho, ridge_a, ridge_b)
        class_rho = vars(model).get("class_correlations_")
        if isinstance(class_rho, np.ndarray):  # the class map (weights="auto") likewise
            k_c = class_rho.shape[0]
            _check_solution(
                total,
                _array(model, "class_projection_a_", (da, k_c)),
                _array(model, "class_projection_b_", (db, k_c)),
                class_rho,
                *model.class_ridge_,
            )


def _shifted(cov: np.ndarray, relative_ridge: float) -> np.ndarray:
    d = cov.shape[0]
    return cov + np.eye(d) * (relative_ridge * float(np.trace(cov)) / d)


def _check_solution(
    total: Any,
    proj_a: np.ndarray,
    proj_b: np.ndarray,
    rho: np.ndarray,
    ridge_a: float,
    ridge_b: float,
) -> None:
    """Projections must whiten the stored moments and give back the stored correlations."""
    cov_aa, cov_bb, cov_ab = total.covariances()
    k = rho.shape[0]
    eye = np.eye(k)
    with np.errstate(all="ignore"):
        gram_a = proj_a.T @ _shifted(cov_aa, ridge_a) @ proj_a
        gram_b = proj_b.T @ _shifted(cov_bb, ridge_b) @ proj_b
        cross = proj_a.T @ cov_ab @ proj_b
    for label, value, target in (
        ("projection_a does not whiten side a's stored moments", gram_a, eye),
        ("projection_b does not whiten side b's stored moments", gram_b, eye),
        (
            "canonical_correlations are not the correlations of the projected moments",
            cross,
            np.diag(rho),
        ),
    ):
        error = float(np.max(np.abs(value - target))) if np.isfinite(value).all() else np.inf
        if not error <= _IDENTITY_TOL:
            raise ModelFileError(
                f"{label} (off by {error:.3g}): the solution and the moments do not belong together"
            )


def _check_linear_map(model: Any, da: int, db: int) -> None:
    coef = _array(model, "coef_", (da, db))
    ridge = finite_number(vars(model).get("ridge_"), "ridge", low=0.0)
    moments = vars(model).get("moments_")
    if moments is None:
        return
    cov_aa, _, cov_ab = moments.total.covariances()
    with np.errstate(all="ignore"):
        residual = _shifted(cov_aa, ridge) @ coef - cov_ab
    scale = max(float(np.max(np.abs(cov_ab))), np.finfo(float).tiny)
    error = float(np.max(np.abs(residual))) / scale if np.isfinite(residual).all() else np.inf
    if not error <= _IDENTITY_TOL:
        raise ModelFileError(
            f"coef is not the ridge solution of the stored moments (off by {error:.3g})"
        )


# ---- the one object's record ------------------------------------------------------------
_SPEC_FIELDS = ("name", "dim", "registry", "options", "modality")
_CALIBRATION_FIELDS = (
    "temperature",
    "threshold",
    "true_positive_rate",
    "false_positive_rate",
    "n_pairs",
    "sim_dim",
)
# Scores are inner products of rows of length <= 1 (weights <= 1), so within [-1, 1].
_SCORE_BOUND = 1.0 + 1e-6


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ModelFileError(f"{field} must be a JSON object; the file has {type(value).__name__}")
    return value


def _check_options(options: Mapping[str, Any], field: str) -> None:
    from csa.encoders.images import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE

    for key, value in options.items():
        name = f"{field}.{key}"
        if value is not None and not isinstance(value, str | bool | int | float):
            raise ModelFileError(f"{name} must be a number, text, true/false or null")
        if isinstance(value, float):
            finite_number(value, name)
        if key == "image_size":
            whole_number(value, name, low=MIN_IMAGE_SIZE, high=MAX_IMAGE_SIZE)


def _check_spec(spec: Any, side: str, width: int) -> None:
    field = f"encoders.{side}"
    spec = _mapping(spec, field)
    missing = [f for f in ("name", "dim") if f not in spec]
    unknown = sorted(set(spec) - set(_SPEC_FIELDS))
    if missing or unknown:
        raise ModelFileError(f"{field} lacks {missing} or has unknown fields {unknown}")
    if not isinstance(spec["name"], str) or not spec["name"]:
        raise ModelFileError(f"{field}.name must be a non-empty string")
    for optional in ("registry", "modality"):
        if spec.get(optional) is not None and not isinstance(spec[optional], str):
            raise ModelFileError(f"{field}.{optional} must be a string or null")
    dim = whole_number(spec["dim"], f"{field}.dim", low=1)
    if dim != width:
        raise ModelFileError(
            f"{field}.dim is {dim} but the map was fitted on {width}-d side-{side} features"
        )
    _check_options(_mapping(spec.get("options") or {}, f"{field}.options"), f"{field}.options")


def _check_calibration(calibration: Any, model: Any) -> None:
    cal = _mapping(calibration, "calibration")
    missing = [f for f in _CALIBRATION_FIELDS if f not in cal and f != "sim_dim"]
    if missing:
        raise ModelFileError(f"calibration lacks {missing}")
    finite_number(cal["temperature"], "calibration.temperature", low=0.0, low_open=True)
    finite_number(cal["threshold"], "calibration.threshold", low=-_SCORE_BOUND, high=_SCORE_BOUND)
    for rate in ("true_positive_rate", "false_positive_rate"):
        finite_number(cal[rate], f"calibration.{rate}", low=0.0, high=1.0)
    whole_number(cal["n_pairs"], "calibration.n_pairs", low=1)
    sim_dim = cal.get("sim_dim")
    if sim_dim is not None:
        k = vars(model).get("n_components_")
        if k is None:
            raise ModelFileError(
                f"calibration.sim_dim is {sim_dim!r} but a {type(model).__name__} has no "
                "nested dimensions"
            )
        whole_number(sim_dim, "calibration.sim_dim", low=1, high=int(k))


def check_multimodal_record(model: Any, extra: Any, source: str) -> None:
    """Refuse a one-object record (encoders, fit summary, calibration) that makes no sense.

    Called by :meth:`csa.MultimodalEncoder.load` on what :func:`csa.modelfile.read`
    returned: the encoder specs must be complete and match the map's widths, their
    options plain values within bounds (an ``image_size`` of a million pixels would
    allocate without bound on the first encode), and calibration values usable.
    """
    try:
        record = _mapping(extra, "the record")
        encoders = _mapping(record.get("encoders"), "encoders")
        for side in ("a", "b"):
            if side not in encoders:
                raise ModelFileError(f"encoders lacks side {side!r}")
            _check_spec(encoders[side], side, int(getattr(model, f"n_features_{side}_")))
        if record.get("fit") is not None:
            _mapping(record["fit"], "fit")
        if record.get("calibration") is not None:
            _check_calibration(record["calibration"], model)
    except ModelFileError as exc:
        raise ModelFileError(f"{source}: {exc}") from exc
