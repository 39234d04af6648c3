"""Temperature scaling and mismatch thresholds fitted on held-out scores: known answers."""

from __future__ import annotations

import numpy as np
import pytest

from csa.errors import InputError, ShapeError
from csa.tasks import choose_mismatch_threshold, fit_mismatch_threshold, fit_temperature
from csa.tasks.calibration import log_loss


def test_temperature_is_the_maximum_likelihood_one():
    # Every row prefers class 0 by a margin of 1; 80% of rows are class 0. The likelihood
    # peaks where sigmoid(beta * 1) = 0.8, i.e. beta = log 4.
    scores = np.tile([[1.0, 0.0]], (10, 1))
    labels = np.array([0] * 8 + [1] * 2)
    cal = fit_temperature(scores, labels)
    assert cal.inverse_temperature == pytest.approx(np.log(4.0), abs=1e-4)
    assert cal.temperature == pytest.approx(1 / np.log(4.0), abs=1e-4)
    probs = cal.predict_proba(scores)
    np.testing.assert_allclose(probs[:, 0], 0.8, atol=1e-4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    expected = -(0.8 * np.log(0.8) + 0.2 * np.log(0.2))
    assert cal.log_loss == pytest.approx(expected, abs=1e-6)
    assert log_loss(scores, labels, 1.0) > cal.log_loss


def test_temperature_keeps_the_ranking_and_checks_its_input():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 4)) * 0.1
    labels = np.argmax(scores + 0.05 * rng.normal(size=(50, 4)), axis=1)
    cal = fit_temperature(scores, labels)
    assert cal.inverse_temperature > 1.0  # small similarities need sharpening
    np.testing.assert_array_equal(
        np.argmax(cal.predict_proba(scores), axis=1), np.argmax(scores, axis=1)
    )
    with pytest.raises(ShapeError, match="2 classes"):
        fit_temperature(np.ones((3, 1)), [0, 0, 0])
    with pytest.raises(InputError, match=r"0\.\.3"):
        fit_temperature(scores, np.full(50, 4))


def test_mismatch_threshold_by_youden_and_by_false_positive_budget():
    genuine = [0.9, 0.8, 0.7, 0.3]
    mismatched = [0.2, 0.4, 0.1, 0.5]
    scores = np.array(genuine + mismatched)
    is_mismatch = np.repeat([False, True], 4)
    # Flag below 0.6: every mismatch and one genuine pair (0.3): J = 1 - 1/4.
    t = fit_mismatch_threshold(scores, is_mismatch)
    assert t.threshold == pytest.approx(0.6) and t.rule == "youden"
    assert (t.true_positive_rate, t.false_positive_rate) == (1.0, 0.25)
    np.testing.assert_array_equal(t.flag(scores), scores < 0.6)
    # No genuine pair may be flagged: the highest such threshold lies below 0.3.
    t0 = fit_mismatch_threshold(scores, is_mismatch, max_false_positive_rate=0.0)
    assert t0.threshold == pytest.approx(0.25)
    assert (t0.true_positive_rate, t0.false_positive_rate) == (0.5, 0.0)
    # Catching the last mismatch (0.65) would flag two more genuine pairs: J prefers 0.25.
    s2 = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.1, 0.2, 0.65])
    t2 = fit_mismatch_threshold(s2, np.repeat([False, True], [5, 3]))
    assert t2.threshold == pytest.approx(0.25) and t2.true_positive_rate == pytest.approx(2 / 3)
    with pytest.raises(InputError, match="genuine and mismatched"):
        fit_mismatch_threshold(scores[:4], is_mismatch[:4])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        fit_mismatch_threshold(scores, is_mismatch, max_false_positive_rate=2.0)


def test_choose_mismatch_threshold_on_held_out_pairs():
    class Dot:
        def score_pairs(self, a, b):
            return np.einsum("ij,ij->i", a, b)

    labels = np.arange(12) % 3
    codes = np.eye(3)[labels]
    # Genuine pairs score 1, mismatches (never an identical caption) 0: any threshold in
    # between separates them, and Youden's rule takes the midpoint.
    t = choose_mismatch_threshold(Dot(), codes, codes, seed=1)
    assert t.threshold == pytest.approx(0.5)
    assert (t.true_positive_rate, t.false_positive_rate) == (1.0, 0.0)
