"""The ``csa`` command: embed, fit, classify, search, flag, eval, info.

A thin shell over the library: each command parses its options, reads its inputs,
calls public methods of :class:`csa.multimodal.MultimodalEncoder` (or of the tasks and
the streaming fit for feature files) and prints the result. Whatever a command needs
that the library lacked became a library method, so the command and a Python user get
the same behaviour.

Inputs are read and checked (file types, counts, labels, options) before any model
weights load or any item is encoded, so a mistake costs seconds, not minutes. Every
failure a user can cause, a usage error included, is one red line with exit code 2,
never a traceback or a help panel; warnings are one line each. Results go to the
screen as a table and, with ``--json``, to disk.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from csa.multimodal import model_classes

# typer vendors click; every usage error derives from this base (BadParameter among them).
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _OneLineErrors(TyperGroup):
    """Usage errors (unknown command, bad option value) as one line with exit code 2.

    click prints a usage line, a hint and a boxed panel; every other csa error is one
    red line, and scripts and users should not have to tell the two kinds apart.
    """

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except _CLICK_ERROR as exc:
            if not standalone_mode:
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":  # `csa` alone: the help, as click
                exc.show()
                sys.exit(exc.exit_code)
            _print_error(exc.format_message())
            sys.exit(2)
        except typer.Abort:
            if not standalone_mode:
                raise
            err_console.print("aborted", highlight=False)
            sys.exit(1)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    help="Canonical Similarity Analysis: a multimodal encoder from two unimodal ones.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_OneLineErrors,
)
eval_app = typer.Typer(help="Evaluate a fitted model.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
console = Console()
err_console = Console(stderr=True)

FEATURE_SUFFIXES = (".npy", ".parquet", ".pq")
# The method names of csa.PairedModel's registry: one table, read by model files too.
Method = StrEnum("Method", {name: name for name in sorted(model_classes())})  # type: ignore[misc]


class Side(StrEnum):
    a = "a"
    b = "b"


def _print_error(message: str) -> None:
    # escaped: a message quoting "[tag]"-like text must print as written, not as markup
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _fail(message: str) -> None:
    _print_error(message)
    raise typer.Exit(code=2)


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Show a warning as one line: what happened, not where in csa's source it was raised."""
    text = " ".join(str(message).split())
    err_console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)


def _guarded(func: Any) -> Any:
    """Turn csa's own errors, and OS errors (a folder that cannot be written), into one line."""
    import functools

    from csa.errors import CSAError

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CSAError as exc:
            _fail(str(exc))
        except OSError as exc:
            where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            _fail(f"{exc.strerror or exc}{where}")

    return wrapper


def _version(value: bool) -> None:
    if value:
        import csa

        console.print(f"csa {csa.__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print csa's version and exit."
        ),
    ] = False,
) -> None:
    """Canonical Similarity Analysis: a multimodal encoder from two unimodal ones."""
    warnings.showwarning = _one_line_warning


# ------------------------------------------------------------------------- reading
def _is_features(path: Path) -> bool:
    return path.suffix.lower() in FEATURE_SUFFIXES


def _read_array(path: Path) -> np.ndarray:
    from csa.datasets.embeddings import read_features

    return read_features(path)[0]


def _read_items(source: Path, column: str | None, modality: str | None) -> Any:
    """Raw items of one side, in the order that pairs them, via :func:`csa.datasets.read_items`.

    Folders are read in natural order (``img_2`` before ``img_10``), an ImageFolder root
    with its labels, a Hugging Face ``metadata.csv``, and CSV or parquet tables by the
    column the modality needs (or ``--column``). An encoder that declares no modality
    reads files from folders and text from everything else.
    """
    from csa.datasets import read_items

    if modality not in ("text", "image", "audio"):
        modality = "image" if source.is_dir() else "text"
    return read_items(source, modality, column=column)


def _read_side(source: Path, column: str | None, modality: str | None) -> Any:
    """One side's input, read but not encoded: a feature array, or the raw items.

    A parquet table with ``--column`` named is read as raw items (that column), without
    it as features.
    """
    if _is_features(source) and not (column is not None and source.suffix.lower() != ".npy"):
        return _read_array(source)
    return _read_items(source, column, modality)


def _features(mm: Any, side: str, data: Any, batch_size: int) -> np.ndarray:
    """Features of one side: an array checked against the side's encoder, or items encoded.

    The progress bar is left to csa.progress's automatic rule (None: drawn on a terminal
    once the wait lasts, never into a log), the one rule every other wait follows.
    """
    if isinstance(data, np.ndarray):
        return mm.check_features(side, data)
    return mm.features(side, data.items, batch_size=batch_size, show_progress_bar=None)


def _same_count(path_a: Path, data_a: Any, path_b: Path, data_b: Any) -> None:
    from csa.errors import InputError

    if len(data_a) != len(data_b):
        raise InputError(
            f"{path_a} gives {len(data_a)} items but {path_b} gives {len(data_b)}; item i of "
            "a must pair with item i of b"
        )


def _read_lines(path: Path, what: str) -> list[str]:
    from csa.errors import DatasetError

    if not path.is_file():
        raise DatasetError(f"{what} file {path} not found")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise DatasetError(f"{what} file {path} is empty")
    return lines


_INTEGER = re.compile(r"-?\d+")


def _label_values(labels: Path | list[Any]) -> list[Any]:
    """Labels from a file or the items; a ``.txt`` of whole numbers is read as integers."""
    from csa.datasets.embeddings import read_labels

    values = labels if isinstance(labels, list) else read_labels(labels)
    if values and all(isinstance(v, str) and _INTEGER.fullmatch(v.strip()) for v in values):
        return [int(v) for v in values]
    return list(values)


def _label_indices(
    labels: Path | list[Any], class_names: list[str] | None, n_classes: int, names_hint: str
) -> np.ndarray:
    """True class indices: integers as given, names matched to ``class_names`` by name.

    Matching by name (:func:`csa.datasets.match_labels`) is the only safe reading of name
    labels: sorting them pairs 'shirt' with whatever class sorts in its place.
    ``names_hint`` says how this command takes class names, for the error when labels
    are names and none were given.
    """
    from csa.datasets import match_labels
    from csa.errors import InputError

    where = "the inputs' labels" if isinstance(labels, list) else str(labels)
    values = _label_values(labels)
    if not values:
        raise InputError(f"{where} holds no labels")
    if class_names is None:
        if not all(isinstance(v, int | np.integer) for v in values):
            raise InputError(f"{where} holds class names; {names_hint}")
        y = np.asarray(values, dtype=np.int64)
        if y.min() < 0 or y.max() >= n_classes:
            raise InputError(
                f"{where}: labels run {y.min()}..{y.max()} but there are {n_classes} classes"
            )
        return y
    try:
        return match_labels(values, class_names)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    from csa.errors import InputError
    from csa.files import atomic_write

    text = json.dumps(payload, indent=2, default=float)
    atomic_write(path, lambda tmp: tmp.write_text(text), error=InputError, what="JSON results")
    console.print(f"wrote {path}")


def _write_lines(path: Path, lines: list[str], what: str) -> None:
    from csa.errors import InputError
    from csa.files import atomic_write

    text = "".join(f"{line}\n" for line in lines)
    atomic_write(
        path, lambda tmp: tmp.write_text(text, encoding="utf-8"), error=InputError, what=what
    )


def _metrics_table(title: str, metrics: dict[str, Any]) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


def _print_templates(templates: tuple[str, ...] | list[str], default: bool) -> None:
    """Zero-shot results depend on the prompts as much as on the map: say which were used."""
    how = "default for the items' modality; --templates FILE to choose" if default else "given"
    shown = " | ".join(templates)
    console.print(f"templates ({len(templates)}, {how}): {shown}", highlight=False, soft_wrap=True)


def _print_zero_shot_map(model: Any, prompt_side: str) -> None:
    """Which of the model's maps scores these prompts (CSA answers zero-shot with its own)."""
    if not hasattr(model, "map_choices"):
        return
    choices = model.map_choices()
    answer = choices.get(f"zero-shot, prompts on side {prompt_side}", choices.get("every question"))
    console.print(f"map: {answer}", highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------- embed
def _sidecar_path(output: Path) -> Path:
    return output.with_name(output.name + ".json")


def _write_features(output: Path, features: np.ndarray, record: dict[str, Any]) -> None:
    """The .npy and, next to it, a JSON sidecar naming the item behind every row."""
    from csa.errors import InputError
    from csa.files import atomic_write

    def save(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.save(handle, features, allow_pickle=False)

    atomic_write(output, save, error=InputError, what="features")
    text = json.dumps(record, indent=1)
    atomic_write(
        _sidecar_path(output), lambda tmp: tmp.write_text(text), error=InputError, what="sidecar"
    )


@app.command()
@_guarded
def embed(
    encoder: Annotated[
        str, typer.Argument(help="Encoder name, e.g. minilm-l6 (see `csa encoders`).")
    ],
    source: Annotated[
        Path,
        typer.Argument(help="A .txt (one item a line), a .csv / metadata.csv, or a folder."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the .npy.")],
    column: Annotated[str | None, typer.Option(help="CSV column to encode.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    cache_dir: Annotated[Path | None, typer.Option(help="Embedding cache folder.")] = None,
) -> None:
    """Encode raw items into an (n, dim) float32 .npy, with the item list beside it.

    The sidecar ``OUTPUT.json`` names the item behind every row (file paths or texts),
    the encoder and the source, so rows can always be traced back.
    """
    from csa.encoders import cached_encode, get
    from csa.multimodal import modality_of

    found = _read_items(source, column, modality_of(encoder))  # before any weights load
    enc = get(encoder)
    features = cached_encode(enc, found.items, cache_dir=cache_dir, batch_size=batch_size)
    record = {
        "encoder": enc.name,
        "dim": int(enc.dim),
        "source": str(source),
        "layout": found.layout,
        "n": len(found),
        "items": [str(item) for item in found.items],
        "ids": found.ids,
        "labels": found.labels,
    }
    _write_features(output, features, record)
    written = [_sidecar_path(output).name]
    ids_path = output.with_suffix(".ids.txt")
    _write_lines(ids_path, found.ids, "item ids")
    written.append(ids_path.name)
    if found.labels is not None:
        labels_path = output.with_suffix(".labels.txt")
        _write_lines(labels_path, found.labels, "labels")
        written.append(labels_path.name)
    console.print(
        f"encoded {len(found)} items ({found.layout}) with {enc.name} -> {output} "
        f"{features.shape}; rows listed in {', '.join(written)}"
    )


# ------------------------------------------------------------------------------ fit
def _parse_ridge(ridge: str) -> Any:
    from csa.errors import ParameterError

    values: list[Any] = []
    for part in (p.strip() for p in ridge.split(",")):
        try:
            values.append(part if part == "auto" else float(part))
        except ValueError:
            raise ParameterError(
                f"--ridge takes 'auto', a number, or two of them as 'a,b'; got {ridge!r}"
            ) from None
    if len(values) > 2:
        raise ParameterError(f"--ridge takes at most two values (a,b); got {ridge!r}")
    return values[0] if len(values) == 1 else tuple(values)


def _build_model(method: str, options: dict[str, Any]) -> Any:
    """The chosen map from the registry; an option the method would ignore is refused."""
    from csa.errors import ParameterError
    from csa.multimodal import make_model, model_params

    given = {name: value for name, value in options.items() if value is not None}
    flag = {name: "--" + name.replace("_", "-") for name in given}
    takes = model_params(method)
    ignored = [flag[name] for name in given if name not in takes]
    if ignored:
        usable = [f"--{p.replace('_', '-')}" for p in takes if p in options]
        raise ParameterError(
            f"--method {method} has no use for {', '.join(ignored)}; it takes "
            f"{', '.join(usable) or 'none of them'}"
        )
    if "ridge" in given:
        given["ridge"] = _parse_ridge(given["ridge"])
    try:
        return make_model(method, **given)
    except ParameterError as exc:
        shown = " ".join(f"{flag[n]} {options[n]}" for n in given)
        raise ParameterError(f"{shown} for --method {method}: {exc}") from None


def _refuse_options(path_kind: str, given: dict[str, Any]) -> None:
    """Options of the other input path are refused, never silently ignored."""
    from csa.errors import InputError

    unused = [name for name, value in given.items() if value is not None]
    if unused:
        raise InputError(f"{', '.join(unused)} do not apply to {path_kind}")


@app.command()
@_guarded
def fit(
    items_a: Annotated[
        Path, typer.Argument(help="Side a: raw items (folder, .txt, .csv) or .npy/.parquet.")
    ],
    items_b: Annotated[Path, typer.Argument(help="Side b, item i paired with a's item i.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write.")],
    encoder_a: Annotated[
        str | None, typer.Option(help="Encoder of raw side-a items (see `csa encoders`).")
    ] = None,
    encoder_b: Annotated[str | None, typer.Option(help="Encoder of raw side-b items.")] = None,
    column_a: Annotated[str | None, typer.Option(help="CSV column of side a.")] = None,
    column_b: Annotated[str | None, typer.Option(help="CSV column of side b.")] = None,
    method: Annotated[Method, typer.Option(help="Which model to fit.")] = Method("csa"),  # type: ignore[assignment]
    ridge: Annotated[
        str | None, typer.Option(help="'auto', a number, or 'a,b' (csa, cca; linear-map: one).")
    ] = None,
    sim_dim: Annotated[
        int | None, typer.Option(min=1, help="Default canonical dims (csa, cca).")
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            help="csa: 'auto' (a map per question), 'canonical' (the paper's CSA), 'heldout'."
        ),
    ] = None,
    k: Annotated[int | None, typer.Option(min=1, help="ASIF: anchors kept per item.")] = None,
    p: Annotated[float | None, typer.Option(help="ASIF: power of similarities.")] = None,
    held_out: Annotated[
        float | None,
        typer.Option(help="Raw items: share of pairs kept to calibrate classify and flag [0.2]."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Raw items: seed of the held-out draw.")] = None,
    chunk_rows: Annotated[
        int | None, typer.Option(min=1, help="Feature files: rows per chunk streamed from disk.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Encoding batch size.")] = 32,
    cache_dir: Annotated[Path | None, typer.Option(help="Embedding cache folder.")] = None,
) -> None:
    """Fit a model on paired items: raw items through two encoders, or feature files."""
    from csa.errors import InputError

    options = {"ridge": ridge, "sim_dim": sim_dim, "weights": weights, "k": k, "p": p}
    model = _build_model(str(method), options)
    if encoder_a is None and encoder_b is None:
        if not (_is_features(items_a) and _is_features(items_b)):
            raise InputError(
                "raw items need --encoder-a and --encoder-b (see `csa encoders`); without "
                "them both inputs must be feature files (.npy or .parquet)"
            )
        _refuse_options(
            "feature files (they fit a bare map, with nothing held out)",
            {"--held-out": held_out, "--seed": seed, "--column-a": column_a,
             "--column-b": column_b, "--cache-dir": cache_dir},
        )  # fmt: skip
        _fit_files(model, items_a, items_b, output, chunk_rows)
        return
    if encoder_a is None or encoder_b is None:
        raise InputError("give both --encoder-a and --encoder-b (or neither, for feature files)")
    _refuse_options("raw items (they are encoded, not streamed)", {"--chunk-rows": chunk_rows})
    _fit_raw(
        model, (items_a, column_a, encoder_a), (items_b, column_b, encoder_b), output,
        0.2 if held_out is None else held_out, 0 if seed is None else seed,
        batch_size, cache_dir,
    )  # fmt: skip


def _fit_files(
    model: Any, path_a: Path, path_b: Path, output: Path, chunk_rows: int | None
) -> None:
    from csa.scale.streaming import fit_files

    with err_console.status(f"fitting {type(model).__name__} on {path_a.name}..."):
        fit_files(model, path_a, path_b, chunk_rows=chunk_rows)
    model.save(output)
    console.print(f"fitted {model!r} on {model.n_pairs_seen_} pairs -> {output}")
    _print_info(_describe(model, None))


def _fit_raw(
    model: Any,
    side_a: tuple[Path, str | None, str],
    side_b: tuple[Path, str | None, str],
    output: Path,
    held_out: float,
    seed: int,
    batch_size: int,
    cache_dir: Path | None,
) -> None:
    from csa.multimodal import MultimodalEncoder, modality_of
    from csa.validation import check_fraction, check_seed

    check_fraction(held_out, "--held-out")
    check_seed(seed, "--seed")
    (path_a, column_a, name_a), (path_b, column_b, name_b) = side_a, side_b
    # Read and count both sides before the encoders load (seconds, for real models).
    a = _read_side(path_a, column_a, modality_of(name_a))
    b = _read_side(path_b, column_b, modality_of(name_b))
    _same_count(path_a, a, path_b, b)
    mm = MultimodalEncoder(name_a, name_b, model, cache_dir=cache_dir)
    fa = _features(mm, "a", a, batch_size)
    fb = _features(mm, "b", b, batch_size)
    with err_console.status(f"fitting {type(model).__name__} on {len(a)} pairs..."):
        mm.fit_features(fa, fb, held_out=held_out, seed=seed)
    mm.save(output)
    console.print(f"fitted {mm!r} on {len(a)} pairs -> {output}")
    _print_info(_describe(mm.model, mm.metadata()))


# ----------------------------------------------------------------------------- info
def _describe(model: Any, meta: dict[str, Any] | None) -> dict[str, Any]:
    """What ``csa info`` shows: the map's hyperparameters, its fit and its encoders."""
    fit_info = (meta or {}).get("fit") or {}
    pairs: Any = model.n_pairs_seen_
    if fit_info.get("n_held_out"):
        pairs = (
            f"{fit_info['n_pairs']} given: {fit_info['n_fit']} fitted, "
            f"{fit_info['n_held_out']} held out to calibrate"
        )
    info: dict[str, Any] = {
        "class": type(model).__name__,
        "pairs": pairs,
        "features a": model.n_features_a_,
        "features b": model.n_features_b_,
    }
    params = model.get_params()
    for name in ("k", "p"):
        if name in params:
            info[f"ASIF {name}"] = params[name]
    if hasattr(model, "canonical_correlations_"):
        rho = model.canonical_correlations_
        info["canonical dims"] = int(rho.shape[0])
        fitted_dim = getattr(model, "sim_dim_", None)
        chosen = params.get("sim_dim") if fitted_dim is None else fitted_dim
        info["sim_dim"] = "all" if chosen is None else chosen
        info["top correlations"] = ", ".join(f"{r:.3f}" for r in rho[:8])
    ridge = getattr(model, "ridge_", None)
    if ridge is not None:
        values = ridge if isinstance(ridge, tuple | list) else (ridge,)
        info["ridge (relative)"] = ", ".join(f"{float(r):.3g}" for r in values)
    if hasattr(model, "map_choices"):  # printed below the table, a line a question
        info["which map answers which question"] = model.map_choices()
    if meta is None:
        info["encoders"] = "none recorded (fitted on feature files)"
        return info
    for side, spec in meta.get("encoders", {}).items():
        options = spec.get("options") or {}
        extra = f" {options}" if options else ""
        info[f"encoder {side}"] = f"{spec['name']} ({spec['dim']}-d{extra})"
    cal = meta.get("calibration")
    if cal:
        info["temperature"] = f"{cal['temperature']:.4g}"
        rates = (
            f" (held-out: flags {cal['true_positive_rate']:.0%} of mismatched pairs, "
            f"{cal['false_positive_rate']:.0%} of genuine ones)"
        )
        info["flag threshold"] = f"{cal['threshold']:.4g}{rates}"
    info["csa version"] = meta.get("csa_version", "?")
    return info


def _print_info(info: dict[str, Any]) -> None:
    """A two-column table; a value that is itself a mapping follows it as a titled list,
    so its long lines neither widen the table nor wrap inside it."""
    table = Table(show_header=False)
    lists = {key: value for key, value in info.items() if isinstance(value, dict)}
    for key, value in info.items():
        if key not in lists:
            table.add_row(key, str(value))
    console.print(table)
    for title, entries in lists.items():
        console.print(f"{title}:", highlight=False)
        for key, value in entries.items():
            console.print(f"  {key}: {escape(str(value))}", highlight=False, soft_wrap=True)


def _open(path: Path) -> tuple[Any, Any | None]:
    """(map, MultimodalEncoder or None): a file with encoders recorded gives the object."""
    from csa.modelfile import read
    from csa.multimodal import FILE_KIND, MultimodalEncoder

    model, extra = read(path)
    if isinstance(extra, dict) and extra.get("kind") == FILE_KIND:
        return model, MultimodalEncoder.load(path)
    return model, None


@app.command()
@_guarded
def info(model_path: Annotated[Path, typer.Argument(help="A model file.")]) -> None:
    """Describe a saved model: hyperparameters, fit, encoders (none are loaded)."""
    model, mm = _open(model_path)
    _print_info(_describe(model, None if mm is None else mm.metadata()))


# ------------------------------------------------------------ the one object's tasks
def _need_object(path: Path, command: str) -> Any:
    mm = _open(path)[1]
    if mm is None:
        from csa.errors import ModelFileError

        raise ModelFileError(
            f"{path} records no encoders (it was fitted on feature files), so `csa {command}` "
            "cannot read raw items with it; fit with --encoder-a/--encoder-b"
        )
    return mm


def _item_names(items: Any) -> list[str]:
    """How results name each item: the text itself, a file's id (``class/name.png``), a row."""
    if isinstance(items, np.ndarray):
        return [f"row {i}" for i in range(items.shape[0])]
    if items.modality == "text" and items.layout in ("lines", "list", "table", "hf-metadata"):
        return [str(item) for item in items.items]
    return list(items.ids)


@app.command()
@_guarded
def classify(
    model_path: Annotated[Path, typer.Option("--model", "-m", help="Model file with encoders.")],
    items: Annotated[
        Path, typer.Argument(help="Items to classify: raw (folder, .txt, .csv) or a .npy.")
    ],
    class_names: Annotated[Path, typer.Option(help="A .txt of class names, one a line.")],
    templates: Annotated[
        Path | None,
        typer.Option(help="A .txt of prompt templates with '{}' (default: by modality)."),
    ] = None,
    side: Annotated[Side, typer.Option(help="Which side the items are on.")] = Side.a,
    column: Annotated[str | None, typer.Option(help="CSV column of the items.")] = None,
    sim_dim: Annotated[int | None, typer.Option(min=1)] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write predictions here.")] = None,
) -> None:
    """Zero-shot classify items among class names, with the recorded encoders."""
    mm = _need_object(model_path, "classify")
    names = _read_lines(class_names, "class names")
    chosen = None if templates is None else _read_lines(templates, "templates")
    data = _read_side(items, column, mm.encoder_specs[side.value].modality)
    # Names and templates are checked before the prompts are encoded, the items after.
    classifier = mm.zero_shot_classifier(names, chosen, side=side.value, batch_size=batch_size)
    feats = _features(mm, side.value, data, batch_size)
    result = mm.classify_features(feats, classifier, sim_dim=sim_dim)
    _print_templates(result.templates, default=chosen is None)
    _print_zero_shot_map(mm.model, "b" if side.value == "a" else "a")
    table = Table("item", "class", "score", "probability")
    rows = []
    for i, name in enumerate(_item_names(data)):
        c = int(result.indices[i])
        prob = None if result.probabilities is None else float(result.probabilities[i, c])
        score = float(result.scores[i, c])
        rows.append({"item": name, "class": names[c], "score": score, "probability": prob})
        table.add_row(name, names[c], f"{score:.4f}", "-" if prob is None else f"{prob:.3f}")
    console.print(table)
    if not isinstance(data, np.ndarray) and data.labels is not None:
        from csa.datasets import match_labels
        from csa.errors import InputError

        try:
            truth = match_labels(data.labels, names)
        except InputError:
            pass  # folder names that are not class names: predictions only
        else:
            accuracy = float(np.mean(truth == result.indices))
            console.print(
                f"accuracy against the items' labels: {accuracy:.4f} ({len(truth)} items)"
            )
    if result.probabilities is None:
        warnings.warn("no probabilities: the model was fitted without held-out pairs", stacklevel=1)
    payload = {"class_names": names, "templates": list(result.templates), "predictions": rows}
    _write_json(json_out, {"task": "classify", **payload})


def _read_queries(path: Path, column: str | None, mm: Any, side: str) -> Any:
    """The queries, or an error naming ``--query-side`` when they are the other side's items.

    Read with the wrong side's modality, images look like "file paths given to a text
    encoder", whose own advice (use an image encoder) misses the actual fix.
    """
    from csa.errors import CSAError, InputError
    from csa.validation import other_side

    try:
        return _read_side(path, column, mm.encoder_specs[side].modality)
    except CSAError as exc:
        other = other_side(side)
        other_modality = mm.encoder_specs[other].modality
        if other_modality == mm.encoder_specs[side].modality:
            raise
        try:
            _read_side(path, column, other_modality)
        except CSAError:
            raise exc from None
        raise InputError(
            f"{path} holds {other_modality} items, the model's side {other}, but the queries "
            f"are read as side {side} ({mm.encoder_specs[side].modality}); pass "
            f"--query-side {other}"
        ) from None


@app.command()
@_guarded
def search(
    model_path: Annotated[Path, typer.Option("--model", "-m", help="Model file with encoders.")],
    queries: Annotated[Path, typer.Argument(help="Queries: raw (.txt, folder, .csv) or .npy.")],
    gallery: Annotated[Path, typer.Argument(help="Gallery items, on the other side.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Results per query.")] = 5,
    query_side: Annotated[Side, typer.Option(help="Which side the queries are on.")] = Side.b,
    column: Annotated[str | None, typer.Option(help="CSV column of the queries.")] = None,
    gallery_column: Annotated[str | None, typer.Option(help="CSV column of the gallery.")] = None,
    sim_dim: Annotated[int | None, typer.Option(min=1)] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Top-k gallery items for each query (FAISS when installed), with the recorded encoders."""
    from csa.validation import other_side

    mm = _need_object(model_path, "search")
    qs = query_side.value
    gs = other_side(qs)
    q_items = _read_queries(queries, column, mm, qs)
    g_items = _read_side(gallery, gallery_column, mm.encoder_specs[gs].modality)
    q = _features(mm, qs, q_items, batch_size)
    g = _features(mm, gs, g_items, batch_size)
    hits = mm.search_features(q, g, k, query_side=qs, sim_dim=sim_dim)
    q_names, g_names = _item_names(q_items), _item_names(g_items)
    table = Table("query", "rank", "item", "score")
    results = []
    for i, name in enumerate(q_names):
        found = [
            {"item": g_names[j], "id": int(j), "score": float(s)}
            for j, s in zip(hits.ids[i], hits.scores[i], strict=True)
        ]
        results.append({"query": name, "hits": found})
        for rank, hit in enumerate(found, 1):
            table.add_row(name if rank == 1 else "", str(rank), hit["item"], f"{hit['score']:.4f}")
    console.print(table)
    _write_json(json_out, {"task": "search", "k": k, "results": results})


@app.command()
@_guarded
def flag(
    model_path: Annotated[Path, typer.Option("--model", "-m", help="Model file with encoders.")],
    items_a: Annotated[Path, typer.Argument(help="Side-a items: raw or .npy.")],
    items_b: Annotated[Path, typer.Argument(help="Side-b items, paired with a's.")],
    threshold: Annotated[
        float | None, typer.Option(help="Flag below this score (default: the held-out one).")
    ] = None,
    column_a: Annotated[str | None, typer.Option()] = None,
    column_b: Annotated[str | None, typer.Option()] = None,
    sim_dim: Annotated[int | None, typer.Option(min=1)] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write scores here.")] = None,
) -> None:
    """Score each (a, b) pair and flag likely mismatches, with the recorded encoders."""
    mm = _need_object(model_path, "flag")
    threshold = mm.flag_threshold(threshold, sim_dim=sim_dim)  # refused before any encoding
    a = _read_side(items_a, column_a, mm.encoder_specs["a"].modality)
    b = _read_side(items_b, column_b, mm.encoder_specs["b"].modality)
    _same_count(items_a, a, items_b, b)
    fa = _features(mm, "a", a, batch_size)
    fb = _features(mm, "b", b, batch_size)
    result = mm.flag_features(fa, fb, threshold=threshold, sim_dim=sim_dim)
    table = Table("pair", "a", "b", "score", "flagged")
    names_a, names_b = _item_names(a), _item_names(b)
    rows = []
    for i, (score, flagged) in enumerate(zip(result.scores, result.flagged, strict=True)):
        rows.append(
            {"a": names_a[i], "b": names_b[i], "score": float(score), "flagged": bool(flagged)}
        )
        mark = "[red]yes[/]" if flagged else ""
        table.add_row(str(i), names_a[i], names_b[i], f"{score:.4f}", mark)
    console.print(table)
    console.print(
        f"{result.n_flagged} of {len(rows)} pairs flagged (threshold {result.threshold:.4g})"
    )
    _write_json(json_out, {"task": "flag", "threshold": result.threshold, "pairs": rows})


# ------------------------------------------------------------------------------- eval
def _eval_side(mm: Any, side: str, path: Path) -> Any:
    """An evaluation input, read but not encoded: a feature file, or raw items."""
    if _is_features(path):
        return _read_array(path)
    if mm is None:
        from csa.errors import InputError

        raise InputError(
            f"{path} is not a feature file (.npy/.parquet) and the model records no encoders "
            "to read raw items with"
        )
    return _read_items(path, None, mm.encoder_specs[side].modality)


def _eval_features(mm: Any, side: str, data: Any) -> np.ndarray:
    """Features of an evaluation input: arrays as given (bare models check them), items encoded."""
    if isinstance(data, np.ndarray):
        return data if mm is None else mm.check_features(side, data)
    return _features(mm, side, data, 32)


@eval_app.command("zero-shot")
@_guarded
def eval_zero_shot(
    model_path: Annotated[Path, typer.Option("--model", "-m", help="Model file.")],
    inputs: Annotated[Path, typer.Option(help="Inputs to classify: features or raw items.")],
    labels: Annotated[
        Path | None,
        typer.Option(
            help="True classes: ints (.npy/.txt), or names matched to classes (default: the "
            "class folders of an ImageFolder --inputs)."
        ),
    ] = None,
    classes: Annotated[
        Path | None, typer.Option(help="Side-b class embeddings (.npy), one row per class.")
    ] = None,
    class_names: Annotated[
        Path | None, typer.Option(help="A .txt of class names, one a line, in class order.")
    ] = None,
    templates: Annotated[
        Path | None, typer.Option(help="A .txt of prompt templates with '{}'.")
    ] = None,
    text_encoder: Annotated[
        str | None,
        typer.Option(help="Encoder of the class prompts (default: the model's encoder b)."),
    ] = None,
    allow_other_encoders: Annotated[
        bool, typer.Option(help="Allow a --text-encoder other than the recorded one.")
    ] = False,
    sim_dim: Annotated[int | None, typer.Option(min=1)] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Classify inputs by their best-scoring class text; top-1 and top-5 accuracy."""
    from csa.errors import EncoderError, InputError
    from csa.tasks import zero_shot_classify

    if classes is None and class_names is None:
        raise InputError("give --classes (class embeddings) or --class-names (a .txt of names)")
    model, mm = _open(model_path)
    if mm is None and classes is None and text_encoder is None:
        raise EncoderError(
            f"{model_path} records no encoders (fitted on feature files): name the encoder "
            "that made its side-b features with --text-encoder"
        )
    names = None if class_names is None else _read_lines(class_names, "class names")
    chosen = None if templates is None else _read_lines(templates, "templates")
    class_embeddings = None if classes is None else _read_array(classes)
    n_classes = len(names) if class_embeddings is None else class_embeddings.shape[0]
    if names is not None and len(names) != n_classes:
        raise InputError(
            f"{class_names} names {len(names)} classes but {classes} has {n_classes} rows"
        )
    data = _eval_side(mm, "a", inputs)
    item_labels = None if isinstance(data, np.ndarray) else data.labels
    if labels is None and item_labels is None:
        raise InputError(
            f"give --labels: {inputs} carries no labels (only an ImageFolder root, one "
            "subfolder per class, or a table with a label column does)"
        )
    hint = "give --class-names so each name is matched to its class"
    truth = _label_indices(item_labels if labels is None else labels, names, n_classes, hint)
    if truth.shape[0] != len(data):
        raise InputError(f"{inputs} gives {len(data)} inputs but there are {truth.shape[0]} labels")
    used: tuple[str, ...] = ()
    if class_embeddings is None:
        class_embeddings, used = _class_embeddings(
            mm, model_path, names, chosen, text_encoder, allow_other_encoders
        )
        _print_templates(used, default=chosen is None)
    _print_zero_shot_map(model, "b")
    features = _eval_features(mm, "a", data)
    ks = (1, 5) if n_classes > 5 else (1,)
    result = zero_shot_classify(model, features, class_embeddings, truth, top_k=ks, sim_dim=sim_dim)
    metrics: dict[str, Any] = {f"top-{k}": v for k, v in result.top_k.items()}
    metrics |= {"samples": result.n_samples, "classes": result.n_classes}
    _metrics_table("zero-shot classification", metrics)
    _write_json(json_out, {"task": "zero-shot", "templates": list(used), **result.to_dict()})


def _class_embeddings(
    mm: Any,
    path: Path,
    names: list[str] | None,
    templates: list[str] | None,
    text_encoder: str | None,
    allow_other: bool,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class prompts encoded by the recorded encoder b, or by ``text_encoder`` (checked).

    Returns the class embeddings and the templates they were built from.
    """
    from csa.multimodal import MultimodalEncoder

    if mm is None:
        from csa.encoders import get
        from csa.tasks import IMAGE_TEMPLATES, build_class_embeddings, check_templates

        chosen = check_templates(templates or IMAGE_TEMPLATES)
        return build_class_embeddings(get(text_encoder), names, chosen), chosen
    if text_encoder is not None:
        mm = MultimodalEncoder.load(path, encoder_b=text_encoder, allow_other_encoders=allow_other)
    classifier = mm.zero_shot_classifier(names, templates, side="a")
    return classifier.embeddings, classifier.templates


class Hubness(StrEnum):
    none = "none"
    csls = "csls"


@eval_app.command("retrieval")
@_guarded
def eval_retrieval(
    model_path: Annotated[Path, typer.Option("--model", "-m", help="Model file.")],
    features_a: Annotated[Path, typer.Argument(help="Side a: features or raw items.")],
    features_b: Annotated[Path, typer.Argument(help="Side b (item i matches a's item i).")],
    labels_a: Annotated[Path | None, typer.Option(help="Labels: equal labels match.")] = None,
    labels_b: Annotated[Path | None, typer.Option()] = None,
    exact_pairs: Annotated[
        bool,
        typer.Option(
            help="Count only item i as the match of item i, even where items repeat "
            "(by default identical items match too)."
        ),
    ] = False,
    sim_dim: Annotated[int | None, typer.Option(min=1)] = None,
    hubness: Annotated[
        Hubness,
        typer.Option(
            help="csls: rank by cross-domain similarity local scaling, so that items close "
            "to every query (hubs) stop topping every list."
        ),
    ] = Hubness.none,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Cross-modal retrieval both ways: Recall@1/5/10 and mAP (identical items match)."""
    from csa.tasks import evaluate_retrieval

    model, mm = _open(model_path)
    a = _eval_side(mm, "a", features_a)
    b = _eval_side(mm, "b", features_b)
    if labels_a is None and labels_b is None:  # with labels, the sides need not pair
        _same_count(features_a, a, features_b, b)
    codes_a = None if labels_a is None else _factor_labels(labels_a, len(a))
    codes_b = None if labels_b is None else _factor_labels(labels_b, len(b))
    result = evaluate_retrieval(
        model,
        _eval_features(mm, "a", a),
        _eval_features(mm, "b", b),
        labels_a=codes_a,
        labels_b=codes_b,
        identical=not exact_pairs,
        sim_dim=sim_dim,
        hubness=hubness.value,
    )
    metrics: dict[str, Any] = {}
    for direction, res in result.directions.items():
        metrics |= {f"{direction} R@{k}": v for k, v in res.recall.items()}
        metrics[f"{direction} mAP"] = res.mAP
    _metrics_table("retrieval", metrics)
    _write_json(json_out, {"task": "retrieval", **result.to_dict()})


def _factor_labels(path: Path, n: int) -> np.ndarray:
    """Labels compared only for equality (retrieval): their codes need no class order."""
    from csa.datasets.base import factorize_labels
    from csa.errors import InputError

    values = _label_values(path)
    if len(values) != n:
        raise InputError(f"{path} holds {len(values)} labels for {n} items")
    if all(isinstance(v, int | np.integer) for v in values):
        return np.asarray(values, dtype=np.int64)
    return factorize_labels(values)[0]


class DetectMode(StrEnum):
    out_of_context = "out-of-context"
    mislabelled = "mislabelled"


@eval_app.command("detect")
@_guarded
def eval_detect(
    model_path: Annotated[Path, typer.Option("--model", "-m", help="Model file.")],
    features_a: Annotated[Path, typer.Argument(help="Side a: features or raw items.")],
    features_b: Annotated[
        Path | None,
        typer.Argument(help="Side b paired with a (out-of-context mode)."),
    ] = None,
    mode: Annotated[DetectMode, typer.Option()] = DetectMode.out_of_context,
    labels: Annotated[
        Path | None, typer.Option(help="Class indices of a, one a line (mislabelled mode).")
    ] = None,
    classes: Annotated[
        Path | None, typer.Option(help="Class caption embeddings (mislabelled mode).")
    ] = None,
    flip_fraction: Annotated[float, typer.Option(help="Labels flipped (mislabelled).")] = 0.1,
    seed: Annotated[int, typer.Option()] = 0,
    sim_dim: Annotated[int | None, typer.Option(min=1)] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Mismatch detection as ROC AUC: shuffled captions, or flipped labels."""
    from csa.errors import InputError
    from csa.tasks import detect_mislabelled, detect_out_of_context
    from csa.validation import check_fraction, check_seed

    check_seed(seed, "--seed")
    model, mm = _open(model_path)
    a = _eval_side(mm, "a", features_a)
    if mode is DetectMode.out_of_context:
        if features_b is None:
            raise InputError("out-of-context detection needs the paired side b")
        b = _eval_side(mm, "b", features_b)
        _same_count(features_a, a, features_b, b)
        result = detect_out_of_context(
            model,
            _eval_features(mm, "a", a),
            _eval_features(mm, "b", b),
            seed=seed,
            sim_dim=sim_dim,
        )
    else:
        check_fraction(flip_fraction, "--flip-fraction", allow_zero=False)
        if labels is None or classes is None:
            raise InputError("mislabelled detection needs --labels and --classes")
        class_embeddings = _read_array(classes)
        hint = "mislabelled detection takes class indices (rows of --classes), not names"
        truth = _label_indices(labels, None, class_embeddings.shape[0], hint)
        if truth.shape[0] != len(a):
            raise InputError(f"{labels} holds {truth.shape[0]} labels for {len(a)} inputs")
        result = detect_mislabelled(
            model,
            _eval_features(mm, "a", a),
            truth,
            class_embeddings,
            flip_fraction=flip_fraction,
            seed=seed,
            sim_dim=sim_dim,
        )
    _metrics_table(
        f"detection ({result.protocol})",
        {"ROC AUC": result.auc, "genuine": result.n_genuine, "mismatched": result.n_mismatched},
    )
    _write_json(json_out, {"task": "detect", **result.to_dict()})


# ------------------------------------------------------------------- share and deploy
class ExportFormat(StrEnum):
    auto = "auto"
    pretrained = "pretrained"
    sentence_transformers = "sentence-transformers"
    onnx = "onnx"
    torch = "torch"


@app.command()
@_guarded
def export(
    model_path: Annotated[
        Path, typer.Argument(help="A model file with encoders, or a save_pretrained folder.")
    ],
    output: Annotated[Path, typer.Argument(help="The folder or file to write.")],
    side: Annotated[
        Side | None, typer.Option(help="The tower to export (not for pretrained).")
    ] = None,
    format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="pretrained: the whole model as a Hugging Face style folder; a tower as a "
            "sentence-transformers folder, ONNX or a torch.export program; auto: by the "
            "output's suffix (.onnx, .pt2) or the side's encoder.",
        ),
    ] = ExportFormat.auto,
    sim_dim: Annotated[
        int | None, typer.Option(help="Tower: canonical dims to keep (csa, cca).")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="pretrained: the data set's name, for the model card.")
    ] = None,
) -> None:
    """Share a model (a model card folder) or export one tower to run without csa."""
    from csa.errors import ParameterError
    from csa.multimodal import MultimodalEncoder

    if model_path.is_dir():
        mm = MultimodalEncoder.from_pretrained(model_path)
    else:
        mm = _need_object(model_path, "export")
    if format == ExportFormat.pretrained:
        if side is not None or sim_dim is not None:
            raise ParameterError("--side and --sim-dim apply to towers, not to --format pretrained")
        folder = mm.save_pretrained(output, dataset=dataset)
        sizes = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}
        console.print(
            f"saved {mm!r} -> {folder}/ " + ", ".join(f"{k} ({v} B)" for k, v in sizes.items())
        )
        return
    if side is None:
        raise ParameterError("give --side a or --side b: which tower to export")
    if dataset is not None:
        raise ParameterError("--dataset names the pairs in a model card: use --format pretrained")
    with err_console.status(f"exporting side {side.value}..."):
        written = mm.export(side.value, output, format=format.value, sim_dim=sim_dim)
    spec = mm.encoder_specs[side.value]
    console.print(
        f"exported side {side.value} ({spec.name} + {type(mm.model).__name__} map) -> {written}"
    )


# ------------------------------------------------------------------------ embedding cache
cache_app = typer.Typer(help="Inspect or prune the embedding cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
_CACHE_DIR_HELP = "Cache root (holds embeddings/); default $CSA_CACHE_DIR or ~/.cache/csa."


@cache_app.command("info")
@_guarded
def cache_info_command(
    cache_dir: Annotated[Path | None, typer.Option(help=_CACHE_DIR_HELP)] = None,
) -> None:
    """Show where the embedding cache is, its size, and its entries per encoder."""
    import time

    from csa.encoders import cache_info
    from csa.encoders.store import format_bytes

    info = cache_info(cache_dir)
    if not info.exists:
        console.print(f"no embedding cache at {info.path} (it is created on first use)")
    else:
        console.print(
            f"{info.path}: {info.entries} embeddings, {format_bytes(info.file_bytes)} on disk"
        )
        table = Table("encoder", "dim", "entries", "vectors", "last used")
        for row in info.encoders:
            used = (
                "-"
                if row.last_used is None
                else time.strftime("%Y-%m-%d %H:%M", time.localtime(row.last_used))
            )
            table.add_row(
                row.name, str(row.dim), str(row.entries), format_bytes(row.vector_bytes), used
            )
        console.print(table)
    if info.legacy_files:
        console.print(
            f"{info.legacy_files} old whole-list entries ({format_bytes(info.legacy_bytes)}) "
            "are no longer read; `csa cache prune` removes them"
        )


@cache_app.command("prune")
@_guarded
def cache_prune_command(
    older_than: Annotated[
        float | None, typer.Option(min=0, help="Drop entries not used for this many days.")
    ] = None,
    max_size: Annotated[
        str | None, typer.Option(help="Then drop the least recently used down to e.g. 500MB.")
    ] = None,
    encoder: Annotated[str | None, typer.Option(help="Drop every entry of this encoder.")] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Delete the whole cache file (also a damaged one).")
    ] = False,
    cache_dir: Annotated[Path | None, typer.Option(help=_CACHE_DIR_HELP)] = None,
) -> None:
    """Remove damaged and old entries (and those the options select), then compact."""
    from csa.encoders import prune_cache
    from csa.encoders.store import format_bytes, parse_size

    report = prune_cache(
        cache_dir,
        older_than_days=older_than,
        max_bytes=None if max_size is None else parse_size(max_size),
        encoder=encoder,
        everything=everything,
    )
    what = (
        "removed the cache file"
        if report.removed_store
        else (f"removed {report.removed_entries} entries and {report.removed_damaged} damaged ones")
    )
    console.print(
        f"{report.path}: {what}, {report.removed_legacy_files} old whole-list files; "
        f"freed {format_bytes(report.freed_bytes)}"
    )


# ------------------------------------------------------------------------- listings
@app.command()
def encoders() -> None:
    """List the registered encoders."""
    from csa.encoders import describe

    table = Table("name", "description")
    for name, text in describe().items():
        table.add_row(name, text)
    console.print(table)


@app.command()
def datasets() -> None:
    """List the bundled and registered data sets."""
    from csa.datasets import describe

    table = Table("name", "description")
    for name, text in describe().items():
        table.add_row(name, text)
    console.print(table)


# ------------------------------------------------------------------------------- plugins
# Applications built on csa (the bundled demo among them) add commands through the
# ``csa.commands`` entry-point group; the library never imports them itself.
def _add_plugin_commands() -> None:
    from importlib.metadata import entry_points

    for entry in entry_points(group="csa.commands"):
        try:
            command = entry.load()
        except ImportError as exc:  # an application installed without its extra
            message = f"the '{entry.name}' command is unavailable: {exc}"

            def unavailable(message: str = message) -> None:
                _fail(message)

            app.command(entry.name, help=message)(unavailable)
            continue
        app.command(entry.name)(command)


_add_plugin_commands()


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
