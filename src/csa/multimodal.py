"""The one object users hold: two frozen encoders and the map fitted between them.

open_clip users hold one model that embeds images and texts into one space; csa builds
that space from two unimodal encoders and a fitted map (CSA by default, or CCA, ASIF, a
linear map). :class:`MultimodalEncoder` keeps the three together so that raw items go in
and scores come out, and so that the model file says which encoders made its features:
a map fitted on one text encoder's space is meaningless on another's, and nothing in the
numbers would show it (a 0.75 zero-shot accuracy silently becomes 0.68).

Encoders and tasks are imported inside the methods that need them, so importing this
module stays as light as ``import csa``; a loaded model builds its encoders only when an
item is first encoded (``csa info`` never loads torch).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from csa.errors import EncoderError, InputError, ModelFileError, NotFittedError, ParameterError

Side = Literal["a", "b"]
FILE_KIND = "csa-multimodal"
# Fewer held-out pairs than this give a temperature and a threshold that are mostly noise.
MIN_CALIBRATION_PAIRS = 8
DEFAULT_HELD_OUT = 0.2
# Default prompt templates per modality of the items being classified (open_clip keeps
# one template set per data set; csa keys them by what the inputs are).
_PLAIN_TEMPLATES: tuple[str, ...] = ("{}",)


def _check_side(side: str) -> Side:
    if side not in ("a", "b"):
        raise ParameterError(f"side must be 'a' or 'b'; got {side!r}")
    return side  # type: ignore[return-value]


def _other(side: Side) -> Side:
    return "b" if side == "a" else "a"


def _sim_options(sim_dim: int | None) -> dict[str, Any]:
    """``sim_dim`` is a CSA/CCA query option; the baselines take no options at all."""
    return {} if sim_dim is None else {"sim_dim": int(sim_dim)}


def _items(items: Any, what: str) -> Sequence[Any]:
    from csa.encoders.base import as_item_sequence

    seq = as_item_sequence(items)
    if len(seq) == 0:
        raise InputError(f"{what} is empty: there is nothing to encode")
    return seq


# ------------------------------------------------------------------------ encoder specs
@dataclass(frozen=True)
class EncoderSpec:
    """How to rebuild one side's encoder, and what it must produce.

    ``name`` is the encoder's own full name (it keys the embedding cache and changes with
    any option that changes the output); ``registry`` and ``options`` are what
    :func:`csa.encoders.get` was called with, when known, so the exact encoder can be
    rebuilt in another process.
    """

    name: str
    dim: int
    registry: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    modality: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dim": self.dim,
            "registry": self.registry,
            "options": dict(self.options),
            "modality": self.modality,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], side: Side, source: str) -> EncoderSpec:
        try:
            return cls(
                name=str(data["name"]),
                dim=int(data["dim"]),
                registry=None if data.get("registry") is None else str(data["registry"]),
                options=dict(data.get("options") or {}),
                modality=data.get("modality"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"{source}: encoder {side} is recorded incompletely: {exc!r}"
            ) from exc

    def build(self, side: Side) -> Any:
        """Load the recorded encoder and check it still produces what the map was fitted on."""
        from csa.encoders import get

        encoder = get(self.registry, **self.options) if self.registry else get(self.name)
        if encoder.dim != self.dim:
            raise EncoderError(
                f"encoder {side} {self.name!r} now gives {encoder.dim}-d features, but the "
                f"model was fitted on {self.dim}-d ones"
            )
        if encoder.name != self.name:
            raise EncoderError(
                f"encoder {side} was recorded as {self.name!r} but "
                f"{self.registry or self.name!r} now builds {encoder.name!r}; pass "
                f"encoder_{side}=... with allow_other_encoders=True if that is intended"
            )
        return encoder


def _modality(encoder: Any, registry: str | None) -> str | None:
    """'image', 'text', ... from the encoder itself, else from its registry description."""
    declared = getattr(encoder, "modality", None)
    if isinstance(declared, str):
        return declared
    if registry is None:
        return None
    from csa.encoders import describe
    from csa.encoders.names import parse_name

    # "efficientnet-lite0?image_size=64" is described under "efficientnet-lite0".
    text = describe().get(parse_name(registry)[0], "")
    head, colon, _ = text.partition(":")
    return head.strip() if colon and " " not in head.strip() else None


def _spec_of(encoder: Any, registry: str | None, options: Mapping[str, Any]) -> EncoderSpec:
    return EncoderSpec(
        name=str(encoder.name),
        dim=int(encoder.dim),
        registry=registry,
        options=dict(options),
        modality=_modality(encoder, registry),
    )


# ----------------------------------------------------------------------------- results
@dataclass
class Classification:
    """Zero-shot predictions: best class per item, every score, and probabilities if calibrated.

    ``probabilities`` is ``softmax(scores / temperature)`` with the temperature fitted on
    held-out pairs; ``None`` when the model was fitted without held-out pairs, because
    a softmax of raw similarities at an arbitrary temperature is not a probability.
    """

    class_names: tuple[str, ...]
    indices: np.ndarray
    scores: np.ndarray
    probabilities: np.ndarray | None = None

    @property
    def labels(self) -> list[str]:
        return [self.class_names[i] for i in self.indices]

    def top_k(self, k: int) -> np.ndarray:
        """``(n, k)`` class indices, best first."""
        if not 1 <= k <= len(self.class_names):
            raise ParameterError(f"k must lie in 1..{len(self.class_names)}; got {k}")
        return np.argsort(-self.scores, axis=1, kind="stable")[:, :k]


@dataclass
class SearchResult:
    """Top-k gallery items per query: ``ids`` index the gallery, ``scores`` best first."""

    scores: np.ndarray
    ids: np.ndarray


@dataclass
class FlagResult:
    """Per-pair scores; ``flagged`` marks pairs scoring below the held-out threshold."""

    scores: np.ndarray
    threshold: float
    flagged: np.ndarray

    @property
    def n_flagged(self) -> int:
        return int(self.flagged.sum())


@dataclass
class ZeroShotClassifier:
    """Class names x prompt templates, ensembled into one embedding per class.

    ``embeddings`` live in the raw feature space of the encoder that read the prompts
    (the side opposite ``side``, the side of the items to classify).
    """

    class_names: tuple[str, ...]
    templates: tuple[str, ...]
    side: Side
    embeddings: np.ndarray


@dataclass
class Calibration:
    """What held-out pairs decided: a softmax temperature and a mismatch threshold.

    ``threshold`` is the score below which a pair is flagged; it maximises balanced
    accuracy between genuine held-out pairs and the same items paired with another
    group's partner (Youden's J); the rates of that split are kept for the record.
    """

    temperature: float
    threshold: float
    true_positive_rate: float
    false_positive_rate: float
    n_pairs: int
    sim_dim: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "threshold": self.threshold,
            "true_positive_rate": self.true_positive_rate,
            "false_positive_rate": self.false_positive_rate,
            "n_pairs": self.n_pairs,
            "sim_dim": self.sim_dim,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        return cls(
            temperature=float(data["temperature"]),
            threshold=float(data["threshold"]),
            true_positive_rate=float(data["true_positive_rate"]),
            false_positive_rate=float(data["false_positive_rate"]),
            n_pairs=int(data["n_pairs"]),
            sim_dim=None if data.get("sim_dim") is None else int(data["sim_dim"]),
        )


# -------------------------------------------------------------------------- the object
class MultimodalEncoder:
    """Two frozen unimodal encoders and the fitted map that aligns them.

    Parameters
    ----------
    encoder_a, encoder_b:
        A registry name (``"efficientnet-lite0"``, ``"minilm-l6"``, ``"st:<model>"``...) or
        an encoder object (anything with ``name``, ``dim`` and ``encode``).
    model:
        The map: any csa model, fitted or not. ``None`` is ``csa.CSA()``, which picks its
        ridge and ``sim_dim`` from held-out folds of its own moments.
    encoder_a_options, encoder_b_options:
        Keyword options for :func:`csa.encoders.get` (e.g. ``{"image_size": 112}``);
        recorded in the model file so the same encoder is rebuilt on load.
    cache_dir:
        Embedding cache folder (default ``$CSA_CACHE_DIR`` or ``~/.cache/csa``);
        ``use_cache=False`` encodes every time.
    """

    def __init__(
        self,
        encoder_a: Any,
        encoder_b: Any,
        model: Any | None = None,
        *,
        encoder_a_options: Mapping[str, Any] | None = None,
        encoder_b_options: Mapping[str, Any] | None = None,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
    ) -> None:
        self._encoders: dict[Side, Any] = {}
        self._specs: dict[Side, EncoderSpec] = {}
        for side, enc, opts in (
            ("a", encoder_a, encoder_a_options),
            ("b", encoder_b, encoder_b_options),
        ):
            self._set_encoder(side, enc, opts or {})
        if model is None:
            from csa.model import CSA

            model = CSA()
        self.model = model
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.calibration_: Calibration | None = None
        self.fit_info_: dict[str, Any] = {}

    def _set_encoder(self, side: Side, encoder: Any, options: Mapping[str, Any]) -> None:
        from csa.encoders import Encoder, get

        if isinstance(encoder, str):
            instance = get(encoder, **dict(options))
            registry: str | None = encoder
        elif isinstance(encoder, Encoder):
            if options:
                raise ParameterError(
                    f"encoder_{side}_options apply to encoder names; encoder_{side} is "
                    f"already a {type(encoder).__name__} object"
                )
            instance, registry = encoder, None
        else:
            raise EncoderError(
                f"encoder_{side} must be an encoder name or an object with name, dim and "
                f"encode; got {type(encoder).__name__}"
            )
        self._encoders[side] = instance
        self._specs[side] = _spec_of(instance, registry, options)

    # ---- encoders ---------------------------------------------------------------
    def encoder(self, side: Side) -> Any:
        """The side's encoder, loaded (from its recorded spec) on first use."""
        side = _check_side(side)
        if side not in self._encoders:
            self._encoders[side] = self._specs[side].build(side)
        return self._encoders[side]

    @property
    def encoder_a(self) -> Any:
        return self.encoder("a")

    @property
    def encoder_b(self) -> Any:
        return self.encoder("b")

    @property
    def encoder_specs(self) -> dict[Side, EncoderSpec]:
        return dict(self._specs)

    def features(
        self,
        side: Side,
        items: Any,
        *,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
    ) -> np.ndarray:
        """The side encoder's raw ``(n, dim)`` features, through the embedding cache."""
        seq = _items(items, f"items for side {side}")
        enc = self.encoder(side)
        if not self.use_cache:
            return enc.encode(seq, batch_size=batch_size, show_progress=show_progress_bar)
        from csa.encoders import cached_encode

        return cached_encode(
            enc,
            seq,
            cache_dir=self.cache_dir,
            batch_size=batch_size,
            show_progress=show_progress_bar,
        )

    # ---- fitting ----------------------------------------------------------------
    def fit(
        self,
        items_a: Any,
        items_b: Any,
        *,
        held_out: float = DEFAULT_HELD_OUT,
        seed: int = 0,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
    ) -> MultimodalEncoder:
        """Encode paired raw items (row i of a with row i of b) and fit the map.

        A ``held_out`` fraction of the pairs (drawn with ``seed``) is kept out of the fit
        and calibrates the probabilities of :meth:`classify` and the threshold of
        :meth:`flag`; ``held_out=0`` fits on every pair and calibrates nothing.
        """
        fa = self.features("a", items_a, batch_size=batch_size, show_progress_bar=show_progress_bar)
        fb = self.features("b", items_b, batch_size=batch_size, show_progress_bar=show_progress_bar)
        return self.fit_features(fa, fb, held_out=held_out, seed=seed)

    def fit_features(
        self, features_a: Any, features_b: Any, *, held_out: float = DEFAULT_HELD_OUT, seed: int = 0
    ) -> MultimodalEncoder:
        """:meth:`fit` on features already encoded by this object's encoders."""
        fa, fb = np.asarray(features_a), np.asarray(features_b)
        if fa.shape[0] != fb.shape[0]:
            raise InputError(
                f"side a has {fa.shape[0]} items but side b has {fb.shape[0]}; row i of a "
                "must pair with row i of b"
            )
        for side, feats in (("a", fa), ("b", fb)):
            if feats.ndim != 2 or feats.shape[1] != self._specs[side].dim:
                raise InputError(
                    f"side {side} features have shape {feats.shape}; encoder {side} "
                    f"({self._specs[side].name}) gives {self._specs[side].dim} columns"
                )
        if not 0.0 <= float(held_out) < 1.0:
            raise ParameterError(f"held_out must lie in [0, 1); got {held_out}")
        n = fa.shape[0]
        n_held = round(float(held_out) * n)
        if 0 < n_held < MIN_CALIBRATION_PAIRS:
            warnings.warn(
                f"held_out={held_out} keeps {n_held} of {n} pairs, fewer than "
                f"{MIN_CALIBRATION_PAIRS}: fitting on all pairs without calibration "
                "(classify gives no probabilities, flag needs a threshold)",
                stacklevel=3,
            )
            n_held = 0
        order = np.random.default_rng(seed).permutation(n) if n_held else np.arange(n)
        train, held = np.sort(order[n_held:]), np.sort(order[:n_held])
        self.model.fit(fa[train], fb[train])
        self.calibration_ = None
        if n_held:
            self.calibration_ = self._calibrate_features(fa[held], fb[held], seed=seed)
        self.fit_info_ = {
            "method": type(self.model).__name__,
            "params": _jsonable(self.model.get_params()),
            "fitted": _fitted_summary(self.model),
            "n_pairs": int(n),
            "n_fit": int(train.size),
            "n_held_out": int(n_held),
            "seed": int(seed),
        }
        return self

    def calibrate(
        self, items_a: Any, items_b: Any, *, seed: int = 0, sim_dim: int | None = None
    ) -> Calibration:
        """Fit the softmax temperature and the mismatch threshold on held-out raw pairs."""
        fa = self.features("a", items_a)
        fb = self.features("b", items_b)
        if fa.shape[0] != fb.shape[0]:
            raise InputError(f"calibration pairs: {fa.shape[0]} items on a, {fb.shape[0]} on b")
        self.calibration_ = self._calibrate_features(fa, fb, seed=seed, sim_dim=sim_dim)
        return self.calibration_

    def _calibrate_features(
        self, fa: np.ndarray, fb: np.ndarray, *, seed: int, sim_dim: int | None = None
    ) -> Calibration:
        from csa.tasks.calibration import choose_mismatch_threshold, fit_temperature
        from csa.tasks.groups import row_groups

        self._check_fitted()
        n = fa.shape[0]
        if n < MIN_CALIBRATION_PAIRS:
            raise InputError(
                f"calibration needs at least {MIN_CALIBRATION_PAIRS} held-out pairs; got {n}"
            )
        # The held-out side-b items act as the classes: identical ones (repeated class
        # captions) are one class, so the softmax is not split between equal columns.
        labels = row_groups(fb, "b")
        first = np.unique(labels, return_index=True)[1]
        if first.size < 2:
            raise InputError("every held-out side-b item is identical: nothing to calibrate")
        opts = _sim_options(sim_dim)
        scores = np.asarray(self.model.similarity(fa, fb[first], **opts), dtype=np.float64)
        temperature = fit_temperature(scores, labels)
        threshold = choose_mismatch_threshold(self.model, fa, fb, seed=seed, sim_dim=sim_dim)
        return Calibration(
            temperature=float(temperature.temperature),
            threshold=float(threshold.threshold),
            true_positive_rate=float(threshold.true_positive_rate),
            false_positive_rate=float(threshold.false_positive_rate),
            n_pairs=int(n),
            sim_dim=sim_dim,
        )

    @property
    def is_fitted(self) -> bool:
        return bool(getattr(self.model, "is_fitted", False))

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                "this MultimodalEncoder is not fitted yet: call fit(items_a, items_b) first"
            )

    # ---- embeddings and scores ----------------------------------------------------
    def _embed(
        self,
        side: Side,
        items: Any,
        batch_size: int,
        show_progress_bar: bool | None,
        sim_dim: int | None,
    ) -> Any:
        self._check_fitted()
        feats = self.features(
            side, items, batch_size=batch_size, show_progress_bar=show_progress_bar
        )
        embed = self.model.embed_a if side == "a" else self.model.embed_b
        return embed(feats, **_sim_options(sim_dim))

    def encode_a(
        self,
        items: Any,
        *,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        sim_dim: int | None = None,
    ) -> Any:
        """Shared-space vectors of side-a items; their inner products with :meth:`encode_b`
        are the scores (ASIF gives sparse rows)."""
        return self._embed("a", items, batch_size, show_progress_bar, sim_dim)

    def encode_b(
        self,
        items: Any,
        *,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        sim_dim: int | None = None,
    ) -> Any:
        """Shared-space vectors of side-b items (see :meth:`encode_a`)."""
        return self._embed("b", items, batch_size, show_progress_bar, sim_dim)

    def similarity(self, items_a: Any, items_b: Any, *, sim_dim: int | None = None) -> np.ndarray:
        """``(n_a, n_b)`` scores of every side-a item against every side-b item."""
        self._check_fitted()
        return np.asarray(
            self.model.similarity(
                self.features("a", items_a), self.features("b", items_b), **_sim_options(sim_dim)
            )
        )

    def score_pairs(self, items_a: Any, items_b: Any, *, sim_dim: int | None = None) -> np.ndarray:
        """``(n,)`` score of item i of a with item i of b."""
        self._check_fitted()
        return np.asarray(
            self.model.score_pairs(
                self.features("a", items_a), self.features("b", items_b), **_sim_options(sim_dim)
            )
        )

    # ---- zero-shot ----------------------------------------------------------------
    def default_templates(self, side: Side = "a") -> tuple[str, ...]:
        """Prompt templates for classifying side-``side`` items: by those items' modality."""
        from csa.tasks.zero_shot import IMAGE_TEMPLATES

        modality = self._specs[_check_side(side)].modality
        return IMAGE_TEMPLATES if modality == "image" else _PLAIN_TEMPLATES

    def zero_shot_classifier(
        self,
        class_names: Sequence[str],
        templates: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        *,
        side: Side = "a",
        batch_size: int = 32,
    ) -> ZeroShotClassifier:
        """Class embeddings for classifying side-``side`` items, from names x templates.

        The prompts go through the other side's encoder. ``templates`` is one template
        list, or one per modality (``{"image": [...], "text": [...]}``), chosen by the
        modality of the items classified; ``None`` uses :meth:`default_templates`.
        """
        from csa.tasks.zero_shot import build_class_embeddings

        side = _check_side(side)
        names = tuple(str(n) for n in class_names)
        if not names:
            raise InputError("class_names is empty: give at least two classes")
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise InputError(f"class names repeat: {', '.join(map(repr, dupes))}")
        if isinstance(templates, Mapping):
            modality = self._specs[side].modality
            if modality not in templates:
                raise InputError(
                    f"no templates for side {side}'s modality {modality!r}; the mapping has "
                    f"{', '.join(map(repr, templates))}"
                )
            chosen = tuple(templates[modality])
        else:
            chosen = self.default_templates(side) if templates is None else tuple(templates)
        embeddings = build_class_embeddings(
            self.encoder(_other(side)), list(names), chosen, batch_size=batch_size
        )
        return ZeroShotClassifier(names, chosen, side, embeddings)

    def classify(
        self,
        items: Any,
        classes: Sequence[str] | ZeroShotClassifier,
        *,
        templates: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        side: Side = "a",
        sim_dim: int | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
    ) -> Classification:
        """Zero-shot classify raw side-``side`` items among ``classes`` (names or a classifier)."""
        from csa.tasks.zero_shot import zero_shot_scores

        self._check_fitted()
        if not isinstance(classes, ZeroShotClassifier):
            classes = self.zero_shot_classifier(
                classes, templates, side=side, batch_size=batch_size
            )
        feats = self.features(
            classes.side, items, batch_size=batch_size, show_progress_bar=show_progress_bar
        )
        scores = zero_shot_scores(
            self.model, feats, classes.embeddings, inputs_side=classes.side, sim_dim=sim_dim
        )
        return Classification(
            class_names=classes.class_names,
            indices=np.argmax(scores, axis=1),
            scores=scores,
            probabilities=self._probabilities(scores, sim_dim),
        )

    def _probabilities(self, scores: np.ndarray, sim_dim: int | None) -> np.ndarray | None:
        cal = self.calibration_
        if cal is None or cal.sim_dim != sim_dim:
            return None
        from scipy.special import softmax

        return softmax(scores / cal.temperature, axis=1)

    # ---- retrieval and mismatch ----------------------------------------------------
    def search(
        self,
        queries: Any,
        gallery: Any,
        k: int = 10,
        *,
        query_side: Side = "a",
        sim_dim: int | None = None,
        backend: Literal["auto", "faiss", "numpy"] = "auto",
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
    ) -> SearchResult:
        """Top-``k`` gallery items (the other side) for each raw query, exactly.

        FAISS searches when it is installed (``backend="auto"``), else blocked products;
        neither forms the full score matrix.
        """
        from csa.scale.search import top_k

        self._check_fitted()
        query_side = _check_side(query_side)
        opts = dict(batch_size=batch_size, show_progress_bar=show_progress_bar)
        q = self.features(query_side, queries, **opts)
        g = self.features(_other(query_side), gallery, **opts)
        scores, ids = top_k(
            self.model, q, g, k, query_side=query_side, backend=backend, **_sim_options(sim_dim)
        )
        return SearchResult(scores=scores, ids=ids)

    def flag(
        self,
        items_a: Any,
        items_b: Any,
        *,
        threshold: float | None = None,
        sim_dim: int | None = None,
    ) -> FlagResult:
        """Score each pair and flag those below the threshold chosen on held-out pairs."""
        if threshold is None:
            cal = self.calibration_
            if cal is None:
                raise ParameterError(
                    "flag needs a threshold: fit with held_out > 0, call calibrate(items_a, "
                    "items_b) on held-out pairs, or pass threshold="
                )
            if cal.sim_dim != sim_dim:
                raise ParameterError(
                    f"the held-out threshold was chosen at sim_dim={cal.sim_dim}; flag at that "
                    "sim_dim, calibrate again, or pass threshold="
                )
            threshold = cal.threshold
        scores = self.score_pairs(items_a, items_b, sim_dim=sim_dim)
        return FlagResult(scores=scores, threshold=float(threshold), flagged=scores < threshold)

    # ---- persistence ----------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """What the model file records beside the map: encoders, versions, fit, calibration."""
        import csa

        return {
            "kind": FILE_KIND,
            "csa_version": csa.__version__,
            "encoders": {side: spec.to_dict() for side, spec in self._specs.items()},
            "fit": dict(self.fit_info_),
            "calibration": None if self.calibration_ is None else self.calibration_.to_dict(),
        }

    def save(self, path: str | Path) -> Path:
        """Write one model file: the map plus :meth:`metadata`, under one checksum."""
        from csa.modelfile import write

        self._check_fitted()
        return write(self.model, path, extra=self.metadata())

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        encoder_a: Any | None = None,
        encoder_b: Any | None = None,
        allow_other_encoders: bool = False,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
    ) -> MultimodalEncoder:
        """Read a file written by :meth:`save`; encoders load from the record when first used.

        Passing ``encoder_a`` / ``encoder_b`` other than the recorded ones is refused
        unless ``allow_other_encoders=True`` (the map was fitted on the recorded
        encoders' features; another encoder of the same width gives wrong scores
        silently). A different width is refused always.
        """
        from csa.filecheck import check_multimodal_record
        from csa.modelfile import read

        model, extra = read(path)
        if not isinstance(extra, Mapping) or extra.get("kind") != FILE_KIND:
            raise ModelFileError(
                f"{path} holds a {type(model).__name__} fitted on features, with no encoders "
                "recorded; load it with csa.load, or wrap it: "
                "MultimodalEncoder(encoder_a, encoder_b, model=csa.load(path))"
            )
        check_multimodal_record(model, extra, str(path))
        specs = {
            side: EncoderSpec.from_dict(extra.get("encoders", {}).get(side, {}), side, str(path))
            for side in ("a", "b")
        }
        self = cls.__new__(cls)
        self._encoders, self._specs = {}, specs
        self.model = model
        self.cache_dir, self.use_cache = cache_dir, use_cache
        self.fit_info_ = dict(extra.get("fit") or {})
        cal = extra.get("calibration")
        self.calibration_ = None if cal is None else Calibration.from_dict(cal)
        for side, given in (("a", encoder_a), ("b", encoder_b)):
            if given is not None:
                self._override_encoder(side, given, allow_other_encoders)
        return self

    def _override_encoder(self, side: Side, given: Any, allow: bool) -> None:
        recorded = self._specs[side]
        same_name = given == recorded.name or (given == recorded.registry and not recorded.options)
        if isinstance(given, str) and same_name:
            return  # the recorded encoder; it loads from the record when first used
        if isinstance(given, str) and not allow:
            raise EncoderError(
                f"the model was fitted on encoder {side} {recorded.name!r}, not {given!r}; "
                "pass allow_other_encoders=True to use it anyway"
            )
        self._set_encoder(side, given, {})
        spec = self._specs[side]
        if spec.dim != recorded.dim:
            raise EncoderError(
                f"encoder {side} {spec.name!r} gives {spec.dim}-d features; the model was "
                f"fitted on {recorded.dim}-d ones from {recorded.name!r}"
            )
        if spec.name != recorded.name and not allow:
            raise EncoderError(
                f"the model was fitted on encoder {side} {recorded.name!r}, not {spec.name!r}; "
                "pass allow_other_encoders=True to use it anyway"
            )

    def __repr__(self) -> str:
        return (
            f"MultimodalEncoder(encoder_a={self._specs['a'].name!r}, "
            f"encoder_b={self._specs['b'].name!r}, model={self.model!r})"
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _fitted_summary(model: Any) -> dict[str, Any]:
    """The hyperparameters the fit settled on (ridges, sim_dim, ASIF's k/p), for ``csa info``."""
    out: dict[str, Any] = {}
    for name in ("ridge_", "sim_dim_", "n_components_", "k_", "p_", "n_pairs_seen_"):
        value = getattr(model, name, None) if name in vars(model) else None
        if value is not None:
            out[name.rstrip("_")] = _jsonable(value)
    return out


__all__ = [
    "Calibration",
    "Classification",
    "EncoderSpec",
    "FlagResult",
    "MultimodalEncoder",
    "SearchResult",
    "ZeroShotClassifier",
]
