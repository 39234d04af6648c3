"""The option syntax of encoder names: one string names a model and its settings.

A model file, a cache entry and a command line all record an encoder as one string,
and :func:`csa.encoders.get` must rebuild the same encoder from it. So options are part
of the name:

- ``name?key=value&key2=value2``: any keyword of the encoder's factory
  (``efficientnet-lite0?pooling=mean``); values read as int, float, bool (``true`` /
  ``false``), ``none``, else text;
- ``name@5s``: shorthand for ``window_seconds=5`` (audio encoders; ``?window=5`` also works);
- ``name@128``: shorthand for ``max_seq_length=128`` (text encoders).

:func:`format_name` writes options back in one canonical order, so two spellings of
the same settings give the same name (and share cache entries).
"""

from __future__ import annotations

import math
import re
from typing import Any

from csa.errors import EncoderError

WINDOW = "window_seconds"
MAX_LENGTH = "max_seq_length"
_ALIASES = {"window": WINDOW, "max_length": MAX_LENGTH}
_SHORTHAND = re.compile(r"@(?P<value>\d+(?:\.\d+)?)(?P<unit>s?)$")
_QUERY = re.compile(r"\?(?P<query>[A-Za-z_]\w*=[^?&=]*(?:&[A-Za-z_]\w*=[^?&=]*)*)$")
# Options that say where and how a model runs, not what it computes: they stay out of
# names, so a model file recorded on a GPU machine names the same encoder on a laptop.
RUNTIME_OPTIONS = frozenset({"device", "local_files_only", "cache_dir", "threads"})
# Values that survive the round trip through text unchanged.
Scalar = str | int | float | bool | None


def _parse_value(text: str) -> Scalar:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def parse_name(name: str) -> tuple[str, dict[str, Scalar]]:
    """Split ``name`` into the registry name proper and the options it carries."""
    base, options = name, {}
    query = _QUERY.search(base)
    if query:
        base = base[: query.start()]
        for pair in query.group("query").split("&"):
            key, _, value = pair.partition("=")
            key = _ALIASES.get(key, key)
            if key in options:
                raise EncoderError(f"option {key!r} is given twice in encoder name {name!r}")
            options[key] = _parse_value(value)
    short = _SHORTHAND.search(base)
    if short:
        base = base[: short.start()]
        key = WINDOW if short.group("unit") else MAX_LENGTH
        value = float(short.group("value")) if key == WINDOW else int(float(short.group("value")))
        if key in options:
            raise EncoderError(f"option {key!r} is given twice in encoder name {name!r}")
        options[key] = value
    if WINDOW in options:
        options[WINDOW] = _check_number(options[WINDOW], WINDOW, name)
    if not base:
        raise EncoderError(f"encoder name {name!r} has options but no name")
    return base, options


def _check_number(value: Any, key: str, name: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EncoderError(f"option {key} in {name!r} must be a number; got {value!r}")
    return _number(value)


def is_scalar(value: Any) -> bool:
    """Whether an option value can be written into a name and read back unchanged."""
    if value is None or isinstance(value, bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return bool(value) and not re.search(r"[?&=@\s]", value) and _parse_value(value) == value
    return False


def format_name(base: str, options: dict[str, Any]) -> str | None:
    """The canonical name for ``base`` with ``options``; None if an option cannot be written.

    ``window_seconds`` becomes ``@<n>s``, ``max_seq_length`` ``@<n>``, the rest a query in
    sorted key order. Runtime options (:data:`RUNTIME_OPTIONS`) are left out.
    """
    rest = {k: v for k, v in options.items() if k not in RUNTIME_OPTIONS}
    suffix = ""
    if WINDOW in rest and MAX_LENGTH in rest:
        return None  # one shorthand per name; such an encoder keeps its own name
    if WINDOW in rest:
        value = rest.pop(WINDOW)
        if not is_scalar(value) or isinstance(value, bool | str) or value is None:
            return None
        suffix = f"@{_number(value):g}s"
    elif MAX_LENGTH in rest:
        value = rest.pop(MAX_LENGTH)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                return None
            suffix = f"@{value}"
    if not all(is_scalar(v) for v in rest.values()):
        return None
    query = "&".join(f"{k}={_format_value(rest[k])}" for k in sorted(rest))
    return base + suffix + (f"?{query}" if query else "")


def _format_value(value: Scalar) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
