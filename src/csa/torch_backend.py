"""The optional torch path: a fit's big matrix products on a CPU or GPU through torch.

A fit's cost is ``X'X``, ``Y'Y`` and ``X'Y``; everything after them is a d x d problem.
So only those products move to torch (and to a GPU, where they are many times faster),
while means, the sums across blocks and the decomposition stay in float64 numpy. That
keeps one numerical path for the solver whatever the device, and makes a torch fit
comparable to a numpy fit to round-off.

This module is a leaf: it knows nothing of moments or models and hands back plain
numpy arrays, so torch is imported only by a fit that asks for a device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from csa.errors import ParameterError
from csa.extras import require


def check_device(device: Any) -> str | None:
    """``None`` (numpy), ``"cpu"`` or ``"cuda[:i]"`` (torch); fails early if unusable.

    Failing at fit time, before any block is read, spares a long out-of-core pass
    that would die at its first product.
    """
    if device is None:
        return None
    if not isinstance(device, str):
        raise ParameterError(f"device must be None, 'cpu' or 'cuda'; got {device!r}")
    torch = require("torch", extra="torch", purpose=f"device={device!r} (a fit on torch)")
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ParameterError(f"device {device!r} is not a torch device name: {exc}") from exc
    if parsed.type not in ("cpu", "cuda"):
        raise ParameterError(f"device must be 'cpu' or 'cuda'; got {device!r}")
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(
            f"device={device!r} asked for a GPU, but torch {torch.__version__} sees none "
            "(CPU-only build or no driver); use device='cpu' or device=None"
        )
    return device


def block_products(
    a: np.ndarray, b: np.ndarray, *, device: str, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Means and centred co-moments of one block, the products run by torch on ``device``.

    The block is centred on the device in float64 (one pass), multiplied in ``dtype``,
    and only the d-vectors and d x d results come back, as float64 numpy:
    ``(mean_a, mean_b, a'a, b'b, a'b)`` of the centred block.
    """
    import torch

    products = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
    target = torch.device(device)
    ta = torch.as_tensor(np.asarray(a), device=target).to(torch.float64)
    tb = torch.as_tensor(np.asarray(b), device=target).to(torch.float64)
    mean_a = ta.mean(dim=0)
    mean_b = tb.mean(dim=0)
    ac = (ta - mean_a).to(products)
    bc = (tb - mean_b).to(products)
    del ta, tb

    def host(x: Any) -> np.ndarray:
        return x.to(torch.float64).cpu().numpy()

    return host(mean_a), host(mean_b), host(ac.T @ ac), host(bc.T @ bc), host(ac.T @ bc)
