"""The traps of issue 9 that the `csa` command fixes, each on small real data.

Images are PNG files drawn with Pillow and named img_0..img_19 (lexicographic order
differs from pairing order), captions.txt, labels.txt holding class names, classes.txt
in an order other than alphabetical; encoders are the bundled EfficientNet-Lite0 and
MiniLM-L6, through an embedding cache shared by the module's tests.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import csa
from csa.cli import app
from multimodal.colour_items import write_items

pytestmark = pytest.mark.slow
runner = CliRunner()
N = 20
# fixed hyperparameters: CSA()'s own held-out search costs minutes at 1280 x 384 dims
# The colour captions span 3 centred dimensions (4 distinct captions).
FAST = ("--ridge", "0.1", "--sim-dim", "3")


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    folder, captions, labels = write_items(root, N)
    return root, folder, captions, labels


@pytest.fixture()
def cache(raw, monkeypatch):
    monkeypatch.setenv("CSA_CACHE_DIR", str(raw[0] / "cache"))


@pytest.fixture(scope="module")
def model_file(raw, tmp_path_factory):
    root, folder, *_ = raw
    mp = pytest.MonkeyPatch()
    mp.setenv("CSA_CACHE_DIR", str(root / "cache"))
    out = root / "model.csa"
    result = _run(
        "fit",
        folder,
        root / "captions.txt",
        "-o",
        out,
        "--encoder-a",
        "efficientnet-lite0",
        "--encoder-b",
        "minilm-l6",
        *FAST,
        "--held-out",
        0,
    )
    mp.undo()
    assert result.exit_code == 0, result.output
    return out


def test_version():
    result = _run("--version")
    assert result.exit_code == 0 and csa.__version__ in result.output


def test_fit_on_raw_items_pairs_in_natural_order_and_zero_shot_matches_names(
    raw, model_file, cache
):
    # before: img_10 paired with caption 2 (lexicographic order), and labels sorted
    # alphabetically against classes.txt; zero-shot fell to chance
    root, folder, *_ = raw
    out = root / "zs.json"
    result = _run(
        "eval",
        "zero-shot",
        "-m",
        model_file,
        "--inputs",
        folder,
        "--labels",
        root / "labels.txt",
        "--class-names",
        root / "classes.txt",
        "--json",
        out,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["top_k"]["1"] >= 0.9  # chance 0.25


def test_classify_search_flag_on_the_model_file_alone(raw, model_file, cache):
    root, folder, captions, labels = raw
    out = root / "classify.json"
    result = _run(
        "classify", "-m", model_file, folder, "--class-names", root / "classes.txt", "--json", out
    )
    assert result.exit_code == 0, result.output
    predicted = [row["class"] for row in json.loads(out.read_text())["predictions"]]
    assert np.mean(np.array(predicted) == np.array(labels)) >= 0.9
    (root / "query.txt").write_text("a yellow circle\n")
    result = _run(
        "search",
        "-m",
        model_file,
        root / "query.txt",
        folder,
        "-k",
        3,
        "--json",
        root / "search.json",
    )
    assert result.exit_code == 0, result.output
    hits = json.loads((root / "search.json").read_text())["results"][0]["hits"]
    assert all(labels[hit["id"]] == "yellow" for hit in hits)
    assert hits[0]["item"].endswith(f"img_{hits[0]['id']}.png")
    shuffled = captions[1:] + captions[:1]  # every caption names another colour
    (root / "shuffled.txt").write_text("\n".join(shuffled) + "\n")
    scores = {}
    for name in ("captions.txt", "shuffled.txt"):
        result = _run(
            "flag",
            "-m",
            model_file,
            folder,
            root / name,
            "--threshold",
            0.0,
            "--json",
            root / "flag.json",
        )
        assert result.exit_code == 0, result.output
        scores[name] = [p["score"] for p in json.loads((root / "flag.json").read_text())["pairs"]]
    assert min(scores["captions.txt"]) > max(scores["shuffled.txt"])


def test_flag_without_held_out_threshold_is_a_clear_error(raw, model_file, cache):
    root, folder, *_ = raw
    result = _run("flag", "-m", model_file, folder, root / "captions.txt")
    assert result.exit_code == 2 and "--threshold" in result.output
    assert "Traceback" not in result.output


def test_info_shows_encoders_and_sim_dim(model_file):
    result = _run("info", model_file)
    assert result.exit_code == 0, result.output
    for text in ("efficientnet-lite0", "minilm-l6", "sim_dim", "ridge", csa.__version__):
        assert text in result.output


def test_embed_writes_rows_in_natural_order_with_their_file_list(raw, cache):
    root, folder, *_ = raw
    out = root / "emb" / "images.npy"
    result = _run("embed", "efficientnet-lite0", folder, "-o", out)
    assert result.exit_code == 0, result.output
    sidecar = json.loads((out.parent / "images.npy.json").read_text())
    assert [p.rsplit("/", 1)[-1] for p in sidecar["items"]] == [f"img_{i}.png" for i in range(N)]
    assert sidecar["encoder"] == "efficientnet-lite0" and sidecar["n"] == N
    rows = np.load(out)
    single = csa.encoders.get("efficientnet-lite0").encode([str(folder / "img_10.png")])
    np.testing.assert_allclose(rows[10], single[0], atol=1e-4)


def test_embed_of_an_empty_file_fails_clearly(tmp_path):
    (tmp_path / "empty.txt").write_text("\n")
    result = _run("embed", "minilm-l6", tmp_path / "empty.txt", "-o", tmp_path / "e.npy")
    assert result.exit_code == 2 and "empty.txt" in result.output
    assert not (tmp_path / "e.npy").exists()


def test_evaluating_with_another_text_encoder_than_recorded_is_refused(raw, model_file, cache):
    # before: a model fitted on one encoder's captions was scored with another's prompts
    root, folder, *_ = raw
    args = [
        "eval",
        "zero-shot",
        "-m",
        model_file,
        "--inputs",
        folder,
        "--labels",
        root / "labels.txt",
        "--class-names",
        root / "classes.txt",
    ]
    refused = _run(*args, "--text-encoder", "minilm-l3-onnx")
    assert refused.exit_code == 2 and "minilm-l6" in refused.output
    allowed = _run(*args, "--text-encoder", "minilm-l3-onnx", "--allow-other-encoders")
    assert allowed.exit_code == 0, allowed.output


def test_a_small_held_out_share_warns_in_one_line(raw, cache, tmp_path):
    root, folder, *_ = raw
    result = _run(
        "fit",
        folder,
        root / "captions.txt",
        "-o",
        tmp_path / "m.csa",
        "--encoder-a",
        "efficientnet-lite0",
        "--encoder-b",
        "minilm-l6",
        *FAST,
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "held_out" in line]
    assert lines and lines[0].startswith("warning:")
    assert "UserWarning" not in result.output and "warnings.warn" not in result.output


def test_save_failure_is_one_red_line(raw, cache, tmp_path):
    root, folder, *_ = raw
    (tmp_path / "file").write_text("x")
    result = _run(
        "fit",
        folder,
        root / "captions.txt",
        "-o",
        tmp_path / "file" / "m.csa",
        "--encoder-a",
        "efficientnet-lite0",
        "--encoder-b",
        "minilm-l6",
        *FAST,
        "--held-out",
        0,
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "m.csa" in result.output or "file" in result.output
