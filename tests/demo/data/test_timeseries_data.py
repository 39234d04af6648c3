"""The demo's time-series data: PLAID, BasicMotions and ItalyPowerDemand from sktime's wheel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sktime")

from csa.errors import DatasetError
from csa_demo.data.timeseries import PROBLEMS, load_timeseries_text


@pytest.mark.parametrize(
    ("name", "n_train", "n_test", "n_classes", "channels"),
    [
        ("plaid", 537, 537, 11, 1),
        ("basic-motions", 40, 40, 4, 6),
        ("italy-power-demand", 67, 1029, 2, 1),
    ],
)
def test_bundled_counts_and_pairing(name, n_train, n_test, n_classes, channels):
    train = load_timeseries_text(name, "train")
    test = load_timeseries_text(name, "test")
    assert (len(train), len(test)) == (n_train, n_test)
    assert train.n_classes == n_classes
    assert set(np.unique(np.concatenate([train.labels, test.labels]))) == set(range(n_classes))
    descriptions = train.info["descriptions"]
    assert len(set(descriptions)) == n_classes
    # Every pair's text is its own class's description.
    assert all(t == descriptions[k] for t, k in zip(train.b, train.labels, strict=True))
    assert all(s.shape[0] == channels and s.dtype == np.float64 for s in train.a)


def test_plaid_has_unequal_lengths_and_all_split():
    data = load_timeseries_text("plaid", "all")
    lengths = {s.shape[1] for s in data.a}
    assert len(data) == 1074 and min(lengths) == 100 and max(lengths) == 1344
    sample = load_timeseries_text("plaid", "train", n=22, seed=3)
    assert len(sample) == 22 and np.bincount(sample.labels, minlength=11).min() >= 1


def test_unknown_problem_and_split():
    with pytest.raises(DatasetError, match="unknown time-series problem"):
        load_timeseries_text("gunpoint")
    with pytest.raises(DatasetError, match="split"):
        load_timeseries_text("plaid", "validation")
    assert set(PROBLEMS) == {"plaid", "basic-motions", "italy-power-demand"}
