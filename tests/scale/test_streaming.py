"""Out-of-core fits from .npy and parquet equal the in-memory fit."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import csa
from csa.scale.features import NpyRowReader, rebatch
from csa.scale.streaming import auto_chunk_rows, fit_files, iter_pair_chunks


def _pairs(n: int = 1000, dim_a: int = 12, dim_b: int = 7, seed: int = 0):
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n, 4))
    a = shared @ rng.standard_normal((4, dim_a)) + rng.standard_normal((n, dim_a)) + 3.0
    b = shared @ rng.standard_normal((4, dim_b)) + rng.standard_normal((n, dim_b))
    return a.astype(np.float32), b.astype(np.float32)


def CSA64() -> csa.CSA:
    """Float64 products: the file fit must then equal the in-memory fit to round-off."""
    return csa.CSA(precision="float64")


def _same(m1, m2, tol=1e-8):
    np.testing.assert_allclose(m1.canonical_correlations_, m2.canonical_correlations_, atol=tol)
    np.testing.assert_allclose(m1.projection_a_, m2.projection_a_, atol=tol)
    np.testing.assert_allclose(m1.projection_b_, m2.projection_b_, atol=tol)


def _vectors(x: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), x.shape[1])


@pytest.fixture
def npy_pair(tmp_path):
    a, b = _pairs()
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    return a, b, tmp_path / "a.npy", tmp_path / "b.npy"


def test_npy_fit_equals_in_memory_fit(npy_pair):
    a, b, path_a, path_b = npy_pair
    ref = CSA64().fit(a, b)
    for rows in (333, 1000, 5000):
        _same(ref, fit_files(CSA64(), path_a, path_b, chunk_rows=rows))
    linear = fit_files(csa.LinearMap(precision="float64"), path_a, path_b, chunk_rows=250)
    in_memory = csa.LinearMap(precision="float64").fit(a, b)
    np.testing.assert_allclose(linear.coef_, in_memory.coef_, atol=1e-8)


def test_npy_reader_reads_exact_rows(npy_pair):
    a, _, path_a, _ = npy_pair
    reader = NpyRowReader(path_a)
    assert reader.shape == a.shape
    np.testing.assert_array_equal(reader.read(17, 400), a[17:400])
    np.testing.assert_array_equal(reader.read(990, 5000), a[990:])
    chunks = list(iter_pair_chunks(path_a, npy_pair[3], chunk_rows=300))
    assert [c[0].shape[0] for c in chunks] == [300, 300, 300, 100]


def test_asif_is_fed_chunk_by_chunk(npy_pair):
    a, b, path_a, path_b = npy_pair
    streamed = fit_files(csa.ASIF(k=50), path_a, path_b, chunk_rows=300)
    ref = csa.ASIF(k=50).fit(a, b)
    np.testing.assert_allclose(streamed.similarity(a[:20], b[:30]), ref.similarity(a[:20], b[:30]))


def test_bad_npy_files_are_refused(tmp_path, npy_pair):
    _, _, path_a, _ = npy_pair
    np.save(tmp_path / "short.npy", np.zeros((999, 7), np.float32))
    with pytest.raises(csa.ShapeError, match="999"):
        fit_files(CSA64(), path_a, tmp_path / "short.npy")
    np.save(tmp_path / "flat.npy", np.zeros(10))
    with pytest.raises(csa.DatasetError, match="2-D"):
        NpyRowReader(tmp_path / "flat.npy")
    np.save(tmp_path / "fortran.npy", np.asfortranarray(np.ones((5, 3))))
    with pytest.raises(csa.DatasetError, match="Fortran"):
        NpyRowReader(tmp_path / "fortran.npy")
    np.save(tmp_path / "obj.npy", np.array([[1, "x"]], dtype=object), allow_pickle=True)
    with pytest.raises(csa.DatasetError):
        NpyRowReader(tmp_path / "obj.npy")
    raw = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(csa.DatasetError):
        NpyRowReader(tmp_path / "cut.npy")
    with pytest.raises(csa.DatasetError, match="not found"):
        NpyRowReader(tmp_path / "missing.npy")
    with pytest.raises(csa.ParameterError, match="chunk_rows"):
        list(iter_pair_chunks(path_a, path_a, chunk_rows=0))
    with pytest.raises(csa.ParameterError, match=r"second \.npy"):
        fit_files(CSA64(), path_a)


def test_nan_in_a_later_chunk_is_caught(tmp_path):
    a, b = _pairs()
    a[777, 3] = np.nan
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    with pytest.raises(csa.NonFiniteError):
        fit_files(CSA64(), tmp_path / "a.npy", tmp_path / "b.npy", chunk_rows=200)


def test_parquet_one_file_with_two_vector_columns(tmp_path):
    a, b = _pairs()
    table = pa.table({"img": _vectors(a), "txt": _vectors(b), "label": pa.array(["x"] * len(a))})
    pq.write_table(table, tmp_path / "pairs.parquet", row_group_size=128)
    ref = CSA64().fit(a, b)
    _same(ref, fit_files(CSA64(), tmp_path / "pairs.parquet", chunk_rows=300))
    _same(
        ref,
        fit_files(CSA64(), tmp_path / "pairs.parquet", columns_a=["img"], columns_b=["txt"]),
    )


def test_parquet_two_datasets_with_misaligned_row_groups(tmp_path):
    a, b = _pairs()
    # Side a: scalar columns over two files (a dataset folder); side b: a variable-length
    # list column with row groups of another size.
    (tmp_path / "a").mkdir()
    cols = {f"f{i}": a[:, i] for i in range(a.shape[1])}
    pq.write_table(pa.table({k: v[:600] for k, v in cols.items()}), tmp_path / "a" / "0.parquet")
    pq.write_table(pa.table({k: v[600:] for k, v in cols.items()}), tmp_path / "a" / "1.parquet")
    pq.write_table(pa.table({"emb": list(b)}), tmp_path / "b.parquet", row_group_size=77)
    ref = CSA64().fit(a, b)
    _same(ref, fit_files(CSA64(), tmp_path / "a", tmp_path / "b.parquet", chunk_rows=250))
    _same(ref, fit_files(CSA64(), tmp_path / "a", tmp_path / "b.parquet"))


def test_bad_parquet_input_is_refused(tmp_path):
    a, b = _pairs(n=50)
    pq.write_table(
        pa.table({"x": _vectors(a), "y": _vectors(b), "z": _vectors(a)}), tmp_path / "t.parquet"
    )
    with pytest.raises(csa.ParameterError, match="columns_a"):
        fit_files(CSA64(), tmp_path / "t.parquet")
    with pytest.raises(csa.DatasetError, match="nope"):
        fit_files(CSA64(), tmp_path / "t.parquet", columns_a=["nope"], columns_b=["y"])
    pq.write_table(pa.table({"emb": [[1.0, 2.0], [3.0]]}), tmp_path / "ragged.parquet")
    pq.write_table(pa.table({"emb": [[1.0, 2.0], [3.0, 4.0]]}), tmp_path / "ok.parquet")
    with pytest.raises(csa.DatasetError, match="different lengths"):
        fit_files(CSA64(), tmp_path / "ragged.parquet", tmp_path / "ok.parquet")
    pq.write_table(pa.table({"emb": list(b[:49])}), tmp_path / "b49.parquet")
    pq.write_table(pa.table({"emb": list(a)}), tmp_path / "a50.parquet")
    with pytest.raises(csa.ShapeError, match="different row counts"):
        fit_files(CSA64(), tmp_path / "a50.parquet", tmp_path / "b49.parquet", chunk_rows=20)
    with pytest.raises(csa.DatasetError, match="not found"):
        fit_files(CSA64(), tmp_path / "none.parquet", tmp_path / "ok.parquet")


def test_float32_files_stream_at_float32_close_to_memory(npy_pair):
    a, b, path_a, path_b = npy_pair
    # float32 products (the default for float32 input) differ from memory only by rounding.
    _same(csa.CSA().fit(a, b), fit_files(csa.CSA(), path_a, path_b, chunk_rows=300), tol=1e-5)


def test_id_and_label_columns_are_not_features_unless_named(tmp_path):
    """Issue 9: an ``id`` column beside the embedding was fitted as a feature (top rho 1.0)."""
    a, b = _pairs(n=200)
    ids = np.arange(200)
    pq.write_table(pa.table({"id": ids, "emb": _vectors(a)}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"emb": _vectors(b), "label": ids % 3}), tmp_path / "b.parquet")
    ref = CSA64().fit(a, b)
    fitted = fit_files(CSA64(), tmp_path / "a.parquet", tmp_path / "b.parquet")
    assert fitted.projection_a_.shape[0] == a.shape[1]
    _same(ref, fitted)
    # All-scalar files: numeric columns are features, except those named as metadata.
    scalar = {"row_id": ids, **{f"f{i}": a[:, i] for i in range(a.shape[1])}}
    pq.write_table(pa.table(scalar), tmp_path / "wide.parquet")
    _same(ref, fit_files(CSA64(), tmp_path / "wide.parquet", tmp_path / "b.parquet"))
    # Named, an id column is a feature like any other.
    chunks = iter_pair_chunks(
        tmp_path / "a.parquet", tmp_path / "b.parquet", columns_a=["id", "emb"]
    )
    first_a, _ = next(chunks)
    assert first_a.shape[1] == a.shape[1] + 1 and first_a[:3, 0].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("sizes", [[5, 5, 5], [1, 13, 2, 40], [7], [3, 0, 9]])
def test_rebatch_cuts_exact_blocks(sizes):
    blocks = [np.arange(s * 2).reshape(s, 2) + 100 * i for i, s in enumerate(sizes)]
    out = list(rebatch(iter(blocks), 4))
    assert all(x.shape[0] == 4 for x in out[:-1]) and 0 < out[-1].shape[0] <= 4
    np.testing.assert_array_equal(np.concatenate(out), np.concatenate(blocks))


def test_auto_chunk_rows_bounds_working_memory():
    rows = auto_chunk_rows(1024, 1024)
    assert 1024 <= rows and rows * 2 * 8 * 2048 <= 256 * 2**20
