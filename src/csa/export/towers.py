"""Image towers as plain torch modules: the encoder's network followed by the fitted map.

A torch service or ONNX Runtime cannot call csa's encoders, which take files and PIL
images; it takes a batch of preprocessed pixels. So a tower is split where deployed
vision models are always split: ``preprocess`` (one image -> a ``3 x H x W`` float32
array, exactly as the csa encoder prepares it) stays in Python, and the module maps
``(n, 3, H, W)`` pixels to the side's shared-space vectors.

The map runs in float64 inside the module: a whitening projection can be large, and
in float32 the centring before it would lose digits that csa keeps. The output is
float32, as every embedding consumer expects.

This module imports torch at import time; :mod:`csa.export` imports it only when a
tower is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from csa.errors import EncoderError, InputError
from csa.export.head import SharedSpaceMap

# A backbone must reproduce its encoder's features on a probe image to this tolerance,
# relative to the largest feature: float32 rounding passes, another network never does.
_PROBE_RTOL = 1e-4


class MapHead(nn.Module):
    """``unit_rows((x - mean) @ matrix) * scale`` in float64, float32 out.

    Rows are divided by their largest magnitude before the norm, as
    :func:`csa.linalg.unit_rows` does, and an all-zero row stays zero.
    """

    def __init__(self, head: SharedSpaceMap) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(np.array(head.mean, dtype=np.float64)))
        self.register_buffer("matrix", torch.from_numpy(np.array(head.matrix, dtype=np.float64)))
        self.register_buffer("scale", torch.from_numpy(np.array(head.scale, dtype=np.float64)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = (features.to(torch.float64) - self.mean) @ self.matrix
        largest = z.abs().amax(dim=1, keepdim=True)
        z = z / torch.where(largest > 0, largest, torch.ones_like(largest))
        norm = torch.sqrt((z * z).sum(dim=1, keepdim=True))
        z = z / torch.where(norm > 0, norm, torch.ones_like(norm))
        return (z * self.scale).to(torch.float32)


@dataclass
class ImageBackbone:
    """A torch module from pixels to an encoder's features, and how its pixels are made.

    ``preprocess`` turns one image (path, PIL image or array) into the ``3 x H x W``
    float32 array the module takes; ``preprocessing`` describes it for consumers
    outside Python (recorded in exported files).
    """

    module: nn.Module
    preprocess: Callable[[Any], np.ndarray]
    preprocessing: dict[str, Any] = field(default_factory=dict)


class SharedSpaceTower(nn.Module):
    """One side of a fitted csa model as a torch module: pixels in, shared-space vectors out.

    ``tower(pixels)`` takes ``(n, 3, H, W)`` float32 pixels made by
    :meth:`preprocess`; :meth:`encode` does both for a list of images. The vectors are
    those of ``MultimodalEncoder.encode_a`` / ``encode_b``: their dot products with the
    other side's vectors are the model's scores.
    """

    def __init__(self, backbone: ImageBackbone, head: SharedSpaceMap) -> None:
        super().__init__()
        self.backbone = backbone.module
        # The map goes where the encoder's network already is (a GPU, say): nothing moves.
        first = next(self.backbone.parameters(), None)
        self.head = MapHead(head).to(first.device if first is not None else "cpu")
        self._preprocess = backbone.preprocess
        self.preprocessing = dict(backbone.preprocessing)
        self.map_info = head.describe()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(pixels))

    @property
    def device(self) -> torch.device:
        """Where the module's weights are; its input pixels must be there too."""
        return self.head.mean.device

    def preprocess(self, item: Any) -> np.ndarray:
        """One image as the ``3 x H x W`` float32 array :meth:`forward` takes."""
        return np.ascontiguousarray(self._preprocess(item), dtype=np.float32)

    def pixels(self, items: Sequence[Any]) -> torch.Tensor:
        """A batch of images as one ``(n, 3, H, W)`` tensor."""
        if len(items) == 0:
            raise InputError("no images given: there is nothing to encode")
        return torch.from_numpy(np.stack([self.preprocess(item) for item in items]))

    def encode(self, items: Sequence[Any], batch_size: int = 32) -> np.ndarray:
        """Shared-space vectors of images, ``(n, dim)`` float32, through this module."""
        device = self.device
        parts = []
        with torch.inference_mode():
            for start in range(0, len(items), batch_size):
                batch = self.pixels(items[start : start + batch_size]).to(device)
                parts.append(self(batch).cpu().numpy())
        if not parts:
            raise InputError("no images given: there is nothing to encode")
        return np.concatenate(parts)


# ---------------------------------------------------------------- csa's own encoders
class _EfficientNetFeatures(nn.Module):
    """EfficientNet-Lite0's pooled features: the last convolution averaged over space."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(pixels).mean(dim=(2, 3))


class _TransformersImageFeatures(nn.Module):
    """A transformers vision model's image embedding, as csa's encoders pool it."""

    def __init__(self, model: nn.Module, pool: str = "auto", normalize: bool = False) -> None:
        super().__init__()
        self.model = model
        self.pool = pool
        self.normalize = normalize
        self.own_embedding = pool == "auto" and hasattr(model, "get_image_features")

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        from csa.encoders.hf_image import pool_output

        if self.own_embedding:
            feats = self.model.get_image_features(pixel_values=pixels)
            if not isinstance(feats, torch.Tensor):
                feats = pool_output(feats)
        else:
            feats = pool_output(self.model(pixel_values=pixels), self.pool)
        feats = feats.float()
        if self.normalize:
            feats = nn.functional.normalize(feats, dim=-1)
        return feats


def _processor_preprocess(processor: Any) -> Callable[[Any], np.ndarray]:
    from csa.encoders.images import load_image

    def preprocess(item: Any) -> np.ndarray:
        out = processor(images=[load_image(item)], return_tensors="np")["pixel_values"]
        return np.asarray(out[0], dtype=np.float32)

    return preprocess


def _processor_record(processor: Any) -> dict[str, Any]:
    record = processor.to_dict() if hasattr(processor, "to_dict") else {}
    return {"kind": "transformers image processor", **_plain(record)}


def _plain(value: Any) -> Any:
    """JSON-able copy of a processor or timm config (tuples, numpy scalars, enums)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _efficientnet(encoder: Any) -> ImageBackbone:
    from csa.encoders.efficientnet import LITE_MEAN, LITE_STD

    return ImageBackbone(
        module=_EfficientNetFeatures(encoder._model),
        preprocess=encoder.preprocess,
        preprocessing={
            "kind": "efficientnet-lite0",
            "image_size": int(encoder._image_size),
            "resize": "bicubic, short side to round(image_size / crop_fraction), centre crop",
            "crop_fraction": float(encoder._crop_fraction),
            "pixel_range": "0..255 RGB",
            "mean": list(LITE_MEAN),
            "std": list(LITE_STD),
            "layout": "NCHW float32",
        },
    )


def _timm(encoder: Any) -> ImageBackbone:
    from csa.encoders.images import load_image

    transform = encoder._transform

    def preprocess(item: Any) -> np.ndarray:
        return transform(load_image(item)).numpy()

    return ImageBackbone(
        module=encoder._model,
        preprocess=preprocess,
        preprocessing={"kind": "timm eval transform", "transform": str(transform)},
    )


def _transformers(encoder: Any, model: Any, normalize: bool = False) -> ImageBackbone:
    pool = getattr(encoder, "_pool", "auto")
    return ImageBackbone(
        module=_TransformersImageFeatures(model, pool=pool, normalize=normalize),
        preprocess=_processor_preprocess(encoder._processor),
        preprocessing=_processor_record(encoder._processor),
    )


def known_backbone(encoder: Any) -> ImageBackbone | None:
    """The network inside one of csa's image encoders, or None for any other encoder."""
    from csa.encoders.clip import CLIPImageEncoder
    from csa.encoders.efficientnet import EfficientNetLite0Encoder
    from csa.encoders.hf_image import HFImageEncoder, TimmImageEncoder
    from csa.encoders.wrap import TimmModelEncoder, TransformersImageEncoder

    if isinstance(encoder, EfficientNetLite0Encoder):
        return _efficientnet(encoder)
    if isinstance(encoder, TimmImageEncoder | TimmModelEncoder):
        return _timm(encoder)
    if isinstance(encoder, HFImageEncoder | TransformersImageEncoder):
        return _transformers(encoder, encoder._model)
    if isinstance(encoder, CLIPImageEncoder):
        return _transformers(encoder, encoder._net, normalize=bool(encoder._normalize))
    return None


def probe_image() -> np.ndarray:
    """A deterministic 48 x 40 RGB image with structure in every channel."""
    rows, cols = np.mgrid[0:48, 0:40]
    rgb = np.stack([rows * 5, cols * 6, (rows + cols) * 3 % 256], axis=-1)
    return rgb.astype(np.uint8)


def check_backbone(encoder: Any, backbone: ImageBackbone) -> None:
    """Refuse a backbone that does not give the encoder's own features on a probe image."""
    item = probe_image()
    expected = np.asarray(encoder.encode([item], show_progress=False), dtype=np.float64)
    pixels = torch.from_numpy(np.ascontiguousarray(backbone.preprocess(item), dtype=np.float32))
    try:
        param = next(backbone.module.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.inference_mode():
            got = backbone.module.eval()(pixels[None].to(device)).float().cpu().numpy()
    except Exception as exc:  # whatever the user's module raises on a 1-image batch
        raise EncoderError(
            f"the tower's network fails on one preprocessed probe image of shape "
            f"{tuple(pixels.shape)}: {type(exc).__name__}: {exc}"
        ) from exc
    if got.shape != expected.shape:
        raise EncoderError(
            f"the tower's network gives features of shape {got.shape[1:]} but encoder "
            f"{encoder.name!r} gives {expected.shape[1:]}"
        )
    gap = float(np.max(np.abs(got - expected)))
    if gap > _PROBE_RTOL * (float(np.max(np.abs(expected))) + 1e-12):
        raise EncoderError(
            f"the tower's network does not reproduce encoder {encoder.name!r}: on a probe "
            f"image its features differ by up to {gap:.3g}; the backbone or preprocess "
            "given is not the encoder's"
        )


def image_tower(
    encoder: Any,
    head: SharedSpaceMap,
    *,
    backbone: nn.Module | None = None,
    preprocess: Callable[[Any], np.ndarray] | None = None,
) -> SharedSpaceTower:
    """The tower of an image side: the encoder's network (or ``backbone``) and the map.

    ``backbone`` and ``preprocess`` make any torch image encoder exportable: a module
    from pixels to the encoder's features, and the function that makes its pixels.
    Either way the pair is checked on a probe image against ``encoder.encode``.
    """
    if (backbone is None) != (preprocess is None):
        raise InputError(
            "give backbone= and preprocess= together: the module and the function that "
            "makes its input pixels"
        )
    if backbone is not None:
        if not isinstance(backbone, nn.Module):
            raise InputError(f"backbone must be a torch.nn.Module; got {type(backbone).__name__}")
        found = ImageBackbone(backbone, preprocess, {"kind": "user-supplied"})  # type: ignore[arg-type]
    else:
        known = known_backbone(encoder)
        if known is None:
            raise EncoderError(
                f"csa does not know the network inside encoder {encoder.name!r} "
                f"({type(encoder).__name__}); pass backbone= (a torch module from pixels to "
                "its features) and preprocess= (one image -> a 3 x H x W float32 array)"
            )
        found = known
    if found.module.training:
        found.module.eval()
    check_backbone(encoder, found)
    if head.dim_in != encoder.dim:
        raise EncoderError(
            f"the map takes {head.dim_in}-d features; encoder {encoder.name!r} gives {encoder.dim}"
        )
    return SharedSpaceTower(found, head).eval()
