"""A torchvision ImageFolder root (one subfolder per class) through `csa embed` and `csa eval`.

Before issue 9 the CLI read only the loose files of a folder: an ImageFolder root
encoded 1 of 23 images and said nothing. Now every image is embedded, in class then
natural order, with its class written beside the output and used as the zero-shot label.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from csa.cli import app
from multimodal.colour_items import CLASS_ORDER, write_items

pytestmark = pytest.mark.slow
runner = CliRunner()
N = 16


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """root/images/<colour>/img_i.png for N images; root/pairs holds flat pairs to fit on."""
    root = tmp_path_factory.mktemp("imagefolder")
    write_items(root / "pairs", N)
    flat, _, labels = write_items(root / "flat", N)
    tree = root / "images"
    for i, label in enumerate(labels):
        (tree / label).mkdir(parents=True, exist_ok=True)
        (flat / f"img_{i}.png").rename(tree / label / f"img_{i}.png")
    (tree / "yellow" / "img_3.png").rename(tree / "yellow" / "img_30.png")  # natural order
    return root, tree, labels


def test_embed_reads_every_image_of_an_imagefolder_root_with_labels(image_folder, monkeypatch):
    root, tree, labels = image_folder
    monkeypatch.setenv("CSA_CACHE_DIR", str(root / "cache"))
    out = root / "out" / "images.npy"
    result = _run("embed", "efficientnet-lite0", tree, "-o", out)
    assert result.exit_code == 0, result.output
    rows = np.load(out)
    assert rows.shape == (N, 1280)
    ids = (root / "out" / "images.ids.txt").read_text().splitlines()
    written_labels = (root / "out" / "images.labels.txt").read_text().splitlines()
    assert len(ids) == N and len(set(ids)) == N
    assert [i.split("/")[0] for i in ids] == written_labels
    # classes in folder order, files in natural order within each class
    yellow = [i for i in ids if i.startswith("yellow/")]
    assert yellow[-1] == "yellow/img_30.png"
    assert sorted(set(written_labels)) == sorted(CLASS_ORDER)
    assert sum(label == "red" for label in written_labels) == labels.count("red")
    sidecar = json.loads((root / "out" / "images.npy.json").read_text())
    assert sidecar["layout"] == "imagefolder" and sidecar["ids"] == ids
    assert sidecar["labels"] == written_labels
    # each row is the embedding of the file its id names
    from csa.encoders import get

    one = get("efficientnet-lite0").encode([str(tree / ids[5])])
    np.testing.assert_allclose(rows[5], one[0], atol=1e-4)


def test_zero_shot_on_an_imagefolder_root_takes_its_labels_from_the_folders(
    image_folder, monkeypatch, tmp_path
):
    root, tree, _ = image_folder
    monkeypatch.setenv("CSA_CACHE_DIR", str(root / "cache"))
    flat_root = root / "pairs"
    model = tmp_path / "m.csa"
    fitted = _run(
        "fit",
        flat_root / "images",
        flat_root / "captions.txt",
        "-o",
        model,
        "--encoder-a",
        "efficientnet-lite0",
        "--encoder-b",
        "minilm-l6",
        "--ridge",
        "0.1",
        "--sim-dim",
        "3",
        "--held-out",
        0,
    )
    assert fitted.exit_code == 0, fitted.output
    out = tmp_path / "zs.json"
    args = ["eval", "zero-shot", "-m", model, "--inputs", tree]
    result = _run(*args, "--class-names", flat_root / "classes.txt", "--json", out)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["n_samples"] == N
    assert report["top_k"]["1"] >= 0.9
    classified = _run("classify", "-m", model, tree, "--class-names", flat_root / "classes.txt")
    assert classified.exit_code == 0, classified.output
    assert "accuracy against the items' labels" in classified.output
