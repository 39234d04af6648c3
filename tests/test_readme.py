"""The README is executed: every ```python and ```bash block runs here.

Python blocks run in order in one namespace (the README reads as one session), in a
scratch folder with its own embedding cache. Shell blocks run line by line in a scratch
folder prepared with small inputs (PNG images in natural-order names and as class
folders, captions, labels, class names, a query): ``csa ...`` lines through the CLI in
this process (no interpreter start per line), other lines through bash. A block that
needs the network, a GPU or minutes is marked, right before its fence, with
``<!-- readme-test: skip (reason) -->``; a mark without a reason, a mark not followed by
a fence, or a fence in another language fails the suite, so no block escapes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\S*)\s*$")
MARK = re.compile(r"<!--\s*readme-test:(.*?)-->")
SKIP = re.compile(r"^\s*skip\s*\((?P<reason>[^)]*\S[^)]*)\)\s*$")
LANGUAGES = ("python", "bash")
N_IMAGES = 40  # the CLI's default --held-out 0.2 keeps 8 pairs, the fewest that calibrate

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None  # the reason, for a block marked skip


def parse(text: str) -> list[Block]:
    """The fenced blocks of ``text``, with the skip mark (if any) right before each."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise AssertionError(f"README.md:{start + 1}: code fence never closed")
        previous = lines[start - 1] if start else ""
        mark = MARK.search(previous)
        skip = None
        if mark:
            found = SKIP.match(mark.group(1))
            if not found:
                raise AssertionError(
                    f"README.md:{start}: a readme-test mark must read 'skip (reason)'; got "
                    f"{mark.group(0)!r}"
                )
            skip = found.group("reason").strip()
        blocks.append(Block(match.group(1), start + 1, "\n".join(lines[start + 1 : end]), skip))
        i = end + 1
    return blocks


def _blocks(language: str) -> list[Block]:
    return [b for b in parse(README.read_text(encoding="utf-8")) if b.language == language]


def test_every_block_is_tested_or_skipped_with_a_reason():
    text = README.read_text(encoding="utf-8")
    blocks = parse(text)
    assert {b.language for b in blocks} <= set(LANGUAGES), [
        f"README.md:{b.line} ```{b.language}" for b in blocks if b.language not in LANGUAGES
    ]
    fence_lines = {b.line for b in blocks}
    for number, line in enumerate(text.splitlines(), 1):
        if MARK.search(line):
            assert number + 1 in fence_lines, f"README.md:{number}: a mark not before a fence"
    skipped = [b for b in blocks if b.skip is not None]
    assert all(len(b.skip) >= 10 for b in skipped), [b.skip for b in skipped]
    run = [b for b in blocks if b.skip is None]
    assert sum(b.language == "python" for b in run) >= 8
    assert sum(b.language == "bash" for b in run) >= 2
    # the usage the README promises to document, in blocks that run
    code = "\n".join(b.code for b in run)
    for needle in (
        "MultimodalEncoder",
        "csa.CSA()",
        "cv_results_",
        "GridSearchCV",
        "clone(",
        "tune(",
        "evaluate_retrieval",
        "detect_out_of_context",
        "register(",
        "wrap(",
        "fit_files",
        "fit_dask",
        "GalleryIndex",
        "cached_encode",
        "csa fit",
        "--encoder-a",
        "csa classify",
        "csa search",
        "csa flag",
        "csa eval",
        "csa info",
        "csa --version",
    ):
        assert needle in code, f"no README block that runs uses {needle!r}"


def test_the_parser_refuses_marks_without_reasons():
    with pytest.raises(AssertionError, match="skip \\(reason\\)"):
        parse("<!-- readme-test: skip -->\n```python\npass\n```\n")
    with pytest.raises(AssertionError, match="skip \\(reason\\)"):
        parse("<!-- readme-test: skip () -->\n```bash\ncsa\n```\n")
    (block,) = parse("<!-- readme-test: skip (needs network) -->\n```bash\ncsa\n```\n")
    assert block.skip == "needs network" and block.code == "csa"


@pytest.fixture()
def scratch(tmp_path, monkeypatch):
    """A working folder with its own embedding cache; environment and registry restored."""
    from csa.encoders import available, unregister

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CSA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    saved = dict(os.environ)
    names = set(available())
    yield tmp_path
    for name in set(available()) - names:
        unregister(name)
    os.environ.clear()
    os.environ.update(saved)


def test_python_blocks_run_in_order(scratch):
    namespace: dict = {"__name__": "readme"}
    seconds: dict[int, float] = {}
    for block in _blocks("python"):
        if block.skip is not None:
            continue
        # line numbers in tracebacks point into README.md
        code = compile("\n" * block.line + block.code, str(README), "exec")
        start = time.perf_counter()
        try:
            exec(code, namespace)
        except Exception:
            pytest.fail(
                f"README.md:{block.line}: the python block fails:\n{traceback.format_exc()}"
            )
        seconds[block.line] = round(time.perf_counter() - start, 1)
    print("seconds per README block (by line):", seconds)
    assert len(seconds) >= 8


def _prepare_cli_inputs(root: Path) -> None:
    """images/img_0..img_39.png, by_class/<colour>/..., captions, labels, classes, query."""
    from multimodal.colour_items import write_items

    folder, _, labels = write_items(root, N_IMAGES)
    for i, label in enumerate(labels):
        (root / "by_class" / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / f"img_{i}.png", root / "by_class" / label / f"img_{i}.png")
    (root / "query.txt").write_text("a yellow circle\na blue circle\n")
    # a cache in use, as the cache section's `du` line expects (the CLI lines refill it)
    from csa.encoders import cached_encode, get

    cached_encode(get("minilm-l6"), (root / "captions.txt").read_text().splitlines())


def _commands(code: str) -> list[str]:
    """The block's command lines, continuation lines joined, blank and comment lines gone."""
    joined = re.sub(r"\\\n", " ", code)
    return [
        line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def test_bash_blocks_run_in_a_prepared_folder(scratch):
    from typer.testing import CliRunner

    from csa.cli import app

    _prepare_cli_inputs(scratch)
    runner = CliRunner()
    env = dict(os.environ)
    assert env["CSA_CACHE_DIR"].startswith(str(scratch))  # `rm -rf` lines stay in here
    ran = 0
    for block in _blocks("bash"):
        if block.skip is not None:
            continue
        for line in _commands(block.code):
            words = shlex.split(line, comments=True)
            where = f"README.md:{block.line}: `{line.split('#')[0].strip()}`"
            if words[0] == "csa":
                result = runner.invoke(app, words[1:])
                assert result.exit_code == 0, f"{where} exits {result.exit_code}:\n{result.output}"
            else:
                done = subprocess.run(
                    ["bash", "-c", line], cwd=scratch, env=env, capture_output=True, text=True
                )
                assert done.returncode == 0, f"{where} exits {done.returncode}:\n{done.stderr}"
            ran += 1
    assert ran >= 10
    # what the shell blocks promise to leave behind
    assert (scratch / "images.ids.txt").read_text().splitlines()[:3] == [
        "img_0.png",
        "img_1.png",
        "img_2.png",
    ]
    assert len((scratch / "by_class.labels.txt").read_text().splitlines()) == N_IMAGES
    assert (scratch / "model.csa").is_file() and (scratch / "retrieval.json").is_file()
