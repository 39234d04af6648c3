"""Which held-out items are the same item: groups of identical rows.

Paired data often repeat one side: ten class captions for a thousand images, one
photo with five captions. An identical caption is as right an answer as the true one,
and scores exactly the same, so a metric that counts it as a miss reports nonsense
(with pessimistic ties, Recall@1 = 0 however good the model). Tasks therefore treat
pairs as interchangeable by default when their rows are identical on either side:
pair j is a correct answer for pair i's query when ``a[j] == a[i]`` or ``b[j] == b[i]``
(bit for bit after the model's input conversion; -0.0 equals 0.0). The same rule keeps
a mismatch protocol from drawing a "wrong" caption that is identical to the true one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from csa.errors import ShapeError
from csa.tasks._common import to_numpy


def row_groups(x: Any, name: str = "x") -> np.ndarray:
    """Integer id per row, equal exactly when two rows are identical (ids in 0..g-1)."""
    arr = to_numpy(x, name)
    if arr.ndim != 2:
        raise ShapeError(f"{name} must be 2-D (n, d), got shape {arr.shape}")
    # Adding 0.0 turns -0.0 into 0.0, so equal numbers have equal bytes; one void view per
    # row makes np.unique compare whole rows at the cost of a 1-D sort.
    arr = np.ascontiguousarray(arr.astype(np.float64, copy=False) + 0.0)
    rows = arr.view(np.dtype((np.void, arr.dtype.itemsize * arr.shape[1]))).ravel()
    _, inverse = np.unique(rows, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def all_distinct(groups: np.ndarray) -> bool:
    """True when every id occurs once."""
    return np.unique(groups).shape[0] == groups.shape[0]


def pair_groups(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Identical-row ids of side a and of side b, for pairs (row i of a, row i of b)."""
    ga, gb = row_groups(a, "a"), row_groups(b, "b")
    if ga.shape != gb.shape:
        raise ShapeError(f"a has {ga.shape[0]} rows but b has {gb.shape[0]}; they must be paired")
    return ga, gb


def mismatch_groups(a: Any, b: Any) -> np.ndarray | None:
    """Group per pair such that any pair of another group is a true mismatch; None if all distinct.

    When only one side repeats, its identical-row groups are exact. When both repeat, a
    pair linked to another through an identical a row *or* b row joins its group
    (connected components), which never lets an identical item through as a negative
    and only excludes, in rare chains, a few legitimate ones.
    """
    ga, gb = pair_groups(a, b)
    da, db = all_distinct(ga), all_distinct(gb)
    if da and db:
        return None
    if da:
        return gb
    if db:
        return ga
    n = ga.shape[0]
    # Bipartite graph: pair nodes 0..n-1 linked to a-group nodes and b-group nodes.
    n_a = int(ga.max()) + 1
    rows = np.concatenate([np.arange(n), np.arange(n)])
    cols = np.concatenate([n + ga, n + n_a + gb])
    size = n + n_a + int(gb.max()) + 1
    graph = sp.csr_matrix((np.ones(2 * n), (rows, cols)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    return labels[:n].astype(np.int64)


__all__ = ["all_distinct", "mismatch_groups", "pair_groups", "row_groups"]
