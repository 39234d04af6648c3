"""Issue 19: model files edited and re-checksummed are refused by what they mean.

Anyone can recompute a SHA-256, so every edit below comes with a valid checksum. Each
test failed on the code before: the file loaded with changed or NaN scores, raised a
raw Python error, or (JSON nested 100,000 deep) crashed the parser. Now each is a
``ModelFileError`` naming the field.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import csa
from csa.modelfile import _digest
from known_models import FeatureEncoder
from synthetic import known_cca_pairs


@pytest.fixture(scope="module")
def pairs():
    return known_cca_pairs(500, (0.9, 0.7, 0.4), dim_a=9, dim_b=7, seed=11)


def _rewrite(path, arrays=None, header=None, drop=()):
    """Edit a saved model and recompute its checksum, as a careful attacker would."""
    with safe_open(str(path), framework="numpy") as handle:
        metadata = dict(handle.metadata())
    stored = {k: v for k, v in load_file(str(path)).items() if k not in drop}
    stored.update(arrays or {})
    metadata.update(header or {})
    metadata.pop("sha256")
    metadata["sha256"] = _digest(stored, metadata)
    save_file(stored, str(path), metadata=metadata)
    return path


def _header(path, key):
    with safe_open(str(path), framework="numpy") as handle:
        return json.loads(handle.metadata()[key])


def _save(model, tmp_path, name="m.csa"):
    """Save with the fold moments, which the edits below reach into (where saving them is
    optional, a file without them is checked by its solution alone)."""
    if "keep_moments" in inspect.signature(model.save).parameters:
        return model.save(tmp_path / name, keep_moments=True)
    return model.save(tmp_path / name)


@pytest.fixture()
def saved(pairs, tmp_path):
    a, b = pairs
    return _save(csa.CSA(weights="canonical").fit(a, b), tmp_path)


# The solution no longer fits the moments; where the file also records its pair count and
# means, the disagreement with those may be what is reported first.
INCONSISTENT = "do not belong together|inconsistent|disagree"


def _refused(path, match, load=csa.load):
    with pytest.raises(csa.ModelFileError, match=match):
        load(path)


def test_an_unedited_file_still_loads_with_the_same_scores(pairs, tmp_path):
    a, b = pairs
    for make in (csa.CSA, csa.CCA, lambda: csa.CSA(weights="heldout"), csa.LinearMap, csa.ASIF):
        model = make().fit(a, b)
        loaded = csa.load(_save(model, tmp_path))
        np.testing.assert_array_equal(
            loaded.similarity(a[:4], b[:4]), model.similarity(a[:4], b[:4])
        )


# ---- folds -----------------------------------------------------------------------------
def test_fewer_folds_recorded_than_stored(saved):
    scalars = _header(saved, "scalars")
    scalars["n_folds_stored"] = 3
    _rewrite(saved, header={"scalars": json.dumps(scalars)})
    _refused(saved, "folds")


def test_fewer_folds_stored_and_recorded(saved):
    scalars = _header(saved, "scalars")
    scalars["n_folds_stored"] = 3
    drop = [k for k in load_file(str(saved)) if k.startswith(("folds.3.", "folds.4."))]
    _rewrite(saved, header={"scalars": json.dumps(scalars)}, drop=drop)
    _refused(saved, INCONSISTENT)


@pytest.mark.parametrize("n", [0, 1, 2**62])
def test_a_fold_row_count_that_cannot_be(saved, n):
    _rewrite(saved, arrays={"folds.0.n": np.array([n], dtype=np.int64)})
    _refused(saved, "folds")


def test_a_fold_row_count_off_by_one(saved):
    n = int(load_file(str(saved))["folds.2.n"][0])
    _rewrite(saved, arrays={"folds.2.n": np.array([n + 1], dtype=np.int64)})
    _refused(saved, INCONSISTENT)


def test_an_edited_fold_mean(saved):
    mean = load_file(str(saved))["folds.1.mean_a"]
    _rewrite(saved, arrays={"folds.1.mean_a": mean + 0.5})
    _refused(saved, INCONSISTENT)


def test_a_comoment_that_is_not_symmetric(saved):
    square = load_file(str(saved))["folds.1.comoment_aa"].copy()
    square[0, 1] += 1.0
    _rewrite(saved, arrays={"folds.1.comoment_aa": square})
    _refused(saved, "symmetric")


# ---- the solution ----------------------------------------------------------------------
def test_weights_that_do_not_match_the_correlations(saved):
    stored = load_file(str(saved))
    _rewrite(saved, arrays={"weights": stored["canonical_correlations"] * 0.5})
    _refused(saved, "weights (differ|do not match)")


def test_negative_weights(pairs, tmp_path):
    a, b = pairs
    path = _save(csa.CSA(weights="heldout").fit(a, b), tmp_path)
    weights = load_file(str(path))["weights"].copy()
    weights[-1] = -0.3
    _rewrite(path, arrays={"weights": weights})
    _refused(path, "negative")


def test_cca_weights_other_than_one(pairs, tmp_path):
    a, b = pairs
    path = _save(csa.CCA().fit(a, b), tmp_path)
    rho = load_file(str(path))["canonical_correlations"]
    _rewrite(path, arrays={"weights": rho})
    _refused(path, "CCA")


def test_scaled_projections(saved):
    _rewrite(saved, arrays={"projection_b": load_file(str(saved))["projection_b"] * 1.01})
    _refused(saved, "projection_b does not whiten")


def test_correlations_and_weights_edited_together(saved):
    rho = load_file(str(saved))["canonical_correlations"] * 0.95
    _rewrite(saved, arrays={"canonical_correlations": rho, "weights": rho})
    _refused(saved, "canonical_correlations are not")


@pytest.mark.parametrize(
    "ridge, match", [(["x", 0.1], "ridge|inconsistent"), ([-1.0, 0.1], "ridge"), (None, "ridge")]
)
def test_recorded_ridges_that_are_not_ridges(saved, ridge, match):
    scalars = _header(saved, "scalars")
    scalars["ridge_"] = ridge
    _rewrite(saved, header={"scalars": json.dumps(scalars)})
    _refused(saved, match)


def test_linear_map_coefficients_that_do_not_solve_the_moments(pairs, tmp_path):
    a, b = pairs
    path = _save(csa.LinearMap().fit(a, b), tmp_path)
    _rewrite(path, arrays={"coef": load_file(str(path))["coef"] * 1.1})
    _refused(path, "coef")


def test_asif_anchors_that_are_not_unit_rows(pairs, tmp_path):
    a, b = pairs
    path = _save(csa.ASIF().fit(a, b), tmp_path)
    _rewrite(path, arrays={"anchors_b": load_file(str(path))["anchors_b"] * 2})
    _refused(path, "anchors_b row 0")


# ---- JSON ------------------------------------------------------------------------------
def test_json_nested_100000_deep_is_refused_before_parsing(saved):
    _rewrite(saved, header={"params": "[" * 100_000 + "]" * 100_000})
    _refused(saved, "nests 100000 levels")


def test_nan_and_infinity_literals_are_not_json(saved):
    scalars = _header(saved, "scalars")
    text = json.dumps(scalars).replace(str(scalars["ridge_"][0]), "NaN", 1)
    _rewrite(saved, header={"scalars": text})
    _refused(saved, "NaN")


def test_an_integer_too_long_to_convert(saved):
    _rewrite(saved, header={"params": '{"n_folds": ' + "9" * 5000 + "}"})
    _refused(saved, "params")


def test_saving_metadata_with_nan_is_refused_by_name(pairs, tmp_path):
    from csa.modelfile import write

    a, b = pairs
    with pytest.raises(csa.ModelFileError, match="metadata"):
        write(csa.CSA().fit(a, b), tmp_path / "m.csa", extra={"x": float("nan")})


# ---- the one object's record -----------------------------------------------------------
@pytest.fixture()
def one_object(pairs, tmp_path):
    a, b = pairs
    encoder = csa.MultimodalEncoder(
        FeatureEncoder("fa", a.shape[1]), FeatureEncoder("fb", b.shape[1])
    )
    path = encoder.fit_features(a, b, held_out=0.2).save(tmp_path / "one.csa")
    csa.MultimodalEncoder.load(path)  # as written, it loads
    return path


def _edit_record(path, edit):
    extra = _header(path, "extra")
    edit(extra)
    return _rewrite(path, header={"extra": json.dumps(extra)})


def _set(section, key, value):
    def edit(extra):
        extra[section][key] = value

    return edit


def _drop(section, key):
    def edit(extra):
        del extra[section][key]

    return edit


@pytest.mark.parametrize(
    "edit, match",
    [
        (_set("calibration", "temperature", 0.0), "temperature"),
        (_set("calibration", "temperature", -1.0), "temperature"),
        (_set("calibration", "temperature", 1e999), "Infinity"),
        (_set("calibration", "threshold", 1e999), "Infinity"),
        (_set("calibration", "threshold", 7.0), "threshold"),
        (_set("calibration", "threshold", "0.1"), "threshold"),
        (_set("calibration", "false_positive_rate", 2.0), "false_positive_rate"),
        (_set("calibration", "sim_dim", 99), "sim_dim"),
        (_drop("calibration", "temperature"), "lacks"),
        (_drop("calibration", "n_pairs"), "lacks"),
        (lambda e: e.update(encoders=[]), "encoders must be a JSON object"),
        (lambda e: e["encoders"].pop("b"), "side 'b'"),
        (lambda e: e["encoders"]["a"].update(dim=3), "encoders.a.dim"),
        (lambda e: e["encoders"]["b"].update(name=None), "encoders.b.name"),
        (lambda e: e["encoders"]["a"].update(options={"image_size": 10**6}), "image_size"),
        (lambda e: e["encoders"]["a"].update(options={"image_size": "64"}), "image_size"),
        (lambda e: e["encoders"]["a"].update(options=[1]), "options"),
        (lambda e: e.update(calibration=[]), "calibration must be"),
        (lambda e: e.update(fit=[]), "fit must be"),
    ],
)
def test_edited_one_object_records_are_refused(one_object, edit, match):
    _edit_record(one_object, edit)
    _refused(one_object, match, load=csa.MultimodalEncoder.load)


@pytest.mark.parametrize(
    "literal, match", [("NaN", "NaN"), ("1e999", "temperature must be finite")]
)
def test_non_finite_calibration_literals_are_refused(one_object, literal, match):
    extra = _header(one_object, "extra")
    value = extra["calibration"]["temperature"]
    text = json.dumps(extra).replace(f'"temperature": {value}', f'"temperature": {literal}')
    assert literal in text
    _rewrite(one_object, header={"extra": text})
    _refused(one_object, match, load=csa.MultimodalEncoder.load)
