"""Sharing a fitted MultimodalEncoder by name: a model folder, a model card, the Hub.

CLIP users pass models around as Hugging Face folders and repositories: the weights
as safetensors, a ``config.json`` that says what the model is, and a ``README.md``
model card. :func:`save_pretrained` writes that layout; :func:`from_pretrained` reads
a folder or a Hub repository id; :func:`push_to_hub` uploads one.

    folder/
      model.safetensors   the csa model file: the map, both encoders' records, the
                          held-out calibration, under csa's own checksum
      config.json         what the model is, readable without csa (and its weights'
                          SHA-256, so a folder mixing two saves is refused)
      README.md           the model card, generated from the fitted values

The model file stays the one source of truth: ``config.json`` and the card are
written from it and never read back into the model.

The Hub needs the network. Without it every call here fails within 4 s (a 1.5 s
connection probe, then one metadata request, both bounded by threads), never after
the libraries' retries, with the two ways out: a local folder, or the Hugging Face
cache filled while online.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from csa.errors import ModelFileError, NotFittedError, ParameterError

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
FILES = (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME)
CONFIG_KIND = "csa-multimodal-encoder"
CONFIG_VERSION = 1
# The connection probe waits 1.5 s; name resolution is not bounded by it, so the
# whole probe runs in a thread given this long before the Hub counts as unreachable.
PROBE_BUDGET_S = 3.0
# Seconds for everything asked of the Hub before a download or an upload starts.
HUB_BUDGET_S = 4.0
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


# --------------------------------------------------------------------------- config
def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _number(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [_number(v) for v in value]
    return value


def _weighting(model: Any) -> str | None:
    from csa.model import CCA, CSA

    if isinstance(model, CCA):
        return "equal (plain CCA cosine)"
    if isinstance(model, CSA):
        return {
            "auto": "chosen per question (the map rows below)",
            "canonical": "canonical correlations of the fit pairs",
            "heldout": "mean correlations on held-out folds",
        }.get(model.weights, str(model.weights))
    return None


def fitted_values(model: Any) -> dict[str, Any]:
    """The hyperparameters a fit settled on, read from the model's public attributes."""
    out: dict[str, Any] = {"method": type(model).__name__}
    for name in ("ridge_", "sim_dim_", "n_components_", "n_pairs_seen_", "k", "p"):
        try:
            value = getattr(model, name)
        except AttributeError:  # NotFittedError is one; a model without the attribute too
            continue
        out[name.rstrip("_")] = _number(value)
    weighting = _weighting(model)
    if weighting is not None:
        out["weighting"] = weighting
    if hasattr(model, "map_choices") and getattr(model, "is_fitted", False):
        out["maps"] = model.map_choices()
    return out


def build_config(mm: Any, weights_sha256: str, dataset: str | None) -> dict[str, Any]:
    """``config.json``: what the model is, for people and tools that do not run csa."""
    import csa

    fit = dict(mm.fit_info_)
    specs = mm.encoder_specs
    config: dict[str, Any] = {
        "library_name": "csa",
        "kind": CONFIG_KIND,
        "config_version": CONFIG_VERSION,
        "csa_version": csa.__version__,
        "encoders": {side: specs[side].to_dict() for side in ("a", "b")},
        "map": fitted_values(mm.model),
        "params": _number(mm.model.get_params()),
        "pairs": {
            key: fit[key] for key in ("n_pairs", "n_fit", "n_held_out", "seed") if key in fit
        },
        "calibration": None if mm.calibration_ is None else mm.calibration_.to_dict(),
        "dataset": dataset,
        "weights": {"file": WEIGHTS_NAME, "sha256": weights_sha256},
    }
    return json.loads(json.dumps(config, default=_number))


# ----------------------------------------------------------------------------- card
def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return str(value)


def _encoder_rows(config: dict[str, Any]) -> list[str]:
    rows = [
        "| side | encoder | registry name | options | modality | feature dim |",
        "|---|---|---|---|---|---|",
    ]
    for side in ("a", "b"):
        spec = config["encoders"][side]
        options = json.dumps(spec.get("options") or {}, sort_keys=True)
        rows.append(
            f"| {side} | `{spec['name']}` | `{spec.get('registry')}` | `{options}` | "
            f"{spec.get('modality') or 'unknown'} | {spec['dim']} |"
        )
    return rows


def _map_rows(config: dict[str, Any]) -> list[str]:
    values = dict(config["map"])
    pairs = config["pairs"]
    rows = ["| | |", "|---|---|", f"| method | {values.pop('method')} |"]
    if "n_fit" in pairs:
        rows.append(
            f"| pairs | {pairs['n_pairs']} ({pairs['n_fit']} fitted, "
            f"{pairs['n_held_out']} held out for calibration) |"
        )
    elif "n_pairs_seen" in values:
        rows.append(f"| pairs | {values['n_pairs_seen']} (fitted) |")
    values.pop("n_pairs_seen", None)
    maps = values.pop("maps", {})
    labels = {
        "ridge": "ridge (relative to each side's mean variance)",
        "sim_dim": "sim_dim (canonical dimensions scored)",
        "n_components": "canonical dimensions",
        "weighting": "weighting",
        "k": "k (anchors kept per item)",
        "p": "p (power of similarities)",
    }
    for key, value in values.items():
        rows.append(f"| {labels.get(key, key)} | {_fmt(value)} |")
    rows += [f"| map for {question} | {answer} |" for question, answer in maps.items()]
    return rows


def _calibration_lines(config: dict[str, Any]) -> list[str]:
    cal = config["calibration"]
    if cal is None:
        return [
            "Not calibrated: the model was fitted on every pair (`held_out=0`), so "
            "`classify` gives no probabilities and `flag` needs an explicit `threshold=`."
        ]
    at = "the default sim_dim" if cal["sim_dim"] is None else f"sim_dim={cal['sim_dim']}"
    return [
        f"On {cal['n_pairs']} held-out pairs the fit never saw (at {at}):",
        "",
        "| | |",
        "|---|---|",
        f"| softmax temperature | {_fmt(cal['temperature'])} |",
        f"| mismatch threshold (score) | {_fmt(cal['threshold'])} |",
        f"| genuine pairs kept (true positive rate) | {_fmt(cal['true_positive_rate'])} |",
        f"| mismatched pairs kept (false positive rate) | {_fmt(cal['false_positive_rate'])} |",
    ]


def _front_matter(config: dict[str, Any]) -> list[str]:
    modalities = sorted(
        {m for m in (config["encoders"][s].get("modality") for s in ("a", "b")) if m}
    )
    tags = ["csa", "canonical-similarity-analysis", "multimodal", *modalities]
    lines = ["---", "library_name: csa", "tags:", *[f"- {t}" for t in tags]]
    if config["dataset"]:
        lines += ["datasets:", f"- {json.dumps(config['dataset'])}"]
    return [*lines, "---"]


def model_card(config: dict[str, Any], repo_id: str | None = None) -> str:
    """The ``README.md`` model card, every figure taken from ``config``."""
    a, b = (config["encoders"][s]["name"] for s in ("a", "b"))
    where = repo_id or "path/to/this/folder"
    dataset = config["dataset"] or "not recorded (pass dataset= to save_pretrained)"
    pairs = config["pairs"].get("n_pairs", config["map"].get("n_pairs_seen"))
    lines = [
        *_front_matter(config),
        "",
        f"# {a} + {b}: a csa multimodal encoder",
        "",
        f"Two frozen unimodal encoders and a {config['map']['method']} map fitted between "
        f"their features by [csa](https://pypi.org/project/csa/) {config['csa_version']}: "
        "a CLIP-like model whose scores are dot products of the two sides' shared-space "
        "vectors. No encoder was trained.",
        "",
        "## Encoders",
        "",
        *_encoder_rows(config),
        "",
        "## The map",
        "",
        *_map_rows(config),
        "",
        "## Held-out calibration",
        "",
        *_calibration_lines(config),
        "",
        "## Training data",
        "",
        f"Data set: {dataset}.",
        "",
        "## Use",
        "",
        "```python",
        "import csa",
        f'model = csa.MultimodalEncoder.from_pretrained("{where}")',
        "vectors_a = model.encode_a(items_a)  # side a items, as the encoder above takes them",
        "vectors_b = model.encode_b(items_b)",
        "scores = vectors_a @ vectors_b.T     # the model's scores",
        "```",
        "",
        "Both encoders are rebuilt from their records above when first used; they must be "
        "installed or downloadable on the machine that loads the model.",
        "",
        "## Intended use and limits",
        "",
        "- Intended for zero-shot classification, cross-modal retrieval and mismatch "
        "detection on data like the fitting pairs, between the two encoders named above "
        "and no others: features of another encoder, even of the same width, give "
        "meaningless scores.",
        f"- The map is linear and was fitted on {pairs} pairs; it can only align what both "
        "frozen encoders already represent, and it inherits their biases and those of "
        "the pairs.",
        "- Scores are not CLIP cosines: they lie in [-w, w] for the largest weight w, and "
        "the calibration figures above hold for data drawn like the held-out pairs; "
        "check them on your own data before relying on a threshold.",
        "- Not for decisions about people or for safety-critical use without an "
        "evaluation on the data it will see.",
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- save
def save_pretrained(
    mm: Any, folder: str | Path, *, dataset: str | None = None, repo_id: str | None = None
) -> Path:
    """Write ``mm`` as a model folder (weights, ``config.json``, ``README.md``); returns it.

    ``dataset`` names the pairs the map was fitted on, for the card; ``repo_id`` is
    the name the card's usage example loads. Files already in the folder that are not
    these three are left alone, as Hugging Face's ``save_pretrained`` does.
    """
    from csa.files import atomic_write

    if not mm.is_fitted:
        raise NotFittedError("this MultimodalEncoder is not fitted yet: there is nothing to save")
    if dataset is not None and (not isinstance(dataset, str) or not dataset.strip()):
        raise ParameterError(f"dataset must be a non-empty name; got {dataset!r}")
    target = Path(folder).expanduser()
    if target.exists() and not target.is_dir():
        raise ModelFileError(f"cannot save a model folder at {target}: it is a file")
    weights = mm.save(target / WEIGHTS_NAME)
    config = build_config(mm, _sha256(weights), dataset)

    def text_writer(text: str) -> Callable[[Path], None]:
        return lambda tmp: tmp.write_text(text, encoding="utf-8")

    config_text = json.dumps(config, indent=2, sort_keys=False) + "\n"
    atomic_write(target / CONFIG_NAME, text_writer(config_text), error=ModelFileError)
    card = model_card(config, repo_id)
    atomic_write(target / CARD_NAME, text_writer(card), error=ModelFileError, what="model card")
    return target


# ----------------------------------------------------------------------------- load
def read_config(folder: Path) -> dict[str, Any]:
    """A folder's ``config.json``, checked to be csa's and to match its weights file."""
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise ModelFileError(
            f"{folder} has no {CONFIG_NAME}: it is not a folder written by save_pretrained "
            f"(a single .csa file loads with MultimodalEncoder.load)"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(config, dict) or config.get("kind") != CONFIG_KIND:
        raise ModelFileError(
            f"{path} does not describe a csa multimodal encoder (its 'kind' is "
            f"{config.get('kind') if isinstance(config, dict) else None!r}); it may be "
            "another library's model"
        )
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise ModelFileError(f"{folder} has {CONFIG_NAME} but no {WEIGHTS_NAME}")
    recorded = (config.get("weights") or {}).get("sha256")
    if recorded != _sha256(weights):
        raise ModelFileError(
            f"{weights} is not the file {CONFIG_NAME} was written with (SHA-256 differs): "
            "the folder mixes two saves; save the model again"
        )
    return config


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def from_pretrained(
    folder_or_repo: str | Path,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    hub_cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    loader: Callable[..., Any],
    **load_options: Any,
) -> Any:
    """Load a model folder, or a Hub repository id (``"user/name"``) downloaded on demand.

    ``load_options`` go to :meth:`MultimodalEncoder.load` (``cache_dir``, ``encoder_a``,
    ``allow_other_encoders``...). Offline, a repository id loads from the Hugging Face
    cache if it is there and fails at once otherwise.
    """
    name = str(folder_or_repo)
    local = Path(name).expanduser()
    if local.is_dir():
        folder = local
    elif local.exists():
        raise ModelFileError(
            f"{local} is a file; from_pretrained takes a model folder or a Hub repository "
            "id (a single .csa file loads with MultimodalEncoder.load)"
        )
    elif isinstance(folder_or_repo, Path) or _looks_like_path(name) or not _REPO_ID.match(name):
        raise ModelFileError(f"no model folder at {local} (and {name!r} is not a Hub repo id)")
    else:
        folder = download(
            name,
            revision=revision,
            token=token,
            cache_dir=hub_cache_dir,
            local_files_only=local_files_only,
        )
    read_config(folder)
    return loader(folder / WEIGHTS_NAME, **load_options)


# ------------------------------------------------------------------------------ hub
def _hub() -> Any:
    from csa.extras import require

    return require("huggingface_hub", extra="encoders", purpose="sharing models on the Hub")


def hub_offline() -> bool:
    """Whether the Hugging Face libraries were told to stay offline (``HF_HUB_OFFLINE``)."""
    from csa.encoders._hub import hub_offline as offline

    return offline()


def hub_answers(budget_s: float = PROBE_BUDGET_S) -> bool:
    """Whether the Hub accepts a connection, decided within ``budget_s`` seconds."""
    from csa.encoders._hub import hub_reachable

    answer: list[bool] = []
    probe = threading.Thread(target=lambda: answer.append(hub_reachable()), daemon=True)
    probe.start()
    probe.join(budget_s)
    return bool(answer and answer[0])


def _bounded(call: Callable[[], Any], budget_s: float) -> Any:
    """What ``call`` returns or raises (the exception as a value), within ``budget_s`` s."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(call())
        except Exception as exc:  # handed back to the caller, which names it
            box.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(budget_s)
    return box[0] if box else TimeoutError(f"no answer within {budget_s:g} s")


def _hub_reason(repo_id: str, revision: str | None, token: Any, *, pushing: bool) -> str | None:
    """Why the Hub cannot serve ``repo_id`` now (None when it can), decided in seconds.

    A connection probe first; it can pass where HTTP then hangs (a proxy that accepts
    every connection), so one metadata request follows under what is left of
    :data:`HUB_BUDGET_S`. A repository the Hub does not have is an error when loading
    and expected when pushing (the push creates it).
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    if hub_offline():
        return "offline mode (HF_HUB_OFFLINE=1)"
    start = time.monotonic()
    if not hub_answers(PROBE_BUDGET_S):
        return "the Hugging Face Hub cannot be reached (no network?)"
    left = HUB_BUDGET_S - (time.monotonic() - start)
    if left < 0.5:
        return "the Hugging Face Hub answers too slowly"
    api = HfApi(token=token)
    answer = _bounded(lambda: api.model_info(repo_id, revision=revision, timeout=left), left)
    if isinstance(answer, RepositoryNotFoundError | RevisionNotFoundError):
        if pushing:
            return None
        raise ModelFileError(
            f"the Hugging Face Hub has no repository {repo_id!r}"
            + ("" if revision is None else f" at revision {revision!r}")
            + " (or it is private and no token was given)"
        )
    if isinstance(answer, Exception):
        return f"the Hugging Face Hub does not answer ({type(answer).__name__})"
    return None


def _from_cache(hub: Any, repo_id: str, **options: Any) -> Path | None:
    try:
        return Path(hub.snapshot_download(repo_id, local_files_only=True, **options))
    except Exception:  # not cached: the caller explains what to do
        return None


def download(
    repo_id: str,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
) -> Path:
    """The local folder of Hub repository ``repo_id``: cached, or downloaded now."""
    hub = _hub()
    options: dict[str, Any] = {
        "revision": revision,
        "cache_dir": None if cache_dir is None else str(cache_dir),
        "allow_patterns": list(FILES),
    }
    if local_files_only:
        reason: str | None = "local_files_only=True"
    else:
        reason = _hub_reason(repo_id, revision, token, pushing=False)
    if reason is not None:
        cached = _from_cache(hub, repo_id, **options)
        if cached is not None and (cached / WEIGHTS_NAME).is_file():
            return cached
        raise ModelFileError(
            f"cannot load {repo_id!r} from the Hugging Face Hub: {reason}, and no copy is "
            "in the local Hugging Face cache. Pass the path of a model folder instead "
            "(save_pretrained writes one), or run from_pretrained once with the network "
            "so the cache has it"
        )
    try:
        return Path(hub.snapshot_download(repo_id, token=token, **options))
    except Exception as exc:  # gated repositories, HTTP and connection errors
        raise ModelFileError(
            f"cannot download {repo_id!r} from the Hugging Face Hub: {type(exc).__name__}: "
            f"{str(exc)[:300]}. A model folder (save_pretrained writes one) loads offline"
        ) from exc


def push_to_hub(
    mm: Any,
    repo_id: str,
    *,
    dataset: str | None = None,
    token: str | bool | None = None,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str = "Upload csa multimodal encoder",
) -> str:
    """Save ``mm`` with :func:`save_pretrained` and upload the folder to ``repo_id``.

    Creates the repository when it does not exist; returns the commit's URL. Fails at
    once, before any file is written, when the Hub cannot be reached.
    """
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id) or "/" not in repo_id:
        raise ParameterError(f"repo_id must read 'owner/name'; got {repo_id!r}")
    if not mm.is_fitted:
        raise NotFittedError("this MultimodalEncoder is not fitted yet: there is nothing to push")
    hub = _hub()
    reason = _hub_reason(repo_id, revision, token, pushing=True)
    if reason is not None:
        raise ModelFileError(
            f"cannot push to {repo_id!r}: {reason}. save_pretrained(folder) writes the same "
            "files locally; upload them later with push_to_hub or `hf upload`"
        )
    api = hub.HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="csa-push-") as tmp:
        folder = save_pretrained(mm, tmp, dataset=dataset, repo_id=repo_id)
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            commit = api.upload_folder(
                repo_id=repo_id,
                folder_path=str(folder),
                revision=revision,
                commit_message=commit_message,
                allow_patterns=list(FILES),
            )
        except Exception as exc:  # authentication, permissions, HTTP and connection errors
            raise ModelFileError(
                f"cannot push to {repo_id!r}: {type(exc).__name__}: {str(exc)[:300]}"
            ) from exc
    return str(getattr(commit, "commit_url", commit))


__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "download",
    "from_pretrained",
    "model_card",
    "push_to_hub",
    "read_config",
    "save_pretrained",
]
