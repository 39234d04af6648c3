"""The ``csa`` command: embed, fit, eval, info, demo.

Every failure a user can cause (a missing file, a wrong shape, an unknown encoder)
arrives as a :class:`csa.CSAError` and is printed as one red line with exit code 2,
never as a traceback. Results go to the screen as a table and, with ``--json``, to
disk.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Canonical Similarity Analysis: a multimodal encoder from two unimodal ones.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Evaluate a fitted model.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
console = Console()
err_console = Console(stderr=True)


class Method(StrEnum):
    csa = "csa"
    cca = "cca"
    asif = "asif"
    linear_map = "linear-map"


def _fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _guarded(func: Any) -> Any:
    """Turn csa's own errors into one clear line instead of a traceback."""
    import functools

    from csa.errors import CSAError

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CSAError as exc:
            _fail(str(exc))

    return wrapper


def _read_array(path: Path) -> np.ndarray:
    from csa.datasets.embeddings import read_features

    return read_features(path)[0]


def _read_labels(path: Path) -> np.ndarray:
    from csa.datasets.base import factorize_labels
    from csa.datasets.embeddings import read_labels

    values = read_labels(path)
    if all(isinstance(v, int | np.integer) for v in values):
        return np.asarray(values, dtype=np.int64)
    return factorize_labels(values)[0]


def _write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=float))
    console.print(f"wrote {path}")


def _metrics_table(title: str, metrics: dict[str, float]) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


def _parse_ridge(ridge: str) -> Any:
    parts = [p.strip() for p in ridge.split(",")]
    values: list[Any] = []
    for part in parts:
        try:
            values.append(part if part == "auto" else float(part))
        except ValueError:
            _fail(f"--ridge takes 'auto', a number, or two of them as 'a,b'; got {ridge!r}")
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return tuple(values)
    _fail(f"--ridge takes at most two values (a,b); got {ridge!r}")
    return None


# ------------------------------------------------------------------------------ embed
def _read_items(source: Path, column: str | None) -> list[Any]:
    from csa.errors import DatasetError

    if source.is_dir():
        from csa.encoders.images import IMAGE_SUFFIXES

        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DatasetError(f"{source} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return [str(p) for p in files]
    if not source.is_file():
        raise DatasetError(f"input {source} not found")
    if source.suffix.lower() == ".csv":
        import csv

        with source.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            name = column or next((c for c in ("text", "caption", "file") if c in fields), None)
            if name not in fields:
                raise DatasetError(
                    f"{source} has no column {name!r}; columns: {', '.join(fields)} "
                    "(choose one with --column)"
                )
            values = [row[name] for row in reader]
        if name == "file":  # image paths, relative to the CSV
            return [str((source.parent / v).resolve()) for v in values]
        return values
    return [line for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]


@app.command()
@_guarded
def embed(
    encoder: Annotated[
        str, typer.Argument(help="Encoder name, e.g. minilm-l6 (see `csa encoders`).")
    ],
    source: Annotated[
        Path, typer.Argument(help="A .txt (one item a line), a .csv, or a folder of images.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the .npy.")],
    column: Annotated[str | None, typer.Option(help="CSV column to encode.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    cache_dir: Annotated[Path | None, typer.Option(help="Embedding cache folder.")] = None,
) -> None:
    """Encode raw items with a frozen encoder into an (n, dim) float32 .npy file."""
    from csa.encoders import cached_encode, get

    items = _read_items(source, column)
    enc = get(encoder)
    features = cached_encode(enc, items, cache_dir=cache_dir, batch_size=batch_size)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.save(output, features)
    console.print(f"encoded {len(items)} items with {enc.name} -> {output} {features.shape}")


# -------------------------------------------------------------------------------- fit
@app.command()
@_guarded
def fit(
    features_a: Annotated[Path, typer.Argument(help="Side-a features: .npy or .parquet.")],
    features_b: Annotated[Path, typer.Argument(help="Side-b features, row i paired with a's.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write.")],
    method: Annotated[Method, typer.Option(help="Which model to fit.")] = Method.csa,
    ridge: Annotated[str, typer.Option(help="'auto', a number, or 'a,b'.")] = "auto",
    sim_dim: Annotated[int | None, typer.Option(help="Default canonical dims (CSA/CCA).")] = None,
    chunk_rows: Annotated[
        int, typer.Option(min=1, help="Rows per chunk when streaming from disk.")
    ] = 65536,
    k: Annotated[int, typer.Option(help="ASIF: anchors kept per item.")] = 800,
    p: Annotated[float, typer.Option(help="ASIF: power applied to similarities.")] = 8.0,
) -> None:
    """Fit a model on paired features, streaming from disk in chunks."""
    import csa
    from csa.scale.streaming import fit_files

    models = {
        Method.csa: lambda: csa.CSA(sim_dim=sim_dim, ridge=_parse_ridge(ridge)),
        Method.cca: lambda: csa.CCA(sim_dim=sim_dim, ridge=_parse_ridge(ridge)),
        Method.asif: lambda: csa.ASIF(k=k, p=p),
        Method.linear_map: lambda: csa.LinearMap(ridge=_parse_ridge(ridge)),
    }
    model = fit_files(models[method](), features_a, features_b, chunk_rows=chunk_rows)
    model.save(output)
    console.print(f"fitted {model!r} on {model.n_pairs_seen_} pairs -> {output}")
    _print_model(model)


def _print_model(model: Any) -> None:
    info: dict[str, Any] = {
        "class": type(model).__name__,
        "pairs": model.n_pairs_seen_,
        "features a": model.n_features_a_,
        "features b": model.n_features_b_,
    }
    if hasattr(model, "canonical_correlations_"):
        rho = model.canonical_correlations_
        info["canonical dims"] = int(rho.shape[0])
        info["ridge (relative)"] = ", ".join(f"{r:.3g}" for r in model.ridge_)
        info["top correlations"] = ", ".join(f"{r:.3f}" for r in rho[:8])
    table = Table(show_header=False)
    for key, value in info.items():
        table.add_row(key, str(value))
    console.print(table)


@app.command()
@_guarded
def info(model_path: Annotated[Path, typer.Argument(help="A model file.")]) -> None:
    """Describe a saved model."""
    import csa

    _print_model(csa.load(model_path))


# ------------------------------------------------------------------------------- eval
def _load_model(path: Path) -> Any:
    import csa

    return csa.load(path)


def _sim_dim_option(sim_dim: int | None) -> dict[str, Any]:
    return {} if sim_dim is None else {"sim_dim": sim_dim}


@eval_app.command("zero-shot")
@_guarded
def eval_zero_shot(
    model_path: Annotated[Path, typer.Option("--model", "-m", help="Model file.")],
    inputs: Annotated[Path, typer.Option(help="Side-a features of the inputs to classify.")],
    labels: Annotated[Path, typer.Option(help="True classes: .npy of ints, or .txt names.")],
    classes: Annotated[
        Path | None, typer.Option(help="Side-b class embeddings (.npy), one row per class.")
    ] = None,
    class_names: Annotated[
        Path | None, typer.Option(help="A .txt of class names, encoded via --text-encoder.")
    ] = None,
    text_encoder: Annotated[str, typer.Option(help="Encoder for --class-names.")] = "minilm-l6",
    sim_dim: Annotated[int | None, typer.Option()] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Classify inputs by their best-scoring class text; top-1 and top-5 accuracy."""
    from csa.errors import InputError
    from csa.tasks import IMAGE_TEMPLATES, build_class_embeddings, zero_shot_classify

    if (classes is None) == (class_names is None):
        raise InputError("give exactly one of --classes (embeddings) or --class-names (text)")
    model = _load_model(model_path)
    if classes is not None:
        class_embeddings = _read_array(classes)
    else:
        from csa.encoders import get

        names = [n for n in class_names.read_text(encoding="utf-8").splitlines() if n.strip()]
        class_embeddings = build_class_embeddings(get(text_encoder), names, IMAGE_TEMPLATES)
    n_classes = class_embeddings.shape[0]
    ks = (1, 5) if n_classes > 5 else (1,)
    result = zero_shot_classify(
        model,
        _read_array(inputs),
        class_embeddings,
        _read_labels(labels),
        top_k=ks,
        **_sim_dim_option(sim_dim),
    )
    metrics = {f"top-{k}": v for k, v in result.top_k.items()}
    metrics |= {"samples": result.n_samples, "classes": result.n_classes}
    _metrics_table("zero-shot classification", metrics)
    _write_json(json_out, {"task": "zero-shot", **result.to_dict()})


@eval_app.command("retrieval")
@_guarded
def eval_retrieval(
    model_path: Annotated[Path, typer.Option("--model", "-m", help="Model file.")],
    features_a: Annotated[Path, typer.Argument(help="Side-a features.")],
    features_b: Annotated[Path, typer.Argument(help="Side-b features (row i matches a's).")],
    labels_a: Annotated[Path | None, typer.Option(help="Labels: equal labels match.")] = None,
    labels_b: Annotated[Path | None, typer.Option()] = None,
    sim_dim: Annotated[int | None, typer.Option()] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Cross-modal retrieval both ways: Recall@1/5/10 and mAP."""
    from csa.tasks import evaluate_retrieval

    result = evaluate_retrieval(
        _load_model(model_path),
        _read_array(features_a),
        _read_array(features_b),
        labels_a=None if labels_a is None else _read_labels(labels_a),
        labels_b=None if labels_b is None else _read_labels(labels_b),
        **_sim_dim_option(sim_dim),
    )
    metrics: dict[str, Any] = {}
    for direction, res in result.directions.items():
        metrics |= {f"{direction} R@{k}": v for k, v in res.recall.items()}
        metrics[f"{direction} mAP"] = res.mAP
    _metrics_table("retrieval", metrics)
    _write_json(json_out, {"task": "retrieval", **result.to_dict()})


class DetectMode(StrEnum):
    out_of_context = "out-of-context"
    mislabelled = "mislabelled"


@eval_app.command("detect")
@_guarded
def eval_detect(
    model_path: Annotated[Path, typer.Option("--model", "-m", help="Model file.")],
    features_a: Annotated[Path, typer.Argument(help="Side-a features.")],
    features_b: Annotated[
        Path | None,
        typer.Argument(help="Side-b features paired with a (out-of-context mode)."),
    ] = None,
    mode: Annotated[DetectMode, typer.Option()] = DetectMode.out_of_context,
    labels: Annotated[Path | None, typer.Option(help="Classes of a (mislabelled mode).")] = None,
    classes: Annotated[
        Path | None, typer.Option(help="Class caption embeddings (mislabelled mode).")
    ] = None,
    flip_fraction: Annotated[float, typer.Option(help="Labels flipped (mislabelled).")] = 0.1,
    seed: Annotated[int, typer.Option()] = 0,
    sim_dim: Annotated[int | None, typer.Option()] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Mismatch detection as ROC AUC: shuffled captions, or flipped labels."""
    from csa.errors import InputError
    from csa.tasks import detect_mislabelled, detect_out_of_context

    model = _load_model(model_path)
    a = _read_array(features_a)
    if mode is DetectMode.out_of_context:
        if features_b is None:
            raise InputError("out-of-context detection needs the paired side-b features")
        result = detect_out_of_context(
            model, a, _read_array(features_b), seed=seed, **_sim_dim_option(sim_dim)
        )
    else:
        if labels is None or classes is None:
            raise InputError("mislabelled detection needs --labels and --classes")
        result = detect_mislabelled(
            model,
            a,
            _read_labels(labels),
            _read_array(classes),
            flip_fraction=flip_fraction,
            seed=seed,
            **_sim_dim_option(sim_dim),
        )
    _metrics_table(
        f"detection ({result.protocol})",
        {"ROC AUC": result.auc, "genuine": result.n_genuine, "mismatched": result.n_mismatched},
    )
    _write_json(json_out, {"task": "detect", **result.to_dict()})


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
