"""One exception hierarchy for everything csa refuses to do.

Every error a user can trigger with bad input derives from :class:`CSAError`, so
``except csa.CSAError`` catches them all; each also derives from the builtin that
scikit-learn users would expect (``ValueError``, ``TypeError``), so code written
against other estimators keeps working.
"""

from __future__ import annotations

import sys
import warnings


class CSAError(Exception):
    """Base class of every error raised deliberately by csa."""


class InputError(CSAError, ValueError):
    """The arrays handed in cannot be used as they are."""


class ShapeError(InputError):
    """Wrong number of dimensions, empty input, or sizes that do not line up."""


class DtypeError(CSAError, TypeError):
    """Values that are not real numbers (strings, objects, complex numbers)."""


class NonFiniteError(InputError):
    """NaN or infinite values; they would silently poison every moment."""


class TooFewPairsError(InputError):
    """Not enough pairs for what was asked (a fit, or a number of dimensions)."""


class RankDeficientError(InputError):
    """A covariance is singular and no ridge was allowed to make it invertible."""


class SimDimError(InputError):
    """A ``sim_dim`` outside 1..number of canonical dimensions."""


class ParameterError(CSAError, ValueError):
    """A constructor or query parameter outside its allowed values."""


class NotFittedError(CSAError, AttributeError):
    """A fitted attribute or a query was used before ``fit``."""


class ModelFileError(CSAError, OSError):
    """A model file that is missing, truncated, corrupted or not written by csa."""


class EncoderError(CSAError, RuntimeError):
    """An encoder that cannot be found, loaded or run (e.g. offline, no local copy)."""


class DatasetError(CSAError, RuntimeError):
    """A data set that is missing, malformed, or not installed on this machine."""


class MissingExtraError(CSAError, ImportError):
    """An optional library this call needs is not installed; the message names the extra.

    An ``ImportError`` too, so code that already guards optional imports keeps working.
    """


class WeakFitWarning(UserWarning):
    """The fit went through, but rests on the ridge more than on the data."""


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Issue a warning attributed to the first caller outside csa.

    A fixed ``stacklevel`` is right for one entry point only; ``fit``, ``partial_fit``,
    ``fit_chunks`` and a Dask fit reach the same warning through different depths, so
    the level is counted at run time: the user's own line is what the warning names.
    """
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "csa":
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


__all__ = [
    "CSAError",
    "DatasetError",
    "DtypeError",
    "EncoderError",
    "InputError",
    "MissingExtraError",
    "ModelFileError",
    "NonFiniteError",
    "NotFittedError",
    "ParameterError",
    "RankDeficientError",
    "ShapeError",
    "SimDimError",
    "TooFewPairsError",
    "WeakFitWarning",
]
