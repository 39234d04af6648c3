"""The supervised ceiling of every labelled section: a linear probe on the budget's labels.

What the same features reach when the labels are given and there is no text side at
all. It is a ceiling to read the paired methods against, not a competitor.
"""

from __future__ import annotations

import warnings

import numpy as np

# Inverse regularisation of the linear probe, on standardised features.
PROBE_C = 0.1


def probe_scores(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, n_classes: int) -> np.ndarray:
    """(m, n_classes) probabilities of a logistic regression on the budget's own labels.

    Classes missing from ``y`` score -1, below any probability, so they are never
    predicted; a single class is predicted everywhere.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = np.full((x_test.shape[0], n_classes), -1.0)
    present = np.unique(y)
    if present.size == 1:
        out[:, present[0]] = 1.0
        return out
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=PROBE_C))
    with warnings.catch_warnings():
        # Few items per class (or more classes than half the items) is the point here.
        warnings.simplefilter("ignore", UserWarning)
        probe.fit(x, y)
    out[:, probe.classes_] = probe.predict_proba(x_test)
    return out


def probe_accuracy(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Top-1 accuracy of :func:`probe_scores` on labelled test features."""
    n_classes = int(max(np.max(y), np.max(y_test))) + 1
    predictions = probe_scores(x, y, x_test, n_classes).argmax(axis=1)
    return float(np.mean(predictions == y_test))
