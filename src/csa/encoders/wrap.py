"""Model objects the user already holds, made into csa encoders.

Users of sentence-transformers, transformers or timm often have a model loaded (and
perhaps fine-tuned) in memory; asking them to save it and pass a path back would be
friction and a chance to mix models up. :func:`wrap` (also reached through
``csa.encoders.get(obj)``) accepts the object itself. A wrapped object is named by a
hash of its weights, so the embedding cache can never confuse two models; pass
``name=`` to choose a readable name (and promise that it changes with the weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from csa.encoders.base import BatchedEncoder, Encoder
from csa.encoders.images import load_image
from csa.encoders.text import check_texts, model_fingerprint
from csa.errors import EncoderError


def _module_of(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def _is_torch_module(obj: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch comes with the encoders extra
        return False
    return isinstance(obj, torch.nn.Module)


class _TorchModelEncoder(BatchedEncoder):
    """Shared parts of a wrapped torch model: device, inference mode, a weight-hash name."""

    def __init__(self, model: Any, name: str | None, kind: str, device: str | None) -> None:
        import torch

        self._model = model.eval()
        if device is not None:
            self._model = self._model.to(torch.device(device))
        self._device = next(self._model.parameters()).device
        self._name = name if name is not None else f"{kind}:{model_fingerprint(model)}"


class TransformersImageEncoder(_TorchModelEncoder):
    """A transformers vision model object plus its image processor."""

    def __init__(
        self, model: Any, processor: Any, *, name: str | None = None, device: str | None = None
    ) -> None:
        super().__init__(model, name, "hf-image-object", device)
        self._processor = processor
        probe = self._features([np.zeros((32, 32, 3), dtype=np.uint8)])
        self._dim = int(probe.shape[1])

    def _features(self, batch: Sequence[Any]) -> np.ndarray:
        import torch

        from csa.encoders.hf_image import pool_output

        images = [load_image(item) for item in batch]
        inputs = self._processor(images=images, return_tensors="pt").to(self._device)
        with torch.inference_mode():
            if hasattr(self._model, "get_image_features"):
                feats = self._model.get_image_features(**inputs)
            else:
                feats = pool_output(self._model(**inputs))
        return feats.float().cpu().numpy()

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        return self._features(batch)


class TransformersTextEncoder(_TorchModelEncoder):
    """A transformers text model object plus its tokenizer, mean-pooled over real tokens.

    Mean pooling under the attention mask is what sentence-transformers' MiniLM models
    use; a model with ``get_text_features`` (CLIP) gives its own embedding instead.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str | None = None,
        device: str | None = None,
        max_length: int = 256,
    ) -> None:
        super().__init__(model, name, "hf-text-object", device)
        self._tokenizer = tokenizer
        self._max_length = int(max_length)
        self._dim = int(self._features([""]).shape[1])

    def _features(self, batch: Sequence[Any]) -> np.ndarray:
        import torch

        texts = check_texts(batch, self._name)
        inputs = self._tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self._max_length,
            return_tensors="pt",
        ).to(self._device)
        with torch.inference_mode():
            if hasattr(self._model, "get_text_features"):
                return self._model.get_text_features(**inputs).float().cpu().numpy()
            hidden = self._model(**inputs).last_hidden_state
            mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return pooled.float().cpu().numpy()

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        return self._features(batch)


class TimmModelEncoder(_TorchModelEncoder):
    """A timm model object: pooled features (classifier removed) and its eval transform."""

    def __init__(self, model: Any, *, name: str | None = None, device: str | None = None) -> None:
        import timm.data

        super().__init__(model, name, "timm-object", device)
        if hasattr(self._model, "reset_classifier"):
            self._model.reset_classifier(0)
        config = timm.data.resolve_model_data_config(self._model)
        self._transform = timm.data.create_transform(**config, is_training=False)
        self._dim = int(self._model.num_features)

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        import torch

        x = torch.stack([self._transform(load_image(item)) for item in batch]).to(self._device)
        with torch.inference_mode():
            return self._model(x).float().cpu().numpy()


def wrap(
    obj: Any,
    *,
    processor: Any = None,
    tokenizer: Any = None,
    name: str | None = None,
    **options: Any,
) -> Encoder:
    """An encoder around a model object: a SentenceTransformer, a timm model, or a
    transformers model with its ``processor`` (images) or ``tokenizer`` (text).

    An object that already is an encoder (``name``, ``dim``, ``encode``) is returned as is.
    """
    if isinstance(obj, Encoder) and not _is_torch_module(obj):
        return obj
    package = _module_of(obj)
    if package == "sentence_transformers":
        from csa.encoders.text import SentenceTransformerEncoder

        return SentenceTransformerEncoder(obj, name=name, **options)
    if package == "timm" or (_is_torch_module(obj) and hasattr(obj, "pretrained_cfg")):
        return TimmModelEncoder(obj, name=name, **options)
    if package == "transformers" and _is_torch_module(obj):
        if processor is not None:
            return TransformersImageEncoder(obj, processor, name=name, **options)
        if tokenizer is not None:
            return TransformersTextEncoder(obj, tokenizer, name=name, **options)
        raise EncoderError(
            f"a transformers {type(obj).__name__} needs its preprocessing: pass "
            "processor=AutoImageProcessor.from_pretrained(...) for images or "
            "tokenizer=AutoTokenizer.from_pretrained(...) for text"
        )
    raise EncoderError(
        f"cannot make an encoder from a {type(obj).__module__}.{type(obj).__name__}: encoder "
        "names are strings; give a registry name (csa.encoders.available()), an object "
        "with name, dim and encode, a SentenceTransformer, a timm model, or a transformers "
        "model with processor= or tokenizer="
    )


__all__ = [
    "TimmModelEncoder",
    "TransformersImageEncoder",
    "TransformersTextEncoder",
    "wrap",
]
