"""Evaluation tasks for any model with ``similarity`` / ``score_pairs``: CSA and baselines alike.

Zero-shot classification, cross-modal retrieval, mismatch detection, the metrics they
report, and the choice of ``sim_dim`` on held-out pairs. ``sim_dim`` is passed to the
model only when given, so baselines without it (ASIF, LinearMap) run the same code.
"""

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
from csa.tasks.metrics import (
    mean_average_precision,
    per_query_retrieval,
    recall_at_k,
    relevance_from_labels,
    roc_auc,
    top_k_accuracy,
)
from csa.tasks.retrieval import DirectionResult, RetrievalResult, evaluate_retrieval
from csa.tasks.sim_dim import SimDimSelection, select_sim_dim
from csa.tasks.zero_shot import (
    IMAGE_TEMPLATES,
    NEWS_TEMPLATES,
    ZeroShotResult,
    build_class_embeddings,
    build_prompts,
    ensemble_prompt_embeddings,
    zero_shot_classify,
    zero_shot_scores,
)

__all__ = [
    "IMAGE_TEMPLATES",
    "NEWS_TEMPLATES",
    "BilevelResult",
    "BilevelRule",
    "CosineScorer",
    "DetectionResult",
    "DirectionResult",
    "RetrievalResult",
    "SimDimSelection",
    "ZeroShotResult",
    "build_class_embeddings",
    "build_prompts",
    "derangement",
    "detect_mislabelled",
    "detect_out_of_context",
    "detect_out_of_context_bilevel",
    "ensemble_prompt_embeddings",
    "evaluate_retrieval",
    "fit_bilevel_rule",
    "flip_labels",
    "mean_average_precision",
    "per_query_retrieval",
    "recall_at_k",
    "relevance_from_labels",
    "roc_auc",
    "select_sim_dim",
    "top_k_accuracy",
    "zero_shot_classify",
    "zero_shot_scores",
]
