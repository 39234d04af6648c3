"""One registration scheme: built-in data sets by table, plugins by entry point, no import
side effects.

The plugin tests install a tiny distribution for real (a ``*.dist-info`` folder with an
``entry_points.txt`` on ``sys.path``), so ``importlib.metadata`` finds it exactly as it finds
an installed package, and reset the registry so that it discovers plugins again.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from csa.datasets import PairedDataset, registry
from csa.errors import DatasetError

PLUGIN = '''
from csa.datasets import PairedDataset, register

def load_toy(n: int = 4) -> PairedDataset:
    """A toy set from a plugin."""
    return PairedDataset("toy", [f"a{i}" for i in range(n)], [f"b{i}" for i in range(n)],
                         ("text", "text"))

def register_datasets() -> None:
    register("plugin-toy", load_toy)

def broken() -> None:
    raise RuntimeError("this plugin's data are not installed")
'''


def _install_plugin(root: Path, entry_points: str) -> None:
    """A distribution named csa-test-plugin: one module and its entry points."""
    (root / "csa_test_dataset_plugin.py").write_text(PLUGIN)
    info = root / "csa_test_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: csa-test-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture
def fresh_registry(monkeypatch):
    """The registry as a new process sees it; the real table comes back afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_ready", False)
    return registry


def test_builtins_are_the_library_readers(fresh_registry):
    names = set(fresh_registry.available())
    assert set(registry.BUILTIN) <= names
    # The demo's data sets are not the library's: they come only through its entry point.
    assert not {"spoken-words", "plaid", "openclipart", "kicad-shapes"} & set(registry.BUILTIN)


def test_a_plugin_registers_through_its_entry_point(tmp_path, monkeypatch, fresh_registry):
    _install_plugin(
        tmp_path,
        """
        [csa.datasets]
        toy = csa_test_dataset_plugin:register_datasets
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "plugin-toy" in fresh_registry.available()
    data = fresh_registry.load("plugin-toy", n=3)
    assert isinstance(data, PairedDataset) and len(data) == 3
    assert fresh_registry.describe()["plugin-toy"] == "A toy set from a plugin."


def test_a_broken_plugin_warns_and_spares_the_others(tmp_path, monkeypatch, fresh_registry):
    _install_plugin(
        tmp_path,
        """
        [csa.datasets]
        bad = csa_test_dataset_plugin:broken
        good = csa_test_dataset_plugin:register_datasets
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(RuntimeWarning, match=r"plugin 'bad'.*data are not installed"):
        names = fresh_registry.available()
    assert "plugin-toy" in names and "fashion-mnist" in names


def test_registering_before_first_use_keeps_the_builtins(fresh_registry):
    with pytest.raises(DatasetError, match="already registered"):
        fresh_registry.register("digits", lambda: None)
    fresh_registry.register("mine", lambda: None, description="my set")
    assert {"digits", "mine"} <= set(fresh_registry.available())
    fresh_registry.unregister("mine")
    assert "mine" not in fresh_registry.available()
    with pytest.raises(DatasetError, match="not registered"):
        fresh_registry.unregister("mine")


def test_importing_a_reader_registers_nothing():
    """What a name means must not depend on which modules happen to be imported."""
    code = (
        "import csa.datasets.registry as r, csa.datasets.imagenet, csa.datasets.cosmos; "
        "print(len(r._REGISTRY), r._ready)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False"]


def test_the_demo_registers_its_data_sets(monkeypatch):
    from csa_demo.data import DATASETS, register_datasets

    registry.available()  # the table filled as usual, then copied so the test leaves no trace
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register_datasets()
    register_datasets()  # the same loaders again: harmless
    assert set(DATASETS) <= set(registry.available())
    for name, loader in DATASETS.items():
        assert registry._REGISTRY[name].loader is loader
