"""Known answers that pin the maths a plausible bug would change (mutation survivors)."""

from __future__ import annotations

import numpy as np
import pytest

from csa.tasks import (
    AUDIO_TEMPLATES,
    GENERIC_TEMPLATES,
    IMAGE_TEMPLATES,
    build_class_embeddings,
    ensemble_prompt_embeddings,
    predict,
    roc_auc,
    templates_for,
    zero_shot_classify,
    zero_shot_scores,
)


def test_prompts_are_normalised_before_they_are_averaged():
    # Class 0: prompts along e0 with norm 100 and along e1 with norm 1. Normalised first,
    # they weigh equally: the class direction is (e0 + e1) / sqrt 2. Averaged raw, the
    # long prompt would win: (100 e0 + e1) / |.|, about e0.
    prompts = np.array([[100.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.5]])
    emb = ensemble_prompt_embeddings(prompts, 2)
    np.testing.assert_allclose(emb, [[2**-0.5, 2**-0.5, 0.0], [0.0, 0.0, 1.0]], atol=1e-7)


def test_class_embeddings_from_an_encoder_with_unequal_prompt_norms():
    class Encoder:
        """'a {}' -> 10 e_class; 'the {}' -> e_(2 + class): very different norms."""

        def encode(self, texts, batch_size=32):
            out = np.zeros((len(texts), 4))
            for i, t in enumerate(texts):
                c = ["cat", "dog"].index(t.split()[1])
                out[i, c if t.startswith("a ") else 2 + c] = 10.0 if t.startswith("a ") else 1.0
            return out

    emb = build_class_embeddings(Encoder(), ["cat", "dog"], ["a {}", "the {}"])
    h = 2**-0.5
    np.testing.assert_allclose(emb, [[h, 0, h, 0], [0, h, 0, h]], atol=1e-7)


def test_zero_shot_predicts_the_highest_score():
    class Dot:
        def similarity(self, a, b):
            return np.asarray(a) @ np.asarray(b).T

    scores = np.array([[0.1, 0.7, 0.2], [0.9, 0.05, 0.0], [0.3, 0.3, 0.4]])
    np.testing.assert_array_equal(predict(scores), [1, 0, 2])
    res = zero_shot_classify(Dot(), scores, np.eye(3), [1, 0, 0], top_k=(1, 2))
    np.testing.assert_array_equal(res.predictions, [1, 0, 2])
    # Row 2's true class 0 ties with class 1 at 0.3 behind class 2: pessimistically third.
    assert res.top_k == {1: pytest.approx(2 / 3), 2: pytest.approx(2 / 3)}


def test_roc_auc_matches_scikit_learn_and_is_not_swapped():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=200), 1)  # many ties
    positive = rng.random(200) < 0.3
    assert roc_auc(scores, positive) == pytest.approx(
        sklearn_metrics.roc_auc_score(positive, scores), abs=1e-12
    )
    # Scikit-learn's documented example: 0.75, where the swapped value is 0.25.
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)


def test_template_sets_per_modality():
    assert templates_for("image") == IMAGE_TEMPLATES
    assert templates_for("Audio") == AUDIO_TEMPLATES
    assert templates_for("timeseries") == GENERIC_TEMPLATES == templates_for(None)
    assert GENERIC_TEMPLATES[0] == "{}"
    assert all("{}" in t for t in AUDIO_TEMPLATES + GENERIC_TEMPLATES)


def test_asif_scores_through_zero_shot_have_the_powered_known_answer():
    csa = pytest.importorskip("csa")
    if not hasattr(csa, "ASIF"):
        pytest.skip("csa.ASIF is not importable right now")
    # Anchors are the unit axes on both sides. The query [3, 1, 0] has similarities
    # proportional to (3, 1, 0) to the anchors; ASIF keeps the top k = 2, raises them to
    # p = 3 and normalises: (27, 1, 0) / sqrt(730). Classes are the axes themselves.
    anchors = np.eye(3)
    model = csa.ASIF(k=2, p=3.0).fit(anchors, anchors)
    scores = zero_shot_scores(model, np.array([[3.0, 1.0, 0.0]]), anchors)
    np.testing.assert_allclose(scores, [[27 / np.sqrt(730), 1 / np.sqrt(730), 0.0]], atol=1e-9)
