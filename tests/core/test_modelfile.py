"""Model files: exact round trips, and clear errors for anything else."""

from __future__ import annotations

import json

import numpy as np
import pytest

import csa
from synthetic import known_cca_pairs

MODELS = [
    lambda: csa.CSA(sim_dim=3, ridge=(0.1, "auto")),
    lambda: csa.CCA(),
    lambda: csa.ASIF(k=50, p=4.0),
    lambda: csa.LinearMap(ridge=0.2),
]


@pytest.fixture(scope="module")
def data():
    return known_cca_pairs(500, (0.9, 0.6, 0.4), dim_a=7, dim_b=5, seed=0)


@pytest.mark.parametrize("make", MODELS)
def test_round_trip_gives_identical_scores(tmp_path, data, make):
    a, b = data
    model = make().fit(a, b)
    path = model.save(tmp_path / "m.csa")
    loaded = csa.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(
        loaded.similarity(a[:20], b[:30]), model.similarity(a[:20], b[:30])
    )
    np.testing.assert_array_equal(loaded.score_pairs(a, b), model.score_pairs(a, b))
    assert type(model).load(path).get_params() == model.get_params()


def test_loaded_model_keeps_streaming(tmp_path, data):
    a, b = data
    first = csa.CSA().partial_fit(a[:300], b[:300])
    first.save(tmp_path / "m.csa", keep_moments=True)
    resumed = csa.load(tmp_path / "m.csa").partial_fit(a[300:], b[300:])
    whole = csa.CSA().fit(a, b)
    np.testing.assert_allclose(
        resumed.canonical_correlations_, whole.canonical_correlations_, atol=1e-10
    )


@pytest.mark.parametrize("model", [csa.CSA(), csa.CCA(), csa.LinearMap()], ids=repr)
def test_default_file_is_slim_and_scores_identically(tmp_path, data, model):
    """What scoring needs, no fold moments: scores equal, size a fraction of the full file."""
    from safetensors.numpy import load_file

    a, b = data
    model.fit(a, b)
    slim = model.save(tmp_path / "slim.csa")
    full = model.save(tmp_path / "full.csa", keep_moments=True)
    assert not any(k.startswith("folds.") for k in load_file(str(slim)))
    assert any(k.startswith("folds.") for k in load_file(str(full)))
    assert slim.stat().st_size < full.stat().st_size / 2
    for path in (slim, full):
        loaded = csa.load(path)
        np.testing.assert_array_equal(
            loaded.similarity(a[:20], b[:20]), model.similarity(a[:20], b[:20])
        )
        assert loaded.n_pairs_seen_ == a.shape[0]


def test_a_slim_file_refuses_partial_fit_and_says_how(tmp_path, data):
    a, b = data
    loaded = csa.load(csa.CSA().fit(a[:300], b[:300]).save(tmp_path / "m.csa"))
    before = loaded.similarity(a[:5], b[:5])
    with pytest.raises(csa.ModelFileError, match="keep_moments=True"):
        loaded.partial_fit(a[300:], b[300:])
    np.testing.assert_array_equal(loaded.similarity(a[:5], b[:5]), before)
    assert loaded.moments_ is None


def test_file_is_safetensors_with_csa_metadata_and_no_pickle(tmp_path, data):
    from safetensors import safe_open

    path = csa.CSA().fit(*data).save(tmp_path / "m.csa")
    with safe_open(str(path), framework="numpy") as handle:
        meta = handle.metadata()
    assert meta["format"] == "csa-model" and meta["class"] == "CSA"
    assert json.loads(meta["params"])["ridge"] == "auto"
    assert b"\x80\x04" not in path.read_bytes()[:16]  # no pickle protocol header


@pytest.fixture()
def saved(tmp_path, data):
    return csa.CSA().fit(*data).save(tmp_path / "m.csa")


def test_truncated_file(saved):
    raw = saved.read_bytes()
    saved.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(csa.ModelFileError, match="not a readable csa model"):
        csa.load(saved)


def test_flipped_bytes_inside_an_array(saved):
    raw = bytearray(saved.read_bytes())
    raw[-20] ^= 0xFF
    saved.write_bytes(bytes(raw))
    with pytest.raises(csa.ModelFileError, match="corrupted"):
        csa.load(saved)


def test_foreign_safetensors_file(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "weights.safetensors"
    save_file({"layer.weight": np.ones((3, 3), dtype=np.float32)}, str(path))
    with pytest.raises(csa.ModelFileError, match="not a csa model"):
        csa.load(path)


def test_random_bytes_and_missing_file(tmp_path):
    junk = tmp_path / "junk.csa"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(csa.ModelFileError):
        csa.load(junk)
    with pytest.raises(csa.ModelFileError, match="no model file"):
        csa.load(tmp_path / "absent.csa")


def test_newer_format_version_is_refused(tmp_path, saved):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(saved), framework="numpy") as handle:
        meta = dict(handle.metadata())
        arrays = {k: handle.get_tensor(k) for k in handle.keys()}
    meta["format_version"] = "99"
    save_file(arrays, str(saved), metadata=meta)
    with pytest.raises(csa.ModelFileError, match="version 99"):
        csa.load(saved)


def test_loading_as_the_wrong_class(saved):
    with pytest.raises(csa.ModelFileError, match="holds a CSA model, not an ASIF"):
        csa.ASIF.load(saved)


def test_saving_an_unfitted_model(tmp_path):
    with pytest.raises(csa.NotFittedError):
        csa.CSA().save(tmp_path / "m.csa")
    assert not (tmp_path / "m.csa").exists()
