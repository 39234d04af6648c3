"""Optional libraries, imported where they are used, and the error that names their extra.

The core install (numpy, scipy, safetensors and the command line's typer and rich) fits
and scores CSA on feature files: a user with precomputed lidar or private-model features
should not download torch to fit a CCA. Everything else is an extra of the ``csa``
package (``pip install 'csa[encoders]'``), and each module that needs one imports it
through :func:`require` at the moment of use, so a missing library surfaces as one
:class:`~csa.errors.MissingExtraError` that says which ``pip install`` fixes it, instead of
a bare ``ModuleNotFoundError`` from deep inside a call.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from csa.errors import MissingExtraError


def install_hint(package: str, extra: str | None) -> str:
    """The command that installs ``package``: the csa extra holding it, else the package."""
    return f"pip install 'csa[{extra}]'" if extra else f"pip install {package}"


def missing(
    package: str, *, extra: str | None, purpose: str, alternative: str | None = None
) -> MissingExtraError:
    """The error for ``purpose`` lacking ``package``; raise it ``from`` the ImportError.

    ``alternative`` names another way to get going without the package ("pass the folder
    of a converted model"), appended after the install command.
    """
    other = f", or {alternative}" if alternative else ""
    return MissingExtraError(
        f"{purpose} needs the Python package {package!r}, which is not installed: "
        f"{install_hint(package, extra)}{other}"
    )


def require(
    module: str,
    *,
    extra: str | None,
    purpose: str,
    package: str | None = None,
    alternative: str | None = None,
) -> ModuleType:
    """Import ``module`` (a dotted name), or raise the error naming the install that fixes it.

    ``package`` is the distribution's name on PyPI when it differs from the import name
    (``PIL`` is ``pillow``); ``extra`` is the csa extra that installs it, or None for a
    library no extra carries (the message then names the package itself). A module that
    is present but fails on one of its own imports is reported with that cause, since
    reinstalling the extra is still the likely fix.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        name = package or module.split(".")[0].replace("_", "-")
        error = missing(name, extra=extra, purpose=purpose, alternative=alternative)
        root = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != root:
            error = MissingExtraError(f"{error} (importing {module} failed: {exc})")
        raise error from exc


__all__ = ["install_hint", "missing", "require"]
