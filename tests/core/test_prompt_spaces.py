"""Which zero-shot map the task-aware CSA() uses for each side's class prompts.

Prompts on a side of free, distinct rows (drawing titles) are scored in that side's own
space through the canonical regression; on a side whose training rows repeat a few class
captions (Fashion-MNIST, spoken words), in the shared canonical space, with equal weights.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file
from test_edited_model_files import _header, _rewrite

import csa
from csa.selection import prompt_spaces
from csa.tasks import zero_shot_scores
from known_models import csa_scores_by_hand, prompt_scores_by_hand
from synthetic import known_cca_pairs

# The class-caption side is rank-deficient by design; the fit says so.
pytestmark = pytest.mark.filterwarnings("ignore::csa.WeakFitWarning")


def _class_captions(n=400, classes=8, seed=50):
    """Images whose caption is one of a few class captions, repeated (rank of b: classes)."""
    rng = np.random.default_rng(seed)
    captions = rng.standard_normal((classes, 24))
    labels = rng.integers(0, classes, size=n)
    images = captions[labels] @ rng.standard_normal((24, 30)) + rng.standard_normal((n, 30))
    return images, captions[labels], captions


def test_a_side_of_repeated_class_captions_is_scored_as_the_papers_csa():
    images, b, captions = _class_captions()
    model = csa.CSA().fit(images, b)
    assert model.prompt_spaces_ == ("a",)  # images are distinct rows; captions repeat
    scores = zero_shot_scores(model, images[:50], captions)
    # The class map is the paper's CSA fitted on the same pairs, its own choice and all.
    paper = csa.CSA(weights="canonical").fit(images, b)
    np.testing.assert_allclose(scores, paper.similarity(images[:50], captions), atol=1e-9)
    np.testing.assert_allclose(scores, csa_scores_by_hand(paper, images[:50], captions), atol=1e-9)
    assert model.class_ridge_ == paper.ridge_ and model.class_sim_dim_ == paper.sim_dim_
    # Retrieval and pair scores keep the equal-weight shared space.
    np.testing.assert_allclose(
        model.similarity(images[:5], b[:5]),
        csa.CCA().fit(images, b).similarity(images[:5], b[:5]),
        atol=1e-9,
    )
    maps = model.cv_results_["maps"]
    assert "repeats a few captions" in maps["zero-shot, prompts on side b"]
    assert f"sim_dim {paper.sim_dim_}" in maps["zero-shot, prompts on side b"]
    assert maps["zero-shot, prompts on side a"].startswith("the prompts' own space")
    assert maps["retrieval and pair scores"].endswith(f"equal weights, sim_dim {model.sim_dim_}")
    assert model.cv_results_["class_map"]["chosen"]["sim_dim"] == paper.sim_dim_


def test_a_loaded_model_says_which_map_answers_which_question(tmp_path):
    images, b, _ = _class_captions()
    model = csa.CSA().fit(images, b)
    model.save(tmp_path / "m.csa")
    loaded = csa.load(tmp_path / "m.csa")
    assert not hasattr(loaded, "cv_results_") or loaded.cv_results_ is None
    assert loaded.map_choices() == model.map_choices() == model.cv_results_["maps"]
    paper = csa.CSA(weights="canonical").fit(images, b)
    assert paper.map_choices() == {
        "every question": "shared canonical space, weighted by canonical correlations, "
        f"sim_dim {paper.sim_dim_}"
    }
    with pytest.raises(csa.errors.NotFittedError):
        csa.CSA().map_choices()


def test_a_side_of_distinct_rows_is_scored_in_its_own_space():
    a, b = known_cca_pairs(400, (0.9, 0.7, 0.5), dim_a=12, dim_b=10, seed=51)
    model = csa.CSA().fit(a, b)
    assert model.prompt_spaces_ == ("a", "b")
    prompts = b[:6] + 0.5
    np.testing.assert_allclose(
        zero_shot_scores(model, a[:50], prompts), prompt_scores_by_hand(model, a[:50], prompts),
        atol=1e-9,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("n", "rank", "width", "own"),
    [
        (3000, 10, 384, False),  # ten class captions among 3000 pairs
        (100, 99, 384, True),  # fewer pairs than features, all distinct
        (300, 5, 5, True),  # a narrow side of full rank
        (90, 29, 384, False),  # 30 spoken words, 90 clips
        (300, 7, 12, True),  # more than half of what the rows could span
        (300, 6, 12, False),  # half: repeated
    ],
)
def test_the_rule_compares_the_rank_with_what_the_rows_could_span(n, rank, width, own):
    moments = csa.moments.PairMoments.empty(width, width)
    moments = type(moments)(n, moments.mean_a, moments.mean_b, moments.comoment_aa,
                            moments.comoment_bb, moments.comoment_ab)  # fmt: skip
    assert ("b" in prompt_spaces(moments, width, rank)) == own


def test_the_choice_survives_a_save_and_an_edit_is_refused(tmp_path):
    images, b, captions = _class_captions()
    model = csa.CSA().fit(images, b)
    path = model.save(tmp_path / "m.csa")
    loaded = csa.load(path)
    assert loaded.prompt_spaces_ == ("a",)
    np.testing.assert_allclose(
        zero_shot_scores(loaded, images[:20], captions),
        zero_shot_scores(model, images[:20], captions),
        atol=1e-12,
    )
    scalars = _header(path, "scalars")
    scalars["prompt_spaces_"] = ["b", "c"]
    _rewrite(path, header={"scalars": json.dumps(scalars)})
    with pytest.raises(csa.ModelFileError, match="prompt_spaces_"):
        csa.load(path)
    path = model.save(tmp_path / "m2.csa")
    scalars = _header(path, "scalars")
    scalars["class_sim_dim_"] = 10_000
    _rewrite(path, header={"scalars": json.dumps(scalars)})
    with pytest.raises(csa.ModelFileError, match="class_sim_dim_"):
        csa.load(path)


def test_a_file_without_the_class_map_scores_in_the_shared_space(tmp_path):
    images, b, captions = _class_captions()
    model = csa.CSA().fit(images, b)
    path = model.save(tmp_path / "m.csa")
    scalars = _header(path, "scalars")
    del scalars["class_ridge_"], scalars["class_sim_dim_"]
    drop = ("class_projection_a", "class_projection_b", "class_correlations")
    _rewrite(path, header={"scalars": json.dumps(scalars)}, drop=drop)
    loaded = csa.load(path)
    np.testing.assert_allclose(
        zero_shot_scores(loaded, images[:20], captions),
        csa_scores_by_hand(loaded, images[:20], captions),
        atol=1e-9,
    )


def test_a_file_written_before_the_rule_keeps_its_prompt_maps(tmp_path):
    images, b, _ = _class_captions()
    path = csa.CSA().fit(images, b).save(tmp_path / "old.csa")
    scalars = _header(path, "scalars")
    del scalars["prompt_spaces_"]
    _rewrite(path, header={"scalars": json.dumps(scalars)})
    assert csa.load(path).prompt_spaces_ == ("a", "b")


def test_a_class_map_that_does_not_belong_to_the_moments_is_refused(tmp_path):
    images, b, _ = _class_captions()
    path = csa.CSA().fit(images, b).save(tmp_path / "m.csa", keep_moments=True)
    stored = load_file(str(path))["class_projection_a"]
    _rewrite(path, arrays={"class_projection_a": stored * 1.01})
    with pytest.raises(csa.ModelFileError, match="whiten"):
        csa.load(path)


def test_the_class_maps_search_reuses_the_folds_rotations(monkeypatch):
    """Both searches of one fit read the same rotated folds: one eigensolve per side, fold
    and precision, not two."""
    import csa.selection as selection

    built = []

    class Counted(selection._HeldOutFold):
        def __init__(self, train, held, dtype=np.float64):
            built.append(np.dtype(dtype))
            super().__init__(train, held, dtype)

    monkeypatch.setattr(selection, "_HeldOutFold", Counted)
    images, b, _ = _class_captions()
    model = csa.CSA().fit(images, b)
    assert "class_map" in model.cv_results_  # two searches ran
    assert built and all(built.count(dtype) == 5 for dtype in set(built))
