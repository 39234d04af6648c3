"""A row's fold depends on its global row index only: every fit path deals it alike.

So fit, partial_fit over any chunking, fit_chunks, fit_files and the Dask fit give the
same fold moments and, from them, the same chosen ridges, sim_dim and solution (issue 11).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import csa
from csa.scale import fit_files
from synthetic import known_cca_pairs

A, B = known_cca_pairs(420, (0.9, 0.6, 0.3), dim_a=9, dim_b=6, seed=21)
WHOLE = csa.CSA(precision="float64").fit(A, B)


def _same(model: csa.CSA) -> None:
    assert (model.ridge_, model.sim_dim_) == (WHOLE.ridge_, WHOLE.sim_dim_)
    for mine, ref in zip(model.moments_.folds, WHOLE.moments_.folds, strict=True):
        assert mine.n == ref.n
        np.testing.assert_allclose(mine.comoment_ab, ref.comoment_ab, atol=1e-8)
    np.testing.assert_allclose(
        model.canonical_correlations_, WHOLE.canonical_correlations_, atol=1e-8
    )
    np.testing.assert_allclose(model.projection_a_, WHOLE.projection_a_, atol=1e-8)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(1, 419), min_size=1, max_size=6, unique=True))
def test_every_door_deals_rows_to_the_same_folds(cuts, tmp_path_factory):
    bounds = [0, *sorted(cuts), A.shape[0]]
    pieces = list(itertools.pairwise(bounds))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", csa.WeakFitWarning)
        streamed = csa.CSA(precision="float64")
        for lo, hi in pieces:
            streamed.partial_fit(A[lo:hi], B[lo:hi])
    _same(streamed)
    _same(csa.CSA(precision="float64").fit_chunks((A[lo:hi], B[lo:hi]) for lo, hi in pieces))
    folder = tmp_path_factory.mktemp("npy")
    np.save(folder / "a.npy", A)
    np.save(folder / "b.npy", B)
    chunk_rows = max(1, min(hi - lo for lo, hi in pieces))
    _same(
        fit_files(
            csa.CSA(precision="float64"), folder / "a.npy", folder / "b.npy", chunk_rows=chunk_rows
        )
    )


def test_the_dask_fit_deals_rows_like_memory():
    import dask
    import dask.array as da

    from csa.scale import fit_dask

    with dask.config.set(scheduler="synchronous"):
        for chunks in (97, 210):
            got = fit_dask(
                csa.CSA(precision="float64"),
                da.from_array(A, chunks=(chunks, 9)),
                da.from_array(B, chunks=(chunks, 6)),
            )
            _same(got)
