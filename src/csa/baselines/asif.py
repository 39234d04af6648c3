"""ASIF baseline: relative representations against the training pairs as anchors.

ASIF (Norelli et al., 2023) needs no fit at all: an item is described by its
similarities to the n anchor items of its own modality; because anchors come in
pairs, descriptions from either modality live in the same n-dimensional space.
Only the top-k similarities are kept, raised to a power p to sharpen them, and the
sparse vectors are compared by cosine. The price is memory: every anchor is kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from csa.errors import ModelFileError, ParameterError
from csa.linalg import unit_rows
from csa.model import PairedModel
from csa.validation import check_int, check_positive_number

_BLOCK_ROWS = 2048


class ASIF(PairedModel):
    """Relative-representation matching with ``k`` anchors kept per item, power ``p``.

    Fitted: ``anchors_a_`` (n, d_a) and ``anchors_b_`` (n, d_b), unit-normalised.
    """

    def __init__(self, k: int = 800, p: float = 8.0) -> None:
        self.k = k
        self.p = p

    def _check_params(self) -> None:
        check_int(self.k, "k", minimum=1)
        check_positive_number(self.p, "p")

    def _fit_arrays(self, a: np.ndarray, b: np.ndarray) -> None:
        self._set_fitted(self._anchors(unit_rows(a), unit_rows(b)))

    @staticmethod
    def _anchors(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
        return {
            "anchors_a_": a,
            "anchors_b_": b,
            "n_features_a_": a.shape[1],
            "n_features_b_": b.shape[1],
        }

    def partial_fit(self, a: Any, b: Any) -> ASIF:
        """Add pairs as anchors (ASIF's whole "fit")."""
        self._check_params()
        a_arr, b_arr = self._check_more_pairs(a, b, self.n_pairs_seen_)
        if not self.is_fitted:
            self._fit_arrays(a_arr, b_arr)
        else:
            self._set_fitted(
                self._anchors(
                    np.vstack([self.anchors_a_, unit_rows(a_arr)]),
                    np.vstack([self.anchors_b_, unit_rows(b_arr)]),
                )
            )
        return self

    @property
    def n_pairs_seen_(self) -> int:
        return self.anchors_a_.shape[0] if self.is_fitted else 0

    def _relative(self, x: np.ndarray, anchors: np.ndarray) -> Any:
        """Sparse, unit-norm top-k relative representation, computed in row blocks.

        A ``scipy.sparse.csr_matrix``; scipy.sparse loads here, not with ``import csa``.
        """
        import scipy.sparse as sp

        n_anchors = anchors.shape[0]
        k = min(int(self.k), n_anchors)
        blocks = []
        for start in range(0, x.shape[0], _BLOCK_ROWS):
            sims = unit_rows(x[start : start + _BLOCK_ROWS]) @ anchors.T
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            values = np.take_along_axis(sims, top, axis=1)
            # Only positive similarity says "alike"; an even power would turn a negative one
            # into a strong match.
            values = unit_rows(np.maximum(values, 0.0) ** float(self.p))
            rows = np.repeat(np.arange(values.shape[0]), k)
            blocks.append(
                sp.csr_matrix(
                    (values.ravel(), (rows, top.ravel())), shape=(values.shape[0], n_anchors)
                )
            )
        return sp.vstack(blocks, format="csr")

    def _embed_a(self, a: np.ndarray, sim_dim: int | None) -> Any:
        return self._relative(a, self.anchors_a_)

    def _embed_b(self, b: np.ndarray, sim_dim: int | None) -> Any:
        return self._relative(b, self.anchors_b_)

    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._check_fitted()
        return {"anchors_a": self.anchors_a_, "anchors_b": self.anchors_b_}, {}

    def _restore(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        try:
            self._check_params()
        except ParameterError as exc:
            raise ModelFileError(f"the file records parameters csa refuses: {exc}") from exc
        anchors_a, anchors_b = arrays["anchors_a"], arrays["anchors_b"]
        if anchors_a.ndim != 2 or anchors_b.ndim != 2 or anchors_a.shape[0] != anchors_b.shape[0]:
            raise ModelFileError(
                f"anchors have shapes {anchors_a.shape} and {anchors_b.shape}: two 2-D arrays "
                "with one row per pair expected"
            )
        if anchors_a.shape[0] < 2:
            raise ModelFileError(f"the file holds {anchors_a.shape[0]} anchor pair(s); 2+ needed")
        self._set_fitted(self._anchors(anchors_a, anchors_b))
