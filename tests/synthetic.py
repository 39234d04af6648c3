"""Paired data with a known answer, shared by the core tests.

Latent pairs (s_i, rho_i s_i + sqrt(1 - rho_i^2) e_i) with independent standard
normals have population canonical correlations exactly ``rho``; mixing each side
through an invertible matrix changes nothing about them.
"""

from __future__ import annotations

import numpy as np


def known_cca_pairs(
    n: int,
    rho: tuple[float, ...] = (0.9, 0.7, 0.5, 0.3),
    dim_a: int = 8,
    dim_b: int = 6,
    seed: int = 0,
    mixing_seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` whose canonical correlations are ``rho`` (then zeros).

    ``mixing_seed`` fixes the mixing matrices separately from the samples, so fresh
    data "from the same generator" means the same mixing and a new ``seed``.
    """
    rng = np.random.default_rng(seed)
    mix_rng = np.random.default_rng(seed if mixing_seed is None else mixing_seed)
    k = len(rho)
    shared = rng.standard_normal((n, k))
    noise = rng.standard_normal((n, k))
    rho_arr = np.asarray(rho)
    latent_a = np.hstack([shared, rng.standard_normal((n, dim_a - k))])
    latent_b = np.hstack(
        [shared * rho_arr + noise * np.sqrt(1 - rho_arr**2), rng.standard_normal((n, dim_b - k))]
    )
    mix_a = mix_rng.standard_normal((dim_a, dim_a)) + 3 * np.eye(dim_a)
    mix_b = mix_rng.standard_normal((dim_b, dim_b)) + 3 * np.eye(dim_b)
    offset_a = mix_rng.normal(scale=5.0, size=dim_a)
    offset_b = mix_rng.normal(scale=5.0, size=dim_b)
    return latent_a @ mix_a + offset_a, latent_b @ mix_b + offset_b


def reference_cca(a: np.ndarray, b: np.ndarray, ridge_a: float = 0.0, ridge_b: float = 0.0):
    """Canonical correlations by scipy's generalised symmetric eigensolver.

    Solves ``[[0, Cab], [Cba, 0]] v = rho [[Caa + ra I, 0], [0, Cbb + rb I]] v``, a
    route independent of csa's whitening + SVD. Ridges here are absolute.
    """
    from scipy.linalg import eigh

    ac = a - a.mean(0)
    bc = b - b.mean(0)
    n = a.shape[0]
    caa, cbb, cab = ac.T @ ac / n, bc.T @ bc / n, ac.T @ bc / n
    da, db = a.shape[1], b.shape[1]
    lhs = np.zeros((da + db, da + db))
    lhs[:da, da:] = cab
    lhs[da:, :da] = cab.T
    rhs = np.zeros_like(lhs)
    rhs[:da, :da] = caa + ridge_a * np.eye(da)
    rhs[da:, da:] = cbb + ridge_b * np.eye(db)
    values, vectors = eigh(lhs, rhs)
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order]
