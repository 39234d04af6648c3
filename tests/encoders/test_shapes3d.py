"""The 3D shape descriptor (shape-d2) on point clouds sampled from trimesh primitives.

The VRML reader and the KiCad loader that feed it in the demo are tested with the demo's
data (tests/demo/data/test_shapes3d_data.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from csa.encoders.shapes import ShapeDistributionEncoder, as_cloud
from csa.errors import DtypeError, ShapeError


# ------------------------------------------------------------------- shape descriptor
def _box_cloud(extents, n=2048, seed=0, lift=0.0):
    trimesh = pytest.importorskip("trimesh")
    mesh = trimesh.creation.box(extents=extents)
    mesh.apply_translation([0, 0, extents[2] / 2 + lift])
    points, _ = trimesh.sample.sample_surface(mesh, n, seed=seed)
    return np.asarray(points)


def test_encoder_shape_determinism_and_batch_independence():
    enc = ShapeDistributionEncoder(n_pairs=1024)
    clouds = [_box_cloud((2, 1, 0.5)), _box_cloud((10, 10, 10), seed=1), _box_cloud((1, 1, 1))]
    a = enc.encode(clouds, batch_size=1)
    b = enc.encode(clouds[::-1], batch_size=3)[::-1]
    assert a.shape == (3, enc.dim) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert enc.name != ShapeDistributionEncoder(n_pairs=1024, seed=1).name


def test_encoder_splits_shape_from_size():
    enc = ShapeDistributionEncoder()
    cloud = _box_cloud((4, 2, 1))
    small, big = enc.encode([cloud, cloud * 10.0])
    n_shape = sum(enc.bins[:3])  # D2, A3 and D1 are relative to the cloud's own size
    np.testing.assert_allclose(small[:n_shape], big[:n_shape], atol=1e-6)
    assert not np.allclose(small[n_shape:], big[n_shape:])
    # Turning the part on the board (90 degrees about z) changes nothing at all.
    turned = cloud[:, [1, 0, 2]] * [-1, 1, 1]
    np.testing.assert_allclose(enc.encode([turned])[0], small, atol=1e-6)


def test_encoder_sees_leads_below_the_board_and_tells_shapes_apart():
    trimesh = pytest.importorskip("trimesh")
    enc = ShapeDistributionEncoder()
    on_board = _box_cloud((4, 4, 2))
    through = _box_cloud((4, 4, 2), lift=-1.0)  # half of its height below z = 0
    sphere, _ = trimesh.sample.sample_surface(trimesh.creation.icosphere(radius=2), 2048, seed=0)
    f = enc.encode([on_board, through, np.asarray(sphere)])
    assert f[0, -1] == 0.0 and 0.3 < f[1, -1] < 0.7  # fraction of points below the board
    assert np.linalg.norm(f[0] - f[2]) > 0.1


def test_encoder_degenerate_and_bad_input():
    enc = ShapeDistributionEncoder(n_pairs=64)
    assert np.isfinite(enc.encode([np.ones((5, 3))])).all()  # all points coincide
    with pytest.raises(ShapeError, match="n >= 3, 3"):
        enc.encode([np.ones((5, 2))])
    with pytest.raises(ShapeError, match="NaN"):
        enc.encode([np.full((5, 3), np.nan)])
    with pytest.raises(DtypeError):
        as_cloud([["a", "b", "c"]] * 3)
    with pytest.raises(ShapeError, match="n_pairs"):
        ShapeDistributionEncoder(n_pairs=0)


def test_encoder_is_registered():
    from csa.encoders import get

    assert isinstance(get("shape-d2", reuse=False), ShapeDistributionEncoder)
