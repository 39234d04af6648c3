"""Reproductions of the defects an independent robustness suite found (issue 12).

Each test failed on the code before the fix: it names the input that used to give a raw
exception, a silent wrong answer or a misleading message, and checks the right result or
the specific csa error now.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import csa
from csa.modelfile import _digest
from synthetic import known_cca_pairs

RHO = (0.9, 0.7, 0.5)


@pytest.fixture(scope="module")
def pairs():
    return known_cca_pairs(600, RHO, dim_a=12, dim_b=8, seed=3)


# ---- 1. scale invariance of the "auto" arithmetic ---------------------------------------
@pytest.mark.parametrize("scale", [1e80, 1e-100])
@pytest.mark.parametrize("method", [csa.CSA, csa.CCA, csa.LinearMap])
def test_moment_models_are_scale_free(pairs, method, scale):
    a, b = pairs
    base = method().fit(a, b)
    scaled = method().fit(a * scale, b)
    np.testing.assert_allclose(
        scaled.similarity(a[:20] * scale, b[:20]), base.similarity(a[:20], b[:20]), atol=1e-9
    )
    assert np.isfinite(scaled.similarity(a[:5] * scale, b[:5])).all()


def test_oas_ridge_is_scale_free(pairs):
    a, b = pairs
    base = csa.CSA(ridge="oas").fit(a, b)
    for scale in (1e80, 1e-100):
        assert csa.CSA(ridge="oas").fit(a * scale, b).ridge_ == pytest.approx(base.ridge_)


@pytest.mark.parametrize("scale", [1e100, 1e-100])
def test_asif_scores_do_not_depend_on_scale(pairs, scale):
    a, b = pairs
    base = csa.ASIF(k=50, p=4).fit(a, b)
    scaled = csa.ASIF(k=50, p=4).fit(a * scale, b)
    np.testing.assert_allclose(
        scaled.similarity(a[:10] * scale, b[:10]), base.similarity(a[:10], b[:10]), atol=1e-12
    )


@pytest.mark.parametrize("scale", [1e160, 1e-200])
def test_magnitudes_beyond_float64_squares_are_refused_by_name(pairs, scale):
    a, b = pairs
    word = "overflow" if scale > 1 else "underflow"
    for model in (csa.CSA(), csa.ASIF(), csa.LinearMap()):
        with pytest.raises(csa.InputError, match=word):
            model.fit(a * scale, b)


def test_a_tiny_side_is_not_called_constant(pairs):
    a, b = pairs
    with pytest.raises(csa.InputError) as info:
        csa.CSA().fit(a * 1e-300, b)
    assert "constant" not in str(info.value) and "rescale" in str(info.value)


# ---- 2. state is committed only after a successful solve -------------------------------
def test_failed_sim_dim_leaves_an_unfitted_model_unfitted(pairs):
    a, b = pairs
    model = csa.CSA(sim_dim=100)
    with pytest.raises(csa.SimDimError):
        model.fit(a, b)
    assert not model.is_fitted
    with pytest.raises(csa.NotFittedError):
        model.similarity(a[:2], b[:2])


def test_failed_partial_fit_leaves_the_model_as_it_was(pairs, tmp_path):
    a, b = pairs
    model = csa.CSA(ridge=0.0).fit(a, b)
    before = (model.n_pairs_seen_, model.mean_a_.copy(), model.projection_a_.copy())
    # Collinear extra rows make side a singular, which ridge=0 cannot solve.
    bad_a = np.repeat(a[:1], 5000, axis=0)
    with pytest.raises(csa.RankDeficientError):
        model.fit(bad_a, b[:1].repeat(5000, axis=0) + np.arange(5000)[:, None])
    assert model.n_pairs_seen_ == before[0]
    np.testing.assert_array_equal(model.mean_a_, before[1])
    np.testing.assert_array_equal(model.projection_a_, before[2])
    constant = np.zeros((3, a.shape[1]))
    with pytest.raises(csa.CSAError):
        csa.CSA(ridge=0.0).fit(constant, b[:3])
    # The saved file still describes the model that was fitted.
    loaded = csa.load(model.save(tmp_path / "m.csa"))
    assert loaded.n_pairs_seen_ == before[0]


def test_partial_fit_whose_solve_fails_changes_nothing(pairs, monkeypatch, tmp_path):
    import csa.model

    a, b = pairs
    model = csa.CSA(ridge=0.1).fit(a[:300], b[:300])
    before = (model.n_pairs_seen_, model.mean_a_.copy(), model.projection_a_.copy())

    def failing_solve(*args, **kwargs):
        raise csa.RankDeficientError("solver failure injected by the test")

    monkeypatch.setattr(csa.model, "solve_cca", failing_solve)
    with pytest.raises(csa.RankDeficientError, match="injected"):
        model.partial_fit(a[300:], b[300:])
    monkeypatch.undo()
    assert model.n_pairs_seen_ == before[0] == model.moments_.n
    np.testing.assert_array_equal(model.mean_a_, before[1])
    np.testing.assert_array_equal(model.projection_a_, before[2])
    assert csa.load(model.save(tmp_path / "m.csa")).n_pairs_seen_ == 300


# ---- 3. the loader trusts nothing -------------------------------------------------------
def _rewrite(path, arrays=None, header=None):
    """Edit a saved model and recompute its checksum, as a careful attacker would."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        metadata = dict(handle.metadata())
    stored = load_file(str(path))
    stored.update(arrays or {})
    metadata.update(header or {})
    metadata.pop("sha256")
    metadata["sha256"] = _digest(stored, metadata)
    save_file(stored, str(path), metadata=metadata)


@pytest.fixture()
def saved(pairs, tmp_path):
    a, b = pairs
    return csa.CSA().fit(a, b).save(tmp_path / "model.csa", keep_moments=True)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: {"projection_a": np.full_like(s["projection_a"], np.nan)}, "NaN"),
        (lambda s: {"projection_a": s["projection_a"].astype(np.float16)}, "dtype"),
        (lambda s: {"projection_a": s["projection_a"].astype(np.int64)}, "dtype"),
        (lambda s: {"projection_a": s["projection_a"][:, :-1].copy()}, "shape"),
        (lambda s: {"folds.0.n": np.zeros(0, dtype=np.int64)}, "row count"),
    ],
)
def test_edited_arrays_are_refused(saved, edit, message):
    _rewrite(saved, arrays=edit(load_file(str(saved))))
    with pytest.raises(csa.ModelFileError, match=message):
        csa.load(saved)


def test_zero_pairs_recorded_is_refused(saved):
    stored = load_file(str(saved))
    zeros = {k: np.zeros(1, dtype=np.int64) for k in stored if k.endswith(".n")}
    _rewrite(saved, arrays=zeros)
    with pytest.raises(csa.ModelFileError, match="pair"):
        csa.load(saved)


@pytest.mark.parametrize(
    "header, message",
    [
        ({"params": "[]"}, "JSON object"),
        ({"params": json.dumps({"ridge": -1})}, "refuses"),
        ({"params": json.dumps({"bogus": 1})}, "does not take"),
        ({"scalars": "{"}, "JSON"),
    ],
)
def test_edited_headers_are_refused(saved, header, message):
    _rewrite(saved, header=header)
    with pytest.raises(csa.ModelFileError, match=message):
        csa.load(saved)


def test_header_edits_without_a_new_checksum_are_caught(saved):
    from safetensors import safe_open

    with safe_open(str(saved), framework="numpy") as handle:
        metadata = dict(handle.metadata())
    metadata["class"] = "CCA"  # the arrays would load and score as plain CCA
    save_file(load_file(str(saved)), str(saved), metadata=metadata)
    with pytest.raises(csa.ModelFileError, match="checksum"):
        csa.load(saved)


@pytest.mark.parametrize("path", [b"/tmp/\xff" * 2000, "x" * 10_000, "a\0b"])
def test_unusable_paths_are_model_file_errors(path):
    with pytest.raises(csa.ModelFileError):
        csa.load(path)


# ---- 4. saving ---------------------------------------------------------------------------
def test_save_failures_name_the_requested_path(pairs, tmp_path):
    a, b = pairs
    model = csa.CSA().fit(a, b)
    with pytest.raises(csa.ModelFileError, match=str(tmp_path)):
        model.save(tmp_path)  # a folder
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(csa.ModelFileError, match=r"file/m\.csa|folder"):
        model.save(blocker / "m.csa")


def test_saved_files_follow_the_umask(pairs, tmp_path):
    a, b = pairs
    old = os.umask(0o022)
    try:
        path = csa.CSA().fit(a, b).save(tmp_path / "m.csa")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_killed_save_leaves_nothing_behind_after_the_next_save(pairs, tmp_path):
    a, b = pairs
    target = tmp_path / "m.csa"
    script = (
        "import os, numpy as np, csa\n"
        "from csa import files\n"
        f"a = np.load({str(tmp_path / 'a.npy')!r}); b = np.load({str(tmp_path / 'b.npy')!r})\n"
        "model = csa.CSA().fit(a, b)\n"
        "def die(tmp):\n"
        "    tmp.write_bytes(b'x' * 1000000)\n"
        "    os.kill(os.getpid(), 9)\n"
        f"files.atomic_write({str(target)!r}, die)\n"
    )
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -9
    assert any(p.name.startswith(".csa-tmp-") for p in tmp_path.iterdir())
    csa.CSA().fit(a, b).save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.npy", "m.csa"]
    csa.load(target)


# ---- 5. parameters are checked at construction -------------------------------------------
@pytest.mark.parametrize(
    "build",
    [
        lambda: csa.CSA(ridge=None),
        lambda: csa.CSA(ridge=1j),
        lambda: csa.CSA(ridge=True),
        lambda: csa.CSA(ridge=1e300),
        lambda: csa.CSA(ridge=(0.1, "x")),
        lambda: csa.CSA(chunk_size="x"),
        lambda: csa.CSA(chunk_size=0),
        lambda: csa.CSA(chunk_size=-1),
        lambda: csa.CSA(chunk_size=1.5),
        lambda: csa.CSA(sim_dim=0),
        lambda: csa.CSA(weights="rho"),
        lambda: csa.CSA(precision="float16"),
        lambda: csa.ASIF(p="x"),
        lambda: csa.ASIF(k=0),
        lambda: csa.LinearMap(ridge=(0.1, 5)),
    ],
)
def test_bad_parameters_are_stored_and_refused_when_a_fit_starts(build, pairs):
    """scikit-learn's rule: constructors and set_params store; every fit entry validates."""
    model = build()
    for fit in (
        lambda m: m.fit(*pairs),
        lambda m: m.partial_fit(*pairs),
    ):
        with pytest.raises(csa.ParameterError):
            fit(model)
        assert not model.is_fitted


def test_set_params_stores_and_the_next_fit_refuses_keeping_the_old_fit(pairs):
    model = csa.CSA(ridge=0.1).fit(*pairs)
    before = model.similarity(pairs[0][:5], pairs[1][:5])
    assert model.set_params(ridge=-1).ridge == -1
    with pytest.raises(csa.ParameterError):
        model.fit(*pairs)
    np.testing.assert_array_equal(model.similarity(pairs[0][:5], pairs[1][:5]), before)
    assert model.set_params(ridge=(0.2, "oas")).ridge == (0.2, "oas")
    with pytest.raises(csa.ParameterError, match="no parameter"):
        model.set_params(bogus=1)


def test_grid_search_with_error_score_survives_a_bad_candidate(pairs):
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(csa.CSA(sim_dim=2), {"ridge": [-1.0, 0.1]}, cv=3, error_score=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(*pairs)
    assert search.best_params_ == {"ridge": 0.1}
    assert np.isnan(search.cv_results_["mean_test_score"][0])


# ---- 6. messages say what is wrong -------------------------------------------------------
def test_linear_map_on_a_constant_side_says_constant(pairs):
    a, b = pairs
    with pytest.raises(csa.RankDeficientError, match="constant"):
        csa.LinearMap().fit(np.ones_like(a), b)


def test_sparse_input_is_named(pairs):
    import scipy.sparse as sp

    a, b = pairs
    with pytest.raises(csa.DtypeError, match="sparse"):
        csa.CSA().fit(sp.csr_matrix(a), b)


def test_nan_rows_are_reported_by_their_position_in_the_stream(pairs):
    a, b = pairs
    a = a.copy()
    a[170, 3] = np.nan
    chunks = ((a[i : i + 50], b[i : i + 50]) for i in range(0, 600, 50))
    with pytest.raises(csa.NonFiniteError, match="row 170"):
        csa.CSA().fit_chunks(chunks)
    model = csa.CSA().fit(a[:100], b[:100])
    with pytest.raises(csa.NonFiniteError, match="row 170"):
        model.partial_fit(a[100:], b[100:])


# ---- 7. memory is bounded by blocks, not by n ---------------------------------------------
def test_fit_on_a_memory_map_allocates_blocks_not_the_array(tmp_path):
    rng = np.random.default_rng(0)
    n, d = 60_000, 96
    path_a, path_b = tmp_path / "a.npy", tmp_path / "b.npy"
    shared = rng.standard_normal((n, 4)).astype(np.float32)
    a = np.lib.format.open_memmap(path_a, mode="w+", dtype=np.float32, shape=(n, d))
    b = np.lib.format.open_memmap(path_b, mode="w+", dtype=np.float32, shape=(n, d))
    a[:] = rng.standard_normal((n, d), dtype=np.float32)
    b[:] = rng.standard_normal((n, d), dtype=np.float32)
    a[:, :4] += shared
    b[:, :4] += shared
    a.flush()
    b.flush()
    del a, b
    mapped_a = np.load(path_a, mmap_mode="r")
    mapped_b = np.load(path_b, mmap_mode="r")
    data_mib = 2 * n * d * 4 / 2**20  # 44 MiB
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", csa.WeakFitWarning)
        tracemalloc.start()
        model = csa.CSA(ridge=0.1, sim_dim=None).fit(mapped_a, mapped_b)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert model.canonical_correlations_[0] > 0.4
    assert peak < data_mib / 3, f"peak {peak:.1f} MiB for {data_mib:.0f} MiB of data"


# ---- 8. float32 input fits at float32 speed, close to the float64 fit ---------------------
def test_float32_input_multiplies_in_float32_and_stays_close(pairs):
    a, b = known_cca_pairs(5000, RHO, dim_a=40, dim_b=30, seed=4)
    exact = csa.CSA(ridge=0.1, sim_dim=None).fit(a, b)
    fast = csa.CSA(ridge=0.1, sim_dim=None).fit(a.astype(np.float32), b.astype(np.float32))
    rho_err = np.max(np.abs(fast.canonical_correlations_ - exact.canonical_correlations_))
    assert 0 < rho_err < 1e-5
    score_err = np.abs(fast.similarity(a[:30], b[:30]) - exact.similarity(a[:30], b[:30]))
    assert score_err.max() < 1e-4
    # float64 input keeps float64 products: identical to an explicit float64 fit.
    explicit = csa.CSA(ridge=0.1, sim_dim=None, precision="float64").fit(a, b)
    np.testing.assert_array_equal(explicit.projection_a_, exact.projection_a_)


def test_unit_rows_survives_magnitudes_whose_squares_leave_float64():
    from csa.linalg import unit_rows

    for scale in (1e200, 1e-200):
        np.testing.assert_allclose(unit_rows(np.array([[3.0, 4.0]]) * scale), [[0.6, 0.8]])
    np.testing.assert_array_equal(unit_rows(np.zeros((2, 3))), np.zeros((2, 3)))


def test_warnings_point_at_the_callers_line_from_every_entry_point():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((20, 30)), rng.standard_normal((20, 25))  # fewer pairs than dims
    entries = {
        "fit": lambda m: m.fit(a, b),
        "partial_fit": lambda m: m.partial_fit(a, b),
        "fit_chunks": lambda m: m.fit_chunks([(a[:10], b[:10]), (a[10:], b[10:])]),
    }
    for name, call in entries.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call(csa.CSA(ridge=0.5, sim_dim=None))
        weak = [w for w in caught if issubclass(w.category, csa.WeakFitWarning)]
        assert weak, name
        assert all(w.filename == __file__ for w in weak), (name, [w.filename for w in weak])


def test_float32_round_off_adds_no_canonical_dimensions():
    """Ten distinct captions span 9 centred dimensions, in float32 products as in float64.

    Real caption embeddings share a large common offset; centring float32 rows around it
    leaves round-off in the captions' null space (14 dimensions here before the fix).
    """
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, 3000)
    captions = (0.3 + 0.05 * rng.standard_normal((10, 384))).astype(np.float32)[labels]
    images = np.abs(rng.standard_normal((3000, 320))) + 2 * np.eye(10, 320)[labels]
    for precision in ("auto", "float64"):
        model = csa.CSA(ridge=0.1, sim_dim=None, precision=precision)
        model.fit(images.astype(np.float32), captions)
        assert model.n_components_ == 9, (precision, model.canonical_correlations_[:12])
