"""Where the three big matrix products of a fit run: numpy, or torch on a CPU or GPU.

A fit's cost is ``X'X``, ``Y'Y`` and ``X'Y``; everything after them is a d x d problem.
So only those products move to torch (and to a GPU, where they are many times faster),
while means, the sums across chunks and the decomposition stay in float64 numpy. That
keeps one numerical path for the solver whatever the device, and makes a torch fit
comparable to a numpy fit to round-off.

``precision`` picks the dtype of the products only: ``"float32"`` is about twice as
fast on CPUs and far faster on GPUs; the chunk is centred in float64 first, so the
products see zero-mean data and their relative error stays near float32's epsilon
times sqrt(chunk rows), not the cancellation error of uncentred sums.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from csa.errors import ParameterError, ShapeError
from csa.moments import PairMoments

Precision = Literal["float64", "float32"]
_PRECISIONS: dict[str, type] = {"float64": np.float64, "float32": np.float32}


def product_dtype(precision: str) -> type:
    """The numpy dtype of the products for a ``precision`` name; refuses anything else."""
    if precision not in _PRECISIONS:
        raise ParameterError(
            f"precision must be one of {sorted(_PRECISIONS)}; got {precision!r} "
            "(accumulation and the decomposition are float64 either way)"
        )
    return _PRECISIONS[precision]


def check_device(device: str | None) -> str | None:
    """``None`` (numpy), ``"cpu"`` or ``"cuda[:i]"`` (torch); fails early if unusable.

    Failing at fit time, before any chunk is read, spares a long out-of-core pass
    that would die at its first product.
    """
    if device is None:
        return None
    if not isinstance(device, str):
        raise ParameterError(f"device must be None, 'cpu' or 'cuda'; got {device!r}")
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ParameterError(f"device {device!r} is not a torch device name: {exc}") from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(
            f"device={device!r} asked for a GPU, but torch {torch.__version__} sees none "
            "(CPU-only build or no driver); use device='cpu' or device=None"
        )
    if parsed.type not in ("cpu", "cuda"):
        raise ParameterError(f"device must be 'cpu' or 'cuda'; got {device!r}")
    return device


def torch_chunk_moments(
    a: np.ndarray, b: np.ndarray, *, device: str = "cpu", precision: str = "float64"
) -> PairMoments:
    """Moments of one validated chunk with the products run by torch on ``device``.

    Centring happens on the device in float64 (one pass), the products in
    ``precision``, and only the d x d results come back, as float64 numpy.
    """
    import torch

    if a.shape[0] != b.shape[0]:
        raise ShapeError(f"chunk has {a.shape[0]} rows in a but {b.shape[0]} in b")
    if a.shape[0] == 0:
        return PairMoments.empty(a.shape[1], b.shape[1])
    dtype = torch.float64 if product_dtype(precision) is np.float64 else torch.float32
    target = torch.device(device)
    ta = torch.as_tensor(a, device=target, dtype=torch.float64)
    tb = torch.as_tensor(b, device=target, dtype=torch.float64)
    mean_a = ta.mean(dim=0)
    mean_b = tb.mean(dim=0)
    ac = (ta - mean_a).to(dtype)
    bc = (tb - mean_b).to(dtype)
    del ta, tb

    def host(x: Any) -> np.ndarray:
        return x.to(torch.float64).cpu().numpy()

    return PairMoments(
        n=int(a.shape[0]),
        mean_a=host(mean_a),
        mean_b=host(mean_b),
        comoment_aa=host(ac.T @ ac),
        comoment_bb=host(bc.T @ bc),
        comoment_ab=host(ac.T @ bc),
    )


def chunk_moments(
    a: np.ndarray, b: np.ndarray, *, device: str | None = None, precision: str = "float64"
) -> PairMoments:
    """Moments of one validated chunk on the chosen backend (numpy when ``device`` is None)."""
    if device is None:
        return PairMoments.from_chunk(a, b, product_dtype=product_dtype(precision))
    return torch_chunk_moments(a, b, device=device, precision=precision)
