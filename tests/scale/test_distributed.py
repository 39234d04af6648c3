"""Dask fits on a 2-worker LocalCluster equal the in-memory fit to 1e-8."""

from __future__ import annotations

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster

import csa
from csa.moments import PairMoments, moments_of
from csa.scale.distributed import encode_dask, fit_dask, moments_from_dask, moments_from_frames

TOL = 1e-8


@pytest.fixture(scope="module")
def client():
    # Threads, not processes: the same partitioning and reduction graph, without the
    # seconds of process start-up per worker.
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


def _pairs(n: int = 1500, dim_a: int = 20, dim_b: int = 9, seed: int = 0):
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n, 5))
    a = shared @ rng.standard_normal((5, dim_a)) + rng.standard_normal((n, dim_a)) + 10.0
    b = shared @ rng.standard_normal((5, dim_b)) + rng.standard_normal((n, dim_b)) - 4.0
    return a, b


def _same(m1, m2):
    np.testing.assert_allclose(m1.canonical_correlations_, m2.canonical_correlations_, atol=TOL)
    np.testing.assert_allclose(m1.projection_a_, m2.projection_a_, atol=TOL)
    np.testing.assert_allclose(m1.projection_b_, m2.projection_b_, atol=TOL)
    np.testing.assert_allclose(m1.mean_a_, m2.mean_a_, atol=TOL)


class HashEncoder:
    """A deterministic toy encoder: character counts of each string, as floats."""

    name = "hash"
    dim = 6

    def encode(self, items, batch_size=32, show_progress=None):
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for i, text in enumerate(items):
            for ch in str(text):
                out[i, ord(ch) % self.dim] += 1.0
        return out


def test_dask_arrays_with_different_chunkings_fit_like_memory(client):
    a, b = _pairs()
    ref = csa.CSA().fit(a, b)
    got = fit_dask(csa.CSA(), da.from_array(a, chunks=(211, 7)), da.from_array(b, chunks=400))
    _same(ref, got)
    moments = moments_from_dask(da.from_array(a, chunks=500), da.from_array(b, chunks=500))
    exact = PairMoments.from_chunk(a, b)
    np.testing.assert_allclose(moments.total.comoment_ab, exact.comoment_ab, rtol=1e-10)
    assert moments.n == a.shape[0]


def test_partitions_deal_rows_to_folds_by_global_row_index(client):
    """A row's held-out fold must not depend on the partitioning (issue 11/12)."""
    a, b = _pairs(n=700)
    whole = moments_of(a, b, n_folds=5)
    for chunks in (700, 97, 350):
        parts = moments_from_dask(
            da.from_array(a, chunks=chunks), da.from_array(b, chunks=chunks), n_folds=5
        )
        for fold, ref in zip(parts.folds, whole.folds, strict=True):
            assert fold.n == ref.n
            np.testing.assert_allclose(fold.mean_a, ref.mean_a, atol=1e-12)
            np.testing.assert_allclose(fold.comoment_ab, ref.comoment_ab, rtol=1e-9, atol=1e-9)
    # Frames count their partitions' lengths first, so their folds agree too.
    with dask.config.set({"dataframe.convert-string": False}):
        frame = dd.from_pandas(pd.DataFrame({"x": list(a), "y": list(b)}), npartitions=4)
        frames = moments_from_frames(frame, columns_a=["x"], columns_b=["y"], n_folds=5)
    assert [f.n for f in frames.folds] == [f.n for f in whole.folds]


def test_nan_rows_are_reported_by_global_row(client):
    """Row 170 in the third block of 75 used to be reported as row 20."""
    a, b = _pairs(n=300)
    a[170, 1] = np.nan
    with pytest.raises(csa.NonFiniteError, match="170"):
        fit_dask(csa.CSA(), da.from_array(a, chunks=75), da.from_array(b, chunks=75))


def test_dask_frames_and_parquet_dataset_fit_like_memory(client, tmp_path):
    a, b = _pairs()
    ref = csa.CSA().fit(a, b)
    cols_a = [f"a{i}" for i in range(a.shape[1])]
    cols_b = [f"b{i}" for i in range(b.shape[1])]
    frame = pd.DataFrame(np.hstack([a, b]), columns=cols_a + cols_b)
    one = dd.from_pandas(frame, npartitions=5)
    _same(ref, fit_dask(csa.CSA(), one, columns_a=cols_a, columns_b=cols_b))
    # One parquet dataset of two vector columns, in three files.
    folder = tmp_path / "pairs"
    folder.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(a)), 3)):
        table = pa.table(
            {
                "img": pa.FixedSizeListArray.from_arrays(pa.array(a[rows].ravel()), a.shape[1]),
                "txt": list(b[rows]),
            }
        )
        pq.write_table(table, folder / f"part{i}.parquet")
    _same(ref, fit_dask(csa.CSA(), folder, columns_a=["img"], columns_b=["txt"]))
    linear = fit_dask(csa.LinearMap(), folder, columns_a=["img"], columns_b=["txt"])
    np.testing.assert_allclose(linear.coef_, csa.LinearMap().fit(a, b).coef_, atol=TOL)


def test_encode_dask_maps_the_encoder_over_partitions(client):
    texts = [f"item {i} {'x' * (i % 7)}" for i in range(300)]
    encoder = HashEncoder()
    expected = encoder.encode(texts)
    from_bag = encode_dask(encoder, db.from_sequence(texts, npartitions=4)).compute()
    series = dd.from_pandas(pd.Series(texts), npartitions=3)
    from_series = encode_dask(encoder, series).compute()
    np.testing.assert_array_equal(from_bag, expected)
    np.testing.assert_array_equal(from_series, expected)
    # Two encodings of aligned partitions pair up; their blocks have known sizes.
    other = db.from_sequence([t.upper() + "!" for t in texts], npartitions=4)
    encoded = encode_dask(encoder, db.from_sequence(texts, npartitions=4))
    assert not any(np.isnan(c) for c in encoded.chunks[0]) and encoded.shape[0] == 300
    # float64 products: float32 sums differ between chunkings at 1e-5, as they would in memory.
    model = fit_dask(csa.CSA(precision="float64"), encoded, encode_dask(encoder, other))
    ref = csa.CSA(precision="float64").fit(
        expected, encoder.encode([t.upper() + "!" for t in texts])
    )
    _same(ref, model)


def test_bad_input_fails_with_clear_errors(client):
    a, b = _pairs(200)
    with pytest.raises(csa.ShapeError, match="rows"):
        moments_from_dask(da.from_array(a, chunks=50), da.from_array(b[:150], chunks=50))
    bad = a.copy()
    bad[120, 2] = np.inf
    with pytest.raises(csa.NonFiniteError):
        fit_dask(csa.CSA(), da.from_array(bad, chunks=50), da.from_array(b, chunks=50))
    with pytest.raises(csa.ParameterError, match="ASIF"):
        fit_dask(csa.ASIF(), da.from_array(a), da.from_array(b))
    frame = dd.from_pandas(pd.DataFrame({"x": a[:, 0], "y": b[:, 0]}), npartitions=2)
    with pytest.raises(csa.ParameterError, match="columns_a"):
        moments_from_frames(frame, columns_a=["nope"], columns_b=["y"])
    with dask.config.set({"dataframe.convert-string": True}):
        texty = dd.from_pandas(pd.DataFrame({"x": ["1 2"] * 10, "y": a[:10, 0]}), npartitions=2)
    with pytest.raises(csa.DatasetError, match="convert-string"):
        moments_from_frames(texty, columns_a=["x"], columns_b=["y"])
    with pytest.raises(csa.ParameterError, match="bag or series"):
        encode_dask(HashEncoder(), ["a", "b"])
