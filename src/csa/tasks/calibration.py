"""From scores to decisions: class probabilities and a mismatch threshold, fitted on held-out pairs.

Zero-shot scores are similarities (CSA's lie in [-rho_1, rho_1]), not probabilities: a
softmax of raw scores is far too flat. Temperature scaling (Guo et al., 2017) fits one
number, the inverse temperature ``beta``, so that ``softmax(beta * scores)`` minimises
the log-loss of the true classes of held-out inputs. The log-loss is convex in ``beta``
(the logits are linear in it), so a bounded scalar search on ``log beta`` finds the
global minimum; the ranking, hence accuracy, never changes.

Mismatch detection needs a threshold on the pair score: a pair is flagged when its
score is *below* it. :func:`fit_mismatch_threshold` chooses it on held-out genuine pairs
against label-aware mismatches (:func:`csa.tasks.detect_out_of_context`), either by
Youden's J (the threshold maximising true-positive rate minus false-positive rate,
i.e. balanced accuracy; the default) or as the highest threshold whose false-positive
rate on genuine pairs stays at or under a target, for users who must bound how many good
pairs get flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from csa.errors import InputError, ShapeError
from csa.tasks._common import QueryOptions, ResultMixin, as_labels, as_scores
from csa.tasks.detection import detect_out_of_context

# log(beta) search range: from nearly uniform probabilities to nearly hard argmax for
# scores of order 1e-3..1.
_LOG_BETA_BOUNDS = (np.log(1e-3), np.log(1e5))


def _class_labels(labels: Any, n: int, n_classes: int) -> np.ndarray:
    y = as_labels(labels, "labels", n)
    if not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"labels must be integer class indices, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= n_classes:
        raise InputError(f"labels must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    return y


def log_loss(scores: Any, labels: Any, inverse_temperature: float) -> float:
    """Mean negative log-probability of the true class under ``softmax(beta * scores)``."""
    s = as_scores(scores, "scores", 2)
    y = _class_labels(labels, s.shape[0], s.shape[1])
    logp = log_softmax(float(inverse_temperature) * s, axis=1)
    return float(-logp[np.arange(s.shape[0]), y].mean())


@dataclass
class TemperatureScaling(ResultMixin):
    """``softmax(inverse_temperature * scores)``, fitted by held-out log-loss."""

    inverse_temperature: float
    log_loss: float  # on the held-out scores it was fitted on
    n_samples: int

    @property
    def temperature(self) -> float:
        return 1.0 / self.inverse_temperature

    def predict_proba(self, scores: Any) -> np.ndarray:
        """(n, C) class probabilities; rows sum to 1, order of scores kept."""
        s = as_scores(scores, "scores", 2)
        return np.exp(log_softmax(self.inverse_temperature * s, axis=1))


def fit_temperature(scores: Any, labels: Any) -> TemperatureScaling:
    """Fit the inverse temperature on held-out (n, C) zero-shot scores and true labels."""
    s = as_scores(scores, "scores", 2)
    if s.shape[1] < 2:
        raise ShapeError(f"calibration needs at least 2 classes, got {s.shape[1]} score column")
    y = _class_labels(labels, s.shape[0], s.shape[1])
    res = minimize_scalar(
        lambda t: log_loss(s, y, np.exp(t)),
        bounds=_LOG_BETA_BOUNDS,
        method="bounded",
        options={"xatol": 1e-6},
    )
    beta = float(np.exp(res.x))
    return TemperatureScaling(
        inverse_temperature=beta, log_loss=log_loss(s, y, beta), n_samples=int(s.shape[0])
    )


@dataclass
class MismatchThreshold(ResultMixin):
    """Flag a pair as mismatched when its score is below ``threshold``.

    ``true_positive_rate`` is the share of held-out mismatches flagged,
    ``false_positive_rate`` the share of held-out genuine pairs flagged, at the threshold.
    """

    threshold: float
    rule: str
    true_positive_rate: float
    false_positive_rate: float
    n_genuine: int
    n_mismatched: int

    def flag(self, scores: Any) -> np.ndarray:
        """Boolean mask: True where the pair is flagged as a mismatch."""
        return as_scores(scores, "scores", 1) < self.threshold


def fit_mismatch_threshold(
    scores: Any, is_mismatch: Any, *, max_false_positive_rate: float | None = None
) -> MismatchThreshold:
    """Choose the flagging threshold on held-out scores of genuine and mismatched pairs.

    Candidates lie midway between consecutive distinct scores (plus one below all and
    one above all). Default rule: Youden's J, ties to the lower threshold (fewer flags).
    With ``max_false_positive_rate``: the highest threshold that flags at most that share
    of the genuine pairs (the most mismatches caught within the budget).
    """
    s = as_scores(scores, "scores", 1)
    y = as_labels(is_mismatch, "is_mismatch", s.shape[0]).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise InputError(
            f"a threshold needs genuine and mismatched pairs, got {n_neg} genuine and "
            f"{n_pos} mismatched"
        )
    u = np.unique(s)
    cands = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2, [u[-1] + 1.0]])
    # Flagged = score < t: counts by binary search on the sorted scores of each class.
    tpr = np.searchsorted(np.sort(s[y]), cands, side="left") / n_pos
    fpr = np.searchsorted(np.sort(s[~y]), cands, side="left") / n_neg
    if max_false_positive_rate is None:
        i = int(np.argmax(tpr - fpr))
        rule = "youden"
    else:
        target = float(max_false_positive_rate)
        if not 0.0 <= target <= 1.0:
            raise InputError(f"max_false_positive_rate must lie in [0, 1], got {target}")
        i = int(np.flatnonzero(fpr <= target)[-1])  # fpr grows with t; t below all gives 0
        rule = f"fpr<={target:g}"
    return MismatchThreshold(
        threshold=float(cands[i]),
        rule=rule,
        true_positive_rate=float(tpr[i]),
        false_positive_rate=float(fpr[i]),
        n_genuine=n_neg,
        n_mismatched=n_pos,
    )


def choose_mismatch_threshold(
    model: Any,
    a_val: Any,
    b_val: Any,
    *,
    groups: Any | None = None,
    identical: bool = True,
    seed: int = 0,
    sim_dim: QueryOptions = None,
    max_false_positive_rate: float | None = None,
) -> MismatchThreshold:
    """Threshold for ``model.score_pairs`` from held-out pairs against label-aware mismatches.

    The mismatches are those of :func:`csa.tasks.detect_out_of_context` (never a caption
    identical to the true one); the rule is :func:`fit_mismatch_threshold`'s.
    """
    res = detect_out_of_context(
        model, a_val, b_val, groups=groups, identical=identical, seed=seed, sim_dim=sim_dim
    )
    return fit_mismatch_threshold(
        res.scores, res.is_mismatch, max_false_positive_rate=max_false_positive_rate
    )


__all__ = [
    "MismatchThreshold",
    "TemperatureScaling",
    "choose_mismatch_threshold",
    "fit_mismatch_threshold",
    "fit_temperature",
    "log_loss",
]
