"""What every paired-similarity model in csa shares, CSA and its baselines alike.

Each model maps side a and side b to vectors whose inner product is the similarity
score: ``similarity(a, b) = embed_a(a) @ embed_b(b).T``. That one contract gives every
method the same ``similarity`` / ``score_pairs`` behaviour, lets tasks treat methods
interchangeably, and lets large galleries be embedded once and searched by inner
product (blocks, FAISS).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from csa.errors import NotFittedError, ShapeError
from csa.validation import check_features

Embedding = np.ndarray | sp.csr_matrix


def _row_dot(ea: Embedding, eb: Embedding) -> np.ndarray:
    if sp.issparse(ea) or sp.issparse(eb):
        return np.asarray(sp.csr_matrix(ea).multiply(sp.csr_matrix(eb)).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", ea, eb)


def _matmul_dense(ea: Embedding, eb: Embedding) -> np.ndarray:
    product = ea @ eb.T
    return product.toarray() if sp.issparse(product) else np.asarray(product)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero (score 0, never NaN)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


class PairedModel(ABC):
    """Base class: scikit-learn style parameters, one validation path, save/load.

    Subclasses implement ``partial_fit``, ``_reset``, ``_embed_a`` / ``_embed_b`` (on
    validated float64 arrays), and the ``_state`` / ``_restore`` pair for model files.
    """

    registry: ClassVar[dict[str, type[PairedModel]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        PairedModel.registry[cls.__name__] = cls

    # ---- parameters -------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, as scikit-learn's ``get_params(deep=False)``."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __getattr__(self, name: str) -> Any:
        # Reached only for missing attributes: a fitted one read before fit gets a clear error.
        if name.endswith("_") and not name.startswith("_"):
            raise NotFittedError(
                f"{type(self).__name__} has no attribute {name!r} yet: call fit(a, b) first"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ---- fitting ----------------------------------------------------------------
    def fit(self, a: Any, b: Any) -> PairedModel:
        """Fit on paired features (row i of ``a`` pairs with row i of ``b``); returns self."""
        self._reset()
        self._fit_validated(*self._check_training_pair(a, b, min_pairs=2))
        return self

    @abstractmethod
    def partial_fit(self, a: Any, b: Any) -> PairedModel:
        """Add a chunk of pairs; the result equals one fit on all chunks seen."""

    @abstractmethod
    def _reset(self) -> None: ...

    @abstractmethod
    def _fit_validated(self, a: np.ndarray, b: np.ndarray) -> None: ...

    @property
    def is_fitted(self) -> bool:
        return getattr(self, "n_features_a_", None) is not None and self._ready()

    def _ready(self) -> bool:
        return True

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(a, b) with at "
                "least 2 pairs first"
            )

    def _check_training_pair(
        self, a: Any, b: Any, *, min_pairs: int
    ) -> tuple[np.ndarray, np.ndarray]:
        from csa.validation import check_pair

        return check_pair(
            a,
            b,
            n_features_a=getattr(self, "n_features_a_", None),
            n_features_b=getattr(self, "n_features_b_", None),
            min_pairs=min_pairs,
        )

    # ---- scoring ----------------------------------------------------------------
    def embed_a(self, a: Any, **options: Any) -> Embedding:
        """Side-a vectors whose inner products with :meth:`embed_b` are the scores."""
        self._check_fitted()
        return self._embed_a(check_features(a, "a", n_features=self.n_features_a_), **options)

    def embed_b(self, b: Any, **options: Any) -> Embedding:
        """Side-b vectors whose inner products with :meth:`embed_a` are the scores."""
        self._check_fitted()
        return self._embed_b(check_features(b, "b", n_features=self.n_features_b_), **options)

    @abstractmethod
    def _embed_a(self, a: np.ndarray, **options: Any) -> Embedding: ...

    @abstractmethod
    def _embed_b(self, b: np.ndarray, **options: Any) -> Embedding: ...

    def similarity(self, a: Any, b: Any, **options: Any) -> np.ndarray:
        """``(m_a, m_b)`` matrix of scores of every row of ``a`` against every row of ``b``."""
        return _matmul_dense(self.embed_a(a, **options), self.embed_b(b, **options))

    def score_pairs(self, a: Any, b: Any, **options: Any) -> np.ndarray:
        """``(m,)`` score of row i of ``a`` with row i of ``b``."""
        ea = self.embed_a(a, **options)
        eb = self.embed_b(b, **options)
        if ea.shape[0] != eb.shape[0]:
            raise ShapeError(
                f"score_pairs needs as many rows in a as in b; got {ea.shape[0]} and "
                f"{eb.shape[0]} (use similarity() for all-against-all)"
            )
        return _row_dot(ea, eb)

    # ---- persistence ------------------------------------------------------------
    @abstractmethod
    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON-able scalars that fully describe the fitted model."""

    @abstractmethod
    def _restore(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None: ...

    def save(self, path: str | Path) -> Path:
        """Write a safetensors model file (arrays + JSON metadata; never pickle)."""
        from csa.io import save_model

        return save_model(self, path)

    @classmethod
    def load(cls, path: str | Path) -> PairedModel:
        """Read a model file written by :meth:`save`; checks it holds a ``cls``."""
        from csa.io import load_model

        model = load_model(path)
        if not isinstance(model, cls):
            from csa.errors import ModelFileError

            article = "an" if cls.__name__[0] in "AEIOU" else "a"
            raise ModelFileError(
                f"{path} holds a {type(model).__name__} model, not {article} {cls.__name__}"
            )
        return model
