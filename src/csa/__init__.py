"""csa: Canonical Similarity Analysis.

Two frozen unimodal encoders plus a few thousand paired examples make one
multimodal encoder: fit a regularised CCA by one decomposition, and score pairs with
a cosine weighted by the canonical correlations.
"""

from csa.base import PairedModel
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
from csa.io import load
from csa.model import CSA
from csa.moments import PairMoments
from csa.tasks.sim_dim import select_sim_dim

__all__ = [
    "ASIF",
    "CCA",
    "CSA",
    "CSAError",
    "DatasetError",
    "DtypeError",
    "EncoderError",
    "InputError",
    "LinearMap",
    "ModelFileError",
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
    "load",
    "select_sim_dim",
]
__version__ = "0.1.0"
