"""The estimators: what every paired model shares, the moment-fitted life cycle, CSA and CCA.

Every model maps side a and side b to vectors whose inner product is the similarity
score: ``similarity(a, b) = embed_a(a) @ embed_b(b).T``. That one contract gives every
method the same ``similarity`` / ``score_pairs`` behaviour, lets tasks treat methods
interchangeably, and lets large galleries be embedded once and searched by inner
product.

A fit, read top to bottom: :meth:`MomentModel.fit` validates the arrays
(:mod:`csa.validation`), streams them in row blocks into per-fold moments
(:mod:`csa.moments`), and hands the moments to :meth:`CSA._solve`, which chooses the
ridges and ``sim_dim`` on held-out folds and solves once on all of them
(:mod:`csa.solver`). The fitted attributes are replaced only when the solve succeeds,
so a failed ``fit`` or ``partial_fit`` leaves the model as it was.
"""

from __future__ import annotations

import inspect
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from csa.errors import (
    ModelFileError,
    NotFittedError,
    ParameterError,
    ShapeError,
    SimDimError,
    TooFewPairsError,
    WeakFitWarning,
)
from csa.linalg import unit_rows
from csa.modelfile import MODEL_CLASSES, read, write
from csa.moments import N_FOLDS, FoldMoments, MomentAccumulator, PairMoments
from csa.selection import (
    RIDGE_WORDS,
    HeldOutFolds,
    checked_sim_dim,
    choose_cca,
    choose_sim_dim,
    prompt_spaces,
    score_weights,
)
from csa.solver import solve_cca
from csa.validation import (
    check_choice,
    check_features,
    check_int,
    check_pair,
    check_ridge,
)

_PRECISIONS = {"auto": None, "float64": np.float64, "float32": np.float32}


def _dense(product: Any) -> np.ndarray:
    return product.toarray() if hasattr(product, "toarray") else np.asarray(product)


def _row_dot(ea: Any, eb: Any) -> np.ndarray:
    if hasattr(ea, "multiply"):
        return np.asarray(ea.multiply(eb).sum(axis=1)).ravel()
    if hasattr(eb, "multiply"):
        return np.asarray(eb.multiply(ea).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", ea, eb)


class PairedModel(ABC):
    """Base class: scikit-learn parameters, one validation path, scoring, save/load.

    Subclasses implement ``_check_params``, ``_fit_arrays``, ``_embed_a`` / ``_embed_b``
    (on validated arrays), and ``_state`` / ``_restore`` for model files.
    """

    registry: ClassVar[dict[str, type]] = MODEL_CLASSES

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        MODEL_CLASSES[cls.__name__] = cls

    # ---- parameters -------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments (scikit-learn's ``get_params``; no nested estimators)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> PairedModel:
        """Set constructor arguments; returns self.

        Values are stored as given and checked when a fit starts, as in scikit-learn, so
        ``clone`` and ``GridSearchCV(error_score=...)`` can carry a bad candidate to the
        fit that reports it. Unknown names are refused at once.
        """
        names = self._param_names()
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ParameterError(
                f"{type(self).__name__} has no parameter(s) {unknown}; it takes {names}"
            )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def validate_params(self) -> PairedModel:
        """Check every parameter now and return self; raises :class:`ParameterError`.

        Every fit does this itself; call it to refuse a bad value before slow work
        (encoding the data the fit will read).
        """
        self._check_params()
        return self

    @abstractmethod
    def _check_params(self) -> None:
        """Raise :class:`ParameterError` for any constructor argument out of range.

        Called by every fit entry point and when a model file is read, never by the
        constructor or ``set_params``.
        """

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
        self._check_params()
        self._fit_arrays(*check_pair(a, b, min_pairs=2))
        return self

    @abstractmethod
    def _fit_arrays(self, a: np.ndarray, b: np.ndarray) -> None: ...

    @abstractmethod
    def partial_fit(self, a: Any, b: Any) -> PairedModel:
        """Add a chunk of pairs; the result equals one fit on all chunks seen."""

    def _reset(self) -> None:
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)

    def _set_fitted(self, attributes: dict[str, Any]) -> None:
        """Replace every fitted attribute at once: the commit of a successful fit."""
        self._reset()
        for name, value in attributes.items():
            setattr(self, name, value)

    @property
    def is_fitted(self) -> bool:
        return "n_features_a_" in vars(self)

    def __sklearn_is_fitted__(self) -> bool:
        return self.is_fitted

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's estimator tags: side b plays the role of a required ``y``.

        Called only by scikit-learn itself, so importing it here costs nothing to users
        who never touch it.
        """
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=True, multi_output=True),
            input_tags=InputTags(),
        )

    @property
    def n_features_in_(self) -> int:
        """Side-a features (scikit-learn's name; side b has ``n_features_b_``)."""
        return self.n_features_a_

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(a, b) with at "
                "least 2 pairs first"
            )

    def _check_more_pairs(self, a: Any, b: Any, first_row: int) -> tuple[np.ndarray, np.ndarray]:
        """Validate a chunk that extends the fit (dims must match what was fitted)."""
        return check_pair(
            a,
            b,
            n_features_a=vars(self).get("n_features_a_"),
            n_features_b=vars(self).get("n_features_b_"),
            min_pairs=1,
            first_row=first_row,
        )

    # ---- scoring ----------------------------------------------------------------
    #: Whether the model's dimensions are nested, so a query may use its first ``sim_dim``.
    nested_dims: ClassVar[bool] = False

    def _query_sim_dim(self, sim_dim: int | None) -> int | None:
        """The one check of a query's ``sim_dim``: any model takes None, nested ones an int."""
        if sim_dim is not None and not self.nested_dims:
            raise SimDimError(
                f"{type(self).__name__} has no nested dimensions to truncate; sim_dim={sim_dim!r} "
                "applies to CSA and CCA only (pass sim_dim=None)"
            )
        return sim_dim

    #: Whether the model has a map of its own for class prompts (zero-shot), used when a
    #: query says which side holds the prompts; other models score prompts as any item.
    maps_prompts: ClassVar[bool] = False

    def embed_a(self, a: Any, sim_dim: int | None = None, *, prompts: str | None = None) -> Any:
        """Side-a vectors whose inner products with :meth:`embed_b` are the scores.

        ``prompts`` ("a" or "b") says the query is zero-shot with class prompts on that
        side; a model with a prompt map (:attr:`maps_prompts`) then scores in that side's
        own feature space, and any other model scores as usual.
        """
        self._check_fitted()
        sim_dim = self._query_sim_dim(sim_dim)
        x = check_features(a, "a", n_features=self.n_features_a_)
        return self._embed_a(x, sim_dim, _checked_prompts(prompts))

    def embed_b(self, b: Any, sim_dim: int | None = None, *, prompts: str | None = None) -> Any:
        """Side-b vectors whose inner products with :meth:`embed_a` are the scores."""
        self._check_fitted()
        sim_dim = self._query_sim_dim(sim_dim)
        x = check_features(b, "b", n_features=self.n_features_b_)
        return self._embed_b(x, sim_dim, _checked_prompts(prompts))

    @abstractmethod
    def _embed_a(self, a: np.ndarray, sim_dim: int | None, prompts: str | None) -> Any: ...

    @abstractmethod
    def _embed_b(self, b: np.ndarray, sim_dim: int | None, prompts: str | None) -> Any: ...

    def similarity(
        self, a: Any, b: Any, sim_dim: int | None = None, *, prompts: str | None = None
    ) -> np.ndarray:
        """``(m_a, m_b)`` matrix of scores of every row of ``a`` against every row of ``b``.

        ``sim_dim`` (CSA and CCA) scores on the first that many dimensions without
        refitting; ``prompts`` marks a zero-shot query (see :meth:`embed_a`).
        """
        options = {"prompts": prompts}
        return _dense(self.embed_a(a, sim_dim, **options) @ self.embed_b(b, sim_dim, **options).T)

    def score_pairs(
        self, a: Any, b: Any, sim_dim: int | None = None, *, prompts: str | None = None
    ) -> np.ndarray:
        """``(m,)`` score of row i of ``a`` with row i of ``b``."""
        ea = self.embed_a(a, sim_dim, prompts=prompts)
        eb = self.embed_b(b, sim_dim, prompts=prompts)
        if ea.shape[0] != eb.shape[0]:
            raise ShapeError(
                f"score_pairs needs as many rows in a as in b; got {ea.shape[0]} and "
                f"{eb.shape[0]} (use similarity() for all-against-all)"
            )
        return _row_dot(ea, eb)

    def score(self, a: Any, b: Any) -> float:
        """Mean reciprocal rank of each row's own partner among all rows of ``b`` (a -> b).

        The number scikit-learn's ``GridSearchCV`` and ``cross_val_score`` maximise when
        the model is used as an estimator with ``X = a`` and ``y = b``: 1.0 when every
        row of ``a`` scores its partner highest. Rows of ``b`` identical to the partner
        (a repeated caption) count as the partner, not as competitors.
        """
        sims = self.similarity(a, b)
        b_arr = check_features(b, "b")
        _, group = np.unique(b_arr, axis=0, return_inverse=True)
        group = group.ravel()
        own = np.diag(sims)[:, None]
        competitors = (sims > own) & (group[None, :] != group[:, None])
        return float(np.mean(1.0 / (1.0 + competitors.sum(axis=1))))

    # ---- persistence ------------------------------------------------------------
    @abstractmethod
    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON-able scalars that describe the fitted model for scoring."""

    @abstractmethod
    def _restore(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        """Set the fitted state from a model file; raise ``ModelFileError`` if inconsistent."""

    def save(self, path: str | Path) -> Path:
        """Write a safetensors model file (arrays + JSON metadata; never pickle)."""
        return write(self, path, state=self._state())

    @classmethod
    def load(cls, path: str | Path) -> PairedModel:
        """Read a model file written by :meth:`save`; checks it holds a ``cls``."""
        model, _ = read(path)
        if not isinstance(model, cls):
            article = "an" if cls.__name__[0] in "AEIOU" else "a"
            raise ModelFileError(
                f"{path} holds a {type(model).__name__} model, not {article} {cls.__name__}"
            )
        return model


def _restored_correlations(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A file's canonical correlations, checked: a (k,) array descending within [0, 1]."""
    rho = arrays[name]
    if rho.ndim != 1 or rho.shape[0] < 1:
        raise ModelFileError(f"{name} has shape {rho.shape}: not (k,)")
    if np.any(rho < 0) or np.any(rho > 1 + 1e-9) or np.any(np.diff(rho) > 1e-12):
        raise ModelFileError(f"{name} must descend within [0, 1]")
    return rho


def _restored_choice(scalars: dict[str, Any], prefix: str, k: int) -> tuple[tuple, int]:
    """A file's ``{prefix}ridge_`` (a pair of numbers >= 0) and ``{prefix}sim_dim_`` (1..k)."""
    ridge, sim_dim = scalars.get(f"{prefix}ridge_"), scalars.get(f"{prefix}sim_dim_")
    if not (
        isinstance(ridge, list)
        and len(ridge) == 2
        and all(isinstance(r, int | float) and not isinstance(r, bool) for r in ridge)
        and all(np.isfinite(r) and r >= 0 for r in ridge)
    ):
        raise ModelFileError(f"the file's {prefix}ridge_ {ridge!r} is not a pair of numbers >= 0")
    if isinstance(sim_dim, bool) or not isinstance(sim_dim, int) or not 1 <= sim_dim <= k:
        raise ModelFileError(f"the file's {prefix}sim_dim_ {sim_dim!r} is not in 1..{k}")
    return (float(ridge[0]), float(ridge[1])), sim_dim


def _checked_prompts(prompts: Any) -> str | None:
    if prompts not in (None, "a", "b"):
        raise ParameterError(
            f"prompts must be None, 'a' or 'b' (the side holding them); got {prompts!r}"
        )
    return prompts


def expect_shape(arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...]) -> np.ndarray:
    if arrays[key].shape != shape:
        raise ModelFileError(
            f"{key} has shape {arrays[key].shape}, expected {shape}: the file is inconsistent"
        )
    return arrays[key]


class MomentModel(PairedModel):
    """A model whose fit depends on the data only through (per-fold) moments.

    ``fit``, ``partial_fit``, ``fit_chunks`` and ``fit_moments`` are four doors into one
    path: rows become fold moments, moments are merged, and :meth:`_solve` runs once,
    so streaming, distributed and in-memory fits give the same model by construction.
    ``fit``, ``fit_chunks`` and ``fit_moments`` start over; ``partial_fit`` extends.
    """

    n_folds: int = N_FOLDS
    chunk_size: int | None = None
    device: str | None = None
    precision: str = "auto"

    def _check_moment_params(self) -> None:
        check_int(self.n_folds, "n_folds", minimum=1)
        check_int(self.chunk_size, "chunk_size", minimum=1, allow_none=True)
        check_choice(self.precision, "precision", list(_PRECISIONS))
        if self.device is not None and not isinstance(self.device, str):
            raise ParameterError(f"device must be None, 'cpu' or 'cuda'; got {self.device!r}")

    def _needs_folds(self) -> bool:
        """Whether a hyperparameter is chosen on held-out folds (else one fold suffices)."""
        return True

    def _accumulator(self, dim_a: int, dim_b: int, n_folds: int | None = None) -> MomentAccumulator:
        from csa.torch_backend import check_device

        # Folds cost K x d^2 memory and smaller products; only a held-out choice needs them.
        if n_folds is None:
            n_folds = self.n_folds if self._needs_folds() else 1
        return MomentAccumulator(
            dim_a,
            dim_b,
            n_folds=n_folds,
            block_rows=self.chunk_size,
            product_dtype=_PRECISIONS[self.precision],
            device=check_device(self.device),
        )

    def _fit_arrays(self, a: np.ndarray, b: np.ndarray) -> None:
        moments = self._accumulator(a.shape[1], b.shape[1]).add(a, b, first_row=0).finish()
        self._commit(moments)

    def partial_fit(self, a: Any, b: Any) -> MomentModel:
        """Merge one more chunk of pairs and re-solve (the solve costs O(d^3), not O(n)).

        The chunk's rows continue the row numbering of the pairs seen so far, so they
        land in the same folds as in one fit on everything. Pairs too few to solve on
        yet (one pair, or fewer than a fixed ``sim_dim`` needs) are kept, and the model
        is fitted from the call that brings enough.
        """
        self._check_params()
        state = vars(self)
        seen: FoldMoments | None = state.get("moments_")
        if seen is None and self.is_fitted:
            raise ModelFileError(
                f"this {type(self).__name__} was loaded from a slim model file, which holds "
                "what scoring needs but not the moments partial_fit adds to; save the "
                "model with save(path, keep_moments=True) to continue fitting it later"
            )
        first_row = 0 if seen is None else seen.n
        a_arr, b_arr = self._check_more_pairs(a, b, first_row)
        # Later chunks are dealt to as many folds as the pairs seen so far.
        chunk = self._accumulator(
            a_arr.shape[1], b_arr.shape[1], None if seen is None else seen.n_folds
        )
        chunk.add(a_arr, b_arr, first_row=first_row)
        merged = chunk.finish() if seen is None else seen.merge(chunk.finish())
        try:
            self._commit(merged)
        except TooFewPairsError:
            if self.is_fitted:
                raise
            # Not enough pairs to solve on yet: keep them for the next call.
            self._set_fitted(
                {"moments_": merged, "n_features_a_": merged.dim_a, "n_features_b_": merged.dim_b}
            )
        return self

    def fit_chunks(self, chunks: Iterable[tuple[Any, Any]]) -> MomentModel:
        """Fit from an iterable of ``(a_chunk, b_chunk)`` pairs, solving once at the end.

        Memory stays O(d^2) plus one block however many rows stream through.
        """
        self._check_params()
        running: MomentAccumulator | None = None
        for a_chunk, b_chunk in chunks:
            first_row = 0 if running is None else running.n
            a_arr, b_arr = check_pair(
                a_chunk,
                b_chunk,
                n_features_a=None if running is None else running.dim_a,
                n_features_b=None if running is None else running.dim_b,
                min_pairs=1,
                first_row=first_row,
            )
            if running is None:
                running = self._accumulator(a_arr.shape[1], b_arr.shape[1])
            running.add(a_arr, b_arr, first_row=first_row)
        if running is None:
            raise TooFewPairsError("fit_chunks got no chunks at all")
        self._commit(running.finish())
        return self

    def fit_moments(self, moments: FoldMoments | PairMoments) -> MomentModel:
        """Fit from precomputed moments (e.g. reduced across Dask workers).

        Plain :class:`PairMoments` carry no folds, so nothing can be chosen on held-out
        rows: "auto" ridges fall back to OAS and ``sim_dim="auto"`` to every dimension,
        with a warning.
        """
        self._check_params()
        if isinstance(moments, PairMoments):
            moments = FoldMoments((moments,))
        if not isinstance(moments, FoldMoments):
            raise ParameterError(
                f"fit_moments takes FoldMoments or PairMoments; got {type(moments).__name__}"
            )
        self._commit(moments)
        return self

    def _commit(self, moments: FoldMoments) -> None:
        """Solve, then replace the fitted state, so a failing solve changes nothing."""
        if moments.n < 2:
            raise TooFewPairsError(
                f"got {moments.n} pair(s); at least 2 are needed to estimate a covariance"
            )
        total = moments.total
        fitted = self._solve(moments)
        fitted.update(
            moments_=moments,
            n_pairs_seen_=moments.n,
            n_features_a_=moments.dim_a,
            n_features_b_=moments.dim_b,
            mean_a_=total.mean_a,
            mean_b_=total.mean_b,
        )
        self._set_fitted(fitted)

    @property
    def is_fitted(self) -> bool:
        return "mean_a_" in vars(self)

    @abstractmethod
    def _solve(self, moments: FoldMoments) -> dict[str, Any]:
        """The fitted attributes this model derives from ``moments`` (nothing is set)."""

    # ---- persistence ------------------------------------------------------------
    def save(self, path: str | Path, *, keep_moments: bool = False) -> Path:
        """Write a safetensors model file (arrays + JSON metadata; never pickle).

        By default the file holds what scoring needs (projections, means, weights), a
        few MB; ``keep_moments=True`` adds the per-fold moments (``n_folds x d^2``) that
        :meth:`partial_fit` on the loaded model needs.
        """
        return write(self, path, state=self._state(keep_moments=keep_moments))

    def _state(self, keep_moments: bool = False) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._check_fitted()
        arrays = {"mean_a": self.mean_a_, "mean_b": self.mean_b_, **self._solution_arrays()}
        scalars = {"n_pairs_seen_": int(self.n_pairs_seen_), **self._solution_scalars()}
        moments = vars(self).get("moments_")
        if keep_moments:
            if moments is None:
                raise ModelFileError(
                    f"this {type(self).__name__} was loaded without its moments, so it "
                    "cannot save them; refit it to keep them"
                )
            arrays.update(moments.to_arrays())
            scalars["n_folds_stored"] = moments.n_folds
        return arrays, scalars

    def _restore(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        try:
            self._check_params()
        except ParameterError as exc:
            raise ModelFileError(f"the file records parameters csa refuses: {exc}") from exc
        n = scalars.get("n_pairs_seen_")
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ModelFileError(
                f"the file's pair count n_pairs_seen_ {n!r} is not an integer >= 2"
            )
        mean_a, mean_b = arrays["mean_a"], arrays["mean_b"]
        if mean_a.ndim != 1 or mean_b.ndim != 1 or min(mean_a.size, mean_b.size) < 1:
            raise ModelFileError(
                f"mean_a and mean_b have shapes {mean_a.shape} and {mean_b.shape}: not (d,)"
            )
        da, db = mean_a.shape[0], mean_b.shape[0]
        fitted = self._restore_solution(arrays, scalars, da, db)
        fitted.update(
            moments_=self._restore_moments(arrays, scalars, n, mean_a, mean_b),
            n_pairs_seen_=n,
            n_features_a_=da,
            n_features_b_=db,
            mean_a_=mean_a,
            mean_b_=mean_b,
        )
        self._set_fitted(fitted)

    @staticmethod
    def _restore_moments(
        arrays: dict[str, np.ndarray],
        scalars: dict[str, Any],
        n: int,
        mean_a: np.ndarray,
        mean_b: np.ndarray,
    ) -> FoldMoments | None:
        """The fold moments a file kept on request (None in a slim file), checked against
        the pair count and means the file records."""
        n_folds = scalars.get("n_folds_stored")
        if n_folds is None:
            return None
        if isinstance(n_folds, bool) or not isinstance(n_folds, int) or not 1 <= n_folds <= n:
            raise ModelFileError(f"the file's fold count {n_folds!r} is not in 1..{n}")
        da, db = mean_a.shape[0], mean_b.shape[0]
        for k in range(n_folds):
            prefix = f"folds.{k}"
            for key, shape in (
                ("n", (1,)),
                ("mean_a", (da,)),
                ("mean_b", (db,)),
                ("comoment_aa", (da, da)),
                ("comoment_bb", (db, db)),
                ("comoment_ab", (da, db)),
            ):
                if f"{prefix}.{key}" not in arrays:
                    raise ModelFileError(f"{prefix}.{key} is missing: the file is inconsistent")
                if key == "n" and arrays[f"{prefix}.n"].shape != shape:
                    raise ModelFileError(f"{prefix}.n must hold one row count")
                expect_shape(arrays, f"{prefix}.{key}", shape)
            count = int(arrays[f"{prefix}.n"][0])
            if not 0 <= count <= n:
                raise ModelFileError(f"{prefix}.n is {count}: not a row count in 0..{n}")
        moments = FoldMoments.from_arrays(arrays, n_folds)
        if moments.n != n:
            raise ModelFileError(
                f"the folds hold {moments.n} pairs but the file records {n}: it is inconsistent"
            )
        total = moments.total
        scale_a = max(float(np.max(np.abs(mean_a))), 1.0)
        scale_b = max(float(np.max(np.abs(mean_b))), 1.0)
        if not (
            np.allclose(total.mean_a, mean_a, rtol=1e-9, atol=1e-12 * scale_a)
            and np.allclose(total.mean_b, mean_b, rtol=1e-9, atol=1e-12 * scale_b)
        ):
            raise ModelFileError("the folds' means disagree with mean_a / mean_b: inconsistent")
        for side, comoment in (("aa", total.comoment_aa), ("bb", total.comoment_bb)):
            if np.any(np.diag(comoment) < 0) or not np.allclose(comoment, comoment.T):
                raise ModelFileError(
                    f"the folds' comoment_{side} is not symmetric with a non-negative diagonal"
                )
        return moments

    @abstractmethod
    def _solution_arrays(self) -> dict[str, np.ndarray]: ...

    def _solution_scalars(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    def _restore_solution(
        self, arrays: dict[str, np.ndarray], scalars: dict[str, Any], dim_a: int, dim_b: int
    ) -> dict[str, Any]: ...


class CSA(MomentModel):
    """Canonical Similarity Analysis.

    Parameters
    ----------
    sim_dim:
        Canonical dimensions used by default when scoring. ``"auto"`` (default) picks
        the number that best separates genuine from random pairs on held-out folds;
        ``None`` keeps all of them; an integer is that number. Any query can override it
        without refitting.
    ridge:
        ``"auto"`` (default: chosen on held-out folds of the moments, per side),
        ``"oas"`` (Oracle Approximating Shrinkage, from each side's covariance alone), a
        number >= 0, or one per side ``(ridge_a, ridge_b)`` mixing any of these. Numbers
        are in units of the side's mean variance, so ``0.1`` adds a tenth of the average
        feature variance to the diagonal; ``0`` is unregularised CCA.
    weights:
        ``"auto"`` (default) answers each question with the map that measured best for
        it on the demo's data (see the README, "Which map for which question"): the
        ridges and ``sim_dim`` are chosen for, and retrieval and pair scores use, equal
        weights on the shared canonical space, and a zero-shot query with class prompts
        (``prompts=`` from the task functions) scores in the prompts' own feature space,
        the other side mapped there by the canonical regression
        ``(C + r mu I) projection diag(rho)``, so prompts unlike the training captions
        are not distorted by whitening; where the prompts' side repeats a few class
        captions (its rank at most half of what its rows could span), a shared space is
        that side's class discriminant, and its prompts are scored by a second map, the
        paper's CSA with its own ridges and ``sim_dim`` (``prompt_spaces_``,
        ``class_projection_a_``..., :func:`csa.selection.prompt_spaces`).
        ``"canonical"`` is CSA as the paper defines it: each dimension weighted by its
        canonical correlation on the training pairs, the ridges chosen for that score,
        one map for every question; ``"heldout"`` weights by the mean correlation on the
        held-out folds.
    n_folds:
        Folds that rows are dealt to for the held-out choices (memory n_folds x d^2).
    chunk_size:
        Rows per block when accumulating moments (``None``: a few MB per block).
    device:
        ``None`` runs the moment products in numpy; ``"cpu"`` or ``"cuda"`` runs them
        with torch there. Means, sums and the decomposition stay float64 on the host.
    precision:
        ``"auto"`` multiplies in the input's precision (float32 embeddings at float32
        speed, summed per block into float64), or ``"float64"`` / ``"float32"``.

    Attributes
    ----------
    canonical_correlations_ : (k,) in-sample canonical correlations, descending.
    weights_ : (k,) per-dimension weights of the score.
    projection_a_, projection_b_ : (d_a, k), (d_b, k) canonical projections.
    mean_a_, mean_b_ : training means.
    ridge_ : the relative ridges used; sim_dim_ : default dimensions of a score.
    cv_results_ : the held-out search, or None. n_components_ : k. n_pairs_seen_.
    lift_a_, lift_b_, prompt_spaces_ : with ``weights="auto"``, the prompt maps and the
        sides whose class prompts are scored in their own space; class_projection_a_,
        class_projection_b_, class_correlations_, class_ridge_, class_sim_dim_: the class
        map, where a side repeats a few class captions.
    moments_ : the per-fold moments (None on a model loaded from a slim file).

    Examples
    --------
    >>> import numpy as np, csa
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.normal(size=(500, 3))
    >>> a = shared @ rng.normal(size=(3, 20)) + 0.5 * rng.normal(size=(500, 20))
    >>> b = shared @ rng.normal(size=(3, 10)) + 0.5 * rng.normal(size=(500, 10))
    >>> model = csa.CSA().fit(a, b)
    >>> model.similarity(a[:4], b[:4]).shape
    (4, 4)
    >>> bool(model.canonical_correlations_[0] > 0.9)
    True
    """

    nested_dims = True

    def __init__(
        self,
        sim_dim: int | str | None = "auto",
        ridge: Any = "auto",
        weights: str = "auto",
        n_folds: int = N_FOLDS,
        chunk_size: int | None = None,
        device: str | None = None,
        precision: str = "auto",
    ) -> None:
        self.sim_dim = sim_dim
        self.ridge = ridge
        self.weights = weights
        self.n_folds = n_folds
        self.chunk_size = chunk_size
        self.device = device
        self.precision = precision

    def _check_params(self) -> None:
        self._check_canonical_params()
        check_choice(self.weights, "weights", ["auto", "canonical", "heldout"])

    def _check_canonical_params(self) -> None:
        check_ridge(self.ridge, words=RIDGE_WORDS, pair=True)
        if self.sim_dim not in ("auto", None):
            check_int(self.sim_dim, "sim_dim", minimum=1)
        self._check_moment_params()

    def _weighting(self) -> str:
        """How the score weights its dimensions: "canonical", "heldout" or "equal"."""
        return "equal" if self.weights == "auto" else self.weights

    @property
    def maps_prompts(self) -> bool:  # type: ignore[override]
        """Whether zero-shot prompts are scored in their own side's space (weights "auto")."""
        return self.weights == "auto"

    def _needs_folds(self) -> bool:
        ridges = self.ridge if isinstance(self.ridge, tuple | list) else (self.ridge,)
        return "auto" in ridges or self.sim_dim == "auto" or self._weighting() == "heldout"

    # ---- fitting ----------------------------------------------------------------
    def _solve(self, moments: FoldMoments) -> dict[str, Any]:
        """Choose the hyperparameters, solve once on every fold, derive the score."""
        weighting = self._weighting()
        prepared = HeldOutFolds(moments)  # shared with the class map's search, if any
        choice = choose_cca(
            moments,
            ridge=self.ridge,
            sim_dim=self.sim_dim,
            weighting=weighting,
            model=type(self).__name__,
            prepared=prepared,
        )
        total = moments.total
        solution = solve_cca(total, *choice.ridges)
        k = int(solution.correlations.shape[0])
        fitted = {
            "projection_a_": solution.proj_a,
            "projection_b_": solution.proj_b,
            "canonical_correlations_": solution.correlations,
            "weights_": score_weights(weighting, solution.correlations, choice.selection),
            "ridge_": (float(choice.ridges[0]), float(choice.ridges[1])),
            "n_components_": k,
            "sim_dim_": choose_sim_dim(self.sim_dim, k, moments, choice.selection),
            **(self._prompt_maps(total, solution) if self.maps_prompts else {}),
        }
        class_search = None
        if self.maps_prompts:
            fitted["prompt_spaces_"] = prompt_spaces(total, solution.rank_a, solution.rank_b)
            if len(fitted["prompt_spaces_"]) < 2:
                class_map, class_search = self._class_map(moments, total, prepared)
                fitted.update(class_map)
        fitted["cv_results_"] = self._report(choice, fitted)
        if fitted["cv_results_"] is not None and class_search is not None:
            fitted["cv_results_"]["class_map"] = class_search.results()
        return fitted

    def _class_map(
        self, moments: FoldMoments, total: PairMoments, prepared: HeldOutFolds
    ) -> tuple[dict[str, Any], Any]:
        """The map for class prompts on a side that repeats a few class captions.

        There the paper's CSA won: dimensions weighted by their canonical correlations,
        with ridges and ``sim_dim`` chosen for that score (Fashion-MNIST .722 against .708
        at 100 pairs, spoken words .889 against .872 at 90, PLAID .624 against .598), so
        it is solved as a second map from the same moments. The class captions make the
        side's rank, and so this map's dimensions, small.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", WeakFitWarning)  # the main fit has said it
            choice = choose_cca(
                moments,
                ridge=self.ridge,
                sim_dim=self.sim_dim,
                weighting="canonical",
                model=type(self).__name__,
                prepared=prepared,
            )
            solution = solve_cca(total, *choice.ridges)
        k = int(solution.correlations.shape[0])
        return {
            "class_projection_a_": solution.proj_a,
            "class_projection_b_": solution.proj_b,
            "class_correlations_": solution.correlations,
            "class_ridge_": (float(choice.ridges[0]), float(choice.ridges[1])),
            "class_sim_dim_": choose_sim_dim(self.sim_dim, k, moments, choice.selection),
        }, choice.selection

    def _report(self, choice: Any, fitted: dict[str, Any]) -> dict[str, Any] | None:
        """``cv_results_``: the held-out search, and which map answers which question."""
        if choice.selection is None:
            return None
        results = choice.selection.results()
        results["weighting"] = self._weighting()
        results["maps"] = self._describe_maps(fitted)
        return results

    def map_choices(self) -> dict[str, str]:
        """Which map answers which question, with the numbers that define it.

        The same as ``cv_results_["maps"]``, but read from the fitted attributes, so a
        loaded model (whose file keeps no search results) says it too; ``csa fit`` and
        ``csa info`` print it.
        """
        self._check_fitted()
        return self._describe_maps(vars(self))

    def _describe_maps(self, fitted: dict[str, Any]) -> dict[str, str]:
        weighting = {
            "equal": "equal weights",
            "canonical": "weighted by canonical correlations",
            "heldout": "weighted by held-out correlations",
        }[self._weighting()]
        shared = f"shared canonical space, {weighting}, sim_dim {fitted['sim_dim_']}"
        if not self.maps_prompts:
            return {"every question": shared}
        maps = {"retrieval and pair scores": shared}
        for side in ("a", "b"):
            question = f"zero-shot, prompts on side {side}"
            if side in fitted.get("prompt_spaces_", ()):
                maps[question] = "the prompts' own space, by canonical regression"
            elif "class_ridge_" in fitted:
                ridge_a, ridge_b = fitted["class_ridge_"]
                maps[question] = (
                    "class map, weighted by canonical correlations (the paper's CSA; side "
                    f"{side} repeats a few captions), ridge {ridge_a:.3g}, {ridge_b:.3g}, "
                    f"sim_dim {fitted['class_sim_dim_']}"
                )
            else:  # a model file from before the class map
                maps[question] = shared
        return maps

    @staticmethod
    def _prompt_maps(total: PairMoments, solution: Any) -> dict[str, np.ndarray]:
        """``lift_a_``, ``lift_b_``: canonical coordinates of the other side -> this side's
        centred features, ``(C + r mu I) P diag(rho)``.

        ``P'(C + r mu I)P = I``, so ``(C + r mu I) P`` takes canonical coordinates back
        to features; the canonical regression of one side's coordinates on the other's is
        ``diag(rho)``. Truncating to ``sim_dim`` columns truncates the regression.
        """
        cov_aa, cov_bb, _ = total.covariances()
        lifts = {}
        for side, cov, proj, ridge in (
            ("a", cov_aa, solution.proj_a, solution.ridge_a),
            ("b", cov_bb, solution.proj_b, solution.ridge_b),
        ):
            shift = ridge * float(np.trace(cov)) / cov.shape[0]
            lifts[f"lift_{side}_"] = (cov @ proj + shift * proj) * solution.correlations
        return lifts

    def _resolve_sim_dim(self, sim_dim: int | None) -> int:
        if sim_dim is None:
            return int(self.sim_dim_)
        if isinstance(sim_dim, bool) or not isinstance(sim_dim, int | np.integer):
            raise SimDimError(f"sim_dim must be a positive integer or None; got {sim_dim!r}")
        return checked_sim_dim(
            int(sim_dim),
            self.n_components_,
            self.n_pairs_seen_,
            self.n_features_a_,
            self.n_features_b_,
        )

    # ---- scoring ----------------------------------------------------------------
    def transform_a(self, a: Any) -> np.ndarray:
        """Canonical coordinates ``(a - mean_a) @ projection_a`` of side a, ``(m, k)``."""
        self._check_fitted()
        return self._coords(check_features(a, "a", n_features=self.n_features_a_), "a")

    def transform_b(self, b: Any) -> np.ndarray:
        """Canonical coordinates of side b, ``(m, k)``."""
        self._check_fitted()
        return self._coords(check_features(b, "b", n_features=self.n_features_b_), "b")

    def _coords(self, x: np.ndarray, side: str, sim_dim: int | None = None) -> np.ndarray:
        if side == "a":
            mean, proj = self.mean_a_, self.projection_a_
        else:
            mean, proj = self.mean_b_, self.projection_b_
        if sim_dim is not None:
            proj = proj[:, :sim_dim]
        return (x - mean) @ proj

    def _embed(self, x: np.ndarray, side: str, sim_dim: int | None, prompts: str | None) -> Any:
        s = self._resolve_sim_dim(sim_dim)
        if prompts is not None and prompts not in getattr(self, "prompt_spaces_", ()):
            if "class_correlations_" in vars(self):
                return self._class_embed(x, side, sim_dim)
            prompts = None  # no prompt map (CCA), or a file from before the class map
        if prompts is None:
            return unit_rows(self._coords(x, side, s)) * np.sqrt(self.weights_[:s])
        if prompts == side:  # the prompts themselves, in their own centred space
            return unit_rows(x - (self.mean_a_ if side == "a" else self.mean_b_))
        lift = self.lift_b_ if side == "a" else self.lift_a_
        return unit_rows(self._coords(x, side, s) @ lift[:, :s].T)

    def _class_embed(self, x: np.ndarray, side: str, sim_dim: int | None) -> np.ndarray:
        """Embedding in the class map (see :meth:`_class_map`); a query's ``sim_dim`` is
        capped at the map's dimensions."""
        rho = self.class_correlations_
        s = int(self.class_sim_dim_) if sim_dim is None else min(int(sim_dim), rho.shape[0])
        mean, proj = (
            (self.mean_a_, self.class_projection_a_)
            if side == "a"
            else (self.mean_b_, self.class_projection_b_)
        )
        return unit_rows((x - mean) @ proj[:, :s]) * np.sqrt(rho[:s])

    def _embed_a(self, a: np.ndarray, sim_dim: int | None, prompts: str | None) -> np.ndarray:
        return self._embed(a, "a", sim_dim, prompts)

    def _embed_b(self, b: np.ndarray, sim_dim: int | None, prompts: str | None) -> np.ndarray:
        return self._embed(b, "b", sim_dim, prompts)

    # ---- persistence ------------------------------------------------------------
    def _solution_arrays(self) -> dict[str, np.ndarray]:
        return {
            "projection_a": self.projection_a_,
            "projection_b": self.projection_b_,
            "canonical_correlations": self.canonical_correlations_,
            "weights": self.weights_,
            **({"lift_a": self.lift_a_, "lift_b": self.lift_b_} if self.maps_prompts else {}),
            **(
                {
                    "class_projection_a": self.class_projection_a_,
                    "class_projection_b": self.class_projection_b_,
                    "class_correlations": self.class_correlations_,
                }
                if "class_correlations_" in vars(self)
                else {}
            ),
        }

    def _solution_scalars(self) -> dict[str, Any]:
        scalars = {"ridge_": list(self.ridge_), "sim_dim_": int(self.sim_dim_)}
        if self.maps_prompts:
            scalars["prompt_spaces_"] = list(self.prompt_spaces_)
        if "class_correlations_" in vars(self):
            scalars["class_ridge_"] = list(self.class_ridge_)
            scalars["class_sim_dim_"] = int(self.class_sim_dim_)
        return scalars

    def _restore_solution(
        self, arrays: dict[str, np.ndarray], scalars: dict[str, Any], dim_a: int, dim_b: int
    ) -> dict[str, Any]:
        rho = _restored_correlations(arrays, "canonical_correlations")
        k = int(rho.shape[0])
        weights = expect_shape(arrays, "weights", (k,))
        if not self._weights_match(weights, rho):
            raise ModelFileError(
                f"weights do not match what {type(self).__name__} with "
                f"weights={getattr(self, 'weights', 'equal')!r} derives from the correlations"
            )
        ridge, sim_dim = _restored_choice(scalars, "", k)
        # Files written before the rule scored every side's prompts in their own space.
        spaces = scalars.get("prompt_spaces_", ["a", "b"])
        if not (
            isinstance(spaces, list)
            and all(side in ("a", "b") for side in spaces)
            and len(set(spaces)) == len(spaces)
        ):
            raise ModelFileError(f"the file's prompt_spaces_ {spaces!r} is not a list of sides")
        return {
            **({"prompt_spaces_": tuple(spaces)} if self.maps_prompts else {}),
            **(self._restore_class_map(arrays, scalars, dim_a, dim_b)),
            "projection_a_": expect_shape(arrays, "projection_a", (dim_a, k)),
            "projection_b_": expect_shape(arrays, "projection_b", (dim_b, k)),
            "canonical_correlations_": rho,
            "weights_": weights,
            "ridge_": ridge,
            "sim_dim_": sim_dim,
            "n_components_": k,
            "cv_results_": None,
            **(
                {
                    "lift_a_": expect_shape(arrays, "lift_a", (dim_a, k)),
                    "lift_b_": expect_shape(arrays, "lift_b", (dim_b, k)),
                }
                if self.maps_prompts
                else {}
            ),
        }

    def _restore_class_map(
        self, arrays: dict[str, np.ndarray], scalars: dict[str, Any], dim_a: int, dim_b: int
    ) -> dict[str, Any]:
        """The class map's arrays and scalars from a file, checked; {} where it has none."""
        if "class_correlations" not in arrays or not self.maps_prompts:
            return {}
        rho = _restored_correlations(arrays, "class_correlations")
        k = int(rho.shape[0])
        ridge, sim_dim = _restored_choice(scalars, "class_", k)
        return {
            "class_projection_a_": expect_shape(arrays, "class_projection_a", (dim_a, k)),
            "class_projection_b_": expect_shape(arrays, "class_projection_b", (dim_b, k)),
            "class_correlations_": rho,
            "class_ridge_": ridge,
            "class_sim_dim_": sim_dim,
        }

    def _weights_match(self, weights: np.ndarray, correlations: np.ndarray) -> bool:
        """Whether stored weights are ones this model's weighting can produce."""
        if self._weighting() == "canonical":
            return bool(np.array_equal(weights, correlations))
        if self._weighting() == "equal":
            return bool(np.all(weights == 1.0))
        return bool(np.all((weights >= 0) & (weights <= 1)))


class CCA(CSA):
    """Plain CCA cosine: the CSA fit with every canonical dimension weighted equally.

    The baseline that isolates what CSA's correlation weighting adds: CSA's parameters
    less ``weights``, its ``"auto"`` ridge and ``sim_dim`` chosen for equal weights.
    """

    def __init__(
        self,
        sim_dim: int | str | None = "auto",
        ridge: Any = "auto",
        n_folds: int = N_FOLDS,
        chunk_size: int | None = None,
        device: str | None = None,
        precision: str = "auto",
    ) -> None:
        self.sim_dim = sim_dim
        self.ridge = ridge
        self.n_folds = n_folds
        self.chunk_size = chunk_size
        self.device = device
        self.precision = precision

    def _check_params(self) -> None:
        self._check_canonical_params()

    maps_prompts = False  # the plain baseline: one map for every question

    def _weighting(self) -> str:
        return "equal"
