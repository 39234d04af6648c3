"""A text tower as a sentence-transformers model folder whose last modules apply the map.

Vector databases and retrieval pipelines load sentence-transformers folders by path
and call ``encode``; if the folder itself ends in the fitted map, they get csa's
shared-space vectors with no csa installed. The map is written with the library's
own stock modules, so loading runs no foreign code (no ``trust_remote_code``):

    ... the encoder's modules ... -> Dense(x W' + b) -> Normalize -> Dense(diag scale)

with ``W = matrix'`` and ``b = -mean @ matrix``. ``similarity_fn_name`` is set to
``"dot"``: the vectors are not unit length (CSA scales dimension i by the square root
of its weight), and their dot product, not their cosine, is the model's score.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from csa.errors import EncoderError, ModelFileError
from csa.export.head import SharedSpaceMap
from csa.extras import require

RECORD_FILE = "csa_tower.json"


def _modules() -> tuple[Any, Any, Any]:
    SentenceTransformer = require(
        "sentence_transformers", extra="encoders", purpose="the sentence-transformers export"
    ).SentenceTransformer
    try:  # sentence-transformers 5.x and later
        from sentence_transformers.sentence_transformer.modules import Dense, Normalize
    except ImportError:  # 3.x and 4.x
        from sentence_transformers.models import Dense, Normalize
    return SentenceTransformer, Dense, Normalize


def sentence_transformer_of(encoder: Any) -> Any:
    """The SentenceTransformer inside a csa text encoder, or a clear error."""
    SentenceTransformer, _, _ = _modules()
    model = getattr(encoder, "_model", None)
    if not isinstance(model, SentenceTransformer):
        raise EncoderError(
            f"encoder {encoder.name!r} ({type(encoder).__name__}) is not built on "
            "sentence-transformers, so it cannot become a sentence-transformers folder; "
            "image towers export to ONNX or a torch.export program"
        )
    if getattr(model, "truncate_dim", None) is not None:
        raise EncoderError(
            f"encoder {encoder.name!r} truncates its output to {model.truncate_dim} "
            "dimensions after its last module, which would cut the map's output as well"
        )
    return model


def _map_modules(head: SharedSpaceMap) -> list[Any]:
    import torch

    _, Dense, Normalize = _modules()
    weight = torch.from_numpy(np.ascontiguousarray(head.matrix.T, dtype=np.float32))
    bias = torch.from_numpy(np.asarray(-(head.mean @ head.matrix), dtype=np.float32))
    project = Dense(
        head.dim_in,
        head.dim_out,
        bias=True,
        activation_function=torch.nn.Identity(),
        init_weight=weight,
        init_bias=bias,
    )
    diagonal = torch.from_numpy(np.diag(head.scale).astype(np.float32))
    scale = Dense(
        head.dim_out,
        head.dim_out,
        bias=False,
        activation_function=torch.nn.Identity(),
        init_weight=diagonal,
    )
    return [project, Normalize(), scale]


def write_sentence_transformers(
    encoder: Any, head: SharedSpaceMap, folder: str | Path, record: dict[str, Any]
) -> Path:
    """Save ``encoder``'s model plus the map as a sentence-transformers folder at ``folder``."""
    SentenceTransformer, _, _ = _modules()
    base = sentence_transformer_of(encoder)
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise ModelFileError(f"cannot export to {target}: it is a file; give a folder")
    # The modules are the encoder's own: built where they already are, nothing moves.
    options: dict[str, Any] = {"similarity_fn_name": "dot", "device": str(base.device)}
    if getattr(base, "prompts", None):
        options["prompts"] = dict(base.prompts)
        options["default_prompt_name"] = base.default_prompt_name
    tower = SentenceTransformer(modules=[*base, *_map_modules(head)], **options)
    try:
        tower.save(str(target))
        (target / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ModelFileError(f"cannot write the tower to {target}: {exc.strerror or exc}") from exc
    return target
