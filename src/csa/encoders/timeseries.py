"""Time-series encoders: MiniRocket (main) and catch22 (light), both from sktime.

Neither is a pretrained network: MiniRocket draws random convolution biases from the
training series, so it must be fitted, once, on training data only, and its ``name``
then carries a fingerprint of that data (two fits on different series give different
features, and the embedding cache must not mix them). catch22 is a fixed list of
hand-designed statistics and needs no fit.

Items are numpy arrays, ``(length,)`` for one channel or ``(channels, length)``.

aeon holds the same two transforms, but every aeon release pins numba<0.64 and with it
numpy<2.4; sktime's versions run on the numpy this project uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from csa.encoders.base import BatchedEncoder, as_item_sequence
from csa.errors import DtypeError, NotFittedError, ShapeError
from csa.extras import require

#: MiniRocket's kernel count is rounded down to a multiple of its 84 base kernels.
MINIROCKET_BASE_KERNELS = 84


def as_series(item: Any, index: int = 0) -> np.ndarray:
    """One item as a finite float64 ``(channels, length)`` array, or a clear error."""
    try:
        arr = np.asarray(item, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DtypeError(f"time series {index} is not numeric: {type(item).__name__}") from exc
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ShapeError(
            f"time series {index} must be (length,) or (channels, length) with length >= 1; "
            f"got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ShapeError(f"time series {index} holds NaN or infinite values")
    return arr


def _as_series_list(items: Sequence[Any]) -> list[np.ndarray]:
    return [as_series(item, i) for i, item in enumerate(as_item_sequence(items))]


def fingerprint_series(series: Sequence[np.ndarray]) -> str:
    """Short content hash of a list of series: the fitted encoder's identity."""
    h = hashlib.sha256()
    for s in series:
        arr = np.ascontiguousarray(s, dtype=np.float64)
        h.update(f"{arr.shape}".encode())
        h.update(memoryview(arr).cast("B"))
    return h.hexdigest()[:12]


def pad_or_truncate(series: Sequence[np.ndarray], length: int) -> np.ndarray:
    """Stack series into ``(n, channels, length)``: zeros after short ones, long ones cut.

    Zero padding keeps each trace's own time scale (a 100-sample and a 1344-sample PLAID
    trace are both 30 kHz), and the padded stretch reads as "no current"; on PLAID it gave
    the MiniRocket features a better linear probe than resampling every series to one
    length (0.92 vs 0.89 test accuracy with 840 kernels), which stretches time.
    """
    channels = {s.shape[0] for s in series}
    if len(channels) != 1:
        raise ShapeError(
            f"all series must have the same number of channels; got {sorted(channels)}"
        )
    out = np.zeros((len(series), channels.pop(), length), dtype=np.float64)
    for i, s in enumerate(series):
        m = min(length, s.shape[1])
        out[i, :, :m] = s[:, :m]
    return out


class MiniRocketEncoder(BatchedEncoder):
    """MiniRocket features (proportion of positive values of random dilated convolutions).

    Call :meth:`fit` on the training series first. Unequal lengths: every series is zero
    padded at the end (or cut) to ``length``, by default the longest training series, so
    a test series longer than all training series loses its tail. MiniRocket needs at
    least 9 samples; shorter series are padded to 9. One channel uses sktime's
    ``MiniRocket``, several use ``MiniRocketMultivariate``. ``seed`` fixes the kernels'
    random choices, so the same training series always give the same encoder.
    """

    def __init__(self, num_kernels: int = 840, length: int | None = None, seed: int = 0) -> None:
        if num_kernels < MINIROCKET_BASE_KERNELS:
            raise ShapeError(
                f"num_kernels={num_kernels} is below MiniRocket's {MINIROCKET_BASE_KERNELS} "
                "base kernels"
            )
        if length is not None and length < 9:
            raise ShapeError(f"length={length} is below MiniRocket's minimum of 9 samples")
        self.num_kernels = int(num_kernels)
        self.length = length
        self.seed = int(seed)
        self._transform: Any = None
        self._fit_length: int | None = None
        self._channels: int | None = None
        self._fingerprint: str | None = None

    def fit(self, series: Sequence[Any]) -> MiniRocketEncoder:
        """Draw the kernel biases from ``series`` (training data only)."""
        data = _as_series_list(series)
        if not data:
            raise ShapeError("MiniRocketEncoder.fit needs at least one series")
        rocket = require(
            "sktime.transformations.rocket", extra="timeseries", purpose="MiniRocketEncoder"
        )
        MiniRocket, MiniRocketMultivariate = rocket.MiniRocket, rocket.MiniRocketMultivariate
        length = self.length or max(s.shape[1] for s in data)
        length = max(length, 9)
        x = pad_or_truncate(data, length)
        cls = MiniRocket if x.shape[1] == 1 else MiniRocketMultivariate
        transform = cls(num_kernels=self.num_kernels, random_state=self.seed)
        transform.fit(x)
        self._transform = transform
        self._fit_length = length
        self._channels = x.shape[1]
        self._fingerprint = fingerprint_series(data)
        return self

    def _check_fitted(self) -> None:
        if self._transform is None:
            raise NotFittedError(
                "MiniRocketEncoder must be fitted on training series before encoding; "
                "call .fit(train_series)"
            )

    @property
    def name(self) -> str:
        base = f"minirocket-k{self.num_kernels}-s{self.seed}"
        if self._transform is None:
            return f"{base}-unfitted"
        return f"{base}-L{self._fit_length}-fit{self._fingerprint}"

    @property
    def dim(self) -> int:
        """Known before the fit: one feature per kernel, kernels in whole sets of 84."""
        return (self.num_kernels // MINIROCKET_BASE_KERNELS) * MINIROCKET_BASE_KERNELS

    def encode(
        self,
        items: Sequence[Any],
        batch_size: int = 256,
        show_progress: bool | None = None,
        **options: Any,
    ) -> np.ndarray:
        """``(n, dim)`` float32 features; a larger default batch than text, as series are cheap."""
        self._check_fitted()
        return super().encode(items, batch_size, show_progress, **options)

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        data = [as_series(item, i) for i, item in enumerate(batch)]
        if data[0].shape[0] != self._channels:
            raise ShapeError(
                f"series have {data[0].shape[0]} channel(s); the encoder was fitted on "
                f"{self._channels}"
            )
        assert self._fit_length is not None
        x = pad_or_truncate(data, self._fit_length)
        return np.asarray(self._transform.transform(x), dtype=np.float32)


class Catch22Encoder(BatchedEncoder):
    """catch22 statistics per channel, plus each channel's mean and standard deviation.

    catch22 z-normalises a series before most of its features, so amplitude is lost; the
    two extra features ("catch24") keep it, and on appliance currents amplitude is much of
    the signal. Each series is measured at its own length, so unequal lengths need no
    padding. A feature that is undefined for a series (e.g. on a constant series) is set
    to 0 rather than NaN. Output: ``24 * channels`` features, channel-major.
    """

    def __init__(self, channels: int = 1, catch24: bool = True) -> None:
        if channels < 1:
            raise ShapeError(f"channels must be >= 1, got {channels}")
        self.channels = int(channels)
        self.catch24 = bool(catch24)
        self._transform: Any = None

    def encode(
        self,
        items: Sequence[Any],
        batch_size: int = 256,
        show_progress: bool | None = None,
        **options: Any,
    ) -> np.ndarray:
        """``(n, dim)`` float32 features; large batches let equal-length series share a call."""
        return super().encode(items, batch_size, show_progress, **options)

    @property
    def name(self) -> str:
        return self.registry_name or f"catch{24 if self.catch24 else 22}-c{self.channels}"

    @property
    def dim(self) -> int:
        return (24 if self.catch24 else 22) * self.channels

    def _get_transform(self) -> Any:
        if self._transform is None:
            Catch22 = require(
                "sktime.transformations.catch22", extra="timeseries", purpose="Catch22Encoder"
            ).Catch22
            self._transform = Catch22(catch24=self.catch24, replace_nans=True)
        return self._transform

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        data = [as_series(item, i) for i, item in enumerate(batch)]
        for i, s in enumerate(data):
            if s.shape[0] != self.channels:
                raise ShapeError(
                    f"series {i} has {s.shape[0]} channel(s); this encoder expects {self.channels}"
                )
        transform = self._get_transform()
        out = np.empty((len(data), self.dim), dtype=np.float64)
        # Series of one length go through sktime together; its per-call overhead dominates.
        lengths = np.array([s.shape[1] for s in data])
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            x = np.stack([data[i] for i in rows])
            out[rows] = np.asarray(transform.fit_transform(x), dtype=np.float64)
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
