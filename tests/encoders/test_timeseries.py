"""Time-series encoders (MiniRocket, catch22) and one end-to-end fit, on slices of PLAID."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sktime")

import csa
from csa.encoders.timeseries import Catch22Encoder, MiniRocketEncoder, pad_or_truncate
from csa.errors import NotFittedError, ShapeError
from csa_demo.data.timeseries import load_timeseries_text


def test_pad_or_truncate():
    out = pad_or_truncate([np.ones((1, 3)), np.arange(6.0)[None]], 4)
    np.testing.assert_array_equal(out[:, 0], [[1, 1, 1, 0], [0, 1, 2, 3]])
    with pytest.raises(ShapeError, match="channels"):
        pad_or_truncate([np.ones((1, 3)), np.ones((2, 3))], 4)


@pytest.fixture(scope="module")
def plaid_slice():
    train = load_timeseries_text("plaid", "train", n=60, seed=0)
    test = load_timeseries_text("plaid", "test", n=20, seed=0)
    return train, test


def test_minirocket_shape_determinism_and_fit_identity(plaid_slice):
    train, test = plaid_slice
    enc = MiniRocketEncoder(num_kernels=168, seed=0)
    with pytest.raises(NotFittedError):
        enc.encode(test.a)
    enc.fit(train.a)
    a = enc.encode(test.a, batch_size=7)
    assert a.shape == (20, enc.dim) == (20, 168) and a.dtype == np.float32
    assert np.isfinite(a).all() and a.std() > 0
    again = MiniRocketEncoder(num_kernels=168, seed=0).fit(train.a)
    np.testing.assert_array_equal(again.encode(test.a), a)
    assert again.name == enc.name
    # Fitted on other series, it is another encoder: the cache must tell them apart.
    other = MiniRocketEncoder(num_kernels=168, seed=0).fit(train.a[:30])
    assert other.name != enc.name
    # A series longer than every training series is cut, not refused; 1-d input works.
    long = np.concatenate([test.a[0][0]] * 20)
    assert enc.encode([long]).shape == (1, 168)
    with pytest.raises(ShapeError, match="channel"):
        enc.encode([np.ones((2, 50))])


def test_catch22_shape_and_finite(plaid_slice):
    train, _ = plaid_slice
    enc = Catch22Encoder()
    feats = enc.encode([*train.a[:6], np.zeros(30)], batch_size=4)
    assert feats.shape == (7, 24) and np.isfinite(feats).all()
    # catch24's mean and std keep amplitude: scaling a series changes its features.
    scaled = enc.encode([train.a[0] * 10.0])
    assert not np.allclose(scaled, feats[:1])
    with pytest.raises(ShapeError):
        Catch22Encoder(channels=6).encode([np.ones(20)])


@pytest.mark.filterwarnings("ignore::csa.errors.WeakFitWarning")
def test_end_to_end_csa_zero_shot_beats_chance(plaid_slice):
    from csa.encoders import get

    train = load_timeseries_text("plaid", "train", n=150, seed=1)
    test = load_timeseries_text("plaid", "test", n=120, seed=1)
    enc = MiniRocketEncoder(num_kernels=336, seed=0).fit(train.a)
    x_train, x_test = enc.encode(train.a), enc.encode(test.a)
    text = get("minilm-l6")
    classes = text.encode(list(train.info["descriptions"]))
    model = csa.CSA().fit(x_train, classes[train.labels])
    scores = model.similarity(x_test, classes)
    assert scores.shape == (120, 11)
    accuracy = float(np.mean(scores.argmax(axis=1) == test.labels))
    assert accuracy > 3 / 11, accuracy  # chance is 1/11
