"""Bad-input matrix over csa's public API: every failure clear, nothing changed, no NaN.

Each case hands one public entry point (estimators, tasks, scale, the one object,
model files, images, the CLI) one bad input and sorts what happens into:

- ``refused``: a ``csa.CSAError`` (the CLI: a non-zero exit without a traceback), and
  the object the call was made on is exactly as it was before the call;
- ``ok``: a result that is finite and passes the case's own check;
- defects: ``raw`` (any other exception, or a CLI traceback), ``changed`` (the call
  failed but changed its object or file), ``nan`` (non-finite output), ``wrong`` (a
  result that fails its check), ``hang`` (no answer within the case's time limit).

The goal is zero defects. Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bad_input_matrix.py [--no-cli] [--out FILE]

writes ``benchmarks/results/bad_input_matrix.json`` (one row per case plus counts per
area) and prints the defects and the table.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import csa

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "bad_input_matrix.json"
TIME_LIMIT_S = 60
DEFECTS = ("raw", "changed", "nan", "wrong", "hang")


class Hang(BaseException):
    """Raised by the alarm: a BaseException so no ``except Exception`` swallows it."""


# ---- fingerprints: "exactly as it was" -----------------------------------------------
def fingerprint(x: Any, depth: int = 0) -> Any:
    """A comparable digest of an object's state (arrays by bytes, objects by fields)."""
    if depth > 8:
        return type(x).__name__
    if isinstance(x, np.ndarray):
        data = x.tobytes() if x.dtype != object else repr(x.tolist()).encode()
        return ("array", str(x.dtype), x.shape, hashlib.sha1(data).hexdigest())
    if isinstance(x, str | bytes | int | float | bool | type(None) | np.generic):
        return repr(x)
    if isinstance(x, Path):
        return ("path", str(x), _file_digest(x))
    if isinstance(x, dict):
        return tuple(sorted((str(k), fingerprint(v, depth + 1)) for k, v in x.items()))
    if isinstance(x, list | tuple):
        return tuple(fingerprint(v, depth + 1) for v in x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return tuple(fingerprint(getattr(x, f.name), depth + 1) for f in dataclasses.fields(x))
    if type(x).__module__.startswith("faiss"):
        return ("faiss", int(x.ntotal))
    if hasattr(x, "tocsr"):
        m = x.tocsr()
        return ("sparse", fingerprint(m.data), fingerprint(m.indices), fingerprint(m.indptr))
    if hasattr(x, "__dict__"):
        return tuple(
            sorted((k, fingerprint(v, depth + 1)) for k, v in vars(x).items() if k != "_lock")
        )
    return type(x).__name__


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else None
    except OSError:
        return None


def _non_finite(value: Any, depth: int = 0) -> bool:
    """Whether any float in a result is NaN or infinite."""
    if depth > 6:
        return False
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "fc" and not np.isfinite(value).all()
    if isinstance(value, float | np.floating):
        return not np.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_non_finite(v, depth + 1) for v in value[:1000])
    if hasattr(value, "toarray") and hasattr(value, "data"):
        return _non_finite(np.asarray(value.data), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(
            _non_finite(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        )
    return False


# ---- cases ------------------------------------------------------------------------------
@dataclasses.dataclass
class Case:
    area: str
    name: str
    run: Callable[[], Any]
    state: Callable[[], Any] | None = None  # what must not change when the call fails
    check: Callable[[Any], bool] | None = None  # a successful result must pass this


CASES: list[Case] = []


def case(area: str, name: str, run: Callable[[], Any], state: Any = None, check: Any = None):
    CASES.append(Case(area, name, run, state, check))


def classify(c: Case) -> tuple[str, str]:
    before = fingerprint(c.state()) if c.state else None
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = c.run()
    except Hang:
        return "hang", f"no answer in {TIME_LIMIT_S} s"
    except csa.CSAError as exc:
        if c.state and fingerprint(c.state()) != before:
            return "changed", f"{type(exc).__name__}: {exc}"[:300]
        return "refused", f"{type(exc).__name__}: {exc}"[:300]
    except Exception as exc:  # the defect this matrix counts
        return "raw", f"{type(exc).__name__}: {exc}"[:300]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    if _non_finite(result):
        return "nan", "non-finite values in the result"
    if c.check is not None and not c.check(result):
        return "wrong", "the result fails its check"
    return "ok", type(result).__name__


def _alarm(signum: int, frame: Any) -> None:
    raise Hang()


# ---- data ---------------------------------------------------------------------------------
RNG = np.random.default_rng(0)
N, DA, DB = 300, 8, 6
_Z = RNG.standard_normal((N, 3))
A = _Z @ RNG.standard_normal((3, DA)) + 0.5 * RNG.standard_normal((N, DA))
B = _Z @ RNG.standard_normal((3, DB)) + 0.5 * RNG.standard_normal((N, DB))
TMP = Path(tempfile.mkdtemp(prefix="csa-bad-inputs-"))
MODELS = {"CSA": csa.CSA, "CCA": csa.CCA, "ASIF": csa.ASIF, "LinearMap": csa.LinearMap}


def _with_nan(x: np.ndarray, row: int = 150) -> np.ndarray:
    y = np.array(x, dtype=np.float64)
    y[row, 0] = np.nan
    return y


def bad_arrays(x: np.ndarray) -> dict[str, Any]:
    """Bad (or odd) versions of a feature array; a few are valid and must then work."""
    import scipy.sparse as sp

    with_inf = np.array(x)
    with_inf[7, 1] = np.inf
    return {
        "nan": _with_nan(x),
        "inf": with_inf,
        "strings": np.full(x.shape, "x"),
        "objects": np.full(x.shape, None, dtype=object),
        "complex": x.astype(complex),
        "1-d": x[:, 0],
        "3-d": x[None],
        "no rows": x[:0],
        "no columns": x[:, :0],
        "ragged list": [[1.0, 2.0], [3.0]],
        "None": None,
        "sparse": sp.csr_matrix(x),
        "1e300": x * 1e300,
        "1e-300": x * 1e-300,
        "constant": np.ones_like(x),
        "one row short": x[:-1],
        "int": np.round(x * 10).astype(np.int64),
        "bool": x > 0,
        "float16": x.astype(np.float16),
        "string": "features.npy",
    }


def _partner(x: Any) -> np.ndarray:
    """Side-b rows for a side-a chunk: as many as it has rows, when that is known."""
    rows = getattr(x, "shape", (None,))[0] if getattr(x, "ndim", 0) == 2 else None
    return B if rows is None else B[:rows]


def refuse(result: Any) -> bool:
    """The check of a call that should have been refused: any result is wrong."""
    return False


def fitted(name: str) -> Any:
    return MODELS[name]().fit(A, B)


# ---- estimators ----------------------------------------------------------------------
def estimator_cases() -> None:
    for name, make in MODELS.items():
        for label, bad in bad_arrays(A).items():
            m = fitted(name)
            case(
                "estimators",
                f"{name}.fit(a={label})",
                lambda m=m, x=bad: m.fit(x, B),
                lambda m=m: m,
            )
            m2 = fitted(name)
            case(
                "estimators",
                f"{name}.partial_fit(a={label})",
                lambda m=m2, x=bad: m.partial_fit(x, _partner(x)),
                lambda m=m2: m,
            )
            m3 = fitted(name)
            case(
                "estimators",
                f"{name}.similarity(a={label})",
                lambda m=m3, x=bad: m.similarity(x, B[:5]),
                lambda m=m3: m,
            )
        m = fitted(name)
        for sim_dim in (0, -1, 1.5, "2", True, 10**9, np.nan):
            case(
                "estimators",
                f"{name}.similarity(sim_dim={sim_dim!r})",
                lambda m=m, s=sim_dim: m.similarity(A[:4], B[:4], sim_dim=s),
                lambda m=m: m,
            )
        case(
            "estimators",
            f"{name}.score_pairs(rows differ)",
            lambda m=m: m.score_pairs(A[:4], B[:5]),
            lambda m=m: m,
        )
        case(
            "estimators",
            f"{name}.similarity(b wrong width)",
            lambda m=m: m.similarity(A[:4], A[:4]),
            lambda m=m: m,
        )
        case("estimators", f"{name}.score(nan)", lambda m=m: m.score(_with_nan(A, 2), B))
        unfitted = make()
        case("estimators", f"{name}() unfitted similarity", lambda m=unfitted: m.similarity(A, B))
        case(
            "estimators",
            f"{name}.set_params(bogus=1)",
            lambda m=m: m.set_params(bogus=1),
            lambda m=m: m,
        )
        case(
            "estimators",
            f"{name}.fit(a, b) b nan, fitted before",
            lambda m=m: m.fit(A, _with_nan(B)),
            lambda m=m: m,
        )
    for kwargs in ({"ridge": -1}, {"ridge": np.nan}, {"ridge": "x"}, {"ridge": (1, 2, 3)},
                   {"sim_dim": 0}, {"sim_dim": 2.5}, {"n_folds": 0}, {"n_folds": 1.5},
                   {"chunk_size": 0}, {"weights": "x"}, {"precision": "float8"},
                   {"device": 3}, {"ridge": np.inf}):  # fmt: skip
        case(
            "estimators",
            f"CSA({kwargs}).fit",
            lambda k=kwargs: csa.CSA(**k).fit(A, B),
            check=refuse,
        )
    for kwargs in ({"k": 0}, {"k": 1.5}, {"p": 0}, {"p": np.nan}, {"p": -1}, {"p": np.inf}):
        case(
            "estimators",
            f"ASIF({kwargs}).fit",
            lambda k=kwargs: csa.ASIF(**k).fit(A, B),
            check=refuse,
        )
    # a CSA fitted with sim_dim above the number of pairs, one pair at a time
    case(
        "estimators",
        "CSA(sim_dim=5).partial_fit one pair at a time",
        lambda: _one_at_a_time(csa.CSA(sim_dim=5, ridge=0.1)),
    )
    case(
        "estimators",
        "CSA.fit at new widths",
        lambda: fitted("CSA").fit(A[:, :4], B),
        check=lambda m: m.n_features_a_ == 4,
    )
    case(
        "estimators",
        "CSA.fit side constant up to round-off",
        lambda: csa.CSA().fit(A, np.ones_like(B) + 1e-17 * RNG.standard_normal(B.shape)),
    )


def _one_at_a_time(model: Any) -> Any:
    for i in range(8):
        model.partial_fit(A[i : i + 1], B[i : i + 1])
    return model.similarity(A[:3], B[:3])


# ---- model files ----------------------------------------------------------------------
def _rewrite(path: Path, arrays: dict | None = None, header: dict | None = None,
             drop: tuple = ()) -> Path:  # fmt: skip
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    from csa.modelfile import _digest

    with safe_open(str(path), framework="numpy") as handle:
        metadata = dict(handle.metadata())
    stored = {k: v for k, v in load_file(str(path)).items() if k not in drop}
    stored.update(arrays or {})
    metadata.update(header or {})
    metadata.pop("sha256")
    metadata["sha256"] = _digest(stored, metadata)
    save_file(stored, str(path), metadata=metadata)
    return path


def _header(path: Path, key: str) -> Any:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return json.loads(handle.metadata()[key])


def _edited(model_name: str, edit: Callable[[Path, dict], None], tag: str) -> Path:
    from safetensors.numpy import load_file

    path = TMP / f"edit-{model_name}-{tag}.csa"
    model = MODELS[model_name]().fit(A, B)
    _save_full(model, path)
    edit(path, load_file(str(path)))
    return path


def _save_full(model: Any, path: Path) -> Path:
    """Save with fold moments where saving them is optional (the edits reach into them)."""
    import inspect

    if "keep_moments" in inspect.signature(model.save).parameters:
        return model.save(path, keep_moments=True)
    return model.save(path)


def _scalars(**changes: Any) -> Callable[[Path, dict], None]:
    def edit(path: Path, stored: dict) -> None:
        scalars = _header(path, "scalars")
        scalars.update(changes)
        _rewrite(path, header={"scalars": json.dumps(scalars)})

    return edit


def _arrays(fn: Callable[[dict], dict], drop: Callable[[dict], tuple] = lambda s: ()):
    def edit(path: Path, stored: dict) -> None:
        _rewrite(path, arrays=fn(stored), drop=drop(stored))

    return edit


def _fold_n(n: int) -> Any:
    return _arrays(lambda s: {"folds.0.n": np.array([n], dtype=np.int64)})


def model_file_cases() -> None:
    edits = {
        ("CSA", "fewer folds recorded"): _scalars(n_folds_stored=3),
        ("CSA", "fewer folds stored and recorded"): lambda p, s: _rewrite(
            p,
            header={"scalars": json.dumps({**_header(p, "scalars"), "n_folds_stored": 3})},
            drop=tuple(k for k in s if k.startswith(("folds.3.", "folds.4."))),
        ),
        ("CSA", "fold n 0"): _fold_n(0),
        ("CSA", "fold n 1"): _fold_n(1),
        ("CSA", "fold n 2**62"): _fold_n(2**62),
        ("CSA", "fold n -5"): _fold_n(-5),
        ("CSA", "fold n + 1"): _arrays(lambda s: {"folds.1.n": s["folds.1.n"] + 1}),
        ("CSA", "fold mean moved"): _arrays(lambda s: {"folds.1.mean_b": s["folds.1.mean_b"] + 1}),
        ("CSA", "weights halved"): _arrays(lambda s: {"weights": s["weights"] * 0.5}),
        ("CSA", "weights negative"): _arrays(lambda s: {"weights": -s["weights"]}),
        ("CCA", "weights = rho"): _arrays(lambda s: {"weights": s["canonical_correlations"]}),
        ("CSA", "rho > 1"): _arrays(
            lambda s: {"canonical_correlations": s["canonical_correlations"] * 3}
        ),
        ("CSA", "projection scaled"): _arrays(lambda s: {"projection_a": s["projection_a"] * 1.1}),
        ("CSA", "projection NaN"): _arrays(lambda s: {"projection_a": s["projection_a"] * np.nan}),
        ("CSA", "projection cut"): _arrays(
            lambda s: {"projection_a": s["projection_a"][:, :1].copy()}
        ),
        ("CSA", "ridge string"): _scalars(ridge_=["x", 1]),
        ("CSA", "ridge negative"): _scalars(ridge_=[-1, 1]),
        ("CSA", "sim_dim 0"): _scalars(sim_dim_=0),
        ("CSA", "sim_dim list"): _scalars(sim_dim_=[1]),
        ("CSA", "scalars missing"): lambda p, s: _rewrite(p, header={"scalars": "{}"}),
        ("CSA", "params nested 100000"): lambda p, s: _rewrite(
            p, header={"params": "[" * 100000 + "]" * 100000}
        ),
        ("CSA", "params long int"): lambda p, s: _rewrite(
            p, header={"params": '{"n_folds": ' + "9" * 5000 + "}"}
        ),
        ("CSA", "params n_folds 0"): lambda p, s: _rewrite(p, header={"params": '{"n_folds": 0}'}),
        ("CSA", "scalars NaN"): lambda p, s: _rewrite(
            p, header={"scalars": json.dumps(_header(p, "scalars")).replace("[", "[NaN, ", 1)}
        ),
        ("CSA", "class CCA"): lambda p, s: _rewrite(p, header={"class": "CCA"}),
        ("CSA", "class LinearMap"): lambda p, s: _rewrite(p, header={"class": "LinearMap"}),
        ("CSA", "class object"): lambda p, s: _rewrite(p, header={"class": "object"}),
        ("CSA", "format version 1"): lambda p, s: _rewrite(p, header={"format_version": "1"}),
        ("CSA", "extra list"): lambda p, s: _rewrite(p, header={"extra": "[]"}),
        ("CSA", "stray array"): _arrays(lambda s: {"zzz": np.zeros(3)}),
        ("CSA", "fold moments int32"): _arrays(
            lambda s: {"folds.0.comoment_ab": s["folds.0.comoment_ab"].astype(np.float32)}
        ),
        ("LinearMap", "coef scaled"): _arrays(lambda s: {"coef": s["coef"] * 1.1}),
        ("LinearMap", "ridge negative"): _scalars(ridge_=-1.0),
        ("ASIF", "anchors doubled"): _arrays(lambda s: {"anchors_a": s["anchors_a"] * 2}),
        ("ASIF", "anchors count"): _arrays(lambda s: {"anchors_a": s["anchors_a"][:-1].copy()}),
        ("ASIF", "anchors NaN"): _arrays(lambda s: {"anchors_b": s["anchors_b"] * np.nan}),
    }
    # Edits of a default save (slim where the moments are optional): no folds to check
    # the solution against, so only its own consistency can be.
    slim_edits = {
        "weights halved": lambda s: {"weights": s["weights"] * 0.5},
        "rho > 1": lambda s: {"canonical_correlations": s["canonical_correlations"] * 3},
        "projection NaN": lambda s: {"projection_a": s["projection_a"] * np.nan},
        "mean_a wrong shape": lambda s: (
            {"mean_a": np.zeros(3)} if "mean_a" in s else {"x": np.zeros(1)}
        ),
    }
    for i, (tag, fn) in enumerate(slim_edits.items()):
        from safetensors.numpy import load_file

        path = fitted("CSA").save(TMP / f"slim-{i}.csa")
        _rewrite(path, arrays=fn(load_file(str(path))))
        case(
            "model files",
            f"load CSA (default save): {tag}",
            lambda p=path: csa.load(p),
            check=refuse,
        )
    for i, ((model_name, tag), edit) in enumerate(edits.items()):
        path = _edited(model_name, edit, str(i))
        case("model files", f"load {model_name}: {tag}", lambda p=path: csa.load(p), check=refuse)
    good = fitted("CSA").save(TMP / "good.csa")
    data = good.read_bytes()
    (TMP / "truncated.csa").write_bytes(data[: len(data) // 2])
    (TMP / "garbage.csa").write_bytes(os.urandom(4096))
    (TMP / "empty.csa").write_bytes(b"")
    for name in ("truncated.csa", "garbage.csa", "empty.csa", "missing.csa"):
        case("model files", f"load {name}", lambda p=TMP / name: csa.load(p))
    case("model files", "load a folder", lambda: csa.load(TMP))
    case("model files", "load 10,000-char path", lambda: csa.load("x" * 10000))
    case("model files", "load path with NUL", lambda: csa.load("a\0b"))
    case("model files", "load int", lambda: csa.load(3))
    case("model files", "CCA.load of a CSA file", lambda: csa.CCA.load(good))
    m = fitted("CSA")
    case("model files", "save to a folder", lambda: m.save(TMP), lambda: TMP / "good.csa")
    blocker = TMP / "blocker"
    blocker.write_text("x")
    case("model files", "save below a file", lambda: m.save(blocker / "m.csa"), lambda: blocker)
    case("model files", "save unfitted", lambda: csa.CSA().save(TMP / "u.csa"))


# ---- tasks ----------------------------------------------------------------------------------
def task_cases() -> None:
    from csa import tasks

    m = fitted("CSA")
    classes = B[:4]
    labels = np.arange(N) % 4
    case(
        "tasks",
        "zero_shot_scores(inputs nan)",
        lambda: tasks.zero_shot_scores(m, _with_nan(A), classes),
    )
    case(
        "tasks",
        "zero_shot_scores(block_size=0)",
        lambda: tasks.zero_shot_scores(m, A, classes, block_size=0),
    )
    case(
        "tasks",
        "zero_shot_scores(inputs_side='c')",
        lambda: tasks.zero_shot_scores(m, A, classes, inputs_side="c"),
    )
    case(
        "tasks",
        "zero_shot_classify(labels short)",
        lambda: tasks.zero_shot_classify(m, A, classes, labels[:-1]),
    )
    case(
        "tasks",
        "zero_shot_classify(labels 7 of 4 classes)",
        lambda: tasks.zero_shot_classify(m, A, classes, labels + 3),
    )
    case(
        "tasks",
        "zero_shot_classify(top_k=(0,))",
        lambda: tasks.zero_shot_classify(m, A, classes, labels, top_k=(0,)),
    )
    case(
        "tasks",
        "zero_shot_classify(top_k=(1.5,))",
        lambda: tasks.zero_shot_classify(m, A, classes, labels, top_k=(1.5,)),
        check=refuse,
    )
    case(
        "tasks",
        "zero_shot_classify(top_k=(9,)) > classes",
        lambda: tasks.zero_shot_classify(m, A, classes, labels, top_k=(9,)),
    )
    case(
        "tasks",
        "zero_shot_classify(labels strings)",
        lambda: tasks.zero_shot_classify(m, A, classes, np.array(["x"] * N)),
    )
    case("tasks", "evaluate_retrieval(ks=(0,))", lambda: tasks.evaluate_retrieval(m, A, B, ks=(0,)))
    case(
        "tasks",
        "evaluate_retrieval(ks=(1.5,))",
        lambda: tasks.evaluate_retrieval(m, A, B, ks=(1.5,)),
        check=refuse,
    )
    case(
        "tasks",
        "evaluate_retrieval(directions=('x',))",
        lambda: tasks.evaluate_retrieval(m, A, B, directions=("x",)),
    )
    case("tasks", "evaluate_retrieval(rows differ)", lambda: tasks.evaluate_retrieval(m, A, B[:-1]))
    case("tasks", "evaluate_retrieval(b nan)", lambda: tasks.evaluate_retrieval(m, A, _with_nan(B)))
    case(
        "tasks",
        "evaluate_retrieval(relevance wrong shape)",
        lambda: tasks.evaluate_retrieval(m, A, B, relevance=np.ones((3, 3), bool)),
    )
    case(
        "tasks",
        "detect_mislabelled(flip_fraction=2)",
        lambda: tasks.detect_mislabelled(m, A, labels, classes, flip_fraction=2),
    )
    case(
        "tasks",
        "detect_mislabelled(flip_fraction=0)",
        lambda: tasks.detect_mislabelled(m, A, labels, classes, flip_fraction=0),
    )
    case(
        "tasks",
        "detect_mislabelled(flip_fraction=nan)",
        lambda: tasks.detect_mislabelled(m, A, labels, classes, flip_fraction=np.nan),
    )
    case(
        "tasks",
        "detect_out_of_context(rows differ)",
        lambda: tasks.detect_out_of_context(m, A, B[:-2]),
    )
    case("tasks", "roc_auc(one class)", lambda: tasks.roc_auc(np.arange(5.0), np.ones(5, bool)))
    case(
        "tasks",
        "roc_auc(nan scores)",
        lambda: tasks.roc_auc(np.array([0.1, np.nan, 0.3]), np.array([1, 0, 1], bool)),
    )
    case(
        "tasks", "roc_auc(lengths differ)", lambda: tasks.roc_auc(np.arange(5.0), np.ones(4, bool))
    )
    case("tasks", "top_k_accuracy(k=0)", lambda: tasks.top_k_accuracy(np.eye(3), np.arange(3), k=0))
    case(
        "tasks",
        "top_k_accuracy(label 5 of 3)",
        lambda: tasks.top_k_accuracy(np.eye(3), np.array([0, 1, 5])),
    )
    case("tasks", "recall_at_k(k=-1)", lambda: tasks.recall_at_k(np.eye(3), k=-1))
    case(
        "tasks",
        "mean_average_precision(nan)",
        lambda: tasks.mean_average_precision(np.full((3, 3), np.nan)),
    )
    case(
        "tasks",
        "fit_temperature(nan scores)",
        lambda: tasks.fit_temperature(np.full((4, 2), np.nan), np.array([0, 1, 0, 1])),
    )
    case(
        "tasks",
        "fit_temperature(one class)",
        lambda: tasks.fit_temperature(np.ones((4, 1)), np.zeros(4, int)),
    )
    case(
        "tasks", "select_sim_dim(a nan)", lambda: csa.select_sim_dim(m, _with_nan(A), B), lambda: m
    )
    case(
        "tasks",
        "tune(metric='x')",
        lambda: csa.tune(csa.CSA, None, A, B, A[:50], B[:50], metric="x"),
    )
    case(
        "tasks",
        "tune(validation nan)",
        lambda: csa.tune(csa.CSA, None, A, B, _with_nan(A[:50], 3), B[:50]),
    )
    case(
        "tasks",
        "tune(grid ridge=-1)",
        lambda: csa.tune(csa.CSA, {"ridge": [-1]}, A, B, A[:50], B[:50]),
    )
    case(
        "tasks",
        "select_sim_dim(candidates=[0])",
        lambda: csa.select_sim_dim(m, A[:50], B[:50], candidates=[0]),
        lambda: m,
    )
    case("tasks", "build_prompts(no templates)", lambda: tasks.build_prompts(["cat"], []))
    case(
        "tasks",
        "build_prompts(template without {})",
        lambda: tasks.build_prompts(["cat"], ["a photo"]),
    )


# ---- scale ----------------------------------------------------------------------------------
def scale_cases() -> None:
    from csa.scale import (
        GalleryIndex,
        fit_dask,
        fit_files,
        iter_pair_chunks,
        similarity_blocks,
        top_k,
    )

    np.save(TMP / "a.npy", A)
    np.save(TMP / "b.npy", B)
    np.save(TMP / "a_nan.npy", _with_nan(A))
    np.save(TMP / "a_short.npy", A[:-1])
    np.save(TMP / "a_one.npy", A[:1])
    np.save(TMP / "b_one.npy", B[:1])
    np.save(TMP / "a_str.npy", np.full((N, DA), "x"))
    np.save(TMP / "a_3d.npy", A[None])
    (TMP / "a.txt").write_text("1 2 3\n")
    for name in MODELS:
        m = fitted(name)
        case(
            "scale",
            f"fit_files({name}, a nan at 150, chunk_rows=50)",
            lambda m=m: fit_files(m, TMP / "a_nan.npy", TMP / "b.npy", chunk_rows=50),
            lambda m=m: m,
        )
    m = fitted("CSA")
    for label, args, kwargs in (
        ("missing file", (TMP / "nope.npy", TMP / "b.npy"), {}),
        ("rows differ", (TMP / "a_short.npy", TMP / "b.npy"), {}),
        ("one row", (TMP / "a_one.npy", TMP / "b_one.npy"), {}),
        ("strings", (TMP / "a_str.npy", TMP / "b.npy"), {}),
        ("3-d", (TMP / "a_3d.npy", TMP / "b.npy"), {}),
        ("txt", (TMP / "a.txt", TMP / "b.npy"), {}),
        ("chunk_rows=0", (TMP / "a.npy", TMP / "b.npy"), {"chunk_rows": 0}),
        ("chunk_rows='x'", (TMP / "a.npy", TMP / "b.npy"), {"chunk_rows": "x"}),
        ("one path", (TMP / "a.npy",), {}),
        ("a folder", (TMP, TMP / "b.npy"), {}),
    ):
        case(
            "scale",
            f"fit_files(CSA, {label})",
            lambda a=args, k=kwargs: fit_files(m, *a, **k),
            lambda: m,
        )
    am = fitted("ASIF")
    case(
        "scale",
        "fit_files(ASIF, one row)",
        lambda: fit_files(am, TMP / "a_one.npy", TMP / "b_one.npy"),
        lambda: am,
    )
    case("scale", "fit_files(model='CSA')", lambda: fit_files("CSA", TMP / "a.npy", TMP / "b.npy"))
    case(
        "scale",
        "iter_pair_chunks(chunk_rows=-1)",
        lambda: list(iter_pair_chunks(TMP / "a.npy", TMP / "b.npy", chunk_rows=-1)),
    )
    dm = fitted("CSA")
    case(
        "scale",
        "fit_dask(numpy arrays)",
        lambda: fit_dask(csa.CSA(), A, B),
        check=lambda r: r.is_fitted,
    )
    case("scale", "fit_dask(lists)", lambda: fit_dask(dm, A.tolist(), B.tolist()), lambda: dm)
    case("scale", "fit_dask(None)", lambda: fit_dask(dm, None, B), lambda: dm)
    case("scale", "fit_dask(ASIF)", lambda: fit_dask(fitted("ASIF"), A, B))
    case("scale", "fit_dask(missing parquet)", lambda: fit_dask(dm, TMP / "no.parquet"), lambda: dm)
    case(
        "scale",
        "fit_dask(npy path)",
        lambda: fit_dask(dm, TMP / "a.npy", TMP / "b.npy"),
        lambda: dm,
    )

    def dask_nan() -> Any:
        import dask.array as da

        return fit_dask(
            dm, da.from_array(_with_nan(A), chunks=(64, -1)), da.from_array(B, chunks=(64, -1))
        )

    case("scale", "fit_dask(nan in a partition)", dask_nan, lambda: dm)

    def dask_rows() -> Any:
        import dask.array as da

        return fit_dask(dm, da.from_array(A), da.from_array(B[:-1]))

    case("scale", "fit_dask(rows differ)", dask_rows, lambda: dm)
    for backend in ("numpy", "faiss"):
        for name in ("CSA", "ASIF"):
            if backend == "faiss" and name == "ASIF":
                continue
            model = fitted(name)
            index = GalleryIndex(model, "b", backend=backend).add(B[:50])
            gallery = RNG.standard_normal((10_000, DB))
            gallery[9_000, 1] = np.nan
            tag = f"GalleryIndex[{name},{backend}]"
            case(
                "scale",
                f"{tag}.add(10,000 rows, nan at 9,000)",
                lambda i=index, g=gallery: i.add(g),
                lambda i=index: i,
            )
            case("scale", f"{tag}.add(wrong width)", lambda i=index: i.add(A), lambda i=index: i)
            case(
                "scale",
                f"{tag}.add(generator)",
                lambda i=index: i.add(r for r in B),
                lambda i=index: i,
            )
            case("scale", f"{tag}.add(None)", lambda i=index: i.add(None), lambda i=index: i)
            for k in (0, "3", 1.5, -1):
                case(
                    "scale",
                    f"{tag}.search(k={k!r})",
                    lambda i=index, k=k: i.search(A[:3], k=k),
                    lambda i=index: i,
                )
            case(
                "scale",
                f"{tag}.search(nan query)",
                lambda i=index: i.search(_with_nan(A, 1)[:3]),
                lambda i=index: i,
            )
            case(
                "scale",
                f"{tag}.search(query_rows=0)",
                lambda i=index: i.search(A[:3], query_rows=0),
                lambda i=index: i,
            )
    case("scale", "similarity_blocks(rows=0)",
         lambda: list(similarity_blocks(fitted("CSA"), A, B, rows=0)))  # fmt: skip
    case("scale", "similarity_blocks(b nan)",
         lambda: list(similarity_blocks(fitted("CSA"), A, _with_nan(B))))  # fmt: skip
    case("scale", "GalleryIndex(unfitted)", lambda: GalleryIndex(csa.CSA()))
    case("scale", "GalleryIndex(side='c')", lambda: GalleryIndex(fitted("CSA"), "c"))
    case("scale", "GalleryIndex(backend='x')", lambda: GalleryIndex(fitted("CSA"), backend="x"))
    case(
        "scale",
        "GalleryIndex(sim_dim=0).add",
        lambda: GalleryIndex(fitted("CSA"), sim_dim=0).add(B),
    )
    case("scale", "GalleryIndex(empty).search", lambda: GalleryIndex(fitted("CSA")).search(A))
    case("scale", "top_k(query_side='x')", lambda: top_k(fitted("CSA"), A, B, query_side="x"))


# ---- the one object -----------------------------------------------------------------------
class Features:
    """An encoder whose items already are feature vectors."""

    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def encode(self, items: Any, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        return np.asarray(items, dtype=np.float32)


def one_object(fit: bool = True) -> Any:
    enc = csa.MultimodalEncoder(Features("fa", DA), Features("fb", DB), use_cache=False)
    return enc.fit_features(A, B, held_out=0.2) if fit else enc


def one_object_cases() -> None:
    for label, args in (
        ("a nan", (_with_nan(A), B)),
        ("rows differ", (A, B[:-1])),
        ("wrong width", (A[:, :3], B)),
        ("b constant", (A, np.ones_like(B))),
        ("3 pairs", (A[:3], B[:3])),
    ):
        mm = one_object()
        case(
            "one object",
            f"fit_features({label}) on a fitted object",
            lambda mm=mm, a=args: mm.fit_features(*a),
            lambda mm=mm: mm,
        )
    for held in (1.5, -0.1, "x", np.nan, 1.0):
        mm = one_object()
        case(
            "one object",
            f"fit_features(held_out={held!r})",
            lambda mm=mm, h=held: mm.fit_features(A, B, held_out=h),
            lambda mm=mm: mm,
        )
    mm = one_object()
    case(
        "one object",
        "fit_features(calibration fails: b identical in held-out)",
        lambda: mm.fit_features(
            A, np.vstack([B[:240], np.repeat(B[:1], 60, axis=0)]), held_out=0.2
        ),
        lambda: mm,
    )
    case("one object", "calibrate(5 pairs)", lambda: mm.calibrate(A[:5], B[:5]), lambda: mm)
    case(
        "one object",
        "calibrate(nan)",
        lambda: mm.calibrate(_with_nan(A[:50], 3), B[:50]),
        lambda: mm,
    )
    case(
        "one object",
        "calibrate(sim_dim=0)",
        lambda: mm.calibrate(A[:50], B[:50], sim_dim=0),
        lambda: mm,
    )
    case("one object", "flag(threshold=nan)", lambda: mm.flag(A[:5], B[:5], threshold=np.nan))
    case("one object", "flag(threshold='x')", lambda: mm.flag(A[:5], B[:5], threshold="x"))
    case("one object", "flag(rows differ)", lambda: mm.flag(A[:5], B[:4]))
    case("one object", "search(k=0)", lambda: mm.search(A[:3], B, k=0))
    case("one object", "search(query_side='x')", lambda: mm.search(A[:3], B, query_side="x"))
    case("one object", "similarity(nan)", lambda: mm.similarity(_with_nan(A, 1)[:3], B[:3]))
    case("one object", "encode_a(wrong width)", lambda: mm.encode_a(B[:3]))
    case("one object", "unfitted save", lambda: one_object(fit=False).save(TMP / "mm-u.csa"))
    case(
        "one object", "unfitted similarity", lambda: one_object(fit=False).similarity(A[:2], B[:2])
    )
    case(
        "one object",
        "MultimodalEncoder(3, 'x')",
        lambda: csa.MultimodalEncoder(3, Features("fb", DB)),
    )
    case(
        "one object",
        "MultimodalEncoder('no-such-encoder', ...)",
        lambda: csa.MultimodalEncoder("no-such-encoder", Features("fb", DB)),
    )
    case(
        "one object",
        "load a plain CSA file",
        lambda: csa.MultimodalEncoder.load(fitted("CSA").save(TMP / "plain.csa")),
    )
    edits = {
        "temperature 0": lambda e: e["calibration"].update(temperature=0.0),
        "temperature -1": lambda e: e["calibration"].update(temperature=-1.0),
        "temperature inf": lambda e: e["calibration"].update(temperature=1e999),
        "threshold inf": lambda e: e["calibration"].update(threshold=1e999),
        "threshold 7": lambda e: e["calibration"].update(threshold=7.0),
        "calibration sim_dim 99": lambda e: e["calibration"].update(sim_dim=99),
        "calibration missing temperature": lambda e: e["calibration"].pop("temperature"),
        "calibration list": lambda e: e.update(calibration=[]),
        "encoders []": lambda e: e.update(encoders=[]),
        "encoder b missing": lambda e: e["encoders"].pop("b"),
        "encoder a dim 3": lambda e: e["encoders"]["a"].update(dim=3),
        "encoder name null": lambda e: e["encoders"]["a"].update(name=None),
        "image_size 10**6": lambda e: e["encoders"]["a"].update(
            options={"image_size": 10**6}, registry="efficientnet-lite0"
        ),
        "image_size '64'": lambda e: e["encoders"]["a"].update(options={"image_size": "64"}),
        "options list": lambda e: e["encoders"]["a"].update(options=[1]),
        "fit list": lambda e: e.update(fit=[]),
    }
    for i, (tag, edit) in enumerate(edits.items()):
        path = one_object().save(TMP / f"mm-{i}.csa")
        extra = _header(path, "extra")
        edit(extra)
        _rewrite(path, header={"extra": json.dumps(extra)})
        case(
            "one object", f"load: {tag}", lambda p=path: csa.MultimodalEncoder.load(p), check=refuse
        )
    path = one_object().save(TMP / "mm-nan.csa")
    extra = _header(path, "extra")
    text = json.dumps(extra).replace(
        f'"temperature": {extra["calibration"]["temperature"]}', '"temperature": NaN'
    )
    _rewrite(path, header={"extra": text})
    case(
        "one object",
        "load: temperature NaN",
        lambda: csa.MultimodalEncoder.load(path),
        check=refuse,
    )


# ---- round trips: what a fit saves, a load must accept -----------------------------------
def _round_trip(make: Callable[[], Any], a: np.ndarray, b: np.ndarray, path: Path) -> Any:
    model = make().fit(a, b)
    try:
        loaded = csa.load(model.save(path))
    except csa.ModelFileError as exc:
        return f"a valid file was refused: {exc}"
    return np.abs(loaded.similarity(a[:5], b[:5]) - model.similarity(a[:5], b[:5])).max()


def round_trip_cases(n_cases: int = 60) -> None:
    """Random valid fits (odd sizes, scales, collinear columns, float32, tiny ridges)."""
    rng = np.random.default_rng(1)
    makers = (csa.CSA, csa.CCA, lambda **k: csa.CSA(weights="heldout", **k), csa.LinearMap)
    for i in range(n_cases):
        n, da, db = int(rng.integers(5, 600)), int(rng.integers(1, 80)), int(rng.integers(1, 40))
        z = rng.standard_normal((n, 3))
        a = z @ rng.standard_normal((3, da)) + 0.3 * rng.standard_normal((n, da))
        b = z @ rng.standard_normal((3, db)) + 0.3 * rng.standard_normal((n, db))
        a, b = a * 10.0 ** rng.integers(-5, 6), b * 10.0 ** rng.integers(-5, 6)
        if rng.random() < 0.3:
            a[:, : da // 2] = a[:, :1]
        if rng.random() < 0.3:
            a, b = a.astype(np.float32), b.astype(np.float32)
        ridge = ["auto", "oas", 1e-6, 0.1, 10.0][i % 5]
        make = makers[i % 4]
        kind = getattr(make, "__name__", "CSA-heldout")
        tag = f"{i}: {kind} n={n} d=({da},{db}) ridge={ridge} {a.dtype}"
        case(
            "round trips",
            tag,
            lambda m=make, r=ridge, a=a, b=b, i=i: _round_trip(
                lambda: m(ridge=r), a, b, TMP / f"rt{i}.csa"
            ),
            check=lambda d: not isinstance(d, str) and d <= 1e-9,
        )


# ---- images -------------------------------------------------------------------------------
def _png_header_only(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))  # fmt: skip
    return path


def image_cases() -> None:
    from csa.encoders.images import load_image, resize_center_crop

    huge = _png_header_only(TMP / "huge.png", 20_000, 20_000)
    (TMP / "bad.png").write_bytes(b"not a png")
    truncated = _png_header_only(TMP / "t.png", 64, 64)
    truncated.write_bytes(truncated.read_bytes()[:40])
    case("images", "load_image(400-megapixel png)", lambda: load_image(huge))
    case("images", "load_image(not a png)", lambda: load_image(TMP / "bad.png"))
    case("images", "load_image(truncated png)", lambda: load_image(truncated))
    case("images", "load_image(missing)", lambda: load_image(TMP / "none.png"))
    case("images", "load_image(float nan array)", lambda: load_image(np.full((4, 4, 3), np.nan)))
    case("images", "load_image(5 channels)", lambda: load_image(np.zeros((4, 4, 5), np.uint8)))
    case("images", "load_image(int)", lambda: load_image(3))
    case(
        "images",
        "resize_center_crop(crop 0)",
        lambda: resize_center_crop(load_image(np.zeros((8, 8), np.uint8)), 4, 0.0),
    )
    for options in ({"image_size": 10**6}, {"image_size": "abc"}, {"image_size": "64"},
                    {"image_size": 8}, {"crop_fraction": 2.0}):  # fmt: skip
        case(
            "images",
            f"get('efficientnet-lite0', {options})",
            lambda o=options: csa.encoders.get("efficientnet-lite0", reuse=False, **o),
            check=refuse,
        )


# ---- the CLI --------------------------------------------------------------------------------
def _cli(*args: str, keep: Path | None = None) -> Callable[[], Any]:
    def run() -> Any:
        before = _file_digest(keep) if keep else None
        proc = subprocess.run(
            [sys.executable, "-m", "csa.cli", *map(str, args)],
            capture_output=True, text=True, timeout=TIME_LIMIT_S * 2,
        )  # fmt: skip
        if keep is not None and _file_digest(keep) != before:
            raise RuntimeError(f"changed: the CLI modified {keep.name} while failing")
        if "Traceback" in proc.stderr:
            raise RuntimeError("traceback: " + proc.stderr.strip().splitlines()[-1])
        if proc.returncode != 0:
            raise csa.CSAError(
                proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "exit"
            )
        if "nan" in proc.stdout.lower().split():
            return np.nan
        return proc.stdout

    return run


def cli_cases() -> None:
    existing = fitted("CSA").save(TMP / "cli-existing.csa")
    mm_path = one_object().save(TMP / "cli-mm.csa")
    np.save(TMP / "cli-a-nan.npy", _with_nan(A))
    (TMP / "items.txt").write_text("a\nb\nc\n")
    (TMP / "classes.txt").write_text("red\nblue\n")
    edited = _edited("CSA", _fold_n(0), "cli")
    runs = {
        "fit (a nan) over an existing model": (
            "fit",
            TMP / "cli-a-nan.npy",
            TMP / "b.npy",
            "-o",
            existing,
        ),
        "fit (missing file)": ("fit", TMP / "nope.npy", TMP / "b.npy", "-o", TMP / "x.csa"),
        "fit --ridge x": ("fit", TMP / "a.npy", TMP / "b.npy", "-o", TMP / "x.csa", "--ridge", "x"),
        "fit --ridge nan": (
            "fit",
            TMP / "a.npy",
            TMP / "b.npy",
            "-o",
            TMP / "x.csa",
            "--ridge",
            "nan",
        ),
        "fit --sim-dim 0": (
            "fit",
            TMP / "a.npy",
            TMP / "b.npy",
            "-o",
            TMP / "x.csa",
            "--sim-dim",
            "0",
        ),
        "fit --held-out 2": (
            "fit",
            TMP / "a.npy",
            TMP / "b.npy",
            "-o",
            TMP / "x.csa",
            "--held-out",
            "2",
        ),
        "fit --p nan (asif)": (
            "fit",
            TMP / "a.npy",
            TMP / "b.npy",
            "-o",
            TMP / "x.csa",
            "--method",
            "asif",
            "--p",
            "nan",
        ),
        "fit -o a folder": ("fit", TMP / "a.npy", TMP / "b.npy", "-o", TMP),
        "info (garbage)": ("info", TMP / "garbage.csa"),
        "info (edited, fold n 0)": ("info", edited),
        "info (missing)": ("info", TMP / "missing.csa"),
        "classify (plain CSA file)": (
            "classify",
            TMP / "items.txt",
            "-m",
            existing,
            "--class-names",
            TMP / "classes.txt",
        ),
        "classify (missing class file)": (
            "classify",
            TMP / "items.txt",
            "-m",
            mm_path,
            "--class-names",
            TMP / "none.txt",
        ),
        "search (missing model)": (
            "search",
            TMP / "items.txt",
            TMP / "items.txt",
            "-m",
            TMP / "none.csa",
        ),
        "flag (missing items)": ("flag", TMP / "none.txt", TMP / "items.txt", "-m", mm_path),
    }
    for tag, args in runs.items():
        keep = existing if "existing" in tag else None
        case("cli", tag, _cli(*args, keep=keep), check=None if "held-out" in tag else refuse)


# ---- driver -----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI cases (slow)")
    parser.add_argument("--area", default=None, help="run one area only")
    args = parser.parse_args()
    builders = [estimator_cases, model_file_cases, round_trip_cases, task_cases, scale_cases,
                one_object_cases, image_cases]  # fmt: skip
    if not args.no_cli:
        builders.append(cli_cases)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for build in builders:
            try:
                build()
            except Exception as exc:  # a builder that cannot even set up is a finding too
                CASES.append(Case(build.__name__, "setup", lambda e=exc: (_ for _ in ()).throw(e)))
    rows = []
    start = time.time()
    for c in CASES:
        if args.area and c.area != args.area:
            continue
        outcome, detail = classify(c)
        rows.append({"area": c.area, "case": c.name, "outcome": outcome, "detail": detail})
    counts: dict[str, Counter] = {}
    for row in rows:
        counts.setdefault(row["area"], Counter())[row["outcome"]] += 1
    total = Counter(row["outcome"] for row in rows)
    report = {
        "csa_version": csa.__version__,
        "csa_file": csa.__file__,
        "seconds": round(time.time() - start, 1),
        "n_cases": len(rows),
        "totals": dict(total),
        "defects": sum(total[d] for d in DEFECTS),
        "by_area": {area: dict(c) for area, c in counts.items()},
        "cases": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    for row in rows:
        if row["outcome"] in DEFECTS:
            print(f"{row['outcome']:8s} {row['area']:12s} {row['case']}: {row['detail'][:160]}")
    kinds = ("refused", "ok", *DEFECTS)
    print(f"\n{'area':12s} " + " ".join(f"{k:>8s}" for k in kinds))
    for area, c in counts.items():
        print(f"{area:12s} " + " ".join(f"{c[k]:8d}" for k in kinds))
    print(f"{'all':12s} " + " ".join(f"{total[k]:8d}" for k in kinds))
    print(f"\n{len(rows)} cases, {report['defects']} defects, {report['seconds']} s -> {args.out}")
    with contextlib.suppress(OSError):
        import shutil

        shutil.rmtree(TMP)


if __name__ == "__main__":
    main()
