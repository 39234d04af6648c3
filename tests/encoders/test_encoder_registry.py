"""Encoders by one scheme: the library's in one table, plugins by entry point.

Importing an encoder module registers nothing (the table is the registry's own), and a
plugin's entry point names a function that calls ``register``; the plugin is a real
distribution on ``sys.path`` (a ``*.dist-info`` folder), found by ``importlib.metadata``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from csa.encoders import registry

PLUGIN = """
import numpy as np
from csa.encoders import register

class Ones:
    name = "ones"
    dim = 2
    def encode(self, items, **kw):
        return np.ones((len(items), 2), dtype=np.float32)

def register_encoders() -> None:
    register("plugin-ones", Ones, description="text: a plugin's constant encoder")

def broken() -> None:
    raise ImportError("no module named 'plugin_runtime'")
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "csa_test_encoder_plugin.py").write_text(PLUGIN)
    info = tmp_path / "csa_test_encoder_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: csa-test-encoder-plugin\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [csa.encoders]
            bad = csa_test_encoder_plugin:broken
            ones = csa_test_encoder_plugin:register_encoders
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry, "_plugins_done", False)


def test_a_plugin_registers_through_its_entry_point(plugin):
    with pytest.warns(RuntimeWarning, match=r"plugin 'bad'.*plugin_runtime"):
        names = registry.available()
    assert "plugin-ones" in names and "minilm-l6" in names  # a broken plugin spares the rest
    encoder = registry.get("plugin-ones")
    assert encoder.encode(["x", "y"]).shape == (2, 2)


def test_importing_encoder_modules_registers_nothing():
    code = (
        "import csa.encoders.registry as r; before = set(r._entries); "
        "import csa.encoders.audio, csa.encoders.clip, csa.encoders.shapes, "
        "csa.encoders.timeseries, csa.encoders.text; "
        "print(sorted(set(r._entries) ^ before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_modality_is_in_the_one_table():
    names = set(registry.available())
    expected = {"minilm-l6", "efficientnet-lite0", "clip:<hf-model-name>", "whisper-base"}
    assert expected | {"mfcc", "minirocket", "catch22", "shape-d2"} <= names
