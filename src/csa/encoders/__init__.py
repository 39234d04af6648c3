"""Frozen unimodal encoders: raw items in, ``(n, dim)`` float32 features out.

Built in and offline: ``"minilm-l6"`` and ``"minilm-l3-onnx"`` (text),
``"efficientnet-lite0"`` (images). With the network or a local copy:
``"st:<model>"``, ``"hf-image:<model>"``, ``"timm:<model>"``. Any modality
already turned into arrays: ``"precomputed:<file.npy|file.parquet>"``. Names carry
options (``"whisper-base@5s"``, ``"efficientnet-lite0?pooling=mean"``), and a model
object (``SentenceTransformer``, timm, transformers) is taken by ``get(obj)`` or
:func:`wrap`.

Heavy libraries (torch, transformers, onnxruntime) load only when an encoder is
made, so importing this package stays cheap; they come with the ``csa[encoders]``,
``csa[audio]`` and ``csa[timeseries]`` extras, and an encoder whose extra is missing
raises :class:`~csa.errors.MissingExtraError` naming the ``pip install`` that fixes it.
"""

from csa.encoders.base import BatchedEncoder, Encoder
from csa.encoders.cache import CacheWarning, cache_path, cached_encode
from csa.encoders.clip import CLIPImageEncoder, CLIPTextEncoder, clip_towers
from csa.encoders.efficientnet import EfficientNetLite0Encoder
from csa.encoders.hf_image import HFImageEncoder, TimmImageEncoder
from csa.encoders.images import load_image
from csa.encoders.onnx_text import OnnxSentenceEncoder, minilm_l3_onnx
from csa.encoders.precomputed import PrecomputedEncoder
from csa.encoders.registry import available, describe, get, register, unregister
from csa.encoders.store import (
    CacheInfo,
    CacheUnavailable,
    EmbeddingStore,
    PruneReport,
    cache_info,
    prune_cache,
)
from csa.encoders.text import SentenceTransformerEncoder, minilm_l6
from csa.encoders.wrap import wrap

__all__ = [
    "BatchedEncoder",
    "CLIPImageEncoder",
    "CLIPTextEncoder",
    "CacheInfo",
    "CacheUnavailable",
    "CacheWarning",
    "EfficientNetLite0Encoder",
    "EmbeddingStore",
    "Encoder",
    "HFImageEncoder",
    "OnnxSentenceEncoder",
    "PrecomputedEncoder",
    "PruneReport",
    "SentenceTransformerEncoder",
    "TimmImageEncoder",
    "available",
    "cache_info",
    "cache_path",
    "cached_encode",
    "clip_towers",
    "describe",
    "get",
    "load_image",
    "minilm_l3_onnx",
    "minilm_l6",
    "prune_cache",
    "register",
    "unregister",
    "wrap",
]
