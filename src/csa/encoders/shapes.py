"""A hand-designed shape descriptor for 3D point clouds (no network, no fit).

No pretrained 3D network ships offline here, so the 3D side is a classic global shape
descriptor, in the line of Osada et al.'s shape distributions: histograms of simple
measurements over random points of the surface, which are invariant to rotation and
need no training. Scale is split off on purpose: the distribution histograms are taken
after dividing by the cloud's own mean pair distance (so a big and a small pin header
have the same *shape* features), and absolute size enters through a few separate
log-size features (a 0402 chip and a D-sub shell differ by two orders of magnitude,
and that is real information about the kind of part).

One assumption beyond the point set: KiCad models sit on the board plane z = 0 with
the board's normal along +z, so height above and depth below the board (through-hole
leads go below it) are kept as features. For clouds from elsewhere they are still
well defined, just less telling.

Items are ``(n_points, 3)`` arrays in millimetres. The same cloud always gives the
same features: the random point pairs and triples are drawn from a generator reset
from ``seed`` for every item, whatever the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from csa.encoders.base import BatchedEncoder, as_item_sequence
from csa.errors import DtypeError, ShapeError

#: Distances are measured relative to the mean pair distance; few pairs lie past 3x it.
_RELATIVE_RANGE = 3.0
#: Absolute pair distances, log10 mm: 0.01 mm (a pad's plating) to 1 m.
_LOG_MM_RANGE = (-2.0, 3.0)
#: A point this far below the board plane (mm) counts as below it (a lead, a peg).
_BELOW_BOARD_MM = 0.05


def as_cloud(item: Any, index: int = 0) -> np.ndarray:
    """One item as a finite float64 ``(n, 3)`` array with n >= 3, or a clear error."""
    try:
        arr = np.asarray(item, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DtypeError(f"point cloud {index} is not numeric: {type(item).__name__}") from exc
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] < 3:
        raise ShapeError(f"point cloud {index} must be (n >= 3, 3); got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ShapeError(f"point cloud {index} holds NaN or infinite values")
    return arr


def _histogram(values: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    """Frequencies of ``values`` in ``bins`` equal bins; values outside go to the end bins."""
    counts, _ = np.histogram(np.clip(values, lo, hi), bins=bins, range=(lo, hi))
    return counts / max(values.size, 1)


def _slog(x: np.ndarray | float) -> np.ndarray:
    """Signed log1p: keeps sign, compresses millimetres to a scale a linear model likes."""
    return np.sign(x) * np.log1p(np.abs(x))


class ShapeDistributionEncoder(BatchedEncoder):
    """D2 / A3 / D1 shape distributions, PCA shape ratios and log sizes of a point cloud.

    Features, in order (``dim = d2_bins + a3_bins + d1_bins + log_bins + z_bins + 11``):

    - D2: distances between ``n_pairs`` random point pairs over their mean;
    - A3: the angle at a random point between two others (``n_pairs`` triples);
    - D1: distance of every point from the centroid over their mean;
    - log D2: the same pair distances in log10 mm (shape and size together);
    - height profile: the points' z over the cloud's z range;
    - PCA: sqrt(l2/l1), sqrt(l3/l1) of the covariance eigenvalues (elongation, flatness);
    - sizes: slog of the three PCA extents, the two board-plane extents (larger first),
      the height above and the depth below z = 0, the mean pair distance in mm;
    - the fraction of points below the board plane.
    """

    def __init__(
        self,
        n_pairs: int = 4096,
        d2_bins: int = 32,
        a3_bins: int = 16,
        d1_bins: int = 16,
        log_bins: int = 16,
        z_bins: int = 8,
        seed: int = 0,
    ) -> None:
        settings = {"n_pairs": n_pairs, "d2_bins": d2_bins, "a3_bins": a3_bins,
                    "d1_bins": d1_bins, "log_bins": log_bins, "z_bins": z_bins}  # fmt: skip
        for label, value in settings.items():
            if int(value) < 1:
                raise ShapeError(f"{label} must be a positive integer, got {value}")
        self.n_pairs = int(n_pairs)
        self.bins = (int(d2_bins), int(a3_bins), int(d1_bins), int(log_bins), int(z_bins))
        self.seed = int(seed)

    @property
    def name(self) -> str:
        if self.registry_name:
            return self.registry_name
        bins = "-".join(str(b) for b in self.bins)
        return f"shape-d2-v1-p{self.n_pairs}-b{bins}-s{self.seed}"

    @property
    def dim(self) -> int:
        return sum(self.bins) + 11

    def encode(
        self,
        items: Sequence[Any],
        batch_size: int = 256,
        show_progress: bool | None = None,
        **options: Any,
    ) -> np.ndarray:
        """``(n, dim)`` float32 features; a larger default batch than text, as clouds are cheap."""
        return super().encode(as_item_sequence(items), batch_size, show_progress, **options)

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        return np.stack([self.describe(as_cloud(item, i)) for i, item in enumerate(batch)])

    def describe(self, cloud: np.ndarray) -> np.ndarray:
        """The feature vector of one checked ``(n, 3)`` cloud."""
        d2_bins, a3_bins, d1_bins, log_bins, z_bins = self.bins
        rng = np.random.default_rng(self.seed)
        n = cloud.shape[0]
        i, j, k = rng.integers(0, n, size=(3, self.n_pairs))
        pair = np.linalg.norm(cloud[i] - cloud[j], axis=1)
        scale = float(pair.mean())
        if scale <= 0.0:  # every sampled point coincides: a degenerate but valid cloud
            scale = 1.0
        u, v = cloud[j] - cloud[i], cloud[k] - cloud[i]
        norms = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
        ok = norms > 0
        cos = np.einsum("ij,ij->i", u[ok], v[ok]) / norms[ok]
        angles = np.arccos(np.clip(cos, -1.0, 1.0))

        centred = cloud - cloud.mean(axis=0)
        radial = np.linalg.norm(centred, axis=1)
        radial_scale = float(radial.mean()) or 1.0
        z = cloud[:, 2]
        z_lo, z_hi = float(z.min()), float(z.max())
        z_rel = (z - z_lo) / (z_hi - z_lo) if z_hi > z_lo else np.zeros_like(z)

        eig, vec = np.linalg.eigh(centred.T @ centred / n)
        eig, vec = np.clip(eig[::-1], 0.0, None), vec[:, ::-1]
        ratios = np.sqrt(eig[1:] / eig[0]) if eig[0] > 0 else np.zeros(2)
        proj = centred @ vec
        pca_extent = proj.max(axis=0) - proj.min(axis=0)
        plane = np.sort(cloud[:, :2].max(axis=0) - cloud[:, :2].min(axis=0))[::-1]
        sizes = np.concatenate([pca_extent, plane, [max(z_hi, 0.0), max(-z_lo, 0.0), scale]])

        log_pair = np.log10(np.maximum(pair, 10.0 ** _LOG_MM_RANGE[0]))
        return np.concatenate(
            [
                _histogram(pair / scale, d2_bins, 0.0, _RELATIVE_RANGE),
                _histogram(angles, a3_bins, 0.0, np.pi),
                _histogram(radial / radial_scale, d1_bins, 0.0, _RELATIVE_RANGE),
                _histogram(log_pair, log_bins, *_LOG_MM_RANGE),
                _histogram(z_rel, z_bins, 0.0, 1.0),
                ratios,
                _slog(sizes),
                [float(np.mean(z < -_BELOW_BOARD_MM))],
            ]
        )
