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

import inspect
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from csa.errors import EncoderError, InputError, ModelFileError, NotFittedError, ParameterError
from csa.validation import Side, check_fraction, check_number, check_seed, check_side, other_side

FILE_KIND = "csa-multimodal"
# Fewer held-out pairs than this give a temperature and a threshold that are mostly noise.
MIN_CALIBRATION_PAIRS = 8
DEFAULT_HELD_OUT = 0.2
# Default prompt templates per modality of the items being classified (open_clip keeps
# one template set per data set; csa keys them by what the inputs are).
_PLAIN_TEMPLATES: tuple[str, ...] = ("{}",)


def _items(items: Any, what: str) -> Sequence[Any]:
    from csa.encoders.base import as_item_sequence

    seq = as_item_sequence(items)
    if len(seq) == 0:
        raise InputError(f"{what} is empty: there is nothing to encode")
    return seq


def _paired(items_a: Any, items_b: Any) -> tuple[Sequence[Any], Sequence[Any]]:
    """Both sides' items, their counts compared before anything is encoded."""
    seq_a, seq_b = _items(items_a, "items_a"), _items(items_b, "items_b")
    if len(seq_a) != len(seq_b):
        raise InputError(
            f"side a has {len(seq_a)} items but side b has {len(seq_b)}; item i of a must "
            "pair with item i of b"
        )
    return seq_a, seq_b


# --------------------------------------------------------------------------- the maps
def method_name(cls: type) -> str:
    """A model class's method name: ``CSA`` -> ``"csa"``, ``LinearMap`` -> ``"linear-map"``."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "-", cls.__name__).lower()


def model_classes() -> dict[str, type]:
    """Every concrete csa model class by its method name (``"csa"``, ``"cca"``, ``"asif"``...).

    Read from :attr:`csa.PairedModel.registry`, the table model files are read by, so
    a model class defined anywhere (a plugin's too) is available under one name
    everywhere: here, in :func:`make_model` and in ``csa fit --method``.

    Examples
    --------
    >>> from csa.multimodal import model_classes
    >>> sorted(model_classes())
    ['asif', 'cca', 'csa', 'linear-map']
    """
    import csa.baselines  # noqa: F401  (defining the baselines registers them)
    from csa.model import PairedModel

    return {
        method_name(cls): cls
        for cls in PairedModel.registry.values()
        if not inspect.isabstract(cls)
    }


def _model_class(method: Any) -> type:
    classes = model_classes()
    if not isinstance(method, str):
        raise ParameterError(f"method must be a name such as 'csa'; got {method!r}")
    key = re.sub(r"(?<=[a-z])(?=[A-Z])", "-", method).lower().replace("_", "-")
    if key not in classes:
        raise ParameterError(
            f"unknown method {method!r}; the methods are {', '.join(sorted(classes))}"
        )
    return classes[key]


def model_params(method: str) -> tuple[str, ...]:
    """The constructor parameters of a method (see :func:`model_classes`), in order.

    Examples
    --------
    >>> from csa.multimodal import model_params
    >>> model_params("asif")
    ('k', 'p')
    """
    cls = _model_class(method)
    return tuple(p for p in inspect.signature(cls).parameters if p != "self")


def make_model(method: str, **params: Any) -> Any:
    """A new, unfitted model by method name (see :func:`model_classes`) and parameters.

    Names are matched ignoring case and ``_``/``-`` (``"CSA"``, ``"linear_map"``,
    ``"LinearMap"``); a parameter the method does not take is refused by name, never
    dropped, so an option cannot be silently ignored.

    Examples
    --------
    >>> from csa.multimodal import make_model
    >>> make_model("cca", ridge=0.1).ridge
    0.1
    >>> make_model("asif", ridge=0.1)
    Traceback (most recent call last):
    ...
    csa.errors.ParameterError: method 'asif' takes no parameter 'ridge'; it takes k, p
    """
    cls = _model_class(method)
    takes = model_params(method)
    unknown = [name for name in params if name not in takes]
    if unknown:
        raise ParameterError(
            f"method {method_name(cls)!r} takes no parameter {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(takes)}"
        )
    return cls(**params).validate_params()


def _check_model(model: Any) -> Any:
    """A model object (or a method name), checked now rather than at the first fit or score."""
    if model is None:
        return make_model("csa")
    if isinstance(model, str):
        return make_model(model)
    needed = ("fit", "get_params", "embed_a", "embed_b", "similarity", "score_pairs")
    missing = [name for name in needed if not callable(getattr(model, name, None))]
    if missing or isinstance(model, type):
        what = f"the class {model.__name__}" if isinstance(model, type) else type(model).__name__
        raise ParameterError(
            f"model must be a csa model object such as csa.CSA() (or a method name: "
            f"{', '.join(sorted(model_classes()))}); got {what}"
        )
    return model


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


def modality_of(encoder: Any) -> str | None:
    """``"image"``, ``"text"``... of an encoder object, or of a registry name without loading it.

    An object says so itself (its ``modality`` attribute); a name is looked up in the
    registry's description ("image: EfficientNet-Lite0 ..."), so reading and checking
    items can happen before any model weights load. ``None`` when neither says.

    Examples
    --------
    >>> from csa.multimodal import modality_of
    >>> modality_of("efficientnet-lite0"), modality_of("minilm-l6")
    ('image', 'text')
    """
    if not isinstance(encoder, str):
        declared = getattr(encoder, "modality", None)
        return declared if isinstance(declared, str) else None
    from csa.encoders import describe
    from csa.encoders.names import parse_name

    # "efficientnet-lite0?image_size=64" is described under "efficientnet-lite0".
    text = describe().get(parse_name(encoder)[0], "")
    head, colon, _ = text.partition(":")
    return head.strip() if colon and " " not in head.strip() else None


def _spec_of(encoder: Any, registry: str | None, options: Mapping[str, Any]) -> EncoderSpec:
    modality = modality_of(encoder)
    if modality is None and registry is not None:
        modality = modality_of(registry)
    return EncoderSpec(
        name=str(encoder.name),
        dim=int(encoder.dim),
        registry=registry,
        options=dict(options),
        modality=modality,
    )


# ----------------------------------------------------------------------------- results
@dataclass
class Classification:
    """Zero-shot predictions: best class per item, every score, and probabilities if calibrated.

    ``probabilities`` is ``softmax(scores / temperature)`` with the temperature fitted on
    held-out pairs; ``None`` when the model was fitted without held-out pairs, because
    a softmax of raw similarities at an arbitrary temperature is not a probability.
    ``templates`` are the prompt templates the class embeddings were built from (empty
    when the classes were given as embeddings), so a result says how it was made.
    """

    class_names: tuple[str, ...]
    templates: tuple[str, ...]
    indices: np.ndarray
    scores: np.ndarray
    probabilities: np.ndarray | None = None

    @property
    def labels(self) -> list[str]:
        """The predicted class name of every item."""
        return [self.class_names[i] for i in self.indices]

    def top_k(self, k: int) -> np.ndarray:
        """``(n, k)`` class indices, best first; equal scores go to the smaller index.

        Examples
        --------
        >>> import numpy as np
        >>> from csa.multimodal import Classification
        >>> scores = np.array([[0.1, 0.7, 0.7], [0.9, 0.2, 0.3]])
        >>> result = Classification(("cat", "dog", "fox"), ("{}",), scores.argmax(1), scores)
        >>> result.labels, result.top_k(2).tolist()
        (['dog', 'cat'], [[1, 2], [0, 2]])
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise ParameterError(f"k must be an integer; got {k!r}")
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
    """Per-pair scores; ``flagged`` marks pairs scoring below ``threshold``."""

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
    encoder_a, encoder_b : str or encoder
        A registry name (``"efficientnet-lite0"``, ``"minilm-l6"``, ``"st:<model>"``...) or
        an encoder object (anything with ``name``, ``dim`` and ``encode``).
    model : csa model, str or None
        The map: any csa model, fitted or not, or a method name (``"csa"``, ``"cca"``,
        ``"asif"``, ``"linear-map"``: see :func:`model_classes`). ``None`` is
        ``csa.CSA()``, which picks its ridge and ``sim_dim`` from held-out folds.
    encoder_a_options, encoder_b_options : dict, optional
        Keyword options for :func:`csa.encoders.get` (e.g. ``{"image_size": 112}``);
        recorded in the model file so the same encoder is rebuilt on load.
    cache_dir : path, optional
        Embedding cache folder (default ``$CSA_CACHE_DIR`` or ``~/.cache/csa``).
    use_cache : bool
        ``False`` encodes every time.

    Examples
    --------
    Two toy encoders that need no weights stand in for an image and a text model (any
    object with ``name``, ``dim`` and ``encode`` is an encoder): an "image" is an RGB
    colour, a text is read as counts of three colour words.

    >>> import numpy as np
    >>> import csa
    >>> from csa.multimodal import MultimodalEncoder
    >>> class RGB:
    ...     name, dim, modality = "toy-rgb", 3, "colour"
    ...     def encode(self, items, batch_size=32, show_progress=None):
    ...         return np.asarray(items, dtype=np.float32) / 255
    >>> class Words:
    ...     name, dim, modality = "toy-words", 3, "text"
    ...     def encode(self, texts, batch_size=32, show_progress=None):
    ...         words = ("red", "green", "blue")
    ...         return np.array([[t.split().count(w) for w in words] for t in texts], "f4")
    >>> rng = np.random.default_rng(0)
    >>> base = {"red": (200, 40, 40), "green": (40, 180, 50), "blue": (40, 60, 200)}
    >>> names = [("red", "green", "blue")[i % 3] for i in range(60)]
    >>> colours = [tuple(np.add(base[n], rng.integers(-30, 30, 3))) for n in names]
    >>> captions = [f"a {n} thing" for n in names]
    >>> mm = MultimodalEncoder(RGB(), Words(), csa.CSA(ridge=0.1, sim_dim=2), use_cache=False)
    >>> mm = mm.fit(colours, captions, held_out=0.25)  # 45 pairs fit, 15 calibrate
    >>> mm.fit_info_["n_fit"], mm.fit_info_["n_held_out"]
    (45, 15)
    >>> mm.classify([(210, 30, 50), (30, 50, 190)], ["red", "green", "blue"]).labels
    ['red', 'blue']
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
        model = _check_model(model)
        self._encoders: dict[Side, Any] = {}
        self._specs: dict[Side, EncoderSpec] = {}
        for side, enc, opts in (
            ("a", encoder_a, encoder_a_options),
            ("b", encoder_b, encoder_b_options),
        ):
            self._set_encoder(side, enc, opts or {})
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
        side = check_side(side)
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
        """The side encoder's raw ``(n, dim)`` features, through the embedding cache.

        Parameters
        ----------
        side : {"a", "b"}
            Which encoder reads the items.
        items : sequence
            Raw items of that side (file paths, arrays, texts...).
        batch_size : int
            Items per encoder call.
        show_progress_bar : bool or None
            ``None`` shows a bar for long inputs only.

        Returns
        -------
        numpy.ndarray
            ``(len(items), dim)`` float32 features, the input of every ``*_features``
            method.

        Examples
        --------
        >>> mm.features("b", ["a red thing", "blue"]).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
        """
        side = check_side(side)
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

    def check_features(self, side: Side, features: Any) -> np.ndarray:
        """Precomputed features of one side, checked against that side's encoder.

        Every ``*_features`` method takes its input through here: a 2-D array of finite
        numbers as wide as the side's encoder's output. Features made by another encoder
        of the same width cannot be told apart; that is what the model file's encoder
        record is for.

        Parameters
        ----------
        side : {"a", "b"}
            Whose encoder made the features.
        features : array-like
            ``(n, dim)`` features.

        Returns
        -------
        numpy.ndarray
            The features as a float array (not copied when already float32/float64).

        Examples
        --------
        >>> mm.check_features("a", np.ones((2, 3))).shape
        (2, 3)
        >>> mm.check_features("a", np.ones((2, 5)))
        Traceback (most recent call last):
        ...
        csa.errors.ShapeError: side a features have shape (2, 5); encoder a (toy-rgb) gives 3 ...
        """
        from csa.errors import ShapeError
        from csa.validation import check_features

        side = check_side(side)
        spec = self._specs[side]
        shape = tuple(getattr(features, "shape", np.shape(features)))
        if len(shape) != 2 or shape[1] != spec.dim:
            raise ShapeError(
                f"side {side} features have shape {shape}; encoder {side} ({spec.name}) "
                f"gives {spec.dim} columns"
            )
        return check_features(features, f"side {side} features")

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
        """Encode paired raw items (item i of a with item i of b) and fit the map.

        Parameters
        ----------
        items_a, items_b : sequence
            Paired raw items; their counts, ``held_out`` and ``seed`` are checked before
            anything is encoded.
        held_out : float
            Share of the pairs, in ``[0, 1)``, drawn with ``seed`` and kept out of the
            fit to calibrate :meth:`classify`'s probabilities and :meth:`flag`'s
            threshold; ``0`` fits on every pair and calibrates nothing.
        seed : int
            Seed of the held-out draw and of the mismatches calibration pairs with.
        batch_size, show_progress_bar
            Passed to :meth:`features`.

        Returns
        -------
        MultimodalEncoder
            ``self``. The map is fitted on a fresh copy of ``self.model`` (same
            parameters), and ``model``, ``calibration_`` and ``fit_info_`` are replaced
            together only once the fit and the calibration have both succeeded: a failed
            call leaves the object exactly as it was.

        Examples
        --------
        >>> refit = MultimodalEncoder(RGB(), Words(), "cca", use_cache=False)
        >>> refit.fit(colours, captions, held_out=0).calibration_ is None
        True
        >>> refit.fit(colours[:3], captions[:4])
        Traceback (most recent call last):
        ...
        csa.errors.InputError: side a has 3 items but side b has 4; item i of a must pair ...
        """
        seq_a, seq_b = _paired(items_a, items_b)
        train, held = self._split(len(seq_a), held_out, seed)
        opts = dict(batch_size=batch_size, show_progress_bar=show_progress_bar)
        fa = self.features("a", seq_a, **opts)
        fb = self.features("b", seq_b, **opts)
        return self._fit_split(fa, fb, train, held, seed)

    def fit_features(
        self, features_a: Any, features_b: Any, *, held_out: float = DEFAULT_HELD_OUT, seed: int = 0
    ) -> MultimodalEncoder:
        """:meth:`fit` on features already encoded by this object's encoders.

        Parameters
        ----------
        features_a, features_b : array-like
            ``(n, dim_a)`` and ``(n, dim_b)`` paired features (see :meth:`check_features`).
        held_out, seed
            As in :meth:`fit`.

        Returns
        -------
        MultimodalEncoder
            ``self``, changed only if the whole call succeeds.

        Examples
        --------
        >>> fa, fb = mm.features("a", colours), mm.features("b", captions)
        >>> again = MultimodalEncoder(RGB(), Words(), "cca", use_cache=False)
        >>> again.fit_features(fa, fb, held_out=0.25).calibration_.n_pairs
        15
        """
        fa = self.check_features("a", features_a)
        fb = self.check_features("b", features_b)
        if fa.shape[0] != fb.shape[0]:
            raise InputError(
                f"side a has {fa.shape[0]} items but side b has {fb.shape[0]}; row i of a "
                "must pair with row i of b"
            )
        train, held = self._split(fa.shape[0], held_out, seed)
        return self._fit_split(fa, fb, train, held, seed)

    def _split(self, n: int, held_out: Any, seed: Any) -> tuple[np.ndarray, np.ndarray]:
        """Fit and held-out rows, drawn with ``seed``; parameters checked before any work."""
        held_out = check_fraction(held_out, "held_out")
        seed = check_seed(seed)
        n_held = round(held_out * n)
        if 0 < n_held < MIN_CALIBRATION_PAIRS:
            warnings.warn(
                f"held_out={held_out} keeps {n_held} of {n} pairs, fewer than "
                f"{MIN_CALIBRATION_PAIRS}: fitting on all pairs without calibration "
                "(classify gives no probabilities, flag needs a threshold)",
                stacklevel=4,
            )
            n_held = 0
        order = np.random.default_rng(seed).permutation(n) if n_held else np.arange(n)
        return np.sort(order[n_held:]), np.sort(order[:n_held])

    def _fit_split(
        self, fa: np.ndarray, fb: np.ndarray, train: np.ndarray, held: np.ndarray, seed: int
    ) -> MultimodalEncoder:
        from csa.tasks._common import to_jsonable

        model = type(self.model)(**self.model.get_params())
        model.fit(fa[train], fb[train])
        calibration = None
        if held.size:
            calibration = _calibrate(model, fa[held], fb[held], seed=seed, sim_dim=None)
        fit_info = {
            "method": type(model).__name__,
            "params": to_jsonable(model.get_params()),
            "fitted": _fitted_summary(model),
            "n_pairs": int(fa.shape[0]),
            "n_fit": int(train.size),
            "n_held_out": int(held.size),
            "seed": int(seed),
        }
        # Commit only now: a fit or a calibration that raised has changed nothing.
        self.model, self.calibration_, self.fit_info_ = model, calibration, fit_info
        return self

    def calibrate(
        self,
        items_a: Any,
        items_b: Any,
        *,
        seed: int = 0,
        sim_dim: int | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
    ) -> Calibration:
        """Fit the softmax temperature and the mismatch threshold on held-out raw pairs.

        Parameters
        ----------
        items_a, items_b : sequence
            Paired raw items the map was not fitted on (at least
            ``MIN_CALIBRATION_PAIRS``, with at least two distinct side-b items).
        seed : int
            Seed of the mismatched pairing the threshold is chosen against.
        sim_dim : int or None
            The query option the calibration holds for; :meth:`classify` and
            :meth:`flag` use it only at the same ``sim_dim``.

        Returns
        -------
        Calibration
            Also stored as ``calibration_`` (only when the call succeeds).

        Examples
        --------
        >>> mm.calibrate(colours[:12], captions[:12], sim_dim=1).sim_dim
        1
        >>> mm = mm.fit(colours, captions, held_out=0.25)  # back to the fit's calibration
        """
        seq_a, seq_b = _paired(items_a, items_b)
        seed = check_seed(seed)
        self._check_fitted()
        opts = dict(batch_size=batch_size, show_progress_bar=show_progress_bar)
        fa = self.features("a", seq_a, **opts)
        fb = self.features("b", seq_b, **opts)
        self.calibration_ = _calibrate(self.model, fa, fb, seed=seed, sim_dim=sim_dim)
        return self.calibration_

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
        return embed(feats, sim_dim=sim_dim)

    def encode_a(
        self,
        items: Any,
        *,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        sim_dim: int | None = None,
    ) -> Any:
        """Shared-space vectors of side-a items; their inner products with :meth:`encode_b`
        are the scores (ASIF gives sparse rows).

        Parameters
        ----------
        items : sequence
            Raw side-a items.
        batch_size, show_progress_bar
            Passed to :meth:`features`.
        sim_dim : int or None
            Canonical dimensions kept (CSA, CCA); ``None`` is the model's own.

        Returns
        -------
        numpy.ndarray or scipy.sparse matrix
            ``(n, width)`` rows in the shared space.

        Examples
        --------
        >>> emb = mm.encode_a([(200, 40, 40)])
        >>> emb.shape, bool(np.allclose(emb @ mm.encode_b(["red"]).T,
        ...                             mm.similarity([(200, 40, 40)], ["red"])))
        ((1, 2), True)
        """
        return self._embed("a", items, batch_size, show_progress_bar, sim_dim)

    def encode_b(
        self,
        items: Any,
        *,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        sim_dim: int | None = None,
    ) -> Any:
        """Shared-space vectors of side-b items (see :meth:`encode_a`).

        Examples
        --------
        >>> mm.encode_b(["red", "blue"]).shape
        (2, 2)
        """
        return self._embed("b", items, batch_size, show_progress_bar, sim_dim)

    def similarity(self, items_a: Any, items_b: Any, *, sim_dim: int | None = None) -> np.ndarray:
        """``(n_a, n_b)`` scores of every side-a item against every side-b item.

        Parameters
        ----------
        items_a, items_b : sequence
            Raw items of each side, any counts.
        sim_dim : int or None
            Canonical dimensions scored (CSA, CCA).

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> mm.similarity([(200, 40, 40)], ["red", "blue"]).argmax(axis=1).tolist()
        [0]
        """
        self._check_fitted()
        fa = self.features("a", items_a)
        fb = self.features("b", items_b)
        return np.asarray(self.model.similarity(fa, fb, sim_dim=sim_dim))

    def score_pairs(self, items_a: Any, items_b: Any, *, sim_dim: int | None = None) -> np.ndarray:
        """``(n,)`` score of item i of a with item i of b (counts checked before encoding).

        Parameters
        ----------
        items_a, items_b : sequence
            Paired raw items, as many on each side.
        sim_dim : int or None
            Canonical dimensions scored (CSA, CCA).

        Returns
        -------
        numpy.ndarray

        Examples
        --------
        >>> scores = mm.score_pairs([(200, 40, 40), (200, 40, 40)], ["red", "blue"])
        >>> bool(scores[0] > scores[1])
        True
        """
        seq_a, seq_b = _paired(items_a, items_b)
        self._check_fitted()
        fa, fb = self.features("a", seq_a), self.features("b", seq_b)
        return np.asarray(self.model.score_pairs(fa, fb, sim_dim=sim_dim))

    # ---- zero-shot ----------------------------------------------------------------
    def default_templates(self, side: Side = "a") -> tuple[str, ...]:
        """Prompt templates for classifying side-``side`` items: by those items' modality.

        Eight photo templates for images (``"a photo of a {}."``...), the bare name
        ``"{}"`` otherwise; pass ``templates=`` to :meth:`classify` to use one's own.

        Parameters
        ----------
        side : {"a", "b"}
            The side of the items to classify.

        Returns
        -------
        tuple of str

        Examples
        --------
        >>> mm.default_templates("a")
        ('{}',)
        """
        from csa.tasks.zero_shot import IMAGE_TEMPLATES

        modality = self._specs[check_side(side)].modality
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

        Names and templates are checked before any prompt is encoded (names that repeat
        or differ only by case, templates without exactly one ``{}``).

        Parameters
        ----------
        class_names : sequence of str
            One name per class, in class order.
        templates : sequence of str, mapping or None
            Templates with one ``{}`` each, or one list per modality
            (``{"image": [...], "text": [...]}``) chosen by the modality of the items
            classified; ``None`` uses :meth:`default_templates`.
        side : {"a", "b"}
            The side of the items to classify; the prompts go through the other side's
            encoder.

        Returns
        -------
        ZeroShotClassifier
            Reusable for many calls of :meth:`classify` / :meth:`classify_features`.

        Examples
        --------
        >>> clf = mm.zero_shot_classifier(["red", "blue"], ["{}", "a {} thing"])
        >>> clf.templates, clf.embeddings.shape
        (('{}', 'a {} thing'), (2, 3))
        """
        from csa.tasks.zero_shot import build_class_embeddings, check_class_names, check_templates

        side = check_side(side)
        names = check_class_names(class_names)
        if isinstance(templates, Mapping):
            modality = self._specs[side].modality
            if modality not in templates:
                raise InputError(
                    f"no templates for side {side}'s modality {modality!r}; the mapping has "
                    f"{', '.join(map(repr, templates))}"
                )
            chosen = check_templates(templates[modality])
        else:
            chosen = check_templates(
                self.default_templates(side) if templates is None else templates
            )
        embeddings = build_class_embeddings(
            self.encoder(other_side(side)), list(names), chosen, batch_size=batch_size
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
        """Zero-shot classify raw side-``side`` items among ``classes``.

        Parameters
        ----------
        items : sequence
            Raw items of side ``side``.
        classes : sequence of str or ZeroShotClassifier
            Class names (built with ``templates``, see :meth:`zero_shot_classifier`) or
            a classifier already built.
        templates, side
            As in :meth:`zero_shot_classifier`.
        sim_dim : int or None
            Canonical dimensions scored (CSA, CCA); probabilities need the
            calibration's ``sim_dim``.

        Returns
        -------
        Classification
            Predictions, scores, the templates used and, where calibrated, probabilities.

        Examples
        --------
        >>> result = mm.classify([(30, 190, 60)], ["red", "green", "blue"], templates=["{}"])
        >>> result.labels, result.templates, result.probabilities.shape
        (['green'], ('{}',), (1, 3))
        """
        seq = _items(items, "items to classify")
        self._check_fitted()
        if not isinstance(classes, ZeroShotClassifier):
            classes = self.zero_shot_classifier(
                classes, templates, side=side, batch_size=batch_size
            )
        feats = self.features(
            classes.side, seq, batch_size=batch_size, show_progress_bar=show_progress_bar
        )
        return self.classify_features(feats, classes, sim_dim=sim_dim)

    def classify_features(
        self,
        features: Any,
        classes: Sequence[str] | ZeroShotClassifier,
        *,
        templates: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        side: Side = "a",
        sim_dim: int | None = None,
        batch_size: int = 32,
    ) -> Classification:
        """:meth:`classify` on features already encoded by side ``side``'s encoder.

        For items encoded once and classified against several class lists, or features
        read from a file (``csa classify`` on a ``.npy``).

        Parameters
        ----------
        features : array-like
            ``(n, dim)`` features of side ``side`` (or of ``classes.side`` for a
            classifier), checked by :meth:`check_features`.
        classes, templates, side, sim_dim, batch_size
            As in :meth:`classify`.

        Returns
        -------
        Classification

        Examples
        --------
        >>> feats = mm.features("a", [(220, 30, 30), (40, 40, 230)])
        >>> mm.classify_features(feats, ["red", "green", "blue"]).labels
        ['red', 'blue']
        """
        from csa.tasks.zero_shot import zero_shot_scores

        self._check_fitted()
        if not isinstance(classes, ZeroShotClassifier):
            feats = self.check_features(check_side(side), features)
            classes = self.zero_shot_classifier(
                classes, templates, side=side, batch_size=batch_size
            )
        else:
            feats = self.check_features(classes.side, features)
        scores = zero_shot_scores(
            self.model, feats, classes.embeddings, inputs_side=classes.side, sim_dim=sim_dim
        )
        return Classification(
            class_names=classes.class_names,
            templates=classes.templates,
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

        Parameters
        ----------
        queries, gallery : sequence
            Raw items of side ``query_side`` and of the other side.
        k : int
            Results per query (at most the gallery size).
        query_side : {"a", "b"}
            The queries' side: ``"b"`` searches images by caption in an image-caption
            model.
        sim_dim : int or None
            Canonical dimensions scored (CSA, CCA).
        backend : {"auto", "faiss", "numpy"}
            Who computes the top-k; every backend gives the exact answer.
        batch_size, show_progress_bar
            Passed to :meth:`features`.

        Returns
        -------
        SearchResult
            ``ids`` (rows of ``gallery``) and ``scores``, ``(n_queries, k)``, best first.

        Examples
        --------
        >>> hits = mm.search(["blue"], [(200, 40, 40), (40, 60, 210), (50, 40, 190)], k=2,
        ...                  query_side="b")
        >>> sorted(hits.ids[0].tolist())
        [1, 2]
        """
        from csa.validation import check_int

        query_side = check_side(query_side, "query_side")
        k = int(check_int(k, "k", minimum=1))  # type: ignore[arg-type]
        opts = dict(batch_size=batch_size, show_progress_bar=show_progress_bar)
        q_items, g_items = _items(queries, "queries"), _items(gallery, "gallery")
        self._check_fitted()
        q = self.features(query_side, q_items, **opts)
        g = self.features(other_side(query_side), g_items, **opts)
        return self.search_features(
            q, g, k, query_side=query_side, sim_dim=sim_dim, backend=backend
        )

    def search_features(
        self,
        queries: Any,
        gallery: Any,
        k: int = 10,
        *,
        query_side: Side = "a",
        sim_dim: int | None = None,
        backend: Literal["auto", "faiss", "numpy"] = "auto",
    ) -> SearchResult:
        """:meth:`search` on features already encoded by the two sides' encoders.

        Parameters
        ----------
        queries, gallery : array-like
            Features of side ``query_side`` and of the other side.
        k, query_side, sim_dim, backend
            As in :meth:`search`.

        Returns
        -------
        SearchResult

        Examples
        --------
        >>> g = mm.features("a", [(200, 40, 40), (40, 60, 210)])
        >>> mm.search_features(mm.features("b", ["red"]), g, 1, query_side="b").ids.tolist()
        [[0]]
        """
        from csa.scale.search import top_k

        self._check_fitted()
        query_side = check_side(query_side, "query_side")
        q = self.check_features(query_side, queries)
        g = self.check_features(other_side(query_side), gallery)
        scores, ids = top_k(
            self.model, q, g, k, query_side=query_side, backend=backend, sim_dim=sim_dim
        )
        return SearchResult(scores=scores, ids=ids)

    def flag_threshold(
        self, threshold: float | None = None, *, sim_dim: int | None = None
    ) -> float:
        """The threshold :meth:`flag` uses: ``threshold`` checked, else the held-out one.

        Called first by :meth:`flag` and :meth:`flag_features`, so a missing or unusable
        threshold is reported before anything is encoded.

        Parameters
        ----------
        threshold : float or None
            A finite score; ``None`` takes the calibration's.
        sim_dim : int or None
            The query option the scores will be computed at; the held-out threshold
            holds only at the ``sim_dim`` it was chosen at.

        Returns
        -------
        float

        Examples
        --------
        >>> mm.flag_threshold() == mm.calibration_.threshold
        True
        >>> mm.flag_threshold(float("nan"))
        Traceback (most recent call last):
        ...
        csa.errors.ParameterError: threshold must be a finite number; got nan
        """
        if threshold is not None:
            return check_number(threshold, "threshold")
        cal = self.calibration_
        if cal is None:
            raise ParameterError(
                "flag needs a threshold and none was calibrated (fitted with held_out=0): "
                "pass one (threshold=..., `csa flag --threshold`), fit with held_out > 0, or "
                "call calibrate(items_a, items_b) on held-out pairs"
            )
        if cal.sim_dim != sim_dim:
            raise ParameterError(
                f"the held-out threshold was chosen at sim_dim={cal.sim_dim}, not {sim_dim}: "
                "flag at that sim_dim, calibrate again, or pass a threshold (threshold=..., "
                "`csa flag --threshold`)"
            )
        return cal.threshold

    def flag(
        self,
        items_a: Any,
        items_b: Any,
        *,
        threshold: float | None = None,
        sim_dim: int | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
    ) -> FlagResult:
        """Score each pair and flag those below the threshold chosen on held-out pairs.

        Parameters
        ----------
        items_a, items_b : sequence
            Paired raw items (item i of a with item i of b).
        threshold : float or None
            Flag scores below this; ``None`` uses the held-out one
            (see :meth:`flag_threshold`).
        sim_dim : int or None
            Canonical dimensions scored.

        Returns
        -------
        FlagResult
            Every pair's score, the threshold and the flags.

        Examples
        --------
        >>> flags = mm.flag([(200, 40, 40), (200, 40, 40)], ["a red thing", "a blue thing"])
        >>> flags.flagged.tolist()
        [False, True]
        """
        seq_a, seq_b = _paired(items_a, items_b)
        threshold = self.flag_threshold(threshold, sim_dim=sim_dim)
        self._check_fitted()
        opts = dict(batch_size=batch_size, show_progress_bar=show_progress_bar)
        fa = self.features("a", seq_a, **opts)
        fb = self.features("b", seq_b, **opts)
        return self.flag_features(fa, fb, threshold=threshold, sim_dim=sim_dim)

    def flag_features(
        self,
        features_a: Any,
        features_b: Any,
        *,
        threshold: float | None = None,
        sim_dim: int | None = None,
    ) -> FlagResult:
        """:meth:`flag` on paired features already encoded by the two sides' encoders.

        Parameters
        ----------
        features_a, features_b : array-like
            Paired features, row i of a with row i of b.
        threshold, sim_dim
            As in :meth:`flag`.

        Returns
        -------
        FlagResult

        Examples
        --------
        >>> fa = mm.features("a", [(40, 180, 50)])
        >>> mm.flag_features(fa, mm.features("b", ["green"]), threshold=-1.0).n_flagged
        0
        """
        threshold = self.flag_threshold(threshold, sim_dim=sim_dim)
        self._check_fitted()
        fa = self.check_features("a", features_a)
        fb = self.check_features("b", features_b)
        if fa.shape[0] != fb.shape[0]:
            raise InputError(
                f"side a has {fa.shape[0]} rows but side b has {fb.shape[0]}; row i of a "
                "must pair with row i of b"
            )
        scores = np.asarray(self.model.score_pairs(fa, fb, sim_dim=sim_dim))
        return FlagResult(scores=scores, threshold=threshold, flagged=scores < threshold)

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
        """Write one model file: the map plus :meth:`metadata`, under one checksum.

        Parameters
        ----------
        path : str or Path
            Where to write (safetensors + JSON; no pickle), atomically.

        Returns
        -------
        Path
            The file written.

        Examples
        --------
        >>> import os, tempfile
        >>> path = mm.save(os.path.join(tempfile.mkdtemp(), "colours.csa"))
        >>> path.name
        'colours.csa'
        """
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

        Parameters
        ----------
        path : str or Path
            A file written by :meth:`save`.
        encoder_a, encoder_b : str, encoder or None
            Encoders to use instead of rebuilding the recorded ones (an object for an
            encoder that is not in the registry). Another encoder than the recorded one
            is refused unless ``allow_other_encoders=True`` (the map was fitted on the
            recorded encoders' features; another encoder of the same width gives wrong
            scores silently); a different width is refused always.
        allow_other_encoders : bool
            See above.
        cache_dir, use_cache
            As in the constructor.

        Returns
        -------
        MultimodalEncoder
            Fitted, with the file's calibration and fit record.

        Examples
        --------
        >>> import os, tempfile
        >>> saved = mm.save(os.path.join(tempfile.mkdtemp(), "colours.csa"))
        >>> loaded = MultimodalEncoder.load(saved, encoder_a=RGB(), encoder_b=Words())
        >>> bool(np.allclose(loaded.similarity(colours[:3], captions[:3]),
        ...                  mm.similarity(colours[:3], captions[:3]), atol=1e-6))
        True
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

    # ---- sharing and deployment (csa.pretrained, csa.export) ------------------------
    def save_pretrained(
        self, folder: str | Path, *, dataset: str | None = None, repo_id: str | None = None
    ) -> Path:
        """Write a Hugging Face style folder: ``model.safetensors``, ``config.json`` and a
        generated ``README.md`` model card (``dataset`` names the pairs, for the card)."""
        from csa.pretrained import save_pretrained

        return save_pretrained(self, folder, dataset=dataset, repo_id=repo_id)

    @classmethod
    def from_pretrained(cls, folder_or_repo: str | Path, **options: Any) -> MultimodalEncoder:
        """Load a folder written by :meth:`save_pretrained`, or a Hub repository id.

        ``options``: ``revision``, ``token``, ``hub_cache_dir``, ``local_files_only`` for
        the Hub, and :meth:`load`'s keywords. Offline, a repository id not in the
        Hugging Face cache fails at once with what to do.
        """
        from csa.pretrained import from_pretrained

        return from_pretrained(folder_or_repo, loader=cls.load, **options)

    def push_to_hub(self, repo_id: str, **options: Any) -> str:
        """Upload :meth:`save_pretrained`'s folder to the Hub repository ``repo_id``."""
        from csa.pretrained import push_to_hub

        return push_to_hub(self, repo_id, **options)

    def tower(self, side: Side, **options: Any) -> Any:
        """An image side as a plain ``torch.nn.Module``: pixels in, shared-space vectors out
        (see :func:`csa.export.tower`)."""
        from csa.export import tower

        return tower(self, check_side(side), **options)

    def export(self, side: Side, path: str | Path, **options: Any) -> Path:
        """Write one side as a tower that runs without csa: a sentence-transformers folder,
        an ONNX file or a torch.export program (see :func:`csa.export.export`)."""
        from csa.export import export

        return export(self, check_side(side), path, **options)


def _calibrate(
    model: Any, fa: np.ndarray, fb: np.ndarray, *, seed: int, sim_dim: int | None
) -> Calibration:
    """Temperature and mismatch threshold of a fitted ``model`` on held-out feature pairs."""
    from csa.tasks.calibration import choose_mismatch_threshold, fit_temperature
    from csa.tasks.groups import row_groups

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
        raise InputError(
            f"all {n} held-out side-b items are identical: nothing to calibrate against "
            "(draw another held-out set with seed=, or fit with held_out=0)"
        )
    scores = np.asarray(model.similarity(fa, fb[first], sim_dim=sim_dim), dtype=np.float64)
    temperature = fit_temperature(scores, labels)
    threshold = choose_mismatch_threshold(model, fa, fb, seed=seed, sim_dim=sim_dim)
    return Calibration(
        temperature=float(temperature.temperature),
        threshold=float(threshold.threshold),
        true_positive_rate=float(threshold.true_positive_rate),
        false_positive_rate=float(threshold.false_positive_rate),
        n_pairs=int(n),
        sim_dim=sim_dim,
    )


def _fitted_summary(model: Any) -> dict[str, Any]:
    """The hyperparameters the fit settled on (ridges, sim_dim, ASIF's k/p), for ``csa info``."""
    from csa.tasks._common import to_jsonable

    out: dict[str, Any] = {}
    for name in ("ridge_", "sim_dim_", "n_components_", "k_", "p_", "n_pairs_seen_"):
        value = getattr(model, name, None) if name in vars(model) else None
        if value is not None:
            out[name.rstrip("_")] = to_jsonable(value)
    return out


__all__ = [
    "Calibration",
    "Classification",
    "EncoderSpec",
    "FlagResult",
    "MultimodalEncoder",
    "SearchResult",
    "ZeroShotClassifier",
    "make_model",
    "method_name",
    "modality_of",
    "model_classes",
    "model_params",
]
