"""The one interface every encoder offers, whatever the modality.

CSA only ever sees feature arrays, so an encoder is anything that turns a list of
items (strings, images, waveforms, file paths, rows of a table) into an
``(n, dim)`` float32 array, deterministically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """A frozen unimodal encoder.

    ``name`` identifies the model and its settings (it keys the embedding cache, so
    two encoders that can give different outputs must have different names).
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(
        self, items: Sequence[Any], batch_size: int = 32, show_progress: bool | None = None
    ) -> np.ndarray:
        """Return an ``(len(items), dim)`` float32 array."""
        ...
