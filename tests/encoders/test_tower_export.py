"""Towers that leave csa give csa's own shared-space vectors, to 1e-5.

One model is fitted on small real items (PNG circles through the bundled
EfficientNet-Lite0, captions through the bundled all-MiniLM-L6-v2) with every
canonical dimension kept, the hardest case for precision; then each export is run the
way its users run it (a torch module, ONNX Runtime, a torch.export program,
``SentenceTransformer(folder)``) and compared with ``encode_a`` / ``encode_b``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import csa
from csa.errors import EncoderError, InputError, NotFittedError, ParameterError
from csa.export.head import shared_space_map
from csa.multimodal import MultimodalEncoder
from multimodal.colour_items import image_paths, write_items

pytestmark = pytest.mark.slow
N = 48
TOL = 1e-5
IMAGE = {"image_size": 64}


def _captions(labels: list[str]) -> list[str]:
    """Distinct captions, so the text side has many canonical dimensions to export."""
    rng = np.random.default_rng(1)
    words = ["small", "large", "bright", "dull", "round", "tilted", "centred", "shifted"]
    return [
        f"a {rng.choice(words)} {label} circle, {rng.choice(words)} and {rng.choice(words)}, "
        f"item {i}"
        for i, label in enumerate(labels)
    ]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("tower-items")
    folder, _, labels = write_items(root, N)
    paths, captions = image_paths(folder, N), _captions(labels)
    model = csa.CSA(ridge=0.1, sim_dim=None)  # fixed ridge: the fit stays fast
    mm = MultimodalEncoder(
        "efficientnet-lite0", "minilm-l6", model, encoder_a_options=IMAGE, cache_dir=root / "c"
    )
    mm.fit(paths, captions, held_out=0.25, seed=0)
    assert mm.model.sim_dim_ > 20  # the precision test is only as hard as the map is wide
    return mm, paths, captions, root


def _gap(x, y) -> float:
    return float(np.max(np.abs(np.asarray(x, dtype=np.float64) - np.asarray(y))))


def test_torch_tower_matches_encode_a(fitted):
    mm, paths, _, _ = fitted
    tower = mm.tower("a")
    assert isinstance(tower, torch.nn.Module)
    expected = mm.encode_a(paths[:12])
    got = tower.encode(paths[:12], batch_size=5)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert _gap(got, expected) < TOL
    with torch.inference_mode():  # the plain module call on preprocessed pixels
        direct = tower(tower.pixels(paths[:3])).numpy()
    assert _gap(direct, expected[:3]) < TOL
    small = mm.tower("a", sim_dim=3).encode(paths[:6])
    assert small.shape == (6, 3) and _gap(small, mm.encode_a(paths[:6], sim_dim=3)) < TOL


def test_onnx_tower_in_onnxruntime_matches_encode_a(fitted):
    import onnx
    import onnxruntime as ort

    mm, paths, _, root = fitted
    path = mm.export("a", root / "image_tower.onnx")
    assert path.is_file()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    tower = mm.tower("a")
    expected = mm.encode_a(paths[:9])
    pixels = tower.pixels(paths[:9]).numpy()
    (name,) = [i.name for i in session.get_inputs()]
    got = np.concatenate(
        [session.run(None, {name: pixels[:1]})[0], session.run(None, {name: pixels[1:]})[0]]
    )
    assert got.shape == expected.shape
    gap = _gap(got, expected)
    print(f"ONNX vs encode_a: largest difference {gap:.2e} over {got.size} values")
    assert gap < TOL
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    record = json.loads(meta["csa_tower"])
    assert record["input"]["preprocessing"]["image_size"] == IMAGE["image_size"]
    assert record["output"]["output_dim"] == mm.model.sim_dim_
    assert record["source"]["encoder"]["name"] == mm.encoder_specs["a"].name


def test_torch_export_program_runs_without_csa_classes(fitted):
    mm, paths, _, root = fitted
    path = mm.export("a", root / "image_tower.pt2")
    extra = {"csa_tower.json": ""}
    loaded = torch.export.load(str(path), extra_files=extra).module()
    pixels = mm.tower("a").pixels(paths[:5])
    with torch.inference_mode():
        got = np.concatenate([loaded(pixels[:1]).numpy(), loaded(pixels[1:]).numpy()])
    assert _gap(got, mm.encode_a(paths[:5])) < TOL
    assert json.loads(extra["csa_tower.json"])["output"]["method"] == "CSA"


def test_sentence_transformers_folder_matches_encode_b_and_scores(fitted):
    from sentence_transformers import SentenceTransformer

    mm, paths, captions, root = fitted
    folder = mm.export("b", root / "text_tower")
    types = [m["type"] for m in json.loads((folder / "modules.json").read_text())]
    # stock modules only: the folder loads where csa is not installed
    assert all(t.startswith("sentence_transformers.") for t in types), types
    st = SentenceTransformer(str(folder), device="cpu")
    texts = [*captions[:10], "a blue circle", "something else entirely"]
    got = st.encode(texts)
    expected = mm.encode_b(texts)
    gap = _gap(got, expected)
    print(f"sentence-transformers vs encode_b: largest difference {gap:.2e}")
    assert gap < TOL
    assert st.similarity_fn_name == "dot"
    scores = st.similarity(mm.encode_a(paths[:6]).astype(np.float32), got).numpy()
    assert _gap(scores, mm.similarity(paths[:6], texts)) < TOL


@pytest.mark.parametrize("make", [lambda: csa.CCA(ridge=0.1), lambda: csa.LinearMap(ridge=0.1)])
def test_cca_and_linear_map_towers(fitted, make):
    from sentence_transformers import SentenceTransformer

    mm, paths, captions, root = fitted
    fa, fb = mm.features("a", paths), mm.features("b", captions)
    other = MultimodalEncoder(mm.encoder("a"), mm.encoder("b"), make())
    other.fit_features(fa, fb, held_out=0)
    assert _gap(other.tower("a").encode(paths[:6]), other.encode_a(paths[:6])) < TOL
    folder = other.export("b", root / f"text_{type(other.model).__name__}")
    got = SentenceTransformer(str(folder), device="cpu").encode(captions[:6])
    assert _gap(got, other.encode_b(captions[:6])) < TOL


def test_maps_that_are_not_towers_are_refused(fitted, tmp_path):
    mm, paths, captions, _ = fitted
    asif = MultimodalEncoder(mm.encoder("a"), mm.encoder("b"), csa.ASIF(k=8))
    asif.fit_features(mm.features("a", paths), mm.features("b", captions), held_out=0)
    with pytest.raises(ParameterError, match="ASIF"):
        asif.export("a", tmp_path / "x.onnx")
    with pytest.raises(NotFittedError):
        MultimodalEncoder(mm.encoder("a"), mm.encoder("b")).export("a", tmp_path / "y.onnx")
    with pytest.raises(ParameterError, match="LinearMap has no nested"):
        shared_space_map(csa.LinearMap(ridge=0.1).fit(np.eye(4), np.eye(4)), "a", sim_dim=2)
    assert not (tmp_path / "x.onnx").exists()


def test_wrong_side_or_format_is_a_clear_error(fitted, tmp_path):
    mm, *_ = fitted
    with pytest.raises(EncoderError, match="not built on sentence-transformers"):
        mm.export("a", tmp_path / "f", format="sentence-transformers")
    with pytest.raises(EncoderError, match="exports as a sentence-transformers folder"):
        mm.tower("b")  # a text encoder has no image network to export
    with pytest.raises(ParameterError, match=r"\.onnx or \.pt2"):
        mm.export("a", tmp_path / "tower")  # an image side needs a file format
    with pytest.raises(ParameterError, match="format must be"):
        mm.export("a", tmp_path / "t.bin", format="tflite")
    with pytest.raises(ParameterError, match="side must be"):
        mm.export("c", tmp_path / "t.onnx")


# ---------------------------------------------------------------- any torch image encoder
class _TinyCNN(torch.nn.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 6, 3, stride=2)

    def forward(self, pixels):
        return torch.relu(self.conv(pixels)).mean(dim=(2, 3))


def _pixels(item) -> np.ndarray:
    from csa.encoders.images import load_image, resize_center_crop, to_chw_float

    img = resize_center_crop(load_image(item), 32, 1.0)
    return to_chw_float(img, (127.0,) * 3, (64.0,) * 3)


class _UserEncoder:
    """An image encoder csa does not know: a user's own torch network and preprocessing."""

    name, dim = "user-cnn", 6

    def __init__(self) -> None:
        self.net = _TinyCNN(seed=3).eval()

    def encode(self, items, batch_size=32, show_progress=None):
        with torch.inference_mode():
            x = torch.from_numpy(np.stack([_pixels(i) for i in items]))
            return self.net(x).numpy()


def test_any_torch_image_encoder_with_backbone_and_preprocess(fitted, tmp_path):
    import onnxruntime as ort

    mm, paths, captions, _ = fitted
    user = _UserEncoder()
    mine = MultimodalEncoder(user, mm.encoder("b"), csa.CSA(ridge=0.1, sim_dim=None))
    mine.fit(paths, captions, held_out=0)
    with pytest.raises(EncoderError, match="backbone="):
        mine.tower("a")  # csa cannot see inside it without being told
    with pytest.raises(InputError, match="together"):
        mine.tower("a", backbone=user.net)
    with pytest.raises(EncoderError, match="does not reproduce"):
        mine.tower("a", backbone=_TinyCNN(seed=4), preprocess=_pixels)
    tower = mine.tower("a", backbone=user.net, preprocess=_pixels)
    assert _gap(tower.encode(paths[:7]), mine.encode_a(paths[:7])) < TOL
    path = mine.export("a", tmp_path / "user.onnx", backbone=user.net, preprocess=_pixels)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"pixel_values": tower.pixels(paths[:7]).numpy()})[0]
    assert _gap(got, mine.encode_a(paths[:7])) < TOL


def test_a_transformers_image_encoder_exports(fitted, tmp_path):
    """The HF path (DINOv2, CLIP, SigLIP...): a tiny random DINOv2 saved offline."""
    import onnxruntime as ort

    import tiny_models

    mm, paths, captions, _ = fitted
    model_dir = tiny_models.tiny_dinov2(tmp_path / "dinov2")
    hf = MultimodalEncoder(f"hf-image:{model_dir}", mm.encoder("b"), csa.CSA(ridge=0.1))
    hf.fit(paths, captions, held_out=0)
    expected = hf.encode_a(paths[:6])
    assert _gap(hf.tower("a").encode(paths[:6]), expected) < TOL
    path = hf.export("a", tmp_path / "dinov2.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"pixel_values": hf.tower("a").pixels(paths[:6]).numpy()})[0]
    assert _gap(got, expected) < TOL


def test_a_clip_image_tower_exports(fitted, tmp_path):
    """CLIP's image tower (normalised, as csa's clip: encoder gives it): a tiny random CLIP."""
    import onnxruntime as ort

    import tiny_models

    mm, paths, captions, _ = fitted
    model_dir = tiny_models.tiny_clip(tmp_path / "clip")
    clip = MultimodalEncoder(f"clip:{model_dir}", mm.encoder("b"), csa.CSA(ridge=0.1))
    clip.fit(paths, captions, held_out=0)
    expected = clip.encode_a(paths[:6])
    tower = clip.tower("a")
    assert _gap(tower.encode(paths[:6]), expected) < TOL
    path = clip.export("a", tmp_path / "clip.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"pixel_values": tower.pixels(paths[:6]).numpy()})[0]
    assert _gap(got, expected) < TOL


# ---------------------------------------------------------------------------------- CLI
def test_csa_export_command(fitted):
    from typer.testing import CliRunner

    from csa.cli import app

    mm, *_, root = fitted
    model = mm.save(root / "model.csa")
    runner = CliRunner()
    done = runner.invoke(app, ["export", str(model), str(root / "cli.onnx"), "--side", "a"])
    assert done.exit_code == 0, done.output
    assert "exported side a" in done.output and (root / "cli.onnx").is_file()
    done = runner.invoke(app, ["export", str(model), str(root / "cli_text"), "--side", "b"])
    assert done.exit_code == 0, done.output
    assert (root / "cli_text" / "modules.json").is_file()
    done = runner.invoke(app, ["export", str(model), str(root / "cli.onnx")])
    assert done.exit_code == 2 and "--side" in done.output
    done = runner.invoke(app, ["export", str(model), str(root / "x.onnx"), "--side", "b"])
    assert done.exit_code == 2 and "sentence-transformers folder" in done.output


# ------------------------------------------------------------------- without encoders
def test_a_head_that_would_not_reproduce_the_model_is_refused(monkeypatch):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((40, 5)), rng.standard_normal((40, 4))
    model = csa.CSA(ridge=0.1, sim_dim=3).fit(a, b)
    head = shared_space_map(model, "b")
    assert _gap(head.apply(b), model.embed_b(b)) < 1e-12
    # a csa whose side-a vectors were no longer this affine form must not export
    monkeypatch.setattr(model, "embed_a", lambda x, **kw: np.tanh(model.transform_a(x)[:, :3]))
    with pytest.raises(ParameterError, match="does not reproduce"):
        shared_space_map(model, "a")


def test_importing_the_export_modules_loads_no_torch():
    import subprocess

    code = (
        "import sys, csa, csa.export, csa.pretrained, csa.multimodal; "
        "assert 'torch' not in sys.modules and 'huggingface_hub' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
