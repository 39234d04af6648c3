"""Two fast encoders that count their own loading and encoding, registered by name.

``count-image`` reads an image file's mean colour (3-d), ``count-text`` counts colour
words (5-d); both tell the colour circles of :mod:`multimodal.colour_items` apart, so a
map fitted through them classifies and retrieves correctly in milliseconds. ``LOADS``
counts factory calls (a real encoder loads its weights there, 4-11 s) and ``ENCODED``
the items passed to ``encode``: tests assert both stay at zero when a command refuses
its input, which proves the check ran before the slow work.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest

LOADS: Counter[str] = Counter()
ENCODED: Counter[str] = Counter()
WORDS = ("red", "green", "blue", "yellow", "circle")


class MeanColour:
    name, dim, modality = "count-image", 3, "image"

    def encode(self, items, batch_size=32, show_progress=None):
        from PIL import Image

        ENCODED[self.name] += len(items)
        rows = [np.asarray(Image.open(p).convert("RGB"), float).mean(axis=(0, 1)) for p in items]
        return np.asarray(rows, dtype=np.float32) / 255


class ColourWords:
    name, dim, modality = "count-text", len(WORDS), "text"

    def encode(self, items, batch_size=32, show_progress=None):
        ENCODED[self.name] += len(items)
        counts = [[str(t).lower().replace(".", " ").split().count(w) for w in WORDS] for t in items]
        return np.asarray(counts, dtype=np.float32)


def _factory(cls):
    def make(**options):
        LOADS[cls.name] += 1
        return cls()

    return make


@pytest.fixture()
def counting(tmp_path, monkeypatch) -> Iterator[tuple[Counter[str], Counter[str]]]:
    """Register both encoders (own embedding cache) for one test; the counters start at 0."""
    from csa.encoders import register, unregister

    monkeypatch.setenv("CSA_CACHE_DIR", str(tmp_path / "cache"))
    register("count-image", _factory(MeanColour), description="image: mean colour (test)")
    register("count-text", _factory(ColourWords), description="text: colour words (test)")
    LOADS.clear()
    ENCODED.clear()
    try:
        yield LOADS, ENCODED
    finally:
        unregister("count-image")
        unregister("count-text")
