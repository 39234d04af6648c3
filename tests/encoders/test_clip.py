"""CLIP towers and DINOv2 pooling on tiny randomly initialised models built here (no download)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import tiny_models

pytest.importorskip("transformers")

from csa.encoders import get
from csa.encoders.clip import CLIPImageEncoder, clip_towers, load_clip
from csa.encoders.hf_image import HFImageEncoder, pool_output
from csa.errors import EncoderError


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.tiny_clip(tmp_path_factory.mktemp("clip"))


def test_clip_towers_give_clips_own_cosine(tiny_clip: Path) -> None:
    import torch

    image_enc, text_enc = clip_towers(tiny_clip)
    assert image_enc.dim == text_enc.dim == 8
    assert image_enc.name == f"clip:{tiny_clip}" and text_enc.name == f"clip-text:{tiny_clip}"
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 30, 3), dtype=np.uint8) for _ in range(3)]
    texts = ["a cat", "a much longer caption about a dog on a beach"]
    img, txt = image_enc.encode(images), text_enc.encode(texts)
    assert img.shape == (3, 8) and txt.shape == (2, 8)
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1.0, rtol=1e-5)
    net, processor = load_clip(tiny_clip)  # the towers share this one loaded model
    assert image_enc._net is net and text_enc._net is net
    from csa.encoders.images import load_image

    inputs = processor(
        text=texts,
        images=[load_image(i) for i in images],
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=24,
    )
    with torch.inference_mode():
        out = net(**inputs)
        expected = (out.logits_per_image / net.logit_scale.exp()).numpy()
    np.testing.assert_allclose(img @ txt.T, expected, atol=1e-5)


def test_clip_by_name_and_raw_option(tiny_clip: Path) -> None:
    image_enc = get(f"clip:{tiny_clip}")
    assert isinstance(image_enc, CLIPImageEncoder)
    raw = CLIPImageEncoder(tiny_clip, normalize=False)
    x = np.full((32, 32, 3), 90, dtype=np.uint8)
    a, b = image_enc.encode([x]), raw.encode([x])
    np.testing.assert_allclose(a, b / np.linalg.norm(b), rtol=1e-5)
    assert raw.name.endswith("?normalize=false")


def test_clip_offline_fails_fast_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(EncoderError, match=r"could not load CLIP model .*nowhere"):
        CLIPImageEncoder(tmp_path / "nowhere")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    started = time.perf_counter()
    with pytest.raises(EncoderError, match="openai/clip-vit-base-patch32"):
        CLIPImageEncoder("openai/clip-vit-base-patch32", local_files_only=True)
    assert time.perf_counter() - started < 30


def test_a_model_without_two_towers_is_refused(tiny_dinov2: Path) -> None:
    with pytest.raises(EncoderError, match="no image and text towers"):
        CLIPImageEncoder(tiny_dinov2)


# ---- DINOv2 pooling (hf-image ... ?pool=mean) --------------------------------------------
@pytest.fixture(scope="module")
def tiny_dinov2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.tiny_dinov2(tmp_path_factory.mktemp("dinov2") / "model")


def test_dinov2_mean_pooling_is_the_mean_of_the_last_hidden_state(tiny_dinov2: Path) -> None:
    import torch

    mean_enc = HFImageEncoder(tiny_dinov2, pool="mean")
    auto_enc = HFImageEncoder(tiny_dinov2)
    assert mean_enc.name == f"hf-image:{tiny_dinov2}?pool=mean" and mean_enc.dim == 16
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (36, 48, 3), dtype=np.uint8) for _ in range(2)]
    pixels = mean_enc._processor(images=[mean_enc_image(i) for i in images], return_tensors="pt")[
        "pixel_values"
    ]
    with torch.inference_mode():
        out = mean_enc._model(pixel_values=pixels)
    np.testing.assert_allclose(mean_enc.encode(images), out.last_hidden_state.mean(1), atol=1e-5)
    np.testing.assert_allclose(auto_enc.encode(images), out.pooler_output, atol=1e-5)
    cls = HFImageEncoder(tiny_dinov2, pool="cls").encode(images)
    np.testing.assert_allclose(cls, out.last_hidden_state[:, 0], atol=1e-5)
    assert not np.allclose(mean_enc.encode(images), auto_enc.encode(images))


def mean_enc_image(item: np.ndarray):
    from csa.encoders.images import load_image

    return load_image(item)


def test_pool_option_through_the_encoder_name(tiny_dinov2: Path) -> None:
    encoder = get(f"hf-image:{tiny_dinov2}?pool=mean")
    assert encoder.dim == 16 and "pool=mean" in encoder.name


def test_bad_pool_is_refused() -> None:
    with pytest.raises(EncoderError, match="pool must be one of auto, mean, cls"):
        HFImageEncoder("anything", pool="max")
    with pytest.raises(EncoderError, match="pool must be one of"):
        pool_output(object(), pool="median")
