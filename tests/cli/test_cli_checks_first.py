"""Issues 16, 18 and 19 in the `csa` command: checks before slow work, one-line errors,
zero-shot that says what it did, and a command that only calls public library methods.

The encoders are the counting ones of :mod:`cli.counting_encoders`: a refused command
must leave their load and encode counters at zero.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import csa
from cli.counting_encoders import counting  # noqa: F401  (a fixture)
from csa.cli import app
from multimodal.colour_items import CLASS_ORDER, write_items

runner = CliRunner()
N = 40  # the default --held-out 0.2 keeps 8 pairs, the fewest that calibrate
ENCODERS = ("--encoder-a", "count-image", "--encoder-b", "count-text")
FAST = ("--ridge", "0.1", "--sim-dim", "3")


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _one_line_error(result, *needles: str) -> None:
    """Exit code 2, one line starting with 'error:', no traceback, no help panel."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in lines[0], result.output


@pytest.fixture()
def items(tmp_path):
    folder, _, _ = write_items(tmp_path, N)
    return tmp_path, folder


@pytest.fixture()
def model_file(items, counting):  # noqa: F811
    root, folder = items
    out = root / "model.csa"
    result = _run("fit", folder, root / "captions.txt", "-o", out, *ENCODERS, *FAST)
    assert result.exit_code == 0, result.output
    counting[0].clear()
    counting[1].clear()
    return out


# ------------------------------------------------------------- usage errors, one line
@pytest.mark.parametrize(
    "args",
    [
        ("embed", "minilm-l6", "x.txt", "-o", "x.npy", "--batch-size", "0"),
        ("fit", "a.npy", "b.npy", "-o", "m.csa", "--chunk-rows", "0"),
        ("search", "-m", "m.csa", "q.txt", "g", "-k", "0"),
        ("fit", "a.npy", "b.npy", "-o", "m.csa", "--method", "bogus"),
        ("no-such-command",),
        ("eval", "no-such-task"),
        ("fit", "a.npy", "b.npy", "-o", "m.csa", "--no-such-option"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(args):
    # before: click's multi-line usage panel
    _one_line_error(_run(*args))


def test_method_choices_come_from_the_model_registry():
    import csa
    from csa.multimodal import model_classes

    assert set(model_classes()) == {"csa", "cca", "asif", "linear-map"}
    assert model_classes()["linear-map"] is csa.LinearMap
    help_text = _run("fit", "--help").output
    for name in model_classes():
        assert name in help_text


def test_cli_touches_no_private_name_of_the_library():
    source = Path(__file__).resolve().parents[2].joinpath("src/csa/cli.py").read_text()
    imported = re.findall(r"from csa[\w.]* import ([^\n]+)", source)
    private = [name for line in imported for name in re.findall(r"\b_\w+", line)]
    assert private == []
    # attribute access on library objects: mm._x, model._x, csa._x ...
    assert re.findall(r"\b(?:mm|model|result|classifier|csa)\._(?!_)\w+", source) == []


# ------------------------------------------------------------- checks before slow work
def test_fit_refuses_a_stray_file_before_loading_any_encoder(items, counting):  # noqa: F811
    root, folder = items
    (folder / "notes.txt").write_text("not an image")
    result = _run("fit", folder, root / "captions.txt", "-o", root / "m.csa", *ENCODERS)
    _one_line_error(result, "notes.txt")
    assert sum(counting[0].values()) == 0 and sum(counting[1].values()) == 0


def test_fit_refuses_undecodable_images_before_loading_any_encoder(
    items,
    counting,  # noqa: F811
    monkeypatch,
):
    # before: a 623-megapixel render raised PIL's DecompressionBombError (a traceback)
    # minutes into the encoding pass; a damaged file likewise
    from PIL import Image

    root, folder = items
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64 // 4)  # 64 x 64 is over twice it
    result = _run("fit", folder, root / "captions.txt", "-o", root / "m.csa", *ENCODERS)
    _one_line_error(result, "too large to decode safely", "img_0.png")
    monkeypatch.undo()
    (folder / "img_3.png").write_bytes(b"not a png at all")
    result = _run("fit", folder, root / "captions.txt", "-o", root / "m.csa", *ENCODERS)
    _one_line_error(result, "cannot be read as images", "img_3.png")
    assert sum(counting[0].values()) == 0 and sum(counting[1].values()) == 0


def test_fit_refuses_unequal_counts_and_bad_held_out_before_loading(items, counting):  # noqa: F811
    root, folder = items
    (root / "short.txt").write_text("a red circle\n" * (N - 1))
    result = _run("fit", folder, root / "short.txt", "-o", root / "m.csa", *ENCODERS)
    _one_line_error(result, f"{N - 1}")
    for bad in ("1.5", "nan", "-0.1"):
        result = _run(
            "fit", folder, root / "captions.txt", "-o", root / "m.csa", *ENCODERS, "--held-out", bad
        )
        _one_line_error(result, "--held-out")
    assert sum(counting[0].values()) == 0 and sum(counting[1].values()) == 0


def test_options_of_the_other_input_path_are_refused(tmp_path):
    # before: `csa fit a.npy b.npy --held-out 1.5` ignored --held-out
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(50, 4)))
    np.save(tmp_path / "b.npy", rng.normal(size=(50, 3)))
    result = _run(
        "fit", tmp_path / "a.npy", tmp_path / "b.npy", "-o", tmp_path / "m", "--held-out", "1.5"
    )
    _one_line_error(result, "--held-out")
    assert not (tmp_path / "m").exists()


def test_embed_and_classify_refuse_a_stray_file_before_loading(
    items,
    model_file,
    counting,  # noqa: F811
):
    root, folder = items
    (folder / "notes.txt").write_text("not an image")
    _one_line_error(_run("embed", "count-image", folder, "-o", root / "x.npy"), "notes.txt")
    result = _run("classify", "-m", model_file, folder, "--class-names", root / "classes.txt")
    _one_line_error(result, "notes.txt")
    assert sum(counting[0].values()) == 0 and sum(counting[1].values()) == 0


def test_eval_retrieval_reports_the_count_before_encoding(items, model_file, counting):  # noqa: F811
    # before: 999 captions for 1,000 images encoded every caption, then failed
    root, folder = items
    (root / "short.txt").write_text("a red circle\n" * (N - 1))
    result = _run("eval", "retrieval", "-m", model_file, folder, root / "short.txt")
    _one_line_error(result, f"{N - 1}", str(N))
    assert sum(counting[1].values()) == 0


def test_flag_threshold_is_checked_before_encoding(items, model_file, counting):  # noqa: F811
    # before: --threshold nan flagged nothing and exited 0
    root, folder = items
    result = _run("flag", "-m", model_file, folder, root / "captions.txt", "--threshold", "nan")
    _one_line_error(result, "threshold")
    assert sum(counting[1].values()) == 0


def test_flip_fraction_nan_is_one_line_not_a_traceback(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(60, 4))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", a[:, :3] + 0.1 * rng.normal(size=(60, 3)))
    np.save(tmp_path / "classes.npy", rng.normal(size=(3, 3)))
    (tmp_path / "labels.txt").write_text("".join(f"{i % 3}\n" for i in range(60)))
    fitted = _run("fit", tmp_path / "a.npy", tmp_path / "b.npy", "-o", tmp_path / "m", *FAST)
    assert fitted.exit_code == 0, fitted.output
    base = ("eval", "detect", "-m", tmp_path / "m", tmp_path / "a.npy", "--mode", "mislabelled")
    files = ("--labels", tmp_path / "labels.txt", "--classes", tmp_path / "classes.npy")
    _one_line_error(_run(*base, *files, "--flip-fraction", "nan"), "--flip-fraction")
    # integer labels in a .txt are class indices, as the help says
    assert _run(*base, *files).exit_code == 0
    (tmp_path / "names.txt").write_text("".join(f"c{i % 3}\n" for i in range(60)))
    result = _run(*base, "--labels", tmp_path / "names.txt", "--classes", tmp_path / "classes.npy")
    # before: the hint named --class-names, which `eval detect` does not have
    _one_line_error(result, "class indices")
    assert "--class-names" not in result.output


# ---------------------------------------------------------------- zero-shot says what it did
def test_classify_prints_and_records_its_templates(items, model_file, tmp_path):
    root, folder = items
    out = tmp_path / "p.json"
    result = _run(
        "classify", "-m", model_file, folder, "--class-names", root / "classes.txt", "--json", out
    )
    assert result.exit_code == 0, result.output
    assert "templates (" in result.output and "a photo of a {}." in result.output
    # ... and which of the model's maps scored the prompts (side b: the captions' side)
    answer = csa.load(model_file).map_choices()["zero-shot, prompts on side b"]
    assert f"map: {answer}" in result.output.splitlines()
    record = json.loads(out.read_text())
    assert "a photo of a {}." in record["templates"]
    predicted = [row["class"] for row in record["predictions"]]
    assert predicted == [CLASS_ORDER[i % 4] for i in range(N)]
    (tmp_path / "t.txt").write_text("{} circle\n")
    result = _run(
        "classify", "-m", model_file, folder, "--class-names", root / "classes.txt",
        "--templates", tmp_path / "t.txt", "--json", out,
    )  # fmt: skip
    assert result.exit_code == 0 and json.loads(out.read_text())["templates"] == ["{} circle"]


def test_class_names_differing_by_case_and_bad_templates_are_refused(
    items,
    model_file,
    counting,  # noqa: F811
    tmp_path,
):
    root, folder = items
    (tmp_path / "twins.txt").write_text("actions\nActions\n")
    result = _run("classify", "-m", model_file, folder, "--class-names", tmp_path / "twins.txt")
    _one_line_error(result, "only by case")
    (tmp_path / "t.txt").write_text("a {x} of {}\n")
    result = _run(
        "classify", "-m", model_file, folder, "--class-names", root / "classes.txt",
        "--templates", tmp_path / "t.txt",
    )  # fmt: skip
    _one_line_error(result, "{x}")
    assert sum(counting[1].values()) == 0


def test_eval_zero_shot_reads_integer_labels_from_a_txt(items, model_file, tmp_path):
    # before: "0", "1"... in a .txt were read as names and refused
    root, folder = items
    (tmp_path / "y.txt").write_text("".join(f"{i % 4}\n" for i in range(N)))
    result = _run(
        "eval", "zero-shot", "-m", model_file, "--inputs", folder, "--labels", tmp_path / "y.txt",
        "--class-names", root / "classes.txt",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "templates (" in result.output
    assert any(line.startswith("map: ") for line in result.output.splitlines())
    assert re.search(r"top-1\s*│\s*1\.0000", result.output), result.output


# ------------------------------------------------------------------------- small traps
def test_search_with_swapped_sides_names_the_query_side_option(items, model_file):
    # before: "... give them to an image encoder", where the fix is --query-side a
    root, folder = items
    result = _run("search", "-m", model_file, folder, root / "captions.txt")
    _one_line_error(result, "--query-side a")
    fixed = _run("search", "-m", model_file, folder, root / "captions.txt", "--query-side", "a")
    assert fixed.exit_code == 0, fixed.output


def test_info_says_how_many_pairs_were_held_out(items, model_file):
    # before: "pairs 32" where fit had been given 40
    result = _run("info", model_file)
    assert result.exit_code == 0
    assert f"{N} given: 32 fitted, 8 held out" in " ".join(result.output.split())


def test_error_lines_print_brackets_as_written(tmp_path):
    # before: rich read "[red]" in a file name as markup and dropped it from the message
    bad = tmp_path / "[red]m.csa"
    bad.write_text("not a model")
    _one_line_error(_run("info", bad), "[red]m.csa")
