"""A CLIP model's two towers as two encoders: the reference CSA is compared against.

``get("clip:openai/clip-vit-base-patch32")`` is the image tower and
``get("clip-text:openai/clip-vit-base-patch32")`` the text tower of the same model
(loaded once and shared); :func:`clip_towers` returns both. Any transformers model with
``get_image_features`` and ``get_text_features`` works (CLIP, SigLIP, ...), by Hub name
or local directory. Embeddings are L2-normalised by default, so the dot product of an
image and a text embedding is CLIP's own cosine score, the number its zero-shot
classification and retrieval rank by.

No CLIP weights ship in any package this project can install offline, so without the
network (or a local copy) loading fails at once with an :class:`EncoderError` naming the
model and the two ways to supply it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.encoders._hub import load_failure, quiet_weight_loading
from csa.encoders.base import BatchedEncoder
from csa.encoders.images import load_image
from csa.errors import EncoderError
from csa.extras import require

_loaded: dict[tuple[str, str, bool], tuple[Any, Any]] = {}
_lock = threading.Lock()


def load_clip(
    model: str | Path, device: str = "cpu", local_files_only: bool = False
) -> tuple[Any, Any]:
    """(model, processor) of a CLIP-like transformers model, loaded once per process."""
    key = (str(model), device, local_files_only)
    with _lock:
        if key in _loaded:
            return _loaded[key]
        torch = require("torch", extra="encoders", purpose="the CLIP encoders")
        transformers = require("transformers", extra="encoders", purpose="the CLIP encoders")
        AutoModel, AutoProcessor = transformers.AutoModel, transformers.AutoProcessor
        try:
            processor = AutoProcessor.from_pretrained(str(model), local_files_only=local_files_only)
            with quiet_weight_loading():
                net = AutoModel.from_pretrained(str(model), local_files_only=local_files_only)
        except Exception as exc:  # OSError offline or for a missing folder, ValueError otherwise
            raise load_failure(
                "CLIP", str(model), exc, download_hint=f"hf download {model} --local-dir DIR"
            ) from exc
        if not (hasattr(net, "get_image_features") and hasattr(net, "get_text_features")):
            raise EncoderError(
                f"{model!r} is a {type(net).__name__}, which has no image and text towers; "
                "name a CLIP-like model (CLIP, SigLIP, ...)"
            )
        net = net.to(torch.device(device)).eval()
        _loaded[key] = (net, processor)
        return net, processor


def _as_tensor(features: Any) -> Any:
    """transformers 5 may wrap tower outputs; the embedding is then its pooled output."""
    import torch

    if isinstance(features, torch.Tensor):
        return features
    pooled = getattr(features, "pooler_output", None)
    if pooled is None:
        raise EncoderError(f"cannot find an embedding in a {type(features).__name__}")
    return pooled


class _CLIPTower(BatchedEncoder):
    """What both towers share: the loaded model, its dimension, normalisation."""

    _kind = ""

    def __init__(
        self,
        model: str | Path,
        *,
        name: str | None = None,
        device: str = "cpu",
        local_files_only: bool = False,
        normalize: bool = True,
    ) -> None:
        self._model_id = str(model)
        self._net, self._processor = load_clip(model, device, local_files_only)
        self._device = next(self._net.parameters()).device
        self._normalize = normalize
        option = "" if normalize else "?normalize=false"
        self._name = name if name is not None else f"{self._kind}:{self._model_id}{option}"
        config = self._net.config
        dim = getattr(config, "projection_dim", None)
        self._dim = int(dim) if dim else int(self._probe().shape[1])

    def _probe(self) -> np.ndarray:
        raise NotImplementedError

    def _finish(self, features: Any) -> np.ndarray:
        import torch

        out = _as_tensor(features).float()
        if self._normalize:
            out = torch.nn.functional.normalize(out, dim=-1)
        return out.cpu().numpy()


class CLIPImageEncoder(_CLIPTower):
    """The image tower of a CLIP-like model: items are images, paths or arrays."""

    _kind = "clip"

    def _probe(self) -> np.ndarray:
        return self._encode_batch([np.full((32, 32, 3), 128, dtype=np.uint8)])

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        import torch

        images = [load_image(item) for item in batch]
        pixels = self._processor(images=images, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            feats = self._net.get_image_features(pixel_values=pixels.to(self._device))
        return self._finish(feats)


class CLIPTextEncoder(_CLIPTower):
    """The text tower of a CLIP-like model: items are strings, cut at the model's length."""

    _kind = "clip-text"

    def _probe(self) -> np.ndarray:
        return self._encode_batch(["a photo"])

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        import torch

        texts = [str(t) for t in batch]
        # Cut at the model's own limit: a tokenizer saved without model_max_length would
        # otherwise pass long captions through and the position embeddings would refuse them.
        limit = getattr(
            getattr(self._net.config, "text_config", None), "max_position_embeddings", None
        )
        tokens = self._processor(
            text=texts, return_tensors="pt", padding=True, truncation=True, max_length=limit
        )
        wanted = ("input_ids", "attention_mask")
        inputs = {k: v.to(self._device) for k, v in tokens.items() if k in wanted}
        with torch.inference_mode():
            feats = self._net.get_text_features(**inputs)
        return self._finish(feats)


def clip_towers(model: str | Path, **kwargs: Any) -> tuple[CLIPImageEncoder, CLIPTextEncoder]:
    """Both towers of one CLIP-like model (loaded once): ``(image encoder, text encoder)``."""
    return CLIPImageEncoder(model, **kwargs), CLIPTextEncoder(model, **kwargs)
