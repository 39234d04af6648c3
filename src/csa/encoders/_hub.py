"""Turning a failed download into an error that says what to do about it.

Models named on the Hugging Face Hub load fine with the network; without it the
libraries raise assorted ``OSError``/``ValueError`` texts about connections. The
user needs to know which model was wanted and the two ways to supply it.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from csa.errors import EncoderError

# Seconds to wait for the hub's TCP handshake: long enough for a slow link, short
# enough that a machine without the network learns it at once instead of after the
# libraries' retries (83 s for one sentence-transformers name).
PROBE_TIMEOUT_S = 1.5
_probe_lock = threading.Lock()
_reachable: dict[str, bool] = {}


@contextmanager
def quiet_weight_loading() -> Iterator[None]:
    """Loading a model without transformers' "Loading weights" bar.

    transformers 5 draws a bar over the tensors of every checkpoint it loads: a fraction
    of a second for the bundled encoders, and in a log or a pipe a stray line before
    each fit. csa draws its own bars for the waits that last (csa.progress).
    """
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - the loaders below need transformers anyway
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def hub_offline() -> bool:
    """Whether the Hugging Face libraries were told not to touch the network."""
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
        return flag.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _hub_host() -> tuple[str, int]:
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    url = urlparse(endpoint)
    return url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)


def hub_reachable() -> bool:
    """Whether the Hugging Face Hub answers a TCP handshake; probed once per process."""
    host, port = _hub_host()
    key = f"{host}:{port}"
    with _probe_lock:
        if key not in _reachable:
            try:
                socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
                _reachable[key] = True
            except OSError:
                _reachable[key] = False
        return _reachable[key]


def _cached_on_disk(repo_ids: tuple[str, ...]) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return False
    for repo in repo_ids:
        try:
            if isinstance(try_to_load_from_cache(repo, "config.json"), str):
                return True
        except Exception:  # an id that is not a valid repo name is simply not cached
            continue
    return False


def hub_access(kind: str, model: str, *, repo_ids: tuple[str, ...] = ()) -> bool:
    """Decide, without waiting on retries, how a hub-named model can load.

    Returns False when the model should load from the network as usual, True when it
    must load from local files only (a local folder, or offline with a cached copy).
    Raises :class:`EncoderError` at once when it is offline and not cached.
    """
    if Path(model).expanduser().is_dir():
        return True
    if not hub_offline() and hub_reachable():
        return False
    if _cached_on_disk(repo_ids or (model,)):
        return True
    why = (
        "offline mode (HF_HUB_OFFLINE=1)"
        if hub_offline()
        else "offline: the Hugging Face Hub cannot be reached"
    )
    raise EncoderError(
        f"cannot load {kind} model {model!r}: {why}, and no copy is in the local Hugging Face "
        "cache. Pass a local directory that holds the model instead of its name, or "
        "pre-download it on a machine with the network (the cache is ~/.cache/huggingface)"
    )


def load_failure(kind: str, model: str, exc: BaseException, *, download_hint: str) -> EncoderError:
    """Build the error for a model that could not be loaded, naming it and the remedies."""
    mode = "offline mode (HF_HUB_OFFLINE=1)" if hub_offline() else "no network or no such model"
    reason = f"{type(exc).__name__}: {exc}".strip()
    if len(reason) > 400:
        reason = reason[:400] + "..."
    return EncoderError(
        f"could not load {kind} model {model!r} ({mode}). "
        f"Provide it in one of two ways: pass a local directory that holds the model instead "
        f"of its name, or pre-download it while online ({download_hint}) so the Hugging Face "
        f"cache has it. Cause: {reason}"
    )
