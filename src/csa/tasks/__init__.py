"""Evaluation tasks for any model with ``similarity`` / ``score_pairs``: CSA and baselines alike.

Zero-shot classification, cross-modal retrieval, mismatch detection, the metrics they
report, calibration (class probabilities, a mismatch threshold), and the choice of
hyperparameters on held-out pairs (:func:`tune`, :func:`select_sim_dim`). Query options
such as ``sim_dim`` are passed to the model only when given, so baselines without them
(ASIF, LinearMap) run the same code. Identical items (repeated captions) count as
relevant by default: see :mod:`csa.tasks.groups`.
"""

from csa.tasks.calibration import (
    MismatchThreshold,
    TemperatureScaling,
    choose_mismatch_threshold,
    fit_mismatch_threshold,
    fit_temperature,
)
from csa.tasks.detection import (
    BilevelResult,
    BilevelRule,
    CosineScorer,
    DetectionResult,
    derangement,
    detect_mislabelled,
    detect_out_of_context,
    detect_out_of_context_bilevel,
    fit_bilevel_rule,
    flip_labels,
)
from csa.tasks.groups import mismatch_groups, row_groups
from csa.tasks.metrics import (
    mean_average_precision,
    per_query_retrieval,
    recall_at_k,
    relevance_from_labels,
    roc_auc,
    top_k_accuracy,
)
from csa.tasks.retrieval import DirectionResult, RetrievalResult, evaluate_retrieval
from csa.tasks.selection import TuneResult, default_candidates, task_score, tune
from csa.tasks.sim_dim import SimDimSelection, select_sim_dim
from csa.tasks.zero_shot import (
    AUDIO_TEMPLATES,
    GENERIC_TEMPLATES,
    IMAGE_TEMPLATES,
    NEWS_TEMPLATES,
    TEMPLATES,
    PromptEncoder,
    ZeroShotResult,
    build_class_embeddings,
    build_prompts,
    ensemble_prompt_embeddings,
    predict,
    templates_for,
    zero_shot_classify,
    zero_shot_scores,
)

__all__ = [
    "AUDIO_TEMPLATES",
    "GENERIC_TEMPLATES",
    "IMAGE_TEMPLATES",
    "NEWS_TEMPLATES",
    "TEMPLATES",
    "BilevelResult",
    "BilevelRule",
    "CosineScorer",
    "DetectionResult",
    "DirectionResult",
    "MismatchThreshold",
    "PromptEncoder",
    "RetrievalResult",
    "SimDimSelection",
    "TemperatureScaling",
    "TuneResult",
    "ZeroShotResult",
    "build_class_embeddings",
    "build_prompts",
    "choose_mismatch_threshold",
    "default_candidates",
    "derangement",
    "detect_mislabelled",
    "detect_out_of_context",
    "detect_out_of_context_bilevel",
    "ensemble_prompt_embeddings",
    "evaluate_retrieval",
    "fit_bilevel_rule",
    "fit_mismatch_threshold",
    "fit_temperature",
    "flip_labels",
    "mean_average_precision",
    "mismatch_groups",
    "per_query_retrieval",
    "predict",
    "recall_at_k",
    "relevance_from_labels",
    "roc_auc",
    "row_groups",
    "select_sim_dim",
    "task_score",
    "templates_for",
    "top_k_accuracy",
    "tune",
    "zero_shot_classify",
    "zero_shot_scores",
]
