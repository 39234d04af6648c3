"""Encoders by name: ``csa.encoders.get("minilm-l6")``.

The CLI, the demo and config files name encoders as strings; this maps a string
to a loaded encoder. Two kinds of entry exist: exact names (``"minilm-l6"``) and
families, registered with a trailing colon (``"st:"``), whose factory receives
the rest of the name (``"st:all-mpnet-base-v2"`` -> ``factory("all-mpnet-base-v2")``).

A name may carry options (:mod:`csa.encoders.names`): ``"whisper-base@5s"`` is
``get("whisper-base", window_seconds=5)``, ``"efficientnet-lite0?pooling=mean"`` is
``get("efficientnet-lite0", pooling="mean")``. An encoder made by :func:`get` is named
by its canonical registry name with options, so ``get(encoder.name)`` rebuilds it; that
is how a model file records its encoders.

One table and one way in, as for data sets (:mod:`csa.datasets.registry`): the
library's encoders are registered at the end of this module, each by a factory that
imports its libraries only when called, so listing names costs nothing and a missing
extra fails only the encoder that needs it. Other packages add theirs through the
``csa.encoders`` entry-point group, whose each entry names a function that calls
:func:`register`; those run on first use. No module registers anything as a side effect
of being imported.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csa.encoders.base import Encoder, RegistryNamed
from csa.encoders.names import format_name, parse_name
from csa.errors import EncoderError
from csa.plugins import run_registration_hooks

EncoderFactory = Callable[..., Encoder]

ENTRY_POINT_GROUP = "csa.encoders"


@dataclass(frozen=True)
class _Entry:
    factory: EncoderFactory
    description: str
    argument: str
    canonical: Callable[[str], str] | None = None


_entries: dict[str, _Entry] = {}
_loaded: dict[tuple[str, tuple[tuple[str, Any], ...]], Encoder] = {}
_lock = threading.RLock()
_plugins_done = False


def register(
    name: str,
    factory: EncoderFactory,
    *,
    description: str = "",
    argument: str = "name",
    overwrite: bool = False,
    canonical: Callable[[str], str] | None = None,
) -> None:
    """Add an encoder under ``name``; end the name with ``:`` to register a family.

    A family's factory is called with the text after the colon as its first
    argument (``argument`` names it in listings: ``'precomputed:<path>'``);
    ``canonical`` rewrites that argument into the form recorded in the encoder's
    name (a file path made absolute, so one name never means two files).
    Re-registering a name is refused unless ``overwrite=True``, so two
    modules cannot silently shadow each other.
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise EncoderError(f"encoder names must be non-empty strings without spaces; got {name!r}")
    if ":" in name[:-1]:
        raise EncoderError(f"a colon may only end a family name ('st:'); got {name!r}")
    if not callable(factory):
        raise EncoderError(f"the factory for {name!r} is not callable")
    with _lock:
        if name in _entries and not overwrite:
            raise EncoderError(f"encoder {name!r} is already registered; pass overwrite=True")
        _entries[name] = _Entry(factory, description, argument, canonical)
        _forget_loaded(name)


def _forget_loaded(name: str) -> None:
    """Drop kept instances made by the entry ``name`` (all members, for a family)."""
    family = name.endswith(":")
    for key in [k for k in _loaded if k[0] == name or (family and k[0].startswith(name))]:
        del _loaded[key]


def unregister(name: str) -> None:
    """Remove an entry (and any loaded instance of it); unknown names are an error."""
    with _lock:
        if name not in _entries:
            raise EncoderError(f"encoder {name!r} is not registered")
        del _entries[name]
        _forget_loaded(name)


def _load_plugins() -> None:
    """Call each ``csa.encoders`` entry point's registration function, once.

    A plugin that fails costs its own encoders, not everyone's: it is reported as a
    warning naming the plugin, and the other names stay usable.
    """
    global _plugins_done
    with _lock:
        if _plugins_done:
            return
        _plugins_done = True  # set first: a plugin's register() calls must not come back here
        run_registration_hooks(ENTRY_POINT_GROUP, "encoders", stacklevel=3)


def _display(name: str) -> str:
    return f"{name}<{_entries[name].argument}>" if name.endswith(":") else name


def available() -> list[str]:
    """Registered names, sorted; families appear as e.g. ``'st:<name>'``."""
    _load_plugins()
    with _lock:
        return sorted(_display(n) for n in _entries)


def describe() -> dict[str, str]:
    """Registered names with their one-line descriptions."""
    _load_plugins()
    with _lock:
        return {_display(n): e.description for n, e in sorted(_entries.items())}


def _resolve(name: str) -> tuple[_Entry, tuple[Any, ...], str]:
    """The entry for ``name`` (options already removed), its arguments and canonical name."""
    if name in _entries and not name.endswith(":"):
        return _entries[name], (), name
    prefix, colon, rest = name.partition(":")
    family = prefix + colon
    if colon and family in _entries:
        if not rest.strip():
            raise EncoderError(f"{family!r} needs an argument after the colon: {_display(family)}")
        entry = _entries[family]
        argument = entry.canonical(rest) if entry.canonical is not None else rest
        return entry, (argument,), family + argument
    known = ", ".join(_display(n) for n in sorted(_entries))
    close = difflib.get_close_matches(name, list(_entries), n=1)
    hint = f" Did you mean {_display(close[0])!r}?" if close else ""
    raise EncoderError(f"unknown encoder {name!r}.{hint} Known encoders: {known}")


def get(name: str | Any, *, reuse: bool = True, **kwargs: Any) -> Encoder:
    """The encoder registered as ``name``, loaded with the name's options and ``kwargs``.

    ``name`` may carry options (``"whisper-base@5s"``, ``"st:model?device=cuda"``; see
    :mod:`csa.encoders.names`); ``kwargs`` add to them. The encoder comes back named by
    its canonical registry name, options included, so ``get(encoder.name)`` gives the
    same encoder again. A model object (a ``SentenceTransformer``, a transformers or
    timm model) or an encoder instead of a name is wrapped by
    :func:`csa.encoders.wrap.wrap`.

    Encoders are frozen, so one loaded instance per (name, options) is kept and
    handed out again (``reuse=False`` loads a fresh one); loading a model twice
    in one process would only cost time and memory.
    """
    if not isinstance(name, str):
        from csa.encoders.wrap import wrap

        return wrap(name, **kwargs)
    _load_plugins()
    base, options = parse_name(name)
    for key, value in kwargs.items():
        if key in options and options[key] != value:
            raise EncoderError(
                f"option {key}={options[key]!r} in the name {name!r} contradicts {key}={value!r}"
            )
    options.update(kwargs)
    with _lock:
        entry, args, canonical_base = _resolve(base)
        canonical = format_name(canonical_base, options)
        try:
            key: tuple[str, tuple[tuple[str, Any], ...]] | None = (
                canonical_base,
                tuple(sorted(options.items())),
            )
            hash(key)
        except TypeError:  # unhashable options: nothing to key a reuse on
            key = None
        if reuse and key is not None and key in _loaded:
            return _loaded[key]
        try:
            encoder = entry.factory(*args, **options)
        except TypeError as exc:
            if options and "argument" in str(exc):
                raise EncoderError(
                    f"encoder {canonical_base!r} does not take the option(s) "
                    f"{sorted(options)}: {exc}"
                ) from exc
            raise
        if not isinstance(encoder, Encoder):
            raise EncoderError(
                f"the factory for {name!r} returned {type(encoder).__name__}, "
                "which lacks name, dim or encode"
            )
        if canonical is not None and isinstance(encoder, RegistryNamed):
            encoder.registry_name = canonical
        if reuse and key is not None:
            _loaded[key] = encoder
        return encoder


def _minilm_l6(**kwargs: Any) -> Encoder:
    from csa.encoders.text import minilm_l6

    return minilm_l6(**kwargs)


def _minilm_l3_onnx(**kwargs: Any) -> Encoder:
    from csa.encoders.onnx_text import minilm_l3_onnx

    return minilm_l3_onnx(**kwargs)


def _efficientnet_lite0(**kwargs: Any) -> Encoder:
    from csa.encoders.efficientnet import EfficientNetLite0Encoder

    return EfficientNetLite0Encoder(**kwargs)


def _precomputed(path: str, **kwargs: Any) -> Encoder:
    from csa.encoders.precomputed import PrecomputedEncoder

    return PrecomputedEncoder(path, **kwargs)


def _sentence_transformer(model: str, **kwargs: Any) -> Encoder:
    from csa.encoders.text import SentenceTransformerEncoder

    return SentenceTransformerEncoder(model, **kwargs)


def _hf_image(model: str, **kwargs: Any) -> Encoder:
    from csa.encoders._hub import hub_access
    from csa.encoders.hf_image import HFImageEncoder

    if "local_files_only" not in kwargs and hub_access("transformers image", model):
        kwargs["local_files_only"] = True
    return HFImageEncoder(model, **kwargs)


def _timm(model: str, **kwargs: Any) -> Encoder:
    from csa.encoders._hub import hub_access
    from csa.encoders.hf_image import TimmImageEncoder
    from csa.extras import require

    require("timm", extra=None, purpose=f"the timm image encoder {model!r}")
    if kwargs.get("checkpoint") is None:
        hub_access("timm", model, repo_ids=(f"timm/{model}", model))
    return TimmImageEncoder(model, **kwargs)


def _clip_image(model: str, **kwargs: Any) -> Encoder:
    from csa.encoders.clip import CLIPImageEncoder

    return CLIPImageEncoder(model, **kwargs)


def _clip_text(model: str, **kwargs: Any) -> Encoder:
    from csa.encoders.clip import CLIPTextEncoder

    return CLIPTextEncoder(model, **kwargs)


def _whisper(model: str, **kwargs: Any) -> Encoder:
    from csa.encoders.audio import WhisperEncoder

    return WhisperEncoder(model, **kwargs)


def _mfcc(**kwargs: Any) -> Encoder:
    from csa.encoders.audio import MFCCEncoder

    return MFCCEncoder(**kwargs)


def _minirocket(**kwargs: Any) -> Encoder:
    from csa.encoders.timeseries import MiniRocketEncoder

    return MiniRocketEncoder(**kwargs)


def _catch22(**kwargs: Any) -> Encoder:
    from csa.encoders.timeseries import Catch22Encoder

    return Catch22Encoder(**kwargs)


def _shape_d2(**kwargs: Any) -> Encoder:
    from csa.encoders.shapes import ShapeDistributionEncoder

    return ShapeDistributionEncoder(**kwargs)


def _register_builtins() -> None:
    """The library's encoders, every one; the factories import their libraries when called."""
    from csa.encoders.audio import WHISPER_MODELS  # numpy only: the names, not the model

    register("minilm-l6", _minilm_l6, description="text: all-MiniLM-L6-v2, 384-d, bundled")
    register(
        "minilm-l3-onnx", _minilm_l3_onnx, description="text: paraphrase-MiniLM-L3-v2 ONNX, 384-d"
    )
    register(
        "efficientnet-lite0",
        _efficientnet_lite0,
        description="image: EfficientNet-Lite0 ImageNet, 1280-d pooled, bundled",
    )
    register(
        "precomputed:",
        _precomputed,
        description="features from a .npy or .parquet file",
        argument="path",
        canonical=lambda path: str(Path(path).expanduser().resolve()),
    )
    register(
        "st:",
        _sentence_transformer,
        description="any sentence-transformers model (network)",
        argument="hf-model-name",
    )
    register("hf-image:", _hf_image, description="any transformers image model (network)")
    register("timm:", _timm, description="any timm image model (network; pip install timm)")
    register(
        "clip:",
        _clip_image,
        description="image tower of a CLIP-like transformers model (network); see clip-text:",
        argument="hf-model-name",
    )
    register(
        "clip-text:",
        _clip_text,
        description="text tower of a CLIP-like transformers model (network); see clip:",
        argument="hf-model-name",
    )
    for model in WHISPER_MODELS:
        register(
            f"whisper-{model}",
            lambda model=model, **kw: _whisper(model, **kw),
            description=f"Whisper {model} encoder (CTranslate2, int8 CPU), mean+std over audio",
        )
    register(
        "whisper:",
        _whisper,
        description="Whisper encoder from a CTranslate2 model folder",
        argument="folder",
    )
    register("mfcc", _mfcc, description="MFCC + deltas, mean+std")
    # MiniRocket comes back unfitted, so ask for it with ``reuse=False``.
    register(
        "minirocket",
        _minirocket,
        description="time series: MiniRocket (sktime), fit on training series first",
    )
    register("catch22", _catch22, description="time series: catch22 + mean/std (sktime)")
    register(
        "shape-d2",
        _shape_d2,
        description="3D point clouds: D2/A3/D1 shape distributions + sizes (numpy, no fit)",
    )


_register_builtins()
