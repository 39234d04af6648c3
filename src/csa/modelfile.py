"""Model files: safetensors arrays plus JSON metadata, never pickle, validated on load.

A model file can come from anywhere, so loading it must never run code and must not
trust what it reads. safetensors stores raw little-endian arrays and a JSON header;
csa adds its own header entries (format name and version, class, parameters, fitted
scalars, and whatever an application stores beside the model) and one SHA-256 over
all of them and every array, because safetensors itself notices neither flipped bytes
inside a tensor nor an edited header. A checksum can be recomputed after an edit,
though, so after it everything is checked as if it came from a stranger: dtypes,
finiteness, shapes against each other, row counts, the parameters through the
constructor's own checks, no stray arrays, and what the values mean together
(:mod:`csa.filecheck`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from csa.errors import CSAError, ModelFileError
from csa.filecheck import check_loaded, parse_json
from csa.files import atomic_write

#: Model classes by name, filled as :class:`csa.model.PairedModel` subclasses are defined;
#: a file names its class, and only these can be built from it (never arbitrary code).
MODEL_CLASSES: dict[str, type] = {}

FORMAT_NAME = "csa-model"
FORMAT_VERSION = 3
# Paths longer than this are refused before the OS is asked (it would raise a raw error).
_MAX_PATH_BYTES = 4096


def _digest(arrays: dict[str, np.ndarray], header: dict[str, str]) -> str:
    sha = hashlib.sha256()
    for key in sorted(header):
        sha.update(f"{key}\0{header[key]}\0".encode())
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        sha.update(name.encode())
        sha.update(str(arr.dtype).encode())
        sha.update(str(arr.shape).encode())
        sha.update(arr.tobytes())
    return sha.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _dumps(value: Any, what: str) -> str:
    """JSON that the reader accepts: no NaN or Infinity, nothing but plain values."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"cannot save the model's {what}: {exc}") from exc


def _checked_path(path: Any) -> Path:
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str | os.PathLike):
        raise ModelFileError(f"a model path must be a str or Path; got {type(path).__name__}")
    text = os.fspath(path)
    if "\0" in text or len(os.fsencode(text)) > _MAX_PATH_BYTES:
        raise ModelFileError(f"not a usable file path: {text[:80]!r}...")
    return Path(text)


def write(
    model: Any,
    path: str | Path,
    extra: dict[str, Any] | None = None,
    *,
    state: tuple[dict[str, np.ndarray], dict[str, Any]] | None = None,
) -> Path:
    """Write ``model`` (and JSON-able ``extra`` metadata) to ``path`` atomically.

    A crash never leaves half a file; failures are :class:`ModelFileError` naming
    ``path``. The file gets the permissions the umask gives any new file.
    """
    from safetensors.numpy import save_file

    target = _checked_path(path)
    arrays, scalars = model._state() if state is None else state
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    header = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "class": type(model).__name__,
        "params": _dumps({k: _jsonable(v) for k, v in model.get_params().items()}, "params"),
        "scalars": _dumps(_jsonable(scalars), "fitted scalars"),
        "extra": _dumps(_jsonable(extra or {}), "metadata"),
    }
    metadata = {**header, "sha256": _digest(arrays, header)}

    def save(tmp: Path) -> None:
        try:
            save_file(arrays, str(tmp), metadata=metadata)
        except OSError:
            raise
        except Exception as exc:  # safetensors reports I/O failures as its own error type
            raise OSError(str(exc)) from exc

    return atomic_write(target, save, error=ModelFileError, what="model file")


def _read_raw(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            arrays = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as exc:  # safetensors raises several unrelated types for bad bytes
        raise ModelFileError(
            f"{path} is not a readable csa model file (truncated, corrupted, or another "
            f"format): {exc}"
        ) from exc
    return metadata, arrays


# What csa writes: row counts as int64, fitted solutions in float64, and ASIF's anchors in
# the precision the user's features came in.
_FLOAT32_ALLOWED = ("anchors_a", "anchors_b")


def _check_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Every array of the dtype csa writes, and finite."""
    for name, arr in arrays.items():
        if name.endswith(".n"):
            allowed = (np.dtype(np.int64),)
        elif name in _FLOAT32_ALLOWED:
            allowed = (np.dtype(np.float32), np.dtype(np.float64))
        else:
            allowed = (np.dtype(np.float64),)
        if arr.dtype not in allowed:
            written = " or ".join(str(a) for a in allowed)
            raise ModelFileError(
                f"{path}: array {name!r} has dtype {arr.dtype}; csa writes {written}"
            )
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ModelFileError(f"{path}: array {name!r} holds NaN or infinite values")


def _json(path: Path, metadata: dict[str, str], key: str) -> dict[str, Any]:
    if key not in metadata:
        raise ModelFileError(f"{path} has no {key!r} entry in its header")
    try:
        value = parse_json(metadata[key], key)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    if not isinstance(value, dict):
        raise ModelFileError(
            f"{path}: header entry {key!r} must be a JSON object; got {type(value).__name__}"
        )
    return value


def _check_no_strays(path: Path, model: Any, arrays: dict[str, np.ndarray]) -> None:
    """Every array in the file is one the model would write (no orphaned folds)."""
    expected = set(model._state()[0])
    moments = vars(model).get("moments_")
    if moments is not None:  # kept folds, whether or not a default save writes them
        expected |= set(moments.to_arrays())
    strays = sorted(set(arrays) - expected)
    if strays:
        shown = ", ".join(repr(s) for s in strays[:5]) + (" ..." if len(strays) > 5 else "")
        raise ModelFileError(
            f"{path} holds arrays a {type(model).__name__} file does not have ({shown}): "
            "the recorded fold count or class does not match the arrays"
        )


def read(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Read a file written by :func:`write`: the model and the ``extra`` metadata.

    Checks format, version and checksum, then validates every value; anything wrong is
    a :class:`ModelFileError` that names the file and the problem.
    """
    path = _checked_path(path)
    try:
        if not path.is_file():
            raise ModelFileError(f"no model file at {path}")
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    metadata, arrays = _read_raw(path)
    if metadata.get("format") != FORMAT_NAME:
        raise ModelFileError(
            f"{path} is a safetensors file but not a csa model (no '{FORMAT_NAME}' header); "
            "it may hold another library's weights"
        )
    version = metadata.get("format_version", "?")
    if version != str(FORMAT_VERSION):
        raise ModelFileError(
            f"{path} uses csa model format version {version}; this csa reads version "
            f"{FORMAT_VERSION} (refit the model with this version)"
        )
    header = {k: v for k, v in metadata.items() if k != "sha256"}
    if metadata.get("sha256") != _digest(arrays, header):
        raise ModelFileError(
            f"{path} is corrupted or was edited: its arrays and header do not match their checksum"
        )
    _check_arrays(path, arrays)
    cls = MODEL_CLASSES.get(metadata.get("class", ""))
    if cls is None:
        raise ModelFileError(f"{path} holds an unknown model class {metadata.get('class')!r}")
    params = _json(path, metadata, "params")
    scalars = _json(path, metadata, "scalars")
    extra = _json(path, metadata, "extra")
    try:
        model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
    except CSAError as exc:
        raise ModelFileError(f"{path} records parameters csa refuses: {exc}") from exc
    except TypeError as exc:
        raise ModelFileError(
            f"{path} records parameters {cls.__name__} does not take: {exc}"
        ) from exc
    try:
        model._restore(arrays, scalars)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    except KeyError as exc:
        raise ModelFileError(f"{path} is inconsistent: it lacks {exc}") from exc
    except (CSAError, TypeError, ValueError, IndexError) as exc:
        # Wrong JSON types (a string ridge, a list sim_dim) reach numpy and int() here.
        raise ModelFileError(f"{path} is inconsistent: {exc}") from exc
    _check_no_strays(path, model, arrays)
    try:
        check_loaded(model)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    return model, extra


def load(path: str | Path) -> Any:
    """Load any csa model file (CSA, CCA, ASIF, LinearMap)."""
    return read(path)[0]
