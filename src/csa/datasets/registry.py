"""Data sets by name, so the command line and experiments can say "bbc-news".

Other modules of this package add their data sets by calling :func:`register` when
imported; :func:`available` and :func:`load` import every module of the package once,
so a new module registers itself without anyone editing a central list.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from csa.datasets.base import PairedDataset
from csa.errors import DatasetError

Loader = Callable[..., PairedDataset]


@dataclass(frozen=True)
class _Entry:
    loader: Loader
    description: str


_REGISTRY: dict[str, _Entry] = {}
_discovered = False


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def register(name: str, loader: Loader, description: str = "", overwrite: bool = False) -> None:
    """Make ``load(name, **kw)`` call ``loader(**kw)``; names ignore case and ``_``/``-``."""
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


def _discover() -> None:
    """Import each module of the package once, so their ``register`` calls run."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("csa.datasets")
    for info in pkgutil.iter_modules(package.__path__):
        try:
            importlib.import_module(f"csa.datasets.{info.name}")
        except ImportError as exc:
            warnings.warn(
                f"csa.datasets.{info.name} could not be imported, so its data sets are not "
                f"available: {exc}",
                RuntimeWarning,
                stacklevel=3,
            )


def available() -> list[str]:
    """Names :func:`load` accepts, sorted."""
    _discover()
    return sorted(_REGISTRY)


def describe() -> dict[str, str]:
    """Name -> one-line description, for ``csa`` help and listings."""
    _discover()
    return {name: _REGISTRY[name].description for name in sorted(_REGISTRY)}


def load(name: str, **kwargs: object) -> PairedDataset:
    """Load a registered data set by name; keyword arguments go to its loader."""
    _discover()
    key = _key(name)
    entry = _REGISTRY.get(key)
    if entry is None:
        raise DatasetError(f"unknown data set {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    signature = inspect.signature(entry.loader)
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        accepted = ", ".join(signature.parameters)
        raise DatasetError(f"data set {key!r}: {exc}; it accepts: {accepted}") from exc
    return entry.loader(**kwargs)
