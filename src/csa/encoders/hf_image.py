"""Image encoders named on the Hugging Face Hub (transformers) or in timm.

For users with the network (or a local copy): any vision backbone becomes an
:class:`~csa.encoders.base.Encoder` with its own preprocessing. Nothing here is
needed offline, so both libraries are imported only when such an encoder is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.encoders._hub import load_failure, quiet_weight_loading
from csa.encoders.base import BatchedEncoder
from csa.encoders.images import load_image
from csa.errors import EncoderError
from csa.extras import require

#: ``pool`` values of :class:`HFImageEncoder`: "auto" (the model's own image embedding or
#: pooled output), "mean" (average of the last hidden state over all tokens: the DINOv2
#: features of the CSA paper, 1536-d for dinov2-giant), "cls" (the first token's state).
POOLINGS = ("auto", "mean", "cls")


def pool_output(output: Any, pool: str = "auto") -> Any:
    """One vector per image from whatever a transformers vision model returns.

    With ``pool="auto"`` the model's own pooled output wins (CLS token, or global
    average for CNNs); failing that the last hidden state is averaged over tokens or
    space. ``"mean"`` and ``"cls"`` read the last hidden state whatever the model
    offers: DINOv2's ``pooler_output`` is the CLS token, while the paper averages.
    """
    if pool not in POOLINGS:
        raise EncoderError(f"pool must be one of {', '.join(POOLINGS)}; got {pool!r}")
    if pool == "auto":
        pooled = getattr(output, "pooler_output", None)
        if pooled is None:
            pooled = getattr(output, "image_embeds", None)
        if pooled is not None:
            return pooled.flatten(start_dim=1)
    hidden = getattr(output, "last_hidden_state", None)
    if hidden is None and isinstance(output, tuple) and output:
        hidden = output[0]
    if hidden is None:
        raise EncoderError(f"cannot find features in a {type(output).__name__} output")
    if pool == "cls":
        if hidden.ndim != 3:
            raise EncoderError(
                f"pool='cls' needs token states (batch, tokens, dim); got {hidden.ndim}-d"
            )
        return hidden[:, 0]
    if hidden.ndim == 3:  # (batch, tokens, dim)
        return hidden.mean(dim=1)
    if hidden.ndim == 4:  # (batch, channels, height, width)
        return hidden.mean(dim=(2, 3))
    return hidden.flatten(start_dim=1)


class HFImageEncoder(BatchedEncoder):
    """A transformers vision model plus its image processor, by Hub name or local directory.

    Models with ``get_image_features`` (CLIP, SigLIP...) give their image
    embedding; other backbones give their pooled output. ``pool`` overrides that (see
    :data:`POOLINGS`): ``get("hf-image:facebook/dinov2-giant?pool=mean")`` is the
    image encoder of the CSA paper.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        name: str | None = None,
        device: str = "cpu",
        local_files_only: bool = False,
        pool: str = "auto",
    ) -> None:
        torch = require("torch", extra="encoders", purpose="HFImageEncoder")

        if pool not in POOLINGS:
            raise EncoderError(f"pool must be one of {', '.join(POOLINGS)}; got {pool!r}")
        self._pool = pool

        transformers = require("transformers", extra="encoders", purpose="HFImageEncoder")
        AutoImageProcessor, AutoModel = transformers.AutoImageProcessor, transformers.AutoModel
        self._model_id = str(model)
        option = "" if pool == "auto" else f"?pool={pool}"
        self._name = name if name is not None else f"hf-image:{self._model_id}{option}"
        try:
            self._processor = AutoImageProcessor.from_pretrained(
                self._model_id, local_files_only=local_files_only
            )
            with quiet_weight_loading():
                net = AutoModel.from_pretrained(self._model_id, local_files_only=local_files_only)
        except Exception as exc:  # OSError offline, ValueError for unknown architectures
            raise load_failure(
                "transformers image",
                self._model_id,
                exc,
                download_hint=f"hf download {self._model_id} --local-dir DIR",
            ) from exc
        self._device = torch.device(device)
        self._model = net.to(self._device).eval()
        probe = np.full((224, 224, 3), 128, dtype=np.uint8)  # dims vary by config; ask the model
        self._dim = int(self._features([probe]).shape[1])

    def _features(self, batch: Sequence[Any]) -> np.ndarray:
        import torch

        images = [load_image(item) for item in batch]
        inputs = self._processor(images=images, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self._device)
        with torch.inference_mode():
            if self._pool == "auto" and hasattr(self._model, "get_image_features"):
                feats = self._model.get_image_features(pixel_values=pixels)
                if not isinstance(feats, torch.Tensor):
                    feats = pool_output(feats)
            else:
                feats = pool_output(self._model(pixel_values=pixels), self._pool)
        return feats.float().cpu().numpy()

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        return self._features(batch)


class TimmImageEncoder(BatchedEncoder):
    """A timm model with its classifier removed (pooled features) and its eval transform.

    timm is optional and not a dependency of csa; ``pip install timm`` to use it.
    ``checkpoint`` points at a local weights file for machines without the network.
    """

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        device: str = "cpu",
        checkpoint: str | Path | None = None,
    ) -> None:
        purpose = f"the timm image encoder {model!r}"
        torch = require("torch", extra="encoders", purpose=purpose)
        timm = require("timm", extra=None, purpose=purpose)
        require("timm.data", extra=None, purpose=purpose)
        self._model_id = str(model)
        self._name = name if name is not None else f"timm:{self._model_id}"
        kwargs: dict[str, Any] = {"pretrained": True, "num_classes": 0}
        if checkpoint is not None:
            if not Path(checkpoint).is_file():
                raise EncoderError(f"timm checkpoint for {model!r} not found: {checkpoint}")
            kwargs["pretrained_cfg_overlay"] = {"file": str(checkpoint)}
        try:
            net = timm.create_model(self._model_id, **kwargs)
        except Exception as exc:  # RuntimeError for unknown names, OSError/HTTP offline
            raise load_failure(
                "timm",
                self._model_id,
                exc,
                download_hint=(
                    f"timm.create_model({self._model_id!r}, pretrained=True) once, or pass "
                    "checkpoint='weights.safetensors'"
                ),
            ) from exc
        config = timm.data.resolve_model_data_config(net)
        self._transform = timm.data.create_transform(**config, is_training=False)
        self._device = torch.device(device)
        self._model = net.to(self._device).eval()
        self._dim = int(net.num_features)

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        import torch

        x = torch.stack([self._transform(load_image(item)) for item in batch]).to(self._device)
        with torch.inference_mode():
            feats = self._model(x)
        return feats.float().cpu().numpy()
