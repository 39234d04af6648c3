"""csa: Canonical Similarity Analysis.

Two frozen unimodal encoders plus a few thousand paired examples make one
multimodal encoder: fit a regularised CCA by one decomposition, and score pairs with
a cosine weighted by the canonical correlations.

``import csa`` loads numpy, scipy and safetensors only. The estimators are here; the
task helpers, the encoders and the one CLIP-like object load when first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from csa.baselines import ASIF, CCA, LinearMap
from csa.errors import (
    CSAError,
    DatasetError,
    DtypeError,
    EncoderError,
    InputError,
    ModelFileError,
    NonFiniteError,
    NotFittedError,
    ParameterError,
    RankDeficientError,
    ShapeError,
    SimDimError,
    TooFewPairsError,
    WeakFitWarning,
)
from csa.model import CSA, PairedModel
from csa.modelfile import load
from csa.moments import FoldMoments, PairMoments

__version__ = "0.2.0"

# Public names whose modules pull in heavier layers; resolved on first access.
_LAZY = {
    "select_sim_dim": "csa.tasks",
    "tune": "csa.tasks",
    "MultimodalEncoder": "csa.multimodal",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'csa' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ASIF",
    "CCA",
    "CSA",
    "CSAError",
    "DatasetError",
    "DtypeError",
    "EncoderError",
    "FoldMoments",
    "InputError",
    "LinearMap",
    "ModelFileError",
    "MultimodalEncoder",
    "NonFiniteError",
    "NotFittedError",
    "PairMoments",
    "PairedModel",
    "ParameterError",
    "RankDeficientError",
    "ShapeError",
    "SimDimError",
    "TooFewPairsError",
    "WeakFitWarning",
    "__version__",
    "load",
    "select_sim_dim",
    "tune",
]
