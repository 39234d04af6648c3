"""Optional libraries: a missing one fails with the pip command that installs it.

A missing library is simulated by ``sys.modules[name] = None`` (the import then raises
``ModuleNotFoundError``), so these run in the full development install. Every
``require``/``missing`` call in the source is also checked against pyproject.toml: the extra
it names must exist and must install the package it names.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import csa
from csa.errors import CSAError, MissingExtraError
from csa.extras import missing, require

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def test_require_returns_the_module_when_present():
    import json

    assert require("json", extra="encoders", purpose="a test") is json


def test_missing_module_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingExtraError) as info:
        require("sentence_transformers", extra="encoders", purpose="SentenceTransformerEncoder")
    message = str(info.value)
    assert "'sentence-transformers'" in message  # the PyPI name, not the import name
    assert "pip install 'csa[encoders]'" in message
    assert isinstance(info.value, CSAError) and isinstance(info.value, ImportError)
    assert isinstance(info.value.__cause__, ImportError)


def test_a_package_no_extra_carries_is_named_itself(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(
        MissingExtraError, match=r"needs the Python package 'timm'.*pip install timm"
    ):
        require("timm", extra=None, purpose="a timm model")
    error = missing("x-pkg", extra="audio", purpose="P", alternative="pass a folder")
    assert str(error).endswith("pip install 'csa[audio]', or pass a folder")


def test_a_broken_dependency_of_a_present_module_is_reported(tmp_path, monkeypatch):
    (tmp_path / "csa_test_plugin_mod.py").write_text("import csa_test_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtraError) as info:
        require("csa_test_plugin_mod", extra="demo", purpose="the plugin")
    message = str(info.value)
    assert "pip install 'csa[demo]'" in message
    assert "csa_test_absent_dependency" in message  # the real cause, not just the extra


def test_encoder_without_its_extra(monkeypatch):
    from csa.encoders import get

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'csa\[encoders\]'"):
        get("st:some-model", reuse=False)


def test_torch_fit_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal((40, 2))
    with pytest.raises(MissingExtraError, match=r"device='cpu'.*pip install 'csa\[torch\]'"):
        csa.CSA(device="cpu").fit(x, y)


def test_bundled_data_set_without_its_library(monkeypatch):
    from csa.datasets import digits, load

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    digits._read.cache_clear()
    try:
        with pytest.raises(MissingExtraError, match=r"'scikit-learn'.*pip install 'csa\[data\]'"):
            load("digits")
    finally:
        digits._read.cache_clear()


# ------------------------------------------------------------ the source against pyproject
def _requirement_name(spec: str) -> str:
    return re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0].strip().lower().replace("_", "-")


def _extras() -> dict[str, set[str]]:
    """Extra -> the distributions it installs, self-references (``csa[a,b]``) resolved."""
    raw = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = raw["optional-dependencies"]

    def closure(extra: str, seen: frozenset[str] = frozenset()) -> set[str]:
        names: set[str] = set()
        for spec in declared[extra]:
            name = _requirement_name(spec)
            if name == raw["name"]:
                inner = spec[spec.index("[") + 1 : spec.index("]")].split(",")
                for other in inner:
                    if other.strip() not in seen:
                        names |= closure(other.strip(), seen | {extra})
            else:
                names.add(name)
        return names

    return {extra: closure(extra) for extra in declared}


def _calls() -> list[tuple[str, str, str | None]]:
    """(where, distribution, extra) of every require()/missing() with a literal name."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in ("require", "missing") or not node.args:
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            kw = {k.arg: k.value for k in node.keywords}
            if "extra" not in kw or not isinstance(kw["extra"], ast.Constant):
                continue
            if "package" in kw and isinstance(kw["package"], ast.Constant):
                package = kw["package"].value
            elif node.func.id == "require":
                package = first.value.split(".")[0].replace("_", "-")
            else:
                package = first.value
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            found.append((where, package.lower(), kw["extra"].value))
    return found


def test_every_extra_named_in_the_source_installs_the_package():
    extras = _extras()
    calls = _calls()
    checked = {(package, extra) for _, package, extra in calls}
    # The walk finds the guards it is meant to check.
    assert {("torch", "encoders"), ("torch", "torch"), ("sktime", "timeseries")} <= checked
    wrong = [
        f"{where}: {package!r} is not installed by csa[{extra}]"
        if extra in extras
        else f"{where}: no extra {extra!r} in pyproject.toml"
        for where, package, extra in calls
        if extra is not None and package not in extras.get(extra, set())
    ]
    assert wrong == []
