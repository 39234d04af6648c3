"""Towers that leave csa: one side of a fitted model, runnable where csa is not installed.

A CLIP user deploys one tower at a time (the text tower behind a vector database, the
image tower in a torch service or ONNX Runtime). Each export here is the side's own
encoder network followed by the fitted map, and gives the vectors of
``MultimodalEncoder.encode_a`` / ``encode_b``:

- ``"sentence-transformers"``: a text side built on sentence-transformers becomes a
  model folder that ``SentenceTransformer(folder).encode(texts)`` loads;
- ``"onnx"``: an image side becomes one ONNX file, pixels in, vectors out;
- ``"torch"``: the same as a ``torch.export`` program (``.pt2``) for ``torch.export.load``;
- :func:`tower` returns the image side as a plain ``torch.nn.Module``.

Importing this package loads neither torch nor any model library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csa.errors import EncoderError, NotFittedError, ParameterError
from csa.export.head import SharedSpaceMap, shared_space_map

FORMATS = ("sentence-transformers", "onnx", "torch")
_SUFFIX_FORMATS = {".onnx": "onnx", ".pt2": "torch"}


def _fitted(mm: Any) -> None:
    if not mm.is_fitted:
        raise NotFittedError("this MultimodalEncoder is not fitted yet: there is nothing to export")


def _source(mm: Any, side: str) -> dict[str, Any]:
    spec = mm.encoder_specs[side]
    return {"side": side, "encoder": spec.to_dict(), "method": type(mm.model).__name__}


def tower(
    mm: Any,
    side: str,
    *,
    sim_dim: int | None = None,
    backbone: Any = None,
    preprocess: Any = None,
) -> Any:
    """Side ``side`` of a fitted :class:`~csa.MultimodalEncoder` as a torch module.

    The module maps ``(n, 3, H, W)`` pixels (``module.preprocess(image)`` makes one)
    to shared-space vectors; ``module.encode(images)`` does both. csa's own image
    encoders are recognised; for any other torch image encoder pass ``backbone`` (a
    module from pixels to its features) and ``preprocess``.
    """
    from csa.encoders import SentenceTransformerEncoder
    from csa.export.towers import image_tower

    _fitted(mm)
    head = shared_space_map(mm.model, side, sim_dim)
    encoder = mm.encoder(side)
    if isinstance(encoder, SentenceTransformerEncoder) and backbone is None:
        raise EncoderError(
            f"side {side}'s encoder {encoder.name!r} is a sentence-transformers text model: "
            "its tower exports as a sentence-transformers folder (format="
            "'sentence-transformers'); torch and ONNX towers take image pixels (or pass "
            "backbone= and preprocess= for another network)"
        )
    return image_tower(encoder, head, backbone=backbone, preprocess=preprocess)


def resolve_format(mm: Any, side: str, path: str | Path, format: str = "auto") -> str:
    """The export format asked for, or for ``"auto"`` the one the path and encoder imply.

    A ``.onnx`` path is ONNX, ``.pt2`` a torch.export program; any other path of a side whose
    encoder is built on sentence-transformers is a sentence-transformers folder.
    """
    if format != "auto":
        if format not in FORMATS:
            choices = ", ".join(FORMATS)
            raise ParameterError(f"format must be 'auto' or one of {choices}; got {format!r}")
        return format
    by_suffix = _SUFFIX_FORMATS.get(Path(path).suffix.lower())
    if by_suffix is not None:
        return by_suffix
    from csa.encoders import SentenceTransformerEncoder

    if isinstance(mm.encoder(side), SentenceTransformerEncoder):
        return "sentence-transformers"
    raise ParameterError(
        f"cannot tell the export format from {str(path)!r}: end the path in .onnx or .pt2, "
        "or give format= (one of " + ", ".join(FORMATS) + ")"
    )


def export(
    mm: Any,
    side: str,
    path: str | Path,
    *,
    format: str = "auto",
    sim_dim: int | None = None,
    backbone: Any = None,
    preprocess: Any = None,
) -> Path:
    """Write side ``side`` of a fitted model as a tower that runs without csa; returns the path.

    See :data:`FORMATS` and :func:`resolve_format`. Every file records the map it
    carries and the preprocessing its input needs (``csa_tower`` JSON).
    """
    _fitted(mm)
    if side not in ("a", "b"):
        raise ParameterError(f"side must be 'a' or 'b'; got {side!r}")
    chosen = resolve_format(mm, side, path, format)
    if chosen == "sentence-transformers":
        from csa.export.st import write_sentence_transformers

        if backbone is not None or preprocess is not None:
            raise ParameterError("backbone= and preprocess= apply to image towers only")
        head = shared_space_map(mm.model, side, sim_dim)
        import csa

        record = {
            "csa_version": csa.__version__,
            "output": head.describe(),
            "source": _source(mm, side),
        }
        return write_sentence_transformers(mm.encoder(side), head, path, record)
    from csa.export.files import tower_record, write_onnx, write_torch

    module = tower(mm, side, sim_dim=sim_dim, backbone=backbone, preprocess=preprocess)
    record = tower_record(module, _source(mm, side))
    writer = write_onnx if chosen == "onnx" else write_torch
    return writer(module, path, record)


__all__ = ["FORMATS", "SharedSpaceMap", "export", "resolve_format", "shared_space_map", "tower"]
