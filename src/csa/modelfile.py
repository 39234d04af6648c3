"""Model files: safetensors arrays plus JSON metadata, never pickle.

A model file can come from anywhere, so loading it must never run code. safetensors
stores raw little-endian arrays and a JSON header; csa adds its own header entries
(format name and version, class, parameters, scalars) and a SHA-256 of every array,
because safetensors itself does not notice flipped bytes inside a tensor.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from csa.base import PairedModel
from csa.errors import ModelFileError

FORMAT_NAME = "csa-model"
FORMAT_VERSION = 1


def _digest(arrays: dict[str, np.ndarray]) -> str:
    sha = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        sha.update(name.encode())
        sha.update(str(arr.dtype).encode())
        sha.update(str(arr.shape).encode())
        sha.update(arr.tobytes())
    return sha.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_model(model: PairedModel, path: str | Path) -> Path:
    """Write ``model`` to ``path`` atomically (a crash never leaves half a file)."""
    from safetensors.numpy import save_file

    arrays, scalars = model._state()
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    params = {k: _jsonable(v) for k, v in model.get_params().items()}
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "class": type(model).__name__,
        "params": json.dumps(params),
        "scalars": json.dumps(scalars),
        "sha256": _digest(arrays),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(arrays, tmp, metadata=metadata)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _read(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
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


def load_model(path: str | Path) -> PairedModel:
    """Read a model written by :func:`save_model`, checking format, version and checksum."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}")
    metadata, arrays = _read(path)
    if metadata.get("format") != FORMAT_NAME:
        raise ModelFileError(
            f"{path} is a safetensors file but not a csa model (no '{FORMAT_NAME}' header); "
            "it may hold another library's weights"
        )
    version = metadata.get("format_version", "?")
    if version != str(FORMAT_VERSION):
        raise ModelFileError(
            f"{path} uses csa model format version {version}; this csa reads version "
            f"{FORMAT_VERSION}"
        )
    if metadata.get("sha256") != _digest(arrays):
        raise ModelFileError(f"{path} is corrupted: its arrays do not match their checksum")
    cls = PairedModel.registry.get(metadata.get("class", ""))
    if cls is None:
        raise ModelFileError(f"{path} holds an unknown model class {metadata.get('class')!r}")
    try:
        params = json.loads(metadata["params"])
        scalars = json.loads(metadata["scalars"])
        model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
        model._restore(arrays, scalars)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path} is inconsistent: {exc!r}") from exc
    return model


def load(path: str | Path) -> PairedModel:
    """Load any csa model file (CSA, CCA, ASIF, LinearMap)."""
    return load_model(path)
