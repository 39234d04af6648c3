"""Fit a copy, then commit: a failed file or Dask fit leaves the user's model as it was.

A fit from files or Dask partitions reads data it has not seen yet, so a NaN in row
150 of 10,000 or a worker that dies is found half way. Fitting the user's own object
in place would leave it half fitted (ASIF with 150 anchors) or wiped (its earlier fit
gone). The fit runs on a fresh, unfitted copy built from the same parameters, which
also makes a file fit start over as ``fit`` does; only when it succeeds are the
copy's fitted attributes moved onto the user's model, in one step.
"""

from __future__ import annotations

from typing import Any

from csa.errors import ParameterError


def fresh_copy(model: Any, what: str) -> Any:
    """An unfitted model of the same class and parameters (the constructor checks them)."""
    from csa.model import PairedModel

    if not isinstance(model, PairedModel):
        raise ParameterError(
            f"{what} needs a csa model (CSA, CCA, LinearMap, ASIF); got {type(model).__name__}"
        )
    return type(model)(**model.get_params())


def commit(model: Any, fitted: Any) -> Any:
    """Give ``model`` every fitted attribute of ``fitted`` at once; returns ``model``."""
    state = {k: v for k, v in vars(fitted).items() if k.endswith("_") and not k.startswith("_")}
    model._set_fitted(state)
    return model
