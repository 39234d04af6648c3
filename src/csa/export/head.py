"""The fitted map of one side as plain arrays: ``unit_rows((x - mean) @ matrix) * scale``.

A tower leaves csa as a network followed by this head, so the head must be written
from the fitted model's public attributes alone and must give exactly what
:meth:`csa.PairedModel.embed_a` / ``embed_b`` give. CSA, CCA and the linear map all
embed in this one form; ASIF does not (its vectors are sparse top-k similarities to
every training pair), and is refused by name.

The head is checked against the model's own ``embed_*`` on probe rows before it is
returned: if a later csa computes a side's vectors differently, an export fails
loudly here instead of shipping a tower whose scores are silently wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from csa.errors import NotFittedError, ParameterError
from csa.validation import check_side

# Probe rows are float64; the head and embed_* then differ by rounding only.
_CHECK_RTOL = 1e-9
_N_PROBES = 16


@dataclass(frozen=True)
class SharedSpaceMap:
    """One side's fitted map: ``unit_rows((x - mean) @ matrix) * scale``, in float64.

    ``side`` and ``sim_dim`` say which vectors it makes (``sim_dim`` is ``None`` for a
    map without nested dimensions); ``method`` is the fitted class's name.
    """

    side: str
    method: str
    sim_dim: int | None
    mean: np.ndarray
    matrix: np.ndarray
    scale: np.ndarray

    @property
    def dim_in(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def dim_out(self) -> int:
        return int(self.matrix.shape[1])

    def apply(self, features: np.ndarray) -> np.ndarray:
        """The shared-space vectors of ``(n, dim_in)`` features, as csa computes them."""
        from csa.linalg import unit_rows

        x = np.asarray(features, dtype=np.float64)
        return unit_rows((x - self.mean) @ self.matrix) * self.scale

    def describe(self) -> dict[str, Any]:
        """What a consumer of an exported tower needs to know about its output."""
        return {
            "side": self.side,
            "method": self.method,
            "sim_dim": self.sim_dim,
            "input_dim": self.dim_in,
            "output_dim": self.dim_out,
            "score": "dot product of the two sides' vectors",
        }


def _csa_arrays(model: Any, side: str, sim_dim: int | None) -> tuple[np.ndarray, ...]:
    s = int(model.sim_dim_) if sim_dim is None else int(sim_dim)
    k = int(model.n_components_)
    if not 1 <= s <= k:
        raise ParameterError(f"sim_dim={s} must lie in 1..{k}, the model's canonical dimensions")
    projection = model.projection_a_ if side == "a" else model.projection_b_
    mean = model.mean_a_ if side == "a" else model.mean_b_
    weights = np.asarray(model.weights_, dtype=np.float64)[:s]
    return mean, np.asarray(projection, dtype=np.float64)[:, :s], np.sqrt(weights), s


def _linear_map_arrays(model: Any, side: str) -> tuple[np.ndarray, ...]:
    if side == "a":
        return model.mean_a_, np.asarray(model.coef_, dtype=np.float64)
    # Side b is only centred: the identity keeps the one form of every head.
    return model.mean_b_, np.eye(int(model.n_features_b_))


def shared_space_map(model: Any, side: str, sim_dim: int | None = None) -> SharedSpaceMap:
    """The head of side ``side`` of a fitted CSA, CCA or LinearMap, checked against it.

    ``sim_dim`` (CSA and CCA) exports the first that many dimensions instead of the
    model's default ``sim_dim_``.
    """
    from csa.baselines import ASIF, LinearMap
    from csa.model import CSA

    side = check_side(side)
    name = type(model).__name__
    if not getattr(model, "is_fitted", False):
        raise NotFittedError(f"this {name} is not fitted yet: there is no map to export")
    if isinstance(model, ASIF):
        raise ParameterError(
            "an ASIF model cannot be exported as a tower: its vectors are sparse top-k "
            f"similarities to all {model.n_pairs_seen_} training pairs, not a fixed map of "
            "the features; export a CSA, CCA or LinearMap model"
        )
    if isinstance(model, CSA):
        mean, matrix, scale, chosen = _csa_arrays(model, side, sim_dim)
    elif isinstance(model, LinearMap):
        if sim_dim is not None:
            raise ParameterError(
                f"sim_dim={sim_dim!r} applies to CSA and CCA; a LinearMap has no nested "
                "dimensions to truncate (pass sim_dim=None)"
            )
        mean, matrix = _linear_map_arrays(model, side)
        scale, chosen = np.ones(matrix.shape[1]), None
    else:
        raise ParameterError(
            f"cannot export a {name}: towers carry the maps of CSA, CCA and LinearMap models"
        )
    head = SharedSpaceMap(
        side=side,
        method=name,
        sim_dim=chosen,
        mean=np.array(mean, dtype=np.float64),
        matrix=np.array(matrix, dtype=np.float64),
        scale=np.array(scale, dtype=np.float64),
    )
    _check_against_model(head, model, sim_dim)
    return head


def _check_against_model(head: SharedSpaceMap, model: Any, sim_dim: int | None) -> None:
    """Refuse a head that does not reproduce the model's own vectors on probe rows."""
    rng = np.random.default_rng(0)
    spread = np.sqrt(np.mean(head.mean**2)) + 1.0
    probes = head.mean + spread * rng.standard_normal((_N_PROBES, head.dim_in))
    embed = model.embed_a if head.side == "a" else model.embed_b
    expected = np.asarray(embed(probes, **({} if sim_dim is None else {"sim_dim": sim_dim})))
    got = head.apply(probes)
    if expected.shape != got.shape or not np.allclose(got, expected, rtol=0, atol=_CHECK_RTOL):
        raise ParameterError(
            f"the exported map of side {head.side} does not reproduce this {head.method}'s "
            "own vectors (its embedding is not the affine map + normalisation + scale that "
            "towers carry); this csa cannot export it"
        )
