"""A deterministic encoder that records what it really encoded: the embedding store's tests
count its work to tell a hit from a miss, and compare every answer with a fresh encoding."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from csa.encoders.base import BatchedEncoder


class Counting(BatchedEncoder):
    """Deterministic features that record which items were really encoded."""

    def __init__(self, name: str = "counting", dim: int = 6, fail_at_batch: int | None = None):
        self._name, self._dim, self._fail_at = name, dim, fail_at_batch
        self.seen: list[str] = []
        self.batches = 0

    @property
    def encoded(self) -> int:
        return len(self.seen)

    def _encode_batch(self, batch):
        if self._fail_at is not None and self.batches == self._fail_at:
            raise KeyboardInterrupt  # a person pressing Ctrl-C mid-pass
        self.batches += 1
        rows = []
        for item in batch:
            content = Path(item).read_bytes() if Path(str(item)).is_file() else str(item).encode()
            self.seen.append(str(item))
            digest = hashlib.sha256(content).digest()
            rows.append(np.frombuffer(digest[: self._dim], dtype=np.uint8) / 255.0 + 0.5)
        return np.stack(rows)


TEXTS = ["a red dress", "a pair of trousers", "an ankle boot"]
MANY = [f"caption number {i}" for i in range(50)]


def truth(items, dim: int = 6) -> np.ndarray:
    """What a fresh encoder gives, to compare every cached answer with."""
    return Counting(dim=dim).encode(list(items))
