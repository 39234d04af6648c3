"""The CLI leaves encoding progress to csa.progress's one automatic rule."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from csa import cli


class _RecordingModel:
    """Stands in for a MultimodalEncoder: records how the CLI asks for features."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def features(self, side: str, items: list, **options: Any) -> list:
        self.calls.append(options)
        return items


class _Items(SimpleNamespace):
    def __len__(self) -> int:
        return len(self.items)


@pytest.mark.parametrize("n_items", [3, 65, 5000])
def test_items_are_encoded_with_the_automatic_progress_rule(n_items):
    mm = _RecordingModel()
    cli._features(mm, "a", _Items(items=["x"] * n_items), 32)
    assert mm.calls == [{"batch_size": 32, "show_progress_bar": None}]
