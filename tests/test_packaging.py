"""Packaging: the core install fits CSA on feature files without torch or scikit-learn.

The core-only install is simulated in a subprocess that blocks every heavy library
(``sys.modules[name] = None``: importing it raises), then runs ``import csa`` and the
command line's ``csa fit a.npy b.npy -o m.csa``. The pyproject checks pin the rest of the
layout: a light dependency list, torch pinned wherever it appears, the demo's entry points,
and test files named uniquely (pytest runs in its default import mode).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from collections import Counter
from importlib import import_module
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# What a user with precomputed features should not have to install.
HEAVY = (
    "torch", "sklearn", "transformers", "sentence_transformers", "onnxruntime", "pandas",
    "pyarrow", "matplotlib", "dask", "sktime", "PIL", "ctranslate2", "librosa", "trimesh",
)  # fmt: skip
CORE = {"numpy", "scipy", "safetensors", "typer", "rich", "tqdm"}


def _run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh interpreter that imports the csa under test, from ``cwd``."""
    import csa

    source = str(Path(csa.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def _name(spec: str) -> str:
    return re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0].strip().lower()


def test_core_dependencies_are_light():
    assert {_name(s) for s in PYPROJECT["project"]["dependencies"]} == CORE


def test_torch_is_pinned_wherever_it_is_required():
    specs = [s for group in PYPROJECT["project"]["optional-dependencies"].values() for s in group]
    torch = [s.replace(" ", "") for s in specs if _name(s) == "torch"]
    assert torch and set(torch) == {"torch==2.13.0"}


def test_extras_cover_every_optional_part():
    extras = PYPROJECT["project"]["optional-dependencies"]
    wanted = {"encoders", "audio", "timeseries", "scale", "demo", "dev", "shapes3d", "all"}
    assert wanted <= set(extras)
    everything = next(s for s in extras["all"] if _name(s) == "csa")
    named = set(everything[everything.index("[") + 1 : everything.index("]")].split(","))
    assert named == set(extras) - {"all", "dev"}  # `all` is every user-facing extra


def test_entry_points_resolve():
    groups = PYPROJECT["project"]["entry-points"]
    for group in ("csa.commands", "csa.datasets"):
        for target in groups[group].values():
            module, _, attribute = target.partition(":")
            assert callable(getattr(import_module(module), attribute)), target


def test_test_files_have_unique_names():
    names = Counter(p.name for p in (ROOT / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []


def test_core_only_import_and_fit(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 4))
    np.save(
        tmp_path / "a.npy", z @ rng.standard_normal((4, 12)) + 0.1 * rng.standard_normal((300, 12))
    )
    np.save(
        tmp_path / "b.npy", z @ rng.standard_normal((4, 9)) + 0.1 * rng.standard_normal((300, 9))
    )
    script = textwrap.dedent(
        f"""
        import sys
        for name in {HEAVY!r}:
            sys.modules[name] = None  # importing it now raises, as in a core-only install
        import csa
        from csa.cli import app
        try:
            app(["fit", "a.npy", "b.npy", "-o", "m.csa"])
        except SystemExit as done:
            assert done.code in (0, None), done.code
        model = csa.load("m.csa")
        print(csa.__file__)
        print(type(model).__name__, model.canonical_correlations_.shape[0])
        """
    )
    out = _run(script, tmp_path)
    assert out.returncode == 0, out.stderr
    *_, where, result = out.stdout.splitlines()
    import csa

    assert Path(where) == Path(csa.__file__).resolve()  # the csa under test, not another
    kind, dims = result.split()
    assert kind == "CSA" and int(dims) >= 1


def test_core_only_cli_names_the_missing_extra(tmp_path):
    (tmp_path / "a.txt").write_text("a cat\na dog\n")
    (tmp_path / "b.txt").write_text("un chat\nun chien\n")
    script = textwrap.dedent(
        f"""
        import sys
        for name in {HEAVY!r}:
            sys.modules[name] = None
        from csa.cli import app
        app(["fit", "a.txt", "b.txt", "--encoder-a", "minilm-l6", "--encoder-b", "minilm-l6",
             "-o", "m.csa"])
        """
    )
    out = _run(script, tmp_path)
    assert out.returncode == 2, out.stderr
    assert "pip install 'csa[encoders]'" in " ".join(out.stderr.split())
    assert "Traceback" not in out.stderr
