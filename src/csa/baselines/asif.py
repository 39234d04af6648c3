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
import scipy.sparse as sp

from csa.base import PairedModel, unit_rows
from csa.errors import ParameterError

_BLOCK_ROWS = 2048


class ASIF(PairedModel):
    """Relative-representation matching with ``k`` anchors kept per item, power ``p``.

    Fitted: ``anchors_a_`` (n, d_a) and ``anchors_b_`` (n, d_b), unit-normalised.
    """

    def __init__(self, k: int = 800, p: float = 8.0) -> None:
        self.k = k
        self.p = p

    def _check_params(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int | np.integer) or self.k < 1:
            raise ParameterError(f"k must be a positive integer; got {self.k!r}")
        if not (np.isfinite(self.p) and self.p > 0):
            raise ParameterError(f"p must be a finite number > 0; got {self.p!r}")

    def _reset(self) -> None:
        for name in ("anchors_a_", "anchors_b_", "n_features_a_", "n_features_b_"):
            self.__dict__.pop(name, None)

    def _fit_validated(self, a: np.ndarray, b: np.ndarray) -> None:
        self._check_params()
        self.anchors_a_ = unit_rows(a)
        self.anchors_b_ = unit_rows(b)
        self.n_features_a_, self.n_features_b_ = a.shape[1], b.shape[1]

    def partial_fit(self, a: Any, b: Any) -> ASIF:
        """Add pairs as anchors (ASIF's whole "fit")."""
        a_arr, b_arr = self._check_training_pair(a, b, min_pairs=1)
        if "anchors_a_" not in self.__dict__:
            self._fit_validated(a_arr, b_arr)
        else:
            self.anchors_a_ = np.vstack([self.anchors_a_, unit_rows(a_arr)])
            self.anchors_b_ = np.vstack([self.anchors_b_, unit_rows(b_arr)])
        return self

    def _ready(self) -> bool:
        return "anchors_a_" in self.__dict__ and self.anchors_a_.shape[0] >= 2

    @property
    def n_pairs_seen_(self) -> int:
        return self.anchors_a_.shape[0] if "anchors_a_" in self.__dict__ else 0

    def _relative(self, x: np.ndarray, anchors: np.ndarray) -> sp.csr_matrix:
        """Sparse, unit-norm top-k relative representation, computed in row blocks."""
        n_anchors = anchors.shape[0]
        k = min(int(self.k), n_anchors)
        blocks = []
        for start in range(0, x.shape[0], _BLOCK_ROWS):
            sims = unit_rows(x[start : start + _BLOCK_ROWS]) @ anchors.T
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            values = np.take_along_axis(sims, top, axis=1)
            # Only positive similarity says "alike"; an even power would turn a negative one
            # into a strong match.
            values = np.maximum(values, 0.0) ** self.p
            norms = np.linalg.norm(values, axis=1, keepdims=True)
            values = values / np.where(norms > 0, norms, 1.0)
            rows = np.repeat(np.arange(values.shape[0]), k)
            blocks.append(
                sp.csr_matrix(
                    (values.ravel(), (rows, top.ravel())), shape=(values.shape[0], n_anchors)
                )
            )
        return sp.vstack(blocks, format="csr")

    def _embed_a(self, a: np.ndarray) -> sp.csr_matrix:
        return self._relative(a, self.anchors_a_)

    def _embed_b(self, b: np.ndarray) -> sp.csr_matrix:
        return self._relative(b, self.anchors_b_)

    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._check_fitted()
        return {"anchors_a": self.anchors_a_, "anchors_b": self.anchors_b_}, {}

    def _restore(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        self._check_params()
        self.anchors_a_ = arrays["anchors_a"]
        self.anchors_b_ = arrays["anchors_b"]
        self.n_features_a_ = self.anchors_a_.shape[1]
        self.n_features_b_ = self.anchors_b_.shape[1]
