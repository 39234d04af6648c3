"""Zero-shot classification: score each input against one text embedding per class.

Class embeddings are built the way open_clip builds its zero-shot classifier: every
class name goes through several prompt templates, each prompt embedding is normalised,
the prompts of a class are averaged and the mean is normalised again. Averaging in the
text encoder's own space (before the multimodal map) smooths out the quirks of any one
wording. Building the embeddings and scoring them are separate functions so the scoring
can be tested, and reused, on plain arrays.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from csa.errors import InputError, ShapeError
from csa.linalg import unit_rows
from csa.scoring import score_matrix
from csa.tasks._common import (
    QueryOptions,
    ResultMixin,
    as_labels,
    as_scores,
    check_block_size,
    n_rows,
    query_kwargs,
    scoring_inputs,
)
from csa.tasks.metrics import true_class_ranks
from csa.validation import check_ks


class PromptEncoder(Protocol):
    """What zero-shot needs of a text encoder: ``encode(list of str) -> (n, d) array``.

    A Protocol rather than csa's Encoder class, so tasks never import the encoders
    (any object with this method works, e.g. a wrapped sentence-transformers model).
    """

    def encode(self, texts: list[str], **kwargs: Any) -> Any: ...


IMAGE_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a picture of a {}.",
    "a photo of the {}.",
    "a close-up photo of a {}.",
    "a low resolution photo of a {}.",
    "a black and white photo of a {}.",
    "a product photo of a {}.",
    "an image showing a {}.",
)

AUDIO_TEMPLATES: tuple[str, ...] = (
    "the sound of a {}.",
    "a recording of a {}.",
    "an audio clip of a {}.",
    "a sound made by a {}.",
    "a noisy recording of a {}.",
    "the sound of the {}.",
    "someone recording a {}.",
)

GENERIC_TEMPLATES: tuple[str, ...] = (
    "{}",
    "a {}.",
    "an example of a {}.",
    "this is a {}.",
    "something that is a {}.",
)

NEWS_TEMPLATES: tuple[str, ...] = (
    "a news article about {}.",
    "{} news.",
    "a story from the {} section.",
    "the latest {} headlines.",
    "a report on {}.",
    "breaking news in {}.",
)


# Template sets by the modality on the other side of the prompts, as open_clip keeps one
# set per data set; "text" and any unknown modality fall back to the generic set.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "image": IMAGE_TEMPLATES,
    "audio": AUDIO_TEMPLATES,
    "news": NEWS_TEMPLATES,
    "generic": GENERIC_TEMPLATES,
}


def templates_for(modality: str | None) -> tuple[str, ...]:
    """The prompt templates for classifying inputs of ``modality`` ("image", "audio", ...).

    Modalities without their own set (text, time series, 3D) get the generic templates,
    whose first entry is the bare class name.
    """
    if modality is None:
        return GENERIC_TEMPLATES
    if not isinstance(modality, str):
        raise InputError(f"modality must be a string such as 'image', got {modality!r}")
    return TEMPLATES.get(modality.lower(), GENERIC_TEMPLATES)


def check_class_names(class_names: Sequence[Any]) -> tuple[str, ...]:
    """Class names as strings, refusing repeats and names that differ only by case.

    "actions" and "Actions" are one class to a reader and two to a classifier, which
    then splits that class's inputs between two nearly identical prompts; a name given
    twice makes two identical class embeddings. Both are mistakes in a class list.
    """
    if isinstance(class_names, str) or not isinstance(class_names, Sequence | np.ndarray):
        raise InputError(f"class_names must be a list of names, got {class_names!r}")
    names = tuple(str(n) for n in class_names)
    if not names:
        raise InputError("class_names is empty")
    seen: dict[str, str] = {}
    for name in names:
        key = name.casefold()
        if key in seen:
            how = "repeats" if seen[key] == name else f"differs only by case from {seen[key]!r}"
            raise InputError(f"class name {name!r} {how}; every class needs its own name")
        seen[key] = name
    return names


def check_templates(templates: Sequence[str]) -> tuple[str, ...]:
    """Prompt templates, each with exactly one empty ``{}`` field for the class name.

    A named field (``'{x}'``) or a stray brace would fail inside ``str.format`` with a
    bare KeyError or IndexError; a template with no field gives the same prompt for
    every class.
    """
    if isinstance(templates, str) or not isinstance(templates, Sequence):
        raise InputError(f"templates must be a list of strings with '{{}}', got {templates!r}")
    chosen = tuple(templates)
    if not chosen:
        raise InputError("templates is empty")
    for template in chosen:
        if not isinstance(template, str):
            raise InputError(f"templates must be strings; got {template!r}")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            raise InputError(f"template {template!r} is not a valid format string: {exc}") from None
        if fields != [""]:
            raise InputError(
                f"template {template!r} must hold exactly one '{{}}' placeholder for the "
                f"class name (literal braces are written '{{{{' and '}}}}'); it holds "
                f"{len(fields)} field(s) {fields}"
            )
    return chosen


def build_prompts(class_names: Sequence[str], templates: Sequence[str]) -> list[str]:
    """All prompts, class-major: the prompts of class c are rows c*T .. c*T + T - 1."""
    names = check_class_names(class_names)
    chosen = check_templates(templates)
    return [t.format(name) for name in names for t in chosen]


def ensemble_prompt_embeddings(
    prompt_embeddings: Any, n_classes: int, *, renormalize: bool = True
) -> np.ndarray:
    """Average normalised prompt embeddings per class; rows must be class-major.

    Normalising each prompt first stops one long prompt with a large norm from dominating
    its class mean.
    """
    emb = as_scores(prompt_embeddings, "prompt_embeddings", 2)
    if n_classes < 1 or emb.shape[0] % n_classes:
        raise ShapeError(
            f"{emb.shape[0]} prompt embeddings cannot be split evenly into {n_classes} classes"
        )
    if not np.any(emb, axis=1).all():
        raise InputError("a prompt embedding is all zeros; it has no direction to average")
    per_class = unit_rows(emb).reshape(n_classes, -1, emb.shape[1]).mean(axis=1)
    if renormalize:
        if not np.any(per_class, axis=1).all():
            raise InputError("the prompts of a class cancel out (mean embedding is zero)")
        per_class = unit_rows(per_class)
    return per_class.astype(np.float32)


def build_class_embeddings(
    encoder: PromptEncoder,
    class_names: Sequence[str],
    templates: Sequence[str] = IMAGE_TEMPLATES,
    *,
    batch_size: int = 32,
    renormalize: bool = True,
    show_progress: bool | None = None,
) -> np.ndarray:
    """Encode every (template, class) prompt and ensemble them: a (C, encoder.dim) array.

    ``templates`` may also be a modality name ("image", "audio", "news", "generic"), see
    :func:`templates_for`.
    """
    if isinstance(templates, str):
        templates = templates_for(templates)
    prompts = build_prompts(class_names, templates)
    kwargs: dict[str, Any] = {"batch_size": batch_size}
    if show_progress is not None:
        kwargs["show_progress"] = show_progress
    emb = encoder.encode(prompts, **kwargs)
    return ensemble_prompt_embeddings(emb, len(class_names), renormalize=renormalize)


@dataclass
class ZeroShotResult(ResultMixin):
    """Top-k accuracies keyed by k; predictions are the best-scoring class per input."""

    top_k: dict[int, float]
    n_samples: int
    n_classes: int
    predictions: np.ndarray = field(repr=False, metadata={"json": False})
    sim_dim: int | None = None

    @property
    def top1(self) -> float:
        return self.top_k[1]

    @property
    def top5(self) -> float | None:
        return self.top_k.get(5)


def zero_shot_scores(
    model: Any,
    inputs: Any,
    class_embeddings: Any,
    *,
    inputs_side: Literal["a", "b"] = "a",
    sim_dim: QueryOptions = None,
    block_size: int = 4096,
) -> np.ndarray:
    """(n, C) scores of every input against every class, computed in blocks of inputs.

    The class embeddings (on the model's other side) are embedded once; ``sim_dim`` is an
    int or a mapping of query options, passed only when given.
    """
    block_size = check_block_size(block_size)
    if inputs_side not in ("a", "b"):
        raise InputError(f"inputs_side must be 'a' or 'b', got {inputs_side!r}")
    n_rows(inputs, "inputs")
    n_rows(class_embeddings, "class_embeddings")
    queries, gallery, score = scoring_inputs(model, inputs, class_embeddings, inputs_side, sim_dim)
    return as_scores(score_matrix(queries, gallery, block_size, score=score), "scores", 2)


def predict(scores: Any) -> np.ndarray:
    """The best-scoring class per row (ties to the lower class index)."""
    return np.argmax(as_scores(scores, "scores", 2), axis=1)


def zero_shot_classify(
    model: Any,
    inputs: Any,
    class_embeddings: Any,
    labels: Any,
    *,
    top_k: Sequence[int] = (1, 5),
    inputs_side: Literal["a", "b"] = "a",
    sim_dim: QueryOptions = None,
    block_size: int = 4096,
) -> ZeroShotResult:
    """Classify each input as its best-scoring class; report top-k accuracy.

    ``labels[i]`` is the index of input i's class in ``class_embeddings``. A k at or
    above the number of classes is reported as 1.0 (every class is in the top k), so
    choose ``top_k`` to suit the number of classes. Ties follow the pessimistic rule of
    :mod:`csa.tasks.metrics`.
    """
    scores = zero_shot_scores(
        model,
        inputs,
        class_embeddings,
        inputs_side=inputs_side,
        sim_dim=sim_dim,
        block_size=block_size,
    )
    y = as_labels(labels, "labels", scores.shape[0])
    ks = check_ks(top_k, "top_k")
    if 1 not in ks:
        raise InputError(f"top_k must include 1, got {ks!r}")
    ranks = true_class_ranks(scores, y)
    return ZeroShotResult(
        top_k={k: float(np.mean(ranks <= k)) for k in ks},
        n_samples=int(scores.shape[0]),
        n_classes=int(scores.shape[1]),
        predictions=predict(scores),
        sim_dim=query_kwargs(sim_dim).get("sim_dim"),
    )


__all__ = [
    "AUDIO_TEMPLATES",
    "GENERIC_TEMPLATES",
    "IMAGE_TEMPLATES",
    "NEWS_TEMPLATES",
    "TEMPLATES",
    "PromptEncoder",
    "ZeroShotResult",
    "build_class_embeddings",
    "build_prompts",
    "check_class_names",
    "check_templates",
    "ensemble_prompt_embeddings",
    "predict",
    "templates_for",
    "zero_shot_classify",
    "zero_shot_scores",
]
