"""Small models and hand computations that give the layers above the core a known answer.

The tests that use these state what a task, the one object, the cache or the CLI must
return, computed here with plain numpy from the definitions, never by calling the code
under test. Two things matter for that:

- :class:`AsymmetricBilinear` scores ``(a @ M_a) . (b @ M_b)`` with ``M_a != M_b`` and
  equal widths on both sides, so passing a side-b array where a side-a one belongs runs
  without error and gives *other* numbers: a task that ignores ``inputs_side`` shows.
  (A symmetric dot-product model cannot tell the sides apart.)
- :func:`csa_scores_by_hand` and :func:`asif_scores_by_hand` recompute a fitted model's
  scores from its fitted attributes by the formulas of the design, so an end-to-end test
  on a real CSA or ASIF fit pins values, not shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from csa.encoders.base import BatchedEncoder


class AsymmetricBilinear:
    """A fitted scorer whose two sides differ: ``score(a, b) = (a @ M_a) . (b @ M_b)``.

    Has ``embed_a``/``embed_b``/``similarity``/``score_pairs`` like every csa model, and
    accepts (and ignores) ``sim_dim``, so tasks run it exactly as they run CSA.
    """

    is_fitted = True

    def __init__(self, dim: int = 3, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.m_a = rng.normal(size=(dim, dim)) + 2 * np.eye(dim)
        self.m_b = rng.normal(size=(dim, dim)) - np.eye(dim)
        self.dim = dim

    def fit(self, a: Any, b: Any) -> AsymmetricBilinear:
        """Nothing to learn: the matrices are fixed (so :func:`csa.tasks.tune` can run it)."""
        return self

    def embed_a(self, a: Any, sim_dim: int | None = None) -> np.ndarray:
        return np.asarray(a, dtype=np.float64) @ self.m_a

    def embed_b(self, b: Any, sim_dim: int | None = None) -> np.ndarray:
        return np.asarray(b, dtype=np.float64) @ self.m_b

    def similarity(self, a: Any, b: Any, sim_dim: int | None = None) -> np.ndarray:
        return self.embed_a(a) @ self.embed_b(b).T

    def score_pairs(self, a: Any, b: Any, sim_dim: int | None = None) -> np.ndarray:
        return np.einsum("ij,ij->i", self.embed_a(a), self.embed_b(b))


def bilinear_by_hand(model: AsymmetricBilinear, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``score(a_i, b_j)`` for every i, j, written out as sums (no call into the model)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.zeros((a.shape[0], b.shape[0]))
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = float((a[i] @ model.m_a) @ (b[j] @ model.m_b))
    return out


def csa_scores_by_hand(model: Any, a: np.ndarray, b: np.ndarray, sim_dim: int | None = None):
    """CSA's score of every (a_i, b_j) from the fitted attributes, by the design's formula.

    ``sim_s(x, y) = sum_{i<=s} w_i z_x,i z_y,i / (||z_x,1:s|| ||z_y,1:s||)`` with
    ``z = (x - mean) @ projection``.
    """
    s = int(model.sim_dim_ if sim_dim is None else sim_dim)
    za = (np.asarray(a, dtype=np.float64) - model.mean_a_) @ model.projection_a_[:, :s]
    zb = (np.asarray(b, dtype=np.float64) - model.mean_b_) @ model.projection_b_[:, :s]
    w = np.asarray(model.weights_[:s], dtype=np.float64)
    num = (za * w) @ zb.T
    return num / np.outer(np.linalg.norm(za, axis=1), np.linalg.norm(zb, axis=1))


def asif_scores_by_hand(
    anchors_a: np.ndarray, anchors_b: np.ndarray, a: np.ndarray, b: np.ndarray, k: int, p: float
) -> np.ndarray:
    """ASIF's scores from raw anchor pairs: cosine of top-k, clamped, powered relative vectors."""

    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def relative(x: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        sims = unit(x) @ unit(anchors).T
        out = np.zeros_like(sims)
        for row in range(sims.shape[0]):
            keep = np.argsort(-sims[row], kind="stable")[: min(k, anchors.shape[0])]
            out[row, keep] = np.maximum(sims[row, keep], 0.0) ** p
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)

    return relative(a, anchors_a) @ relative(b, anchors_b).T


def auc_by_hand(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """P(positive scores above negative), ties one half, by counting every pair."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    pos, neg = s[y], s[~y]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (pos.size * neg.size)


def softmax_by_hand(scores: np.ndarray, temperature: float) -> np.ndarray:
    """``exp(s / T) / sum exp(s / T)`` per row, shifted by the row maximum."""
    z = np.asarray(scores, dtype=np.float64) / float(temperature)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ranks_by_hand(row: np.ndarray, relevant: np.ndarray) -> list[int]:
    """1-based pessimistic ranks of the relevant items of one query, best first.

    The i-th best relevant item sits after the i - 1 better ones and after every
    irrelevant item scoring at least as high (ties go against the relevant item).
    """
    values = sorted((float(row[j]) for j in np.flatnonzero(relevant)), reverse=True)
    return [i + 1 + int(np.sum((row >= v) & ~relevant)) for i, v in enumerate(values)]


def average_precision_by_hand(row: np.ndarray, relevant: np.ndarray) -> float:
    """Mean of precision at each relevant item's rank."""
    ranks = ranks_by_hand(row, relevant)
    return float(np.mean([(i + 1) / r for i, r in enumerate(ranks)]))


class TableEncoder(BatchedEncoder):
    """Looks items up in a fixed table: item ``key`` -> ``vectors[key]``; counts real encodes.

    A real :class:`csa.encoders.base.BatchedEncoder`, so the one object and the cache
    treat it as any bundled encoder, with no model weights to load.
    """

    def __init__(self, name: str, vectors: dict[str, np.ndarray], modality: str = "text") -> None:
        self._name = name
        first = next(iter(vectors.values()))
        self._dim = int(np.asarray(first).shape[0])
        self._vectors = {str(k): np.asarray(v, dtype=np.float32) for k, v in vectors.items()}
        self.modality = modality
        self.encoded = 0

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        self.encoded += len(batch)
        return np.stack([self._vectors[str(item)] for item in batch])


class FeatureEncoder:
    """An encoder whose items already are feature vectors: no model to load, any width."""

    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def encode(self, items: Any, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        return np.asarray(items, dtype=np.float32)


def prompt_scores_by_hand(model: Any, a: np.ndarray, prompts: np.ndarray) -> np.ndarray:
    """The task-aware CSA's zero-shot score of inputs ``a`` against class ``prompts`` on side
    b, from the fitted attributes: the cosine, in side b's centred space, between each
    prompt and the canonical regression of the input, ``(C_bb + r mu I) B diag(rho) z_a``.
    ``C_bb`` comes from ``lift_b_`` only through this definition, so it is rebuilt here
    from the projection: ``B' (C_bb + r mu I) B = I`` gives ``(C_bb + r mu I) B = B^+'``."""
    s = int(model.sim_dim_)
    za = (np.asarray(a, dtype=np.float64) - model.mean_a_) @ model.projection_a_[:, :s]
    back = np.linalg.pinv(model.projection_b_).T[:, :s]  # (C_bb + r mu I) B, full rank k = d_b
    pred = (za * model.canonical_correlations_[:s]) @ back.T
    centred = np.asarray(prompts, dtype=np.float64) - model.mean_b_
    return (pred @ centred.T) / np.outer(
        np.linalg.norm(pred, axis=1), np.linalg.norm(centred, axis=1)
    )
