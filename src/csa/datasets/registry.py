"""Data sets by name, so the command line and applications can say "bbc-news".

One table and one way in. The library's own data sets are listed in :data:`BUILTIN`
(name -> ``module:loader``), imported on first lookup; other packages add theirs through
the ``csa.datasets`` entry-point group, whose each entry names a function that calls
:func:`register` (the demo application registers its audio, time-series, clip-art and
3D sets that way). Users call :func:`register` directly. No module registers anything
as a side effect of being imported, so what a name means never depends on which modules
happen to have been imported before.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass

from csa.datasets.base import PairedDataset
from csa.errors import DatasetError
from csa.plugins import run_registration_hooks

Loader = Callable[..., PairedDataset]

#: The library's data sets: bundled ones a README example uses, and readers of published
#: layouts (and of users' own folders, tables and feature files).
BUILTIN: dict[str, str] = {
    "fashion-mnist": "csa.datasets.fashion_mnist:load_fashion_mnist",
    "bbc-news": "csa.datasets.bbc_news:load_bbc_news",
    "digits": "csa.datasets.digits:load_digits",
    "image-folder": "csa.datasets.folder:load_image_folder",
    "embeddings": "csa.datasets.embeddings:load_embedding_pair",
    "image-captions": "csa.datasets.image_captions:load_image_captions",
    "imagenet": "csa.datasets.imagenet:load_imagenet",
    "cosmos": "csa.datasets.cosmos:load_cosmos",
    "flickr30k": "csa.datasets.captions:load_flickr30k",
    "coco-captions": "csa.datasets.captions:load_coco_captions",
}
ENTRY_POINT_GROUP = "csa.datasets"


@dataclass(frozen=True)
class _Entry:
    loader: Loader
    description: str


_REGISTRY: dict[str, _Entry] = {}
_lock = threading.RLock()
_ready = False


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _add(name: str, loader: Loader, description: str, overwrite: bool) -> None:
    key = _key(name)
    if not key:
        raise DatasetError("a data set name cannot be empty")
    if not callable(loader):
        raise DatasetError(f"the loader registered for {name!r} is not callable")
    existing = _REGISTRY.get(key)
    if existing is not None and existing.loader is not loader and not overwrite:
        raise DatasetError(
            f"data set name {key!r} is already registered; pass overwrite=True to replace it"
        )
    doc = description or (inspect.getdoc(loader) or "").split("\n", 1)[0]
    _REGISTRY[key] = _Entry(loader, doc)


def _builtin_loader(target: str) -> Loader:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _run_plugins() -> None:
    """Call each ``csa.datasets`` entry point's registration function once.

    A plugin that fails to load costs its own data sets, not everyone's: it is reported
    as a warning naming the plugin, and the other names stay usable.
    """
    run_registration_hooks(ENTRY_POINT_GROUP, "data sets", stacklevel=4)


def _ensure_ready() -> None:
    """Fill the table once: the built-in data sets, then the plugins' registrations."""
    global _ready
    with _lock:
        if _ready:
            return
        _ready = True  # set first: plugins call register(), which comes back here
        for name, target in BUILTIN.items():
            _add(name, _builtin_loader(target), "", overwrite=False)
        _run_plugins()


def register(name: str, loader: Loader, description: str = "", overwrite: bool = False) -> None:
    """Make ``load(name, **kw)`` call ``loader(**kw)``; names ignore case and ``_``/``-``.

    Re-registering a name is refused unless ``overwrite=True``, so a plugin cannot
    silently shadow a built-in data set.
    """
    with _lock:
        _ensure_ready()
        _add(name, loader, description, overwrite)


def unregister(name: str) -> None:
    """Remove a registered data set; an unknown name is an error."""
    with _lock:
        _ensure_ready()
        if _REGISTRY.pop(_key(name), None) is None:
            raise DatasetError(f"data set {name!r} is not registered")


def available() -> list[str]:
    """Names :func:`load` accepts, sorted."""
    with _lock:
        _ensure_ready()
        return sorted(_REGISTRY)


def describe() -> dict[str, str]:
    """Name -> one-line description, for ``csa`` help and listings."""
    with _lock:
        _ensure_ready()
        return {name: _REGISTRY[name].description for name in sorted(_REGISTRY)}


def load(name: str, **kwargs: object) -> PairedDataset:
    """Load a registered data set by name; keyword arguments go to its loader."""
    with _lock:
        _ensure_ready()
        key = _key(name)
        entry = _REGISTRY.get(key)
        known = ", ".join(sorted(_REGISTRY))
    if entry is None:
        raise DatasetError(f"unknown data set {name!r}; known: {known}")
    signature = inspect.signature(entry.loader)
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        accepted = ", ".join(signature.parameters)
        raise DatasetError(f"data set {key!r}: {exc}; it accepts: {accepted}") from exc
    return entry.loader(**kwargs)


__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "available",
    "describe",
    "load",
    "register",
    "unregister",
]
