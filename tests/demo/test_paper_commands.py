"""`csa demo --section imagenet|cosmos|flickr30k|coco --root DIR` end to end, offline.

Each command runs through the real CLI on a tiny copy in the published layout (those of
tests/paper_fixtures.py, or, for retrieval, a copy in the same Karpathy format whose
images are solid colours named by their captions, so that a fit can generalise to held-
out images), with the bundled encoders in place of the paper's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from paper_fixtures import make_cosmos, make_imagenet
from tiny_models import tiny_clip, tiny_dinov2

pytestmark = [pytest.mark.filterwarnings("ignore::csa.WeakFitWarning"), pytest.mark.slow]

ENCODERS = ["--encoder-a", "efficientnet-lite0?image_size=64", "--encoder-b", "minilm-l6"]
FITTED = {f"{m} ({v})" for m in ("CSA", "CCA", "ASIF", "LinearMap") for v in ("default", "tuned")}
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 180, 40),
    "blue": (30, 40, 220),
    "yellow": (240, 220, 30),
    "black": (10, 10, 10),
    "white": (245, 245, 245),
}


def invoke(*args: str) -> tuple[int, str, list[dict]]:
    from csa.cli import app

    result = CliRunner().invoke(app, ["demo", *args])
    out = Path(args[args.index("--out") + 1]) if "--out" in args else None
    rows = []
    if out is not None and (out / "results.json").is_file():
        data = json.loads((out / "results.json").read_text())
        rows = data["rows"] if isinstance(data, dict) else data
    return result.exit_code, result.output, rows  # output holds stderr too


def values(rows: list[dict], n_pairs: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["n_pairs"] == n_pairs and r["seed"] == 0:
            out.setdefault(r["method"], {})[r["metric"]] = r["value"]
    return out


def run_section(tmp_path: Path, section: str, root: Path, *extra: str) -> list[dict]:
    out = tmp_path / "out"
    code, output, rows = invoke(
        "--section", section, "--root", str(root), *ENCODERS, "--out", str(out),
        "--cache-dir", str(tmp_path / "cache"), *extra,
    )  # fmt: skip
    assert code == 0, output
    assert (out / "results.md").is_file() and list(out.glob("*.png"))
    assert rows and all(np.isfinite(r["value"]) and 0.0 <= r["value"] <= 1.0 for r in rows)
    assert {r["experiment"] for r in rows} == {section}
    return rows


def make_colour_captions(root: Path, coco: bool, per_colour: int = 6, n_test: int = 2) -> None:
    """Karpathy's split file and image folder(s): one solid colour per image, named twice."""
    from PIL import Image

    rng = np.random.default_rng(0)
    images = []
    for c, (colour, rgb) in enumerate(COLOURS.items()):
        for j in range(per_colour):
            split = "test" if j < n_test else ("restval" if coco and j == n_test else "train")
            folder = ("val2014" if split != "train" else "train2014") if coco else ""
            name = f"{c * 100 + j}.jpg"
            pixels = np.clip(np.asarray(rgb) + rng.normal(0, 12, (32, 32, 3)), 0, 255)
            path = root / (folder or "flickr30k-images") / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8)).save(path)
            # Numbered, so no two images share a caption (ties would count as misses).
            captions = [f"A {colour} square, number {j}.", f"Something {colour}, no. {j}."]
            entry = {"filename": name, "split": split, "imgid": len(images),
                     "sentences": [{"raw": s} for s in captions]}  # fmt: skip
            if coco:
                entry["filepath"] = folder
            images.append(entry)
    name = "dataset_coco.json" if coco else "dataset_flickr30k.json"
    (root / name).write_text(json.dumps({"images": images}), encoding="utf-8")


def test_imagenet_command_with_relabels(tmp_path):
    """Tuned rows need 20+ pairs: on 1280-d EfficientNet features they cost minutes on 2
    shared cores, so this run takes the paper's DINOv2 pooling on a tiny random DINOv2."""
    root = tmp_path / "imagenet"
    make_imagenet(root, train_per_class=10, val_per_class=4)  # writes real.json in root
    dinov2 = f"hf-image:{tiny_dinov2(tmp_path / 'dinov2', hidden_size=32)}?pool=mean"
    rows = run_section(
        tmp_path, "imagenet", root, "--pairs", "12", "--pairs", "30", "--encoder-a", dinov2
    )
    assert {r["n_pairs"] for r in rows} == {12, 30}
    at30 = values(rows, 30)
    assert {*FITTED, "chance", "linear-probe"} <= set(at30)
    for method in FITTED:
        assert {"zero-shot top-1", "zero-shot top-5", "mislabel AUC (relabels)"} <= set(
            at30[method]
        )
    assert at30["chance"]["zero-shot top-1"] == pytest.approx(1 / 3)
    assert {r["dataset"] for r in rows} == {"imagenet (val 12)"}
    assert at30["chance"]["mislabel AUC (relabels)"] == 0.5
    csa_rows = [r for r in rows if r["method"].startswith("CSA")]
    assert all("ridge" in r["params"] for r in csa_rows)


def test_cosmos_command_bilevel_rule(tmp_path):
    root = tmp_path / "cosmos"
    make_cosmos(root)
    rows = run_section(tmp_path, "cosmos", root)
    budgets = {r["n_pairs"] for r in rows}
    assert budgets == {6}  # the paper's budgets, capped at the 6 training pairs
    at = values(rows, 6)
    assert {"CSA (default)", "CCA (default)", "ASIF (default)", "LinearMap (default)"} <= set(at)
    for method in ("CSA (default)", "ASIF (default)"):
        assert {"bilevel AUC", "bilevel accuracy", "image-caption AUC"} <= set(at[method])
    assert at["chance"]["bilevel AUC"] == 0.5
    assert "caption-caption only" in at


@pytest.mark.parametrize("section", ["flickr30k", "coco"])
def test_retrieval_commands_beat_chance(tmp_path, section):
    root = tmp_path / section
    make_colour_captions(root, coco=section == "coco")
    # One budget under 20 pairs: default rows only (tuned ones on 1280-d features take
    # minutes on 2 shared cores; the imagenet test covers them).
    rows = run_section(tmp_path, section, root, "--pairs", "18")
    assert {r["n_pairs"] for r in rows} == {18}
    at = values(rows, 18)
    assert {m for m in FITTED if "default" in m} | {"chance"} <= set(at)
    metrics = {f"{side} R@{k}" for side in ("image->caption", "caption->image") for k in (1, 5, 10)}
    assert metrics | {"retrieval mAP"} <= set(at["CSA (default)"])
    # 12 test images, each counted once: a caption finds its image at random 1 time in 12.
    assert at["chance"]["caption->image R@1"] == pytest.approx(1 / 12)
    assert {r["dataset"] for r in rows} == {
        f"{'flickr30k' if section == 'flickr30k' else 'coco-captions'} (test 12 images, "
        "24 captions)"
    }
    for method in ("CSA (default)",):
        # Colours generalise to held-out images: two of the 12 share a caption's colour.
        assert at[method]["caption->image R@5"] >= at["chance"]["caption->image R@5"] + 0.3
        assert at[method]["retrieval mAP"] >= 0.35
        assert at[method]["image->caption R@1"] > at["chance"]["image->caption R@1"]


def test_wrong_root_is_one_clear_line(tmp_path):
    code, output, _ = invoke(
        "--section", "cosmos", "--root", str(tmp_path / "nowhere"), *ENCODERS,
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 2
    assert "error:" in output and "COSMOS" in output and "Traceback" not in output
    assert output.count("error:") == 1
    assert not (tmp_path / "out" / "results.json").exists()


def test_paper_options_need_a_paper_section(tmp_path):
    code, output, _ = invoke("--section", "news", "--root", str(tmp_path), "--out", str(tmp_path))
    assert code == 2 and "--root" in output and "imagenet" in output
    code, output, _ = invoke("--section", "flickr30k", "--out", str(tmp_path))
    assert code == 2 and "needs --root" in output


def test_paper_encoders_fail_fast_offline(tmp_path, monkeypatch):
    from paper_fixtures import make_flickr30k

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    make_flickr30k(tmp_path / "f")
    code, output, _ = invoke("--section", "flickr30k", "--root", str(tmp_path / "f"),
                             "--out", str(tmp_path / "out"))  # fmt: skip
    assert code == 2 and "dinov2-giant" in output and "Traceback" not in output


def _clip_caption_to_image_r1(model: Path, root: Path) -> float:
    """Caption -> image Recall@1 of CLIP's own cosine on the test split, computed here."""
    from csa.encoders.clip import clip_towers

    entries = json.loads((root / "dataset_flickr30k.json").read_text())["images"]
    test = [e for e in entries if e["split"] == "test"]
    image_enc, text_enc = clip_towers(model)
    images = image_enc.encode([str(root / "flickr30k-images" / e["filename"]) for e in test])
    captions = [(i, s["raw"]) for i, e in enumerate(test) for s in e["sentences"]]
    texts = text_enc.encode([c for _, c in captions])
    best = np.argmax(texts @ images.T, axis=1)
    return float(np.mean(best == np.array([i for i, _ in captions])))


def test_clip_reference_row_is_clips_own_cosine(tmp_path):
    """--clip NAME adds CLIP's own score as a pair-free reference row beside every method."""
    root = tmp_path / "flickr30k"
    make_colour_captions(root, coco=False)
    model = tiny_clip(tmp_path / "clip")
    rows = run_section(tmp_path, "flickr30k", root, "--pairs", "18", "--clip", str(model))
    at = values(rows, 18)
    label = f"CLIP {model}"
    assert set(at[label]) == set(at["CSA (default)"])
    assert at[label]["caption->image R@1"] == pytest.approx(_clip_caption_to_image_r1(model, root))


def test_clip_reference_in_the_cosmos_and_imagenet_commands(tmp_path):
    model = tiny_clip(tmp_path / "clip")
    make_cosmos(tmp_path / "cosmos")
    rows = run_section(tmp_path / "c", "cosmos", tmp_path / "cosmos", "--clip", str(model))
    at = values(rows, 6)
    assert {"bilevel AUC", "image-caption AUC"} <= set(at[f"CLIP {model}"])
    make_imagenet(tmp_path / "imagenet", train_per_class=4, val_per_class=2)
    rows = run_section(
        tmp_path / "i", "imagenet", tmp_path / "imagenet", "--pairs", "12", "--clip", str(model)
    )
    at = values(rows, 12)
    assert set(at[f"CLIP {model}"]) == set(at["CSA (default)"])
