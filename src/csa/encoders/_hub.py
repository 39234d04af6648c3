"""Turning a failed download into an error that says what to do about it.

Models named on the Hugging Face Hub load fine with the network; without it the
libraries raise assorted ``OSError``/``ValueError`` texts about connections. The
user needs to know which model was wanted and the two ways to supply it.
"""

from __future__ import annotations

import os

from csa.errors import EncoderError


def hub_offline() -> bool:
    """Whether the Hugging Face libraries were told not to touch the network."""
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
        return flag.strip().upper() in {"1", "ON", "YES", "TRUE"}


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


def missing_package(package: str, purpose: str, extra: str | None = None) -> EncoderError:
    """The error for an optional library that is not installed."""
    how = f"pip install 'csa[{extra}]'" if extra else f"pip install {package}"
    return EncoderError(
        f"{purpose} needs the Python package {package!r}, which is not installed; {how}"
    )
