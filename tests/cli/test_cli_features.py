"""The CLI traps of issue 9 on precomputed features: parquet id columns, repeated
captions in retrieval, and options a method would ignore."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import csa
from csa.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def class_captions(tmp_path):
    """Images with 6 classes, each captioned by its class caption (captions repeat)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, size=600)
    class_text = rng.normal(size=(6, 16))
    images = rng.normal(size=(600, 24))
    images[:, :6] += 4 * np.eye(6)[labels]
    np.save(tmp_path / "img.npy", images.astype(np.float32))
    np.save(tmp_path / "cap.npy", class_text[labels].astype(np.float32))
    return tmp_path


def test_parquet_id_column_is_not_a_feature(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 5))
    b[:, :3] += a[:, :3]
    for name, x in (("a", a), ("b", b)):
        frame = pd.DataFrame({"id": np.arange(300), "embedding": list(x.astype(np.float32))})
        frame.to_parquet(tmp_path / f"{name}.parquet")
    result = _run("fit", tmp_path / "a.parquet", tmp_path / "b.parquet", "-o", tmp_path / "m")
    assert result.exit_code == 0, result.output
    model = csa.load(tmp_path / "m")
    assert (model.n_features_a_, model.n_features_b_) == (8, 5)  # before: 9 and 6
    assert model.canonical_correlations_[0] < 0.999  # before: 1.000, the id against itself


def test_retrieval_with_repeated_captions_is_label_aware_by_default(class_captions):
    d = class_captions
    assert _run("fit", d / "img.npy", d / "cap.npy", "-o", d / "m").exit_code == 0
    result = _run(
        "eval", "retrieval", "-m", d / "m", d / "img.npy", d / "cap.npy", "--json", d / "r.json"
    )
    assert result.exit_code == 0, result.output
    recall = json.loads((d / "r.json").read_text())["directions"]["a->b"]["recall"]
    assert recall["1"] > 0.9  # before: 0.0000, an identical caption counted as a miss
    strict = _run(
        "eval",
        "retrieval",
        "-m",
        d / "m",
        d / "img.npy",
        d / "cap.npy",
        "--exact-pairs",
        "--json",
        d / "s.json",
    )
    assert strict.exit_code == 0, strict.output
    assert json.loads((d / "s.json").read_text())["directions"]["a->b"]["recall"]["1"] < 0.1


def test_zero_shot_name_labels_need_class_names(class_captions, tmp_path):
    d = class_captions
    assert _run("fit", d / "img.npy", d / "cap.npy", "-o", d / "m").exit_code == 0
    np.save(d / "classes.npy", np.random.default_rng(0).normal(size=(6, 16)))
    (d / "labels.txt").write_text("cat\ndog\n")
    result = _run(
        "eval",
        "zero-shot",
        "-m",
        d / "m",
        "--inputs",
        d / "img.npy",
        "--labels",
        d / "labels.txt",
        "--classes",
        d / "classes.npy",
    )
    assert result.exit_code == 2 and "--class-names" in result.output


def test_class_names_on_a_bare_model_need_the_text_encoder(class_captions):
    d = class_captions
    assert _run("fit", d / "img.npy", d / "cap.npy", "-o", d / "m").exit_code == 0
    (d / "classes.txt").write_text("a\nb\n")
    (d / "labels.txt").write_text("a\nb\n")
    result = _run(
        "eval",
        "zero-shot",
        "-m",
        d / "m",
        "--inputs",
        d / "img.npy",
        "--labels",
        d / "labels.txt",
        "--class-names",
        d / "classes.txt",
    )
    assert result.exit_code == 2 and "--text-encoder" in result.output


@pytest.mark.parametrize(
    ("method", "option", "value"),
    [
        ("linear-map", "--ridge", "0.1,5"),
        ("asif", "--ridge", "0.1"),
        ("linear-map", "--sim-dim", "2"),
        ("csa", "--k", "10"),
    ],
)
def test_options_a_method_would_ignore_are_refused(class_captions, method, option, value):
    d = class_captions
    result = _run(
        "fit", d / "img.npy", d / "cap.npy", "-o", d / "m", "--method", method, option, value
    )
    assert result.exit_code == 2 and option in result.output and "Traceback" not in result.output
    assert not (d / "m").exists()


def test_linear_map_honours_one_ridge(class_captions):
    d = class_captions
    result = _run(
        "fit", d / "img.npy", d / "cap.npy", "-o", d / "m", "--method", "linear-map", "--ridge", "5"
    )
    assert result.exit_code == 0, result.output
    assert csa.load(d / "m").ridge == 5.0


def test_raw_commands_on_a_bare_model_say_why(class_captions):
    d = class_captions
    assert _run("fit", d / "img.npy", d / "cap.npy", "-o", d / "m").exit_code == 0
    (d / "c.txt").write_text("a\nb\n")
    result = _run("classify", "-m", d / "m", d / "c.txt", "--class-names", d / "c.txt")
    assert result.exit_code == 2 and "records no encoders" in result.output
