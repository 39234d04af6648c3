"""A section whose system package is missing."""

from __future__ import annotations


def run(quick: bool, cache_dir: object) -> list[dict]:
    raise RuntimeError("espeak-ng is not installed")
