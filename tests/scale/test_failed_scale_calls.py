"""Issue 19: file fits, Dask fits and gallery adds commit only after they succeed.

Each test failed on the code before: the call raised as it should, but the object it
was given had already changed (ASIF left with 150 anchors and its earlier fit gone; a
gallery holding 8,192 of 10,000 items, so ids no longer matched the items added).
"""

from __future__ import annotations

import numpy as np
import pytest

import csa
from csa.scale.distributed import fit_dask
from csa.scale.search import GalleryIndex
from csa.scale.streaming import fit_files
from synthetic import known_cca_pairs


@pytest.fixture(scope="module")
def pairs():
    return known_cca_pairs(400, (0.9, 0.6, 0.4), dim_a=8, dim_b=6, seed=7)


def _fitted_state(model):
    return {k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_")}


def _assert_unchanged(model, before):
    after = _fitted_state(model)
    assert sorted(after) == sorted(before)
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[name], value)
            assert after[name] is value
        else:
            assert after[name] is value or after[name] == value


@pytest.fixture()
def files_with_nan_at_150(pairs, tmp_path):
    a, b = pairs
    bad = a.copy()
    bad[150, 2] = np.nan
    np.save(tmp_path / "a_bad.npy", bad)
    np.save(tmp_path / "b.npy", b)
    return tmp_path / "a_bad.npy", tmp_path / "b.npy"


@pytest.mark.parametrize("make", [csa.ASIF, csa.CSA, csa.CCA, csa.LinearMap])
def test_a_failed_file_fit_keeps_the_earlier_fit(pairs, files_with_nan_at_150, make):
    a, b = pairs
    model = make().fit(a[:300], b[:300])
    before = _fitted_state(model)
    scores = model.similarity(a[:5], b[:5])
    with pytest.raises(csa.NonFiniteError, match="150"):
        fit_files(model, *files_with_nan_at_150, chunk_rows=50)
    _assert_unchanged(model, before)
    np.testing.assert_array_equal(model.similarity(a[:5], b[:5]), scores)


def test_a_failed_file_fit_leaves_an_unfitted_model_unfitted(files_with_nan_at_150):
    model = csa.ASIF()
    with pytest.raises(csa.NonFiniteError):
        fit_files(model, *files_with_nan_at_150, chunk_rows=50)
    assert not model.is_fitted and _fitted_state(model) == {}


@pytest.mark.parametrize("make", [csa.ASIF, csa.CSA])
def test_a_file_fit_on_a_fitted_model_starts_over_like_fit(pairs, tmp_path, make):
    a, b = pairs
    np.save(tmp_path / "a.npy", a[200:])
    np.save(tmp_path / "b.npy", b[200:])
    model = make().fit(a[:200], b[:200])
    fit_files(model, tmp_path / "a.npy", tmp_path / "b.npy", chunk_rows=64)
    fresh = make().fit(a[200:], b[200:])
    assert model.n_pairs_seen_ == 200
    np.testing.assert_allclose(
        model.similarity(a[:7], b[:7]), fresh.similarity(a[:7], b[:7]), atol=1e-6
    )


def test_a_file_fit_on_a_model_fitted_at_other_widths_starts_over(pairs, tmp_path):
    a, b = pairs
    np.save(tmp_path / "a.npy", a[:, :5])
    np.save(tmp_path / "b.npy", b)
    model = csa.CSA().fit(a, b)
    fit_files(model, tmp_path / "a.npy", tmp_path / "b.npy")
    assert model.n_features_a_ == 5


def test_a_failed_dask_fit_keeps_the_earlier_fit(pairs):
    da = pytest.importorskip("dask.array")
    a, b = pairs
    model = csa.CSA().fit(a, b)
    before = _fitted_state(model)
    bad = a.copy()
    bad[333, 0] = np.inf
    with pytest.raises(csa.NonFiniteError, match="333"):
        fit_dask(model, da.from_array(bad, chunks=(100, -1)), da.from_array(b, chunks=(100, -1)))
    _assert_unchanged(model, before)


def test_dask_fit_takes_numpy_arrays(pairs):
    pytest.importorskip("dask.array")
    a, b = pairs
    model = fit_dask(csa.CSA(precision="float64"), a, b)
    reference = csa.CSA(precision="float64").fit(a, b)
    np.testing.assert_allclose(
        model.canonical_correlations_, reference.canonical_correlations_, atol=1e-10
    )


@pytest.mark.parametrize("bad", [[[1.0, 2.0]], "a.npy", 3])
def test_dask_fit_refuses_what_it_cannot_read_by_name(pairs, bad):
    pytest.importorskip("dask.array")
    _, b = pairs
    with pytest.raises(csa.CSAError):
        fit_dask(csa.CSA(), bad, b)


@pytest.mark.parametrize("function", [fit_files, fit_dask])
def test_scale_fits_refuse_a_model_that_is_not_a_csa_model(pairs, tmp_path, function):
    with pytest.raises(csa.ParameterError, match="csa model"):
        function("CSA", tmp_path / "a.npy", tmp_path / "b.npy")


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
def test_a_failed_gallery_add_adds_nothing(pairs, backend):
    if backend == "faiss":
        pytest.importorskip("faiss")
    a, b = pairs
    model = csa.CSA().fit(a, b)
    index = GalleryIndex(model, "b", backend=backend).add(b[:50])
    rng = np.random.default_rng(0)
    gallery = rng.standard_normal((10_000, b.shape[1]))
    gallery[9_000, 1] = np.nan
    with pytest.raises(csa.NonFiniteError, match="9000"):
        index.add(gallery)
    assert index.ntotal == 50
    index.add(b[50:100])
    scores, ids = index.search(a[60:61], k=1)
    assert index.ntotal == 100
    expected = model.similarity(a[60:61], b[:100])[0]
    assert ids[0, 0] == int(np.argmax(expected))  # ids still index the items added
    np.testing.assert_allclose(scores[0, 0], expected.max(), atol=1e-5)


def test_gallery_add_refuses_an_iterator_by_name(pairs):
    a, b = pairs
    index = GalleryIndex(csa.CSA().fit(a, b), "b", backend="numpy")
    with pytest.raises(csa.DtypeError, match="generator"):
        index.add(row for row in b)
    assert index.ntotal == 0


@pytest.mark.parametrize("rows", [0, -1, 1.5, "8"])
def test_block_sizes_that_are_not_positive_integers_are_parameter_errors(pairs, rows):
    from csa.scale.search import similarity_blocks

    a, b = pairs
    model = csa.CSA().fit(a, b)
    index = GalleryIndex(model, "b", backend="numpy").add(b)
    with pytest.raises(csa.ParameterError, match="query_rows"):
        index.search(a[:3], query_rows=rows)
    with pytest.raises(csa.ParameterError, match="rows"):
        list(similarity_blocks(model, a[:3], b, rows=rows))
