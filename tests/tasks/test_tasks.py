"""Tasks on toy models whose answers are known, then on real CSA fits and baselines."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from csa.errors import InputError, ParameterError, ShapeError, SimDimError
from csa.tasks import (
    IMAGE_TEMPLATES,
    NEWS_TEMPLATES,
    CosineScorer,
    build_class_embeddings,
    build_prompts,
    derangement,
    detect_mislabelled,
    detect_out_of_context,
    detect_out_of_context_bilevel,
    evaluate_retrieval,
    fit_bilevel_rule,
    flip_labels,
    mean_average_precision,
    per_query_retrieval,
    recall_at_k,
    select_sim_dim,
    top_k_accuracy,
    zero_shot_classify,
)
from csa.tasks.detection import other_group_indices

# ------------------------------------------------------------------------ toy models


class DotModel:
    """Score = dot product. Takes no sim_dim, like ASIF and LinearMap: passing one fails."""

    def similarity(self, a, b):
        return np.asarray(a, dtype=float) @ np.asarray(b, dtype=float).T

    def score_pairs(self, a, b):
        return np.einsum("ij,ij->i", np.asarray(a, dtype=float), np.asarray(b, dtype=float))


class PrefixCosineModel:
    """Cosine over the first sim_dim columns: a stand-in for a fitted CSA with k columns."""

    def __init__(self, k: int) -> None:
        self.canonical_correlations_ = np.ones(k)
        self.calls: list[int | None] = []

    def _unit(self, x, s):
        x = np.asarray(x, dtype=float)[:, :s]
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def similarity(self, a, b, sim_dim=None):
        self.calls.append(sim_dim)
        s = sim_dim or self.canonical_correlations_.shape[0]
        return self._unit(a, s) @ self._unit(b, s).T

    def score_pairs(self, a, b, sim_dim=None):
        self.calls.append(sim_dim)
        s = sim_dim or self.canonical_correlations_.shape[0]
        return np.einsum("ij,ij->i", self._unit(a, s), self._unit(b, s))


def onehot(labels, n_classes):
    return np.eye(n_classes)[np.asarray(labels)]


# --------------------------------------------------------------------------- zero-shot


def test_zero_shot_on_one_hot_codes_gives_known_accuracy():
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    predicted = np.array([0, 1, 2, 3, 1, 1, 0, 3])  # 6 of 8 right
    res = zero_shot_classify(DotModel(), onehot(predicted, 4), np.eye(4), labels, top_k=(1,))
    assert res.top1 == pytest.approx(6 / 8)
    np.testing.assert_array_equal(res.predictions, predicted)
    assert (res.n_samples, res.n_classes) == (8, 4)


def test_zero_shot_equals_top_k_accuracy_of_the_score_matrix_in_blocks_and_both_sides():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(37, 12))
    labels = rng.integers(0, 12, size=37)
    expected = {k: top_k_accuracy(scores, labels, k) for k in (1, 5)}
    for block_size in (5, 1000):
        res = zero_shot_classify(DotModel(), scores, np.eye(12), labels, block_size=block_size)
        assert res.top_k == pytest.approx(expected)
    # Inputs on side b: the model is called as similarity(classes, inputs).
    res_b = zero_shot_classify(DotModel(), scores, np.eye(12), labels, inputs_side="b")
    assert res_b.top_k == pytest.approx(expected)
    assert json.loads(json.dumps(res_b.to_dict()))["top_k"]["5"] == pytest.approx(expected[5])
    assert "predictions" not in res_b.to_dict()


class TemplateEncoder:
    """Prompt -> 2 * e_class + e_(C + template): known embeddings to check the ensemble."""

    def __init__(self, classes, templates):
        self.classes, self.templates = list(classes), list(templates)
        self.name, self.dim = "toy", len(classes) + len(templates)
        self.seen: list[str] = []

    def encode(self, items, batch_size=32, show_progress=None):
        self.seen.extend(items)
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for i, prompt in enumerate(items):
            ((c, t),) = [
                (ci, ti)
                for ci, name in enumerate(self.classes)
                for ti, tpl in enumerate(self.templates)
                if tpl.format(name) == prompt
            ]
            out[i, c], out[i, len(self.classes) + t] = 2.0, 1.0
        return out


def test_class_embeddings_are_the_renormalised_mean_of_normalised_prompts():
    classes, templates = ["cat", "dog", "shoe"], ["a photo of a {}.", "a {} in the wild."]
    enc = TemplateEncoder(classes, templates)
    emb = build_class_embeddings(enc, classes, templates)
    assert enc.seen == build_prompts(classes, templates)
    assert enc.seen[:2] == ["a photo of a cat.", "a cat in the wild."]  # class-major
    # Each prompt is (2 e_c + e_t) / sqrt(5); the mean over 2 templates, renormalised,
    # is (2 e_c + (e_t1 + e_t2) / 2) / sqrt(4 + 1/2).
    expected = np.zeros((3, 5))
    expected[np.arange(3), np.arange(3)] = 2.0
    expected[:, 3:] = 0.5
    expected /= np.sqrt(4.5)
    np.testing.assert_allclose(emb, expected, rtol=1e-6)
    assert emb.dtype == np.float32


def test_default_templates_and_prompt_errors():
    assert len(IMAGE_TEMPLATES) >= 5 and len(NEWS_TEMPLATES) >= 5
    assert all("{}" in t for t in IMAGE_TEMPLATES + NEWS_TEMPLATES)
    with pytest.raises(InputError, match="placeholder"):
        build_prompts(["cat"], ["a photo"])
    with pytest.raises(InputError):
        build_prompts([], IMAGE_TEMPLATES)


# --------------------------------------------------------------------------- retrieval


def test_retrieval_with_class_codes_has_known_answers():
    labels = np.array([0, 0, 1, 1, 1, 2])
    codes = onehot(labels, 3)
    # Label relevance: every relevant item ties at score 1, every other at 0 -> perfect.
    res = evaluate_retrieval(DotModel(), codes, codes, labels_a=labels, labels_b=labels)
    for d in ("a->b", "b->a"):
        assert res[d].recall[1] == 1.0 and res[d].mAP == pytest.approx(1.0)
    # Identical rows are the same item by default: the same perfect answer, no labels given.
    res = evaluate_retrieval(DotModel(), codes, codes, ks=(1, 2, 3))
    for d in ("a->b", "b->a"):
        assert res[d].recall[1] == 1.0 and res[d].mAP == pytest.approx(1.0)
    # Strict pair relevance (row i with row i only): the true item ties with its identical
    # classmates and is ranked last among them: rank = class size. AP = 1 / class size.
    res = evaluate_retrieval(DotModel(), codes, codes, ks=(1, 2, 3), identical=False)
    sizes = np.array([2, 2, 3, 3, 3, 1])
    assert res["a->b"].mAP == pytest.approx(np.mean(1 / sizes))
    assert res["a->b"].recall == pytest.approx({1: 1 / 6, 2: 3 / 6, 3: 1.0})


def test_retrieval_blocks_match_the_full_matrix_in_both_directions():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(23, 4)), rng.normal(size=(17, 4))
    rel = rng.random((23, 17)) < 0.2
    rel[np.arange(17), np.arange(17)] = True  # every query and gallery item has a match
    rel[17:, 0] = True
    full = a @ b.T
    for block_size in (1, 4, 100):
        res = evaluate_retrieval(DotModel(), a, b, relevance=rel, block_size=block_size)
        assert res["a->b"].mAP == pytest.approx(mean_average_precision(full, rel))
        assert res["b->a"].mAP == pytest.approx(mean_average_precision(full.T, rel.T))
        assert res["b->a"].recall[5] == pytest.approx(recall_at_k(full.T, rel.T, 5))
        assert (res["a->b"].n_queries, res["a->b"].n_gallery) == (23, 17)


def test_retrieval_automatic_blocks_match_one_full_matrix(monkeypatch):
    import csa.tasks.retrieval as retrieval

    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
    full = evaluate_retrieval(DotModel(), a, b)  # fits the budget: one matrix, both ways
    monkeypatch.setattr(retrieval, "DEFAULT_SCORE_BUDGET", 200)  # forces blocks of 6 rows
    blocked = evaluate_retrieval(DotModel(), a, b)
    assert blocked.to_dict() == full.to_dict()
    assert full["b->a"].mAP == pytest.approx(mean_average_precision((a @ b.T).T, np.eye(30)))


def test_retrieval_passes_sim_dim_only_when_given():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(10, 5))
    model = PrefixCosineModel(5)
    evaluate_retrieval(model, a, a, block_size=4)
    assert set(model.calls) == {None}
    model.calls.clear()
    res = evaluate_retrieval(model, a, a, sim_dim=2, directions=("a->b",))
    assert set(model.calls) == {2} and list(res.directions) == ["a->b"]
    # a scorer without sim_dim is not handed one: refused by name, not a bare TypeError
    with pytest.raises(ParameterError, match=r"DotModel\.similarity takes no sim_dim"):
        evaluate_retrieval(DotModel(), a, a, sim_dim=2)


def test_retrieval_input_errors():
    a = np.ones((4, 2))
    with pytest.raises(ShapeError, match="paired"):
        evaluate_retrieval(DotModel(), a, np.ones((3, 2)))
    with pytest.raises(ShapeError):
        evaluate_retrieval(DotModel(), a, a, relevance=np.ones((4, 3), bool))
    with pytest.raises(InputError, match="no relevant"):
        evaluate_retrieval(DotModel(), a, a, labels_a=[0, 0, 0, 1], labels_b=[0, 0, 0, 0])
    with pytest.raises(InputError):
        evaluate_retrieval(DotModel(), a, a, block_size=0)


# --------------------------------------------------------------------------- detection


def test_derangement_and_other_group_draws():
    rng = np.random.default_rng(3)
    for n in (2, 3, 50):
        d = derangement(n, rng)
        assert sorted(d) == list(range(n)) and not np.any(d == np.arange(n))
    groups = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    picks = np.stack([other_group_indices(groups, rng) for _ in range(200)])
    assert np.all(groups[picks] != groups[None, :])
    assert set(np.unique(picks[:, 9])) == set(range(9))  # every other-group item is drawn
    with pytest.raises(InputError, match="same group"):
        other_group_indices(np.zeros(5), rng)


def test_flip_labels_is_seeded_and_exact():
    y = np.arange(40) % 4
    noisy, flipped = flip_labels(y, 4, 0.25, np.random.default_rng(0))
    assert flipped.sum() == 10
    assert np.all(noisy[flipped] != y[flipped]) and np.all(noisy[~flipped] == y[~flipped])
    again, flipped2 = flip_labels(y, 4, 0.25, np.random.default_rng(0))
    np.testing.assert_array_equal(noisy, again)
    np.testing.assert_array_equal(flipped, flipped2)
    _, other = flip_labels(y, 4, 0.25, np.random.default_rng(1))
    assert not np.array_equal(flipped, other)
    with pytest.raises(InputError, match="flips 0"):
        flip_labels(y, 4, 0.001, np.random.default_rng(0))


def test_mislabelled_detection_on_class_codes_is_perfect_and_deterministic():
    y = np.arange(60) % 5
    res = detect_mislabelled(DotModel(), onehot(y, 5), y, np.eye(5), flip_fraction=0.2, seed=7)
    assert res.auc == 1.0  # clean pairs score 1, flipped ones 0
    assert (res.n_genuine, res.n_mismatched) == (48, 12)
    res2 = detect_mislabelled(DotModel(), onehot(y, 5), y, np.eye(5), flip_fraction=0.2, seed=7)
    np.testing.assert_array_equal(res.is_mismatch, res2.is_mismatch)
    assert json.loads(json.dumps(res.to_dict()))["auc"] == 1.0


def test_mislabelled_detection_ranks_by_score_pairs():
    # Confidence in the true class grows with the index, so flipped samples with high index
    # are easy; AUC follows from the scores alone and equals roc_auc on them.
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, size=30)
    inputs = onehot(y, 3) * rng.uniform(0.1, 1.0, size=(30, 1))
    res = detect_mislabelled(DotModel(), inputs, y, np.eye(3), flip_fraction=0.3, seed=1)
    # Flipped pairs score exactly 0, clean ones > 0: a perfect detector.
    assert res.auc == 1.0
    np.testing.assert_allclose(res.scores[res.is_mismatch], 0.0)


def test_out_of_context_with_derangement_has_the_computed_auc():
    labels = np.arange(30) % 3
    codes = onehot(labels, 3)
    res = detect_out_of_context(DotModel(), codes, codes, seed=5, identical=False)
    # Genuine pairs score 1; a wrong caption of the same class also scores 1 (a tie,
    # worth 1/2 against every genuine pair); one of another class scores 0.
    partners = derangement(30, np.random.default_rng(5))
    same = np.mean(labels[partners] == labels)
    assert res.auc == pytest.approx(1 - same / 2)
    # Drawing wrong captions from other groups removes the ties.
    res_g = detect_out_of_context(DotModel(), codes, codes, groups=labels, seed=5)
    assert res_g.auc == 1.0 and res_g.n_mismatched == 30
    # So does the default, which groups identical rows without being told the labels.
    res_d = detect_out_of_context(DotModel(), codes, codes, seed=5)
    assert res_d.auc == 1.0 and res_d.scores.tolist() == res_g.scores.tolist()


def test_bilevel_rule_finds_the_and_region():
    rng = np.random.default_rng(6)
    n = 200
    # Mismatches: both scores low. Genuine: at least one score high.
    c_bad, t_bad = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    high_c = rng.random(n) < 0.5
    c_good = np.where(high_c, rng.uniform(2, 3, n), rng.uniform(0, 1, n))
    t_good = np.where(high_c, rng.uniform(0, 1, n), rng.uniform(2, 3, n))
    c, t = np.concatenate([c_good, c_bad]), np.concatenate([t_good, t_bad])
    y = np.repeat([False, True], n)
    rule, acc = fit_bilevel_rule(c, t, y)
    assert acc == 1.0
    assert 1 <= rule.t_cross <= 2 and 1 <= rule.t_text <= 2
    np.testing.assert_array_equal(rule.flag(c, t), y)
    match = rule.match_score(c, t)
    assert np.all((match < 0) == y)  # the combined score's sign is the rule


def test_bilevel_rule_can_fall_back_to_one_score():
    # Only the cross score carries information: the text threshold should go to +inf.
    c = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    t = np.array([0.5, 0.9, 0.1, 0.2, 0.6, 0.3])
    y = np.array([True, True, True, False, False, False])
    rule, acc = fit_bilevel_rule(c, t, y)
    assert acc == 1.0 and rule.t_text == np.inf and 0.3 < rule.t_cross < 0.7
    np.testing.assert_allclose(rule.match_score(c, t), (c - rule.t_cross) / rule.scale_cross)
    assert rule.to_dict()["t_text"] == "inf"


def test_bilevel_detection_end_to_end_on_latent_data():
    rng = np.random.default_rng(8)
    n, d = 300, 6
    z = rng.normal(size=(n, d))
    items = z + 0.8 * rng.normal(size=(n, d))
    captions = z + 0.8 * rng.normal(size=(n, d))
    reference = z + 0.8 * rng.normal(size=(n, d))
    res = detect_out_of_context_bilevel(DotModel(), items, captions, reference, seed=0)
    assert res.auc > 0.85 and res.accuracy_test > 0.75
    assert res.auc_cross_only > 0.8 and res.auc_text_only > 0.8
    # Two informative, independent scores: the fitted rule should not rank worse than either.
    assert res.auc >= max(res.auc_cross_only, res.auc_text_only) - 0.02
    assert res.n_val_items == 150 and res.n_test_items == 150
    res2 = detect_out_of_context_bilevel(DotModel(), items, captions, reference, seed=0)
    assert res2.to_dict() == res.to_dict()
    json.dumps(res.to_dict())
    with pytest.raises(ShapeError):
        detect_out_of_context_bilevel(DotModel(), items, captions, reference[:10])


def test_cosine_scorer():
    a = np.array([[3.0, 4.0], [1.0, 0.0]])
    b = np.array([[6.0, 8.0], [0.0, 2.0]])
    np.testing.assert_allclose(CosineScorer().score_pairs(a, b), [1.0, 0.0])
    np.testing.assert_allclose(CosineScorer().similarity(a, b), [[1.0, 0.8], [0.6, 0.0]])
    with pytest.raises(InputError, match="all-zero"):
        CosineScorer().score_pairs(a, np.zeros((2, 2)))


# ------------------------------------------------------------------------- sim_dim


def test_select_sim_dim_finds_the_shared_dimensions():
    rng = np.random.default_rng(9)
    n, shared, k = 120, 3, 10
    z = rng.normal(size=(n, shared))
    a = np.hstack([z + 0.3 * rng.normal(size=(n, shared)), rng.normal(size=(n, k - shared))])
    b = np.hstack([z + 0.3 * rng.normal(size=(n, shared)), rng.normal(size=(n, k - shared))])
    model = PrefixCosineModel(k)
    for metric in ("map", "auc", "recall@1"):
        sel = select_sim_dim(model, a, b, metric=metric)
        assert sel.best == shared, (metric, sel.curve)
        assert sorted(sel.curve) == list(range(1, k + 1))
        assert sel.curve[shared] > sel.curve[k] and sel.curve[shared] > sel.curve[1]
    sel = select_sim_dim(model, a, b, candidates=[2, 3, 5])
    assert list(sel.curve) == [2, 3, 5] and sel.best == 3
    json.dumps(sel.to_dict())
    with pytest.raises(SimDimError):
        select_sim_dim(model, a, b, candidates=[0, 3])
    with pytest.raises(InputError, match="canonical_correlations_"):
        select_sim_dim(DotModel(), a, b)


# ------------------------------------------------------------------ real CSA and baselines


def latent_data(n, rng, d_a=24, d_b=16, d_z=4, noise=1.0):
    """Paired features driven by a shared latent z; returns (z, a, b) and the maps."""
    wa, wb = rng.normal(size=(d_z, d_a)), rng.normal(size=(d_z, d_b))

    def make(zz):
        a = zz @ wa + noise * rng.normal(size=(zz.shape[0], d_a))
        b = zz @ wb + noise * rng.normal(size=(zz.shape[0], d_b))
        return a, b

    return make


@pytest.fixture(scope="module")
def real_models():
    csa = pytest.importorskip("csa")
    if not hasattr(csa, "CSA"):
        pytest.skip("csa.CSA is not available yet")
    rng = np.random.default_rng(10)
    make = latent_data(0, rng)
    z_train = rng.normal(size=(600, 4))
    a_tr, b_tr = make(z_train)
    models = {
        "CSA": csa.CSA(),
        "CCA": csa.CCA(),
        "ASIF": csa.ASIF(k=100, p=8),
        "LinearMap": csa.LinearMap(),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in models.values():
            m.fit(a_tr, b_tr)
    return models, make, rng


def test_real_csa_zero_shot_beats_chance(real_models):
    models, make, rng = real_models
    class_z = rng.normal(size=(6, 4)) * 1.5
    labels = np.arange(240) % 6
    inputs, _ = make(class_z[labels] + 0.3 * rng.normal(size=(240, 4)))
    _, class_emb = make(class_z)
    for name, model in models.items():
        res = zero_shot_classify(model, inputs, class_emb, labels, top_k=(1, 3))
        assert res.top1 > 0.5, (name, res.top_k)  # chance is 1/6
    res = zero_shot_classify(models["CSA"], inputs, class_emb, labels, sim_dim=2)
    assert res.sim_dim == 2 and res.top1 > 1 / 6


def test_real_csa_retrieval_beats_chance(real_models):
    models, make, rng = real_models
    a, b = make(rng.normal(size=(150, 4)))
    res = evaluate_retrieval(models["CSA"], a, b, block_size=64)
    # Chance: Recall@10 = 10/150, mAP about 0.04.
    for d in ("a->b", "b->a"):
        assert res[d].recall[10] > 0.3 and res[d].mAP > 0.15, res.to_dict()
    for name in ("CCA", "ASIF", "LinearMap"):
        other = evaluate_retrieval(models[name], a, b, block_size=64)
        assert other.mean_map > 0.05, name


def test_real_csa_detection_beats_chance(real_models):
    models, make, rng = real_models
    class_z = rng.normal(size=(5, 4)) * 1.5
    labels = np.arange(200) % 5
    inputs, _ = make(class_z[labels] + 0.3 * rng.normal(size=(200, 4)))
    _, class_emb = make(class_z)
    z = rng.normal(size=(200, 4))
    a, b = make(z)
    _, reference = make(z)  # a second caption of the same items, with its own noise
    for name, model in models.items():
        mis = detect_mislabelled(model, inputs, labels, class_emb, flip_fraction=0.2, seed=0)
        ooc = detect_out_of_context(model, a, b, seed=0)
        # Chance is 0.5; plain CCA weighs its 12 noise dimensions equally and is weakest.
        assert mis.auc > 0.7 and ooc.auc > 0.7, (name, mis.auc, ooc.auc)
        if name == "CSA":
            assert mis.auc > 0.8 and ooc.auc > 0.8, (mis.auc, ooc.auc)
    csa_model = models["CSA"]
    bil = detect_out_of_context_bilevel(csa_model, a, b, reference, seed=0, sim_dim=4)
    assert bil.auc > 0.85 and bil.accuracy_test > 0.75, bil.to_dict()
    assert bil.sim_dim == 4


def test_real_csa_select_sim_dim(real_models):
    models, make, rng = real_models
    a, b = make(rng.normal(size=(150, 4)))
    sel = select_sim_dim(models["CSA"], a, b, metric="map")
    k = models["CSA"].canonical_correlations_.shape[0]
    assert max(sel.curve) == k and 1 <= sel.best <= k
    # Four latent dimensions are shared: using at least that many beats using one.
    assert sel.curve[4] > sel.curve[1]
    assert 3 <= sel.best <= 6, sel.curve  # near the true shared dimension, not all k
    assert sel.best_score == max(sel.curve.values())
    res = evaluate_retrieval(models["CSA"], a, b, sim_dim=sel.best)
    assert res.mean_map == pytest.approx(sel.best_score)


def test_per_query_retrieval_is_exposed_for_custom_loops():
    hits, ap = per_query_retrieval(np.eye(3), np.eye(3, dtype=bool), ks=(1,))
    assert hits.all() and np.allclose(ap, 1.0)


def test_tasks_accept_torch_tensors(real_models):
    torch = pytest.importorskip("torch")
    models, make, rng = real_models
    a, b = make(rng.normal(size=(60, 4)))
    expected = evaluate_retrieval(models["CSA"], a, b, block_size=16)
    got = evaluate_retrieval(models["CSA"], torch.from_numpy(a), torch.from_numpy(b), block_size=16)
    for d in ("a->b", "b->a"):
        assert got[d].mAP == pytest.approx(expected[d].mAP)
        assert got[d].recall == pytest.approx(expected[d].recall)
    ooc = detect_out_of_context(models["CSA"], torch.from_numpy(a), torch.from_numpy(b))
    assert ooc.auc == pytest.approx(detect_out_of_context(models["CSA"], a, b).auc)


@pytest.mark.slow
def test_zero_shot_news_topics_with_the_real_text_encoder():
    # One real encoder on both sides (headline and prompt in the same MiniLM space), so a
    # cosine is the model: checks templates, ensembling and scoring on real embeddings.
    from csa.encoders import get

    encoder = get("minilm-l6")
    topics = ["sport", "politics", "technology", "business", "entertainment"]
    class_emb = build_class_embeddings(encoder, topics, NEWS_TEMPLATES)
    assert class_emb.shape == (5, encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(class_emb, axis=1), 1.0, rtol=1e-5)
    headlines = [
        "Striker scores twice as United win the cup final",
        "Wimbledon champion knocked out in the first round",
        "Prime minister calls snap general election",
        "Parliament votes down the government's budget bill",
        "New smartphone chip doubles battery life",
        "Software giant releases faster web browser",
        "Shares fall as the central bank raises interest rates",
        "Car maker's profits jump after record sales",
        "Oscar nominations announced for best film",
        "Pop star tops the charts with new album",
    ]
    labels = np.repeat(np.arange(5), 2)
    res = zero_shot_classify(CosineScorer(), encoder.encode(headlines), class_emb, labels)
    assert res.top1 >= 0.8, res.predictions
    assert res.top_k[5] == 1.0  # five classes: every class is in the top five


def test_templates_with_named_or_extra_fields_and_case_twin_classes_are_refused():
    # before: '{x}' raised a bare KeyError from str.format; "actions"/"Actions" passed
    for bad in (["{x} {}"], ["{x}"], ["{} {}"], ["a {"], [3]):
        with pytest.raises(InputError, match="template"):
            build_prompts(["cat"], bad)
    assert build_prompts(["cat"], ["{{literal}} {}"]) == ["{literal} cat"]
    with pytest.raises(InputError, match="only by case"):
        build_prompts(["actions", "Actions"], ["{}"])
    with pytest.raises(InputError, match="repeats"):
        build_prompts(["cat", "cat"], ["{}"])


def _small_fit():
    import csa

    rng = np.random.default_rng(5)
    a = rng.normal(size=(60, 6))
    b = a[:, :4] @ rng.normal(size=(4, 5)) + 0.3 * rng.normal(size=(60, 5))
    return csa.CCA(ridge=0.1).fit(a, b), a, b


def test_fractional_counts_nan_and_string_options_are_refused_not_coerced():
    # before: ks=(1.5,) reported recall@1, candidates [1.5] scanned s=1, a NaN flip
    # fraction raised a bare ValueError, seed="3" reached numpy
    from csa.tasks import tune

    model, a, b = _small_fit()
    with pytest.raises(ParameterError, match=r"1\.5"):
        evaluate_retrieval(model, a, b, ks=(1.5,))
    with pytest.raises(ParameterError, match=r"1\.5"):
        select_sim_dim(model, a, b, candidates=[1.5])
    labels = np.arange(60) % 3
    classes = b[:3]
    for fraction in (float("nan"), "0.1", 1.5, 0):
        with pytest.raises(ParameterError, match="flip_fraction"):
            detect_mislabelled(model, a, labels, classes, flip_fraction=fraction)
    for seed in ("3", 1.5, -1):
        with pytest.raises(ParameterError, match="seed"):
            detect_out_of_context(model, a, b, seed=seed)
    for grid in ("ridge", 5, [5]):
        with pytest.raises(InputError, match="grid"):
            tune(type(model), grid, a, b, a, b)


def test_a_foreign_scorer_without_query_options_works_and_refuses_one_by_name():
    class Dot:  # only similarity(a, b), as a wrapped CLIP would have
        def similarity(self, a, b):
            return np.asarray(a) @ np.asarray(b).T

    a = np.eye(4)
    result = evaluate_retrieval(Dot(), a, a)
    assert result.directions["a->b"].recall[1] == 1.0
    with pytest.raises(ParameterError, match=r"Dot\.similarity takes no sim_dim"):
        evaluate_retrieval(Dot(), a, a, sim_dim=2)
