"""The demo application uses the library as a user would: public ``csa`` names only.

Every import statement of ``csa_demo`` (module-level and inside functions) is walked;
``from csa.x import y`` must name a public module ``csa.x`` and a ``y`` in its
``__all__``, and an attribute read through an imported public module (``csa.CSA``,
``tasks.tune``) must be public too. Anything else couples the application to code the
library may change without notice.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import csa_demo

# csa.files, csa.audio_signal and csa.extras are what any data-set or encoder plugin needs
# (a cache folder and atomic writes, the audio sample rate, the missing-extra error), so
# the demo's own data sets (csa_demo.data) use them as a third-party plugin would.
# csa.progress is the one progress bar (ProgressBar) every slow loop shows, so a plugin's
# long loop (the demo's sweep) follows the library's rule rather than its own.
PUBLIC_MODULES = (
    "csa",
    "csa.tasks",
    "csa.encoders",
    "csa.datasets",
    "csa.scale",
    "csa.files",
    "csa.audio_signal",
    "csa.extras",
    "csa.progress",
)
ROOT = Path(csa_demo.__file__).parent
SOURCES = sorted(ROOT.rglob("*.py"))


def _public_names(module: str) -> set[str]:
    names = set(getattr(importlib.import_module(module), "__all__", ()))
    # A public submodule is a public name of its parent (``from csa import tasks``).
    names |= {m.partition(".")[2] for m in PUBLIC_MODULES if m.partition(".")[0] == module}
    return names - {""}


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Every non-public use of ``csa`` in one module's source, as readable lines."""
    tree = ast.parse(source, filename)
    found: list[str] = []
    bound: dict[str, str] = {}  # local name -> public csa module it stands for

    def where(node: ast.AST) -> str:
        return f"{filename}:{getattr(node, 'lineno', 0)}"

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name != "csa" and not alias.name.startswith("csa."):
                    continue
                if alias.name not in PUBLIC_MODULES:
                    found.append(f"{where(node)}: import {alias.name} (not a public module)")
                elif alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound["csa"] = "csa"
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            if module != "csa" and not module.startswith("csa."):
                continue
            if node.level or module not in PUBLIC_MODULES:
                found.append(f"{where(node)}: from {module} import ... (not a public module)")
                continue
            public = _public_names(module)
            for alias in node.names:
                if alias.name not in public:
                    found.append(f"{where(node)}: {module}.{alias.name} is not in __all__")
                elif f"{module}.{alias.name}" in PUBLIC_MODULES:
                    bound[alias.asname or alias.name] = f"{module}.{alias.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
        ):
            module = bound[node.value.id]
            dunder = node.attr.startswith("__") and node.attr.endswith("__")  # __version__
            if not dunder and node.attr not in _public_names(module):
                found.append(f"{where(node)}: {module}.{node.attr} is not public")
    return found


def test_the_checker_catches_private_names():
    private = """
import csa
import csa.moments
from csa.tasks import tune, true_class_ranks
from csa.tasks.metrics import top_k_accuracy
from csa import tasks
def f():
    from csa.encoders.audio import WhisperEncoder
    return csa.model.CSA, tasks._common, csa.CSA, tasks.zero_shot_scores
"""
    found = "\n".join(violations(private))
    assert "import csa.moments" in found
    assert "csa.tasks.true_class_ranks is not in __all__" in found
    assert "from csa.tasks.metrics import" in found
    assert "from csa.encoders.audio import" in found
    assert "csa.model is not public" in found and "csa.tasks._common is not public" in found
    assert "csa.CSA" not in found.replace("csa.CSAError", "")
    assert "zero_shot_scores" not in found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_demo_imports_only_public_csa_names(path):
    assert violations(path.read_text(), str(path.relative_to(ROOT))) == []


def test_the_demo_data_package_is_checked():
    assert {"data/audio.py", "data/openclipart.py"} <= {str(p.relative_to(ROOT)) for p in SOURCES}
