"""The `csa` command, through typer's test runner: results, files, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import csa
from csa.cli import app
from synthetic import known_cca_pairs

runner = CliRunner()


@pytest.fixture()
def pair_files(tmp_path):
    a, b = known_cca_pairs(600, (0.95, 0.9, 0.8), dim_a=12, dim_b=9, seed=0)
    np.save(tmp_path / "a.npy", a.astype(np.float32))
    np.save(tmp_path / "b.npy", b.astype(np.float32))
    return tmp_path


def _run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("method", ["csa", "cca", "asif", "linear-map"])
def test_fit_writes_a_model_that_loads(pair_files, method):
    out = pair_files / f"{method}.csa"
    result = _run(
        "fit",
        pair_files / "a.npy",
        pair_files / "b.npy",
        "-o",
        out,
        "--method",
        method,
        "--chunk-rows",
        100,
    )
    assert result.exit_code == 0, result.output
    model = csa.load(out)
    assert model.n_pairs_seen_ == 600
    a = np.load(pair_files / "a.npy")
    b = np.load(pair_files / "b.npy")
    if method in ("csa", "cca", "linear-map"):
        reference = {"csa": csa.CSA, "cca": csa.CCA, "linear-map": csa.LinearMap}[method]()
        np.testing.assert_allclose(
            model.similarity(a[:5], b[:5]),
            reference.fit(a, b).similarity(a[:5], b[:5]),
            atol=1e-5,  # float32 files: precision="auto" forms the moments in float32
        )


def test_fit_with_ridge_pair_and_sim_dim_then_info(pair_files):
    out = pair_files / "m.csa"
    result = _run(
        "fit",
        pair_files / "a.npy",
        pair_files / "b.npy",
        "-o",
        out,
        "--ridge",
        "0.1,auto",
        "--sim-dim",
        3,
    )
    assert result.exit_code == 0, result.output
    model = csa.load(out)
    assert model.sim_dim == 3 and model.ridge == (0.1, "auto")
    shown = _run("info", out)
    assert shown.exit_code == 0 and "canonical dims" in shown.output
    # Which map answers which question, with its sim_dim, as the library reports it.
    lines = shown.output.splitlines()
    assert "which map answers which question:" in lines
    assert "  retrieval and pair scores: shared canonical space, equal weights, sim_dim 3" in lines
    for side in ("a", "b"):
        answer = model.map_choices()[f"zero-shot, prompts on side {side}"]
        assert f"  zero-shot, prompts on side {side}: {answer}" in lines


def test_info_of_cca_says_one_map_answers_every_question(pair_files):
    out = pair_files / "cca.csa"
    args = ("fit", pair_files / "a.npy", pair_files / "b.npy", "-o", out, "--method", "cca")
    assert _run(*args).exit_code == 0
    lines = _run("info", out).output.splitlines()
    sim_dim = csa.load(out).sim_dim_
    assert f"  every question: shared canonical space, equal weights, sim_dim {sim_dim}" in lines


def test_eval_retrieval_and_detect_write_json(pair_files):
    model = pair_files / "m.csa"
    assert _run("fit", pair_files / "a.npy", pair_files / "b.npy", "-o", model).exit_code == 0
    out = pair_files / "retrieval.json"
    result = _run(
        "eval",
        "retrieval",
        "-m",
        model,
        pair_files / "a.npy",
        pair_files / "b.npy",
        "--sim-dim",
        3,
        "--json",
        out,
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["task"] == "retrieval" and payload["hubness"] == "none"
    assert "a->b R@1" in result.output
    hub_args = ("eval", "retrieval", "-m", model, pair_files / "a.npy", pair_files / "b.npy")
    csls = _run(*hub_args, "--hubness", "csls", "--json", out)
    assert csls.exit_code == 0, csls.output
    assert json.loads(out.read_text())["hubness"] == "csls"
    detect = _run(
        "eval",
        "detect",
        "-m",
        model,
        pair_files / "a.npy",
        pair_files / "b.npy",
        "--sim-dim",
        3,
        "--json",
        pair_files / "detect.json",
    )
    assert detect.exit_code == 0, detect.output
    auc = json.loads((pair_files / "detect.json").read_text())["auc"]
    assert auc > 0.8  # chance is 0.5


def test_eval_zero_shot_and_mislabelled_with_class_embeddings(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, size=800)
    class_text = rng.normal(size=(6, 20))
    images = rng.normal(size=(800, 30))
    images[:, :6] += 3 * np.eye(6)[labels]
    np.save(tmp_path / "img.npy", images)
    np.save(tmp_path / "cap.npy", class_text[labels] + 0.01 * rng.normal(size=(800, 20)))
    np.save(tmp_path / "classes.npy", class_text)
    np.save(tmp_path / "labels.npy", labels)
    model = tmp_path / "m.csa"
    assert _run("fit", tmp_path / "img.npy", tmp_path / "cap.npy", "-o", model).exit_code == 0
    result = _run(
        "eval",
        "zero-shot",
        "-m",
        model,
        "--inputs",
        tmp_path / "img.npy",
        "--labels",
        tmp_path / "labels.npy",
        "--classes",
        tmp_path / "classes.npy",
        "--json",
        tmp_path / "zs.json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "zs.json").read_text())["top_k"]["1"] > 0.9
    detect = _run(
        "eval",
        "detect",
        "-m",
        model,
        tmp_path / "img.npy",
        "--mode",
        "mislabelled",
        "--labels",
        tmp_path / "labels.npy",
        "--classes",
        tmp_path / "classes.npy",
    )
    assert detect.exit_code == 0, detect.output


def test_missing_file_is_one_clear_line(pair_files):
    result = _run("fit", pair_files / "nope.npy", pair_files / "b.npy", "-o", pair_files / "m")
    assert result.exit_code == 2
    assert "nope.npy" in result.output and "Traceback" not in result.output


def test_mismatched_rows_are_reported(pair_files):
    np.save(pair_files / "short.npy", np.load(pair_files / "b.npy")[:-7])
    result = _run("fit", pair_files / "a.npy", pair_files / "short.npy", "-o", pair_files / "m")
    assert result.exit_code == 2
    assert "593" in result.output and "600" in result.output


def test_wrong_feature_count_at_eval(pair_files):
    model = pair_files / "m.csa"
    assert _run("fit", pair_files / "a.npy", pair_files / "b.npy", "-o", model).exit_code == 0
    result = _run("eval", "retrieval", "-m", model, pair_files / "b.npy", pair_files / "b.npy")
    assert result.exit_code == 2 and "features" in result.output


def test_corrupted_model_file(pair_files):
    bad = pair_files / "bad.csa"
    bad.write_bytes(b"not a model at all")
    result = _run("info", bad)
    assert result.exit_code == 2 and "not a readable csa model" in result.output


def test_unknown_encoder_and_bad_ridge(tmp_path):
    (tmp_path / "t.txt").write_text("a cat\na dog\n")
    result = _run("embed", "no-such-encoder", tmp_path / "t.txt", "-o", tmp_path / "x.npy")
    assert result.exit_code == 2 and "no-such-encoder" in result.output
    np.save(tmp_path / "a.npy", np.ones((3, 2)))
    bad = _run("fit", tmp_path / "a.npy", tmp_path / "a.npy", "-o", tmp_path / "m", "--ridge", "x")
    assert bad.exit_code == 2 and "--ridge" in bad.output


def test_listings():
    assert "minilm-l6" in _run("encoders").output
    assert "fashion-mnist" in _run("datasets").output


def test_embed_text_with_a_real_encoder(tmp_path):
    (tmp_path / "t.txt").write_text("a photo of a cat\na picture of a kitten\nstock prices fell\n")
    out = tmp_path / "t.npy"
    result = _run(
        "embed", "minilm-l6", tmp_path / "t.txt", "-o", out, "--cache-dir", tmp_path / "cache"
    )
    assert result.exit_code == 0, result.output
    emb = np.load(out)
    assert emb.shape == (3, 384)
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2]


def test_fit_weights_canonical_is_the_papers_csa_and_other_methods_refuse_it(pair_files):
    out = pair_files / "paper.csa"
    args = ("fit", pair_files / "a.npy", pair_files / "b.npy", "-o", out)
    assert _run(*args, "--weights", "canonical").exit_code == 0
    model = csa.load(out)
    assert model.weights == "canonical"
    lines = _run("info", out).output.splitlines()
    assert any(line.startswith("  every question: shared canonical space, weighted by canonical")
               for line in lines)  # fmt: skip
    refused = _run(*args, "--weights", "canonical", "--method", "cca")
    assert refused.exit_code == 2 and "--weights" in refused.output
    bad = _run(*args, "--weights", "bogus")
    assert bad.exit_code == 2 and "bogus" in bad.output and "Traceback" not in bad.output
