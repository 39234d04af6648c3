"""A hand-made mutation pass over the layers above the numerical core.

Each mutation is one realistic bug, written as text replacements in one source file.
The pass copies the tree (``src/``, ``tests/``, ``pyproject.toml``) once into a temporary
folder, then for each mutant writes the mutated file into the copy, runs the chosen test
files there with ``PYTHONPATH=<copy>/src`` (one BLAS thread, sequentially, tests marked
``slow`` deselected), records whether any test failed and which, and restores the file.
The working tree is never touched. No-op controls run first, one per set of test files:
if one fails, the pass stops, since the baseline is broken and every mutant would look
caught.

Usage (from the repository root)::

    python benchmarks/mutation_pass.py                  # every mutant
    python benchmarks/mutation_pass.py --only I1 O5     # rerun some, merged into the result
    python benchmarks/mutation_pass.py --list           # what would run

The result goes to ``benchmarks/results/mutation_pass.json``: per mutant, whether it was
caught, by how many tests and which, and the seconds it took; a summary per origin
("issue": the escaped bugs listed in issue 21; "own": new ones) and per layer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "mutation_pass.json"
TIMEOUT_S = 600

# Test files run against each layer's mutants (slow real-encoder tests are deselected).
TASKS = [
    "tests/tasks",
    "tests/multimodal/test_known_probabilities.py",
    "tests/cli/test_cli_printed_values.py",
]
SCORING = ["tests/tasks", "tests/scale/test_search.py", "tests/scale/test_refit_state.py"]
MULTIMODAL = [
    "tests/multimodal",
    "tests/cli/test_cli_printed_values.py",
    "tests/encoders/test_cache_output_options.py",
]
CACHE = [
    "tests/encoders/test_embedding_cache.py",
    "tests/encoders/test_cache_output_options.py",
    "tests/multimodal/test_known_probabilities.py",
]
SCALE = ["tests/scale"]
CLI = ["tests/cli"]
BASELINES = [
    "tests/core/test_math.py",
    "tests/scale/test_refit_state.py",
    "tests/tasks/test_known_answers.py",
]


@dataclass
class Mutation:
    id: str
    origin: str  # "control", "issue" (an escaped bug of issue 21) or "own"
    layer: str
    file: str
    description: str
    edits: list[tuple[str, str]]
    tests: list[str] = field(default_factory=list)


M = Mutation
MUTATIONS: list[Mutation] = [
    M(
        "C0",
        "control",
        "none",
        "src/csa/tasks/metrics.py",
        "no change (tasks tests)",
        [],
        TASKS,
    ),
    *(
        M(
            f"C{i}",
            "control",
            "none",
            "src/csa/tasks/metrics.py",
            f"no change ({name} tests)",
            [],
            tests,
        )
        for i, (name, tests) in enumerate(
            [
                ("scoring", SCORING),
                ("multimodal", MULTIMODAL),
                ("cache", CACHE),
                ("scale", SCALE),
                ("cli", CLI),
                ("baselines", BASELINES),
            ],
            start=1,
        )
    ),
    # ------------------------------------------------------------ issue 21's escaped bugs
    M(
        "I1",
        "issue",
        "tasks",
        "src/csa/tasks/zero_shot.py",
        "zero_shot_scores ignores inputs_side (scores the inputs as side a)",
        [
            (
                "scoring_inputs(model, inputs, class_embeddings, inputs_side, sim_dim)",
                'scoring_inputs(model, inputs, class_embeddings, "a", sim_dim)',
            )
        ],
        TASKS,
    ),
    M(
        "I2",
        "issue",
        "tasks",
        "src/csa/tasks/detection.py",
        "detect_mislabelled with inputs on side b does not swap the pair order",
        [
            (
                "scores = call_score_pairs(model, captions, inputs, sim_dim)",
                "scores = call_score_pairs(model, inputs, captions, sim_dim)",
            )
        ],
        TASKS,
    ),
    M(
        "I3",
        "issue",
        "tasks",
        "src/csa/tasks/detection.py",
        "bilevel rule scales each margin by the other score's spread",
        [
            ("(c - self.t_cross) / self.scale_cross", "(c - self.t_cross) / self.scale_text"),
            ("(t - self.t_text) / self.scale_text", "(t - self.t_text) / self.scale_cross"),
        ],
        TASKS,
    ),
    M(
        "I4",
        "issue",
        "tasks",
        "src/csa/tasks/detection.py",
        "bilevel split uses a split-local index as a global row",
        [("                items[local],\n", "                local,\n")],
        TASKS,
    ),
    M(
        "I5",
        "issue",
        "tasks",
        "src/csa/tasks/selection.py",
        "accuracy@K selection metric returns top-1",
        [("        return res.top_k[k]\n", "        return res.top_k[1]\n")],
        TASKS,
    ),
    M(
        "I6",
        "issue",
        "multimodal",
        "src/csa/multimodal.py",
        "MultimodalEncoder probabilities apply the temperature twice",
        [
            (
                "softmax(scores / cal.temperature, axis=1)",
                "softmax(scores / cal.temperature / cal.temperature, axis=1)",
            )
        ],
        MULTIMODAL,
    ),
    M(
        "I7",
        "issue",
        "multimodal",
        "src/csa/multimodal.py",
        "calibration takes class columns by position instead of by group id",
        [
            (
                "self.model.similarity(fa, fb[first], **opts)",
                "self.model.similarity(fa, fb[np.sort(first)], **opts)",
            )
        ],
        MULTIMODAL,
    ),
    M(
        "I8",
        "issue",
        "cache",
        "src/csa/encoders/cache.py",
        "a cache hit skips the output options (normalize_embeddings ignored)",
        [("        return finish_output(cached, **output)\n", "        return cached\n")],
        CACHE,
    ),
    M(
        "I9",
        "issue",
        "scale",
        "src/csa/scale/streaming.py",
        "fit_files on an already fitted ASIF does not start over",
        [("            model._reset()\n", "            pass\n")],
        SCALE,
    ),
    M(
        "I10",
        "issue",
        "tasks",
        "src/csa/tasks/retrieval.py",
        "paired relevance ignores the block offset",
        [
            (
                "            idx = np.arange(start, stop)\n",
                "            idx = np.arange(stop - start)\n",
            )
        ],
        TASKS,
    ),
    M(
        "I11",
        "issue",
        "tasks",
        "src/csa/tasks/retrieval.py",
        "mAP averaged over the gallery instead of the queries",
        [("            mAP=ap_sum / n_q,\n", "            mAP=ap_sum / n_g,\n")],
        TASKS,
    ),
    M(
        "I12",
        "issue",
        "tasks",
        "src/csa/tasks/calibration.py",
        "the false-positive budget is compared with <",
        [("np.flatnonzero(fpr <= target)[-1]", "np.flatnonzero(fpr < target)[-1]")],
        TASKS,
    ),
    # --------------------------------------------------------------------- new: tasks
    M(
        "O1",
        "own",
        "tasks",
        "src/csa/tasks/zero_shot.py",
        "prompt embeddings averaged without normalising each prompt first",
        [("per_class = unit_rows(emb).reshape(", "per_class = emb.reshape(")],
        TASKS,
    ),
    M(
        "O2",
        "own",
        "tasks",
        "src/csa/tasks/zero_shot.py",
        "prompts built template-major instead of class-major",
        [
            (
                "[t.format(name) for name in class_names for t in templates]",
                "[t.format(name) for t in templates for name in class_names]",
            )
        ],
        TASKS,
    ),
    M(
        "O3",
        "own",
        "tasks",
        "src/csa/tasks/metrics.py",
        "true-class rank optimistic on ties",
        [
            (
                "ahead = np.count_nonzero(s >= true, axis=1) - 1",
                "ahead = np.count_nonzero(s > true, axis=1)",
            )
        ],
        TASKS,
    ),
    M(
        "O4",
        "own",
        "tasks",
        "src/csa/tasks/metrics.py",
        "ROC AUC ranks ties by their minimum rank (a tie counts 0, not 1/2)",
        [('rankdata(s, method="average")', 'rankdata(s, method="min")')],
        TASKS,
    ),
    M(
        "O5",
        "own",
        "tasks",
        "src/csa/tasks/detection.py",
        "derangement is a plain permutation (an item may keep its own caption)",
        [("perm[order] = np.roll(order, -1)", "perm[order] = rng.permutation(order)")],
        TASKS,
    ),
    M(
        "O6",
        "own",
        "tasks",
        "src/csa/tasks/calibration.py",
        "Youden ties go to the higher threshold (more flags)",
        [
            (
                "i = int(np.argmax(tpr - fpr))",
                "i = int(len(cands) - 1 - np.argmax((tpr - fpr)[::-1]))",
            )
        ],
        TASKS,
    ),
    M(
        "O7",
        "own",
        "tasks",
        "src/csa/tasks/detection.py",
        "out-of-context negatives ignore the identical-caption groups",
        [
            (
                "partners = mismatch_partners(n, np.random.default_rng(seed), groups)",
                "partners = mismatch_partners(n, np.random.default_rng(seed), None)",
            )
        ],
        TASKS,
    ),
    M(
        "O8",
        "own",
        "tasks",
        "src/csa/tasks/metrics.py",
        "counting-path precision forgets the relevant items ranked ahead",
        [("precision = (slot + 1) / (slot + 1 + ahead)", "precision = (slot + 1) / (1 + ahead)")],
        TASKS,
    ),
    M(
        "O9",
        "own",
        "tasks",
        "src/csa/tasks/metrics.py",
        "counting-path first hit is off by one",
        [("first_hit = 1 + ahead[starts]", "first_hit = ahead[starts]")],
        TASKS,
    ),
    M(
        "O10",
        "own",
        "tasks",
        "src/csa/tasks/selection.py",
        "tune's ties go to the larger sim_dim",
        [
            (
                "return (-score, index, s if isinstance(s, int | np.integer) else 0, q_index)",
                "return (-score, index, -s if isinstance(s, int | np.integer) else 0, q_index)",
            )
        ],
        TASKS,
    ),
    M(
        "O11",
        "own",
        "tasks",
        "src/csa/tasks/sim_dim.py",
        "select_sim_dim's ties go to the larger s",
        [("key=lambda s: (curve[s], -s)", "key=lambda s: (curve[s], s)")],
        TASKS,
    ),
    M(
        "O12",
        "own",
        "tasks",
        "src/csa/tasks/calibration.py",
        "temperature reported as the inverse temperature",
        [
            (
                "        return 1.0 / self.inverse_temperature\n",
                "        return self.inverse_temperature\n",
            )
        ],
        TASKS + MULTIMODAL[:1],
    ),
    M(
        "O13",
        "own",
        "tasks",
        "src/csa/tasks/detection.py",
        "a flipped label may land on its own class",
        [("rng.integers(1, n_classes, size=n_flip)", "rng.integers(0, n_classes, size=n_flip)")],
        TASKS,
    ),
    # ------------------------------------------------------------------- new: scoring
    M(
        "O14",
        "own",
        "scoring",
        "src/csa/scoring.py",
        "top-k ties go to the larger gallery index",
        [
            (
                "order = np.lexsort((ids, -scores), axis=1)",
                "order = np.lexsort((-ids, -scores), axis=1)",
            )
        ],
        SCORING,
    ),
    M(
        "O15",
        "own",
        "scale",
        "src/csa/scale/search.py",
        "a gallery added in pieces: ids restart at 0 in each piece",
        [("                    offset += block.shape[0]\n", "                    pass\n")],
        SCALE,
    ),
    # ---------------------------------------------------------------- new: multimodal
    M(
        "O16",
        "own",
        "multimodal",
        "src/csa/multimodal.py",
        "Classification.top_k lists the k best worst-first",
        [
            (
                'np.argsort(-self.scores, axis=1, kind="stable")[:, :k]',
                'np.argsort(self.scores, axis=1, kind="stable")[:, -k:]',
            )
        ],
        MULTIMODAL,
    ),
    M(
        "O17",
        "own",
        "multimodal",
        "src/csa/multimodal.py",
        "flag marks a pair scoring exactly the threshold",
        [("flagged=scores < threshold)", "flagged=scores <= threshold)")],
        MULTIMODAL,
    ),
    M(
        "O18",
        "own",
        "multimodal",
        "src/csa/multimodal.py",
        "search ignores query_side",
        [("self.model, q, g, k, query_side=query_side,", 'self.model, q, g, k, query_side="a",')],
        MULTIMODAL,
    ),
    M(
        "O19",
        "own",
        "multimodal",
        "src/csa/multimodal.py",
        "probabilities given at a sim_dim the temperature was not fitted at",
        [
            (
                "if cal is None or cal.sim_dim != sim_dim:\n            return None",
                "if cal is None:\n            return None",
            )
        ],
        MULTIMODAL,
    ),
    M(
        "O20",
        "own",
        "multimodal",
        "src/csa/multimodal.py",
        "fit also trains on the held-out pairs",
        [("self.model.fit(fa[train], fb[train])", "self.model.fit(fa, fb)")],
        MULTIMODAL,
    ),
    M(
        "O21",
        "own",
        "multimodal",
        "src/csa/multimodal.py",
        "calibrate ignores its sim_dim",
        [
            (
                "self.calibration_ = self._calibrate_features(fa, fb, seed=seed, sim_dim=sim_dim)",
                "self.calibration_ = self._calibrate_features(fa, fb, seed=seed)",
            )
        ],
        MULTIMODAL,
    ),
    # --------------------------------------------------------------------- new: cache
    M(
        "O22",
        "own",
        "cache",
        "src/csa/encoders/cache.py",
        "cache key leaves out the encoder's name",
        [
            (
                r'f"{_FORMAT}\0{encoder.name}\0{encoder.dim}\0{data_key}"',
                r'f"{_FORMAT}\0{encoder.dim}\0{data_key}"',
            )
        ],
        CACHE,
    ),
    M(
        "O23",
        "own",
        "cache",
        "src/csa/encoders/cache.py",
        "a miss stores the vectors after the output options",
        [
            (
                "lambda tmp: np.save(tmp, arr, allow_pickle=False)",
                "lambda tmp: np.save(tmp, finish_output(arr, **output), allow_pickle=False)",
            )
        ],
        CACHE,
    ),
    # --------------------------------------------------------------------- new: scale
    M(
        "O24",
        "own",
        "scale",
        "src/csa/scale/streaming.py",
        "fit_files resets the model before every chunk",
        [
            (
                "        if not fitted:\n            model._reset()\n            fitted = True\n",
                "        model._reset()\n        fitted = True\n",
            )
        ],
        SCALE,
    ),
    M(
        "O25",
        "own",
        "scale",
        "src/csa/scale/features.py",
        "rebatch drops the last short block of a parquet stream",
        [
            (
                "    if held:\n        yield np.concatenate",
                "    if False:\n        yield np.concatenate",
            )
        ],
        SCALE,
    ),
    M(
        "O26",
        "own",
        "scale",
        "src/csa/scale/features.py",
        ".npy row reads seek by values, not bytes",
        [
            (
                "handle.seek(self._offset + start * self._row_bytes)",
                "handle.seek(self._offset + start * self.shape[1])",
            )
        ],
        SCALE,
    ),
    # ----------------------------------------------------------------------- new: CLI
    M(
        "O27",
        "own",
        "cli",
        "src/csa/cli.py",
        "eval detect (out of context) ignores --seed",
        [
            (
                '_eval_inputs(mm, "b", features_b), seed=seed,',
                '_eval_inputs(mm, "b", features_b), seed=0,',
            )
        ],
        CLI,
    ),
    M(
        "O28",
        "own",
        "cli",
        "src/csa/cli.py",
        "eval retrieval inverts --exact-pairs",
        [("        identical=not exact_pairs,\n", "        identical=exact_pairs,\n")],
        CLI,
    ),
    M(
        "O29",
        "own",
        "cli",
        "src/csa/cli.py",
        "flag marks a pair scoring exactly --threshold",
        [("    flagged = scores < threshold\n", "    flagged = scores <= threshold\n")],
        CLI,
    ),
    M(
        "O30",
        "own",
        "cli",
        "src/csa/cli.py",
        "eval detect (mislabelled) ignores --flip-fraction",
        [("            flip_fraction=flip_fraction,\n", "            flip_fraction=0.1,\n")],
        CLI,
    ),
    M(
        "O31",
        "own",
        "cli",
        "src/csa/cli.py",
        "classify names predictions by sorted class names",
        [('"class": names[c],', '"class": sorted(names)[c],')],
        CLI,
    ),
    # ----------------------------------------------------------------- new: baselines
    M(
        "O32",
        "own",
        "baselines",
        "src/csa/baselines/asif.py",
        "ASIF raises negative similarities to the power (no clamp at 0)",
        [
            (
                "unit_rows(np.maximum(values, 0.0) ** float(self.p))",
                "unit_rows(np.sign(values) * np.abs(values) ** float(self.p))",
            )
        ],
        BASELINES,
    ),
    M(
        "O33",
        "own",
        "baselines",
        "src/csa/baselines/asif.py",
        "ASIF ignores k (keeps every anchor)",
        [("k = min(int(self.k), n_anchors)", "k = n_anchors")],
        BASELINES,
    ),
    M(
        "O34",
        "own",
        "baselines",
        "src/csa/baselines/linear_map.py",
        "LinearMap scores side b uncentred",
        [("return unit_rows(b - self.mean_b_)", "return unit_rows(b)")],
        BASELINES,
    ),
    M(
        "O35",
        "own",
        "baselines",
        "src/csa/baselines/asif.py",
        "ASIF partial_fit on a fitted model replaces the anchors instead of adding",
        [
            (
                "np.vstack([self.anchors_a_, unit_rows(a_arr)]),\n"
                "                    np.vstack([self.anchors_b_, unit_rows(b_arr)]),",
                "unit_rows(a_arr),\n                    unit_rows(b_arr),",
            )
        ],
        BASELINES,
    ),
]


# The same bugs written against the tree after the merges of issues 16, 18 and 19 (the
# per-item embedding store, transactional scale fits, the CLI on the one object): a
# mutation uses its first edit list whose texts all occur exactly once in the tree.
PORTS: dict[str, list[tuple[str, str]]] = {
    "I7": [
        (
            "model.similarity(fa, fb[first], sim_dim=sim_dim)",
            "model.similarity(fa, fb[np.sort(first)], sim_dim=sim_dim)",
        )
    ],
    "I8": [
        ("    if not missing:\n        return\n", "    if not missing:\n        return True\n"),
        (
            "        _fill(store, encoder, seq, keys, out, batch_size, show_progress)\n"
            "    return finish_output(out, **output)",
            "        every_row_stored = _fill(store, encoder, seq, keys, out, batch_size, "
            "show_progress)\n    return out if every_row_stored else finish_output(out, **output)",
        ),
    ],
    "I9": [('fresh = fresh_copy(model, "fit_files")', "fresh = model")],
    "O2": [
        (
            "[t.format(name) for name in names for t in chosen]",
            "[t.format(name) for t in chosen for name in names]",
        )
    ],
    "O7": [
        (
            "partners = mismatch_partners(n, np.random.default_rng(check_seed(seed)), groups)",
            "partners = mismatch_partners(n, np.random.default_rng(check_seed(seed)), None)",
        )
    ],
    "O20": [("model.fit(fa[train], fb[train])", "model.fit(fa, fb)")],
    "O21": [
        (
            "self.calibration_ = _calibrate(self.model, fa, fb, seed=seed, sim_dim=sim_dim)",
            "self.calibration_ = _calibrate(self.model, fa, fb, seed=seed, sim_dim=None)",
        )
    ],
    "O22": [('        "name": str(encoder.name),\n', "")],
    "O23": [
        (
            "    for k, vector in found.items():\n        out[rows_of[k]] = vector",
            "    for k, vector in found.items():\n        out[rows_of[k][0]] = vector",
        )
    ],
    "O24": [
        (
            "            fresh.partial_fit(a_chunk, b_chunk)",
            '            fresh = fresh_copy(model, "fit_files").partial_fit(a_chunk, b_chunk)',
        )
    ],
    "O27": [
        (
            '_eval_features(mm, "b", b),\n            seed=seed,',
            '_eval_features(mm, "b", b),\n            seed=0,',
        )
    ],
    "O29": [
        (
            '"flagged": bool(flagged)}',
            '"flagged": bool(score <= result.threshold)}',
        )
    ],
}
# where the store replaced the whole-list cache, the two cache bugs above read differently
PORTED_FILES = {"O22": "src/csa/encoders/store.py"}
PORTED_DESCRIPTIONS = {
    "O23": "a stored item requested twice in one call fills only its first row",
    "O29": "flag's table recomputes the flags with <= (a pair at --threshold is flagged)",
}


def applicable(text: str, edits: list[tuple[str, str]]) -> bool:
    return all(text.count(old) == 1 for old, _ in edits)


def copy_tree(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in ("src", "tests"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")


def apply(text: str, edits: list[tuple[str, str]], where: str) -> str:
    for old, new in edits:
        count = text.count(old)
        if count != 1:
            raise SystemExit(f"{where}: the text to replace occurs {count} times: {old!r}")
        text = text.replace(old, new)
    return text


def run_tests(copy: Path, tests: list[str]) -> tuple[int, list[str], str, float]:
    env = {
        **os.environ,
        "PYTHONPATH": str(copy / "src"),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "CSA_CACHE_DIR": str(copy / ".cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    cmd = [sys.executable, "-m", "pytest", *tests, "-q", "-rf", "-p", "no:cacheprovider",
           "-m", "not slow"]  # fmt: skip
    start = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return -1, [], "timeout", time.perf_counter() - start
    seconds = time.perf_counter() - start
    out = done.stdout + done.stderr
    failed = sorted(set(re.findall(r"^(?:FAILED|ERROR) (\S+)", out, flags=re.MULTILINE)))
    tail = out.strip().splitlines()[-1] if out.strip() else ""
    return done.returncode, failed, tail, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="mutation ids to run (the control always runs)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--output", type=Path, default=RESULT)
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.id in args.only or m.origin == "control"]
    if args.list:
        for m in chosen:
            print(f"{m.id:4} {m.origin:7} {m.layer:10} {m.file:32} {m.description}")
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="csa-mutants-") as tmp:
        copy = Path(tmp)
        copy_tree(copy)
        for m in chosen:
            version = "original"
            path = copy / m.file
            edits = m.edits
            if not applicable(path.read_text(encoding="utf-8"), edits) and m.id in PORTS:
                version = "ported"
                path = copy / PORTED_FILES.get(m.id, m.file)
                edits = PORTS[m.id]
            original = path.read_text(encoding="utf-8")
            path.write_text(apply(original, edits, f"{m.id} {path}"), encoding="utf-8")
            try:
                code, failed, tail, seconds = run_tests(copy, m.tests)
            finally:
                path.write_text(original, encoding="utf-8")
            caught = code != 0
            if m.origin == "control" and caught:
                raise SystemExit(f"the unmutated tree fails its tests ({tail}); fix that first")
            rows.append(
                {
                    "id": m.id,
                    "origin": m.origin,
                    "layer": m.layer,
                    "file": str(path.relative_to(copy)),
                    "description": m.description
                    if version == "original"
                    else PORTED_DESCRIPTIONS.get(m.id, m.description),
                    "edits": version,
                    "tests_run": m.tests,
                    "caught": caught,
                    "n_failing_tests": len(failed),
                    "failing_tests": failed,
                    "pytest_summary": tail,
                    "seconds": round(seconds, 1),
                }
            )
            mark = (
                ("FAILED" if caught else "passed")
                if m.origin == "control"
                else ("caught" if caught else "MISSED")
            )
            print(f"{m.id:4} {mark:6} by {len(failed):3} tests  {seconds:6.1f}s  {m.description}",
                  flush=True)  # fmt: skip
    if args.only and args.output.is_file():
        # a partial rerun replaces its mutants' rows in the last full result
        fresh = {r["id"]: r for r in rows}
        previous = json.loads(args.output.read_text(encoding="utf-8"))["mutants"]
        rows = [fresh.pop(r["id"], r) for r in previous] + list(fresh.values())
    mutants = [r for r in rows if r["origin"] != "control"]
    summary: dict[str, dict[str, int]] = {}
    for key in ("origin", "layer"):
        for r in mutants:
            entry = summary.setdefault(f"{key}:{r[key]}", {"tried": 0, "caught": 0})
            entry["tried"] += 1
            entry["caught"] += int(r["caught"])
    payload = {
        "what": "hand-made mutation pass over tasks, scoring, multimodal, cache, scale, CLI, "
        "baselines (issue 21)",
        "tried": len(mutants),
        "caught": sum(r["caught"] for r in mutants),
        "summary": summary,
        "mutants": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"{payload['caught']} of {payload['tried']} mutants caught -> {args.output}")


if __name__ == "__main__":
    main()
