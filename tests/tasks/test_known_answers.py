"""Every public task against answers computed by hand, on models whose sides differ.

Each test states the expected value with plain numpy (:mod:`known_models`), from the
definition of the task, and checks that the data can tell a right answer from the
wrong one it guards against (a side swap, top-1 for top-K, the gallery size for the
number of queries...), so no test here passes on a bug by construction.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import csa
from csa.tasks import (
    BilevelRule,
    CosineScorer,
    build_class_embeddings,
    choose_mismatch_threshold,
    detect_mislabelled,
    detect_out_of_context,
    detect_out_of_context_bilevel,
    evaluate_retrieval,
    fit_bilevel_rule,
    fit_mismatch_threshold,
    roc_auc,
    select_sim_dim,
    top_k_accuracy,
    tune,
    zero_shot_classify,
    zero_shot_scores,
)
from known_models import (
    AsymmetricBilinear,
    auc_by_hand,
    average_precision_by_hand,
    bilinear_by_hand,
    csa_scores_by_hand,
    ranks_by_hand,
)
from synthetic import known_cca_pairs


@pytest.fixture(scope="module")
def toy():
    return AsymmetricBilinear(dim=3, seed=0)


@pytest.fixture(scope="module")
def fitted_csa():
    """A CSA fit with equal widths on both sides, so a swapped side runs without error."""
    a, b = known_cca_pairs(400, rho=(0.9, 0.7, 0.5), dim_a=5, dim_b=5, seed=1, mixing_seed=7)
    model = csa.CSA(ridge=0.05, sim_dim=3, weights="canonical").fit(a, b)
    a_new, b_new = known_cca_pairs(60, rho=(0.9, 0.7, 0.5), dim_a=5, dim_b=5, seed=2, mixing_seed=7)
    return model, a_new, b_new


def _top_k_by_hand(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    hits = [int(np.sum(row >= row[y])) <= k for row, y in zip(scores, labels, strict=True)]
    return float(np.mean(hits))


# ------------------------------------------------------------------ zero-shot, side b
def test_zero_shot_scores_with_inputs_on_side_b_score_classes_as_side_a(toy):
    rng = np.random.default_rng(0)
    classes = rng.normal(size=(4, 3))  # side a: the prompts
    inputs = rng.normal(size=(7, 3))  # side b: the items classified
    got = zero_shot_scores(toy, inputs, classes, inputs_side="b", block_size=2)
    expected = bilinear_by_hand(toy, classes, inputs).T
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    swapped = bilinear_by_hand(toy, inputs, classes)
    assert np.abs(swapped - expected).max() > 0.5  # the sides matter for this model
    on_a = zero_shot_scores(toy, inputs, classes, inputs_side="a")
    np.testing.assert_allclose(on_a, swapped, rtol=1e-12, atol=1e-12)


def test_zero_shot_classify_side_b_top_k_by_hand(toy):
    rng = np.random.default_rng(1)
    classes = rng.normal(size=(5, 3))
    inputs = rng.normal(size=(40, 3))
    right = bilinear_by_hand(toy, classes, inputs).T
    labels = rng.integers(0, 5, size=40)
    labels[:20] = np.argmax(right[:20], axis=1)  # half are classified right by the true sides
    res = zero_shot_classify(toy, inputs, classes, labels, top_k=(1, 2), inputs_side="b")
    assert res.top_k[1] == pytest.approx(_top_k_by_hand(right, labels, 1), abs=1e-12)
    assert res.top_k[2] == pytest.approx(_top_k_by_hand(right, labels, 2), abs=1e-12)
    np.testing.assert_array_equal(res.predictions, np.argmax(right, axis=1))
    wrong = bilinear_by_hand(toy, inputs, classes)
    assert _top_k_by_hand(wrong, labels, 1) != _top_k_by_hand(right, labels, 1)


def test_zero_shot_side_b_on_a_fitted_csa_matches_the_formula(fitted_csa):
    model, a_new, b_new = fitted_csa
    classes = a_new[:6]  # side-a rows stand for class prompts
    inputs = b_new[10:40]
    got = zero_shot_scores(model, inputs, classes, inputs_side="b", sim_dim=2)
    expected = csa_scores_by_hand(model, classes, inputs, sim_dim=2).T
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10)
    wrong = csa_scores_by_hand(model, inputs, classes, sim_dim=2)
    assert np.abs(wrong - expected).max() > 0.1


# ------------------------------------------------------------- mislabelled, side b
def _check_mislabelled(res, full, labels):
    """``full[c, i]``: score of input i with class c's caption, in the right side order."""
    flipped = np.asarray(res.is_mismatch)
    assert res.n_mismatched == int(flipped.sum()) and res.n_genuine == int((~flipped).sum())
    for i, score in enumerate(res.scores):
        if flipped[i]:
            others = [full[c, i] for c in range(full.shape[0]) if c != labels[i]]
            assert np.min(np.abs(np.asarray(others) - score)) < 1e-9, i
        else:
            assert score == pytest.approx(full[labels[i], i], abs=1e-9), i
    assert res.auc == pytest.approx(auc_by_hand(res.scores, ~flipped), abs=1e-12)


def test_mislabelled_with_inputs_on_side_b_scores_caption_then_input(toy):
    rng = np.random.default_rng(2)
    classes = rng.normal(size=(4, 3))
    labels = rng.integers(0, 4, size=24)
    inputs = classes[labels] @ np.linalg.inv(toy.m_b).T * 0.3 + rng.normal(size=(24, 3))
    res = detect_mislabelled(
        toy, inputs, labels, classes, flip_fraction=0.25, seed=3, inputs_side="b"
    )
    assert res.n_mismatched == 6
    full = bilinear_by_hand(toy, classes, inputs)  # (classes, inputs): caption on side a
    _check_mislabelled(res, full, labels)
    wrong = bilinear_by_hand(toy, inputs, classes).T
    keep = ~np.asarray(res.is_mismatch)
    assert np.abs(wrong[labels[keep], np.flatnonzero(keep)] - res.scores[keep]).max() > 0.1


def test_mislabelled_side_b_on_a_fitted_csa(fitted_csa):
    model, a_new, b_new = fitted_csa
    classes = a_new[:5]
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 5, size=30)
    inputs = b_new[20:50]
    res = detect_mislabelled(
        model, inputs, labels, classes, flip_fraction=0.2, seed=0, inputs_side="b"
    )
    _check_mislabelled(res, csa_scores_by_hand(model, classes, inputs), labels)


def test_out_of_context_scores_and_auc_by_hand(fitted_csa):
    model, a_new, b_new = fitted_csa
    res = detect_out_of_context(model, a_new, b_new, seed=5)
    n = a_new.shape[0]
    full = csa_scores_by_hand(model, a_new, b_new)
    np.testing.assert_allclose(res.scores[:n], np.diag(full), atol=1e-9)
    # every wrong score is an off-diagonal entry, and each caption is used once
    used = []
    for i, s in enumerate(res.scores[n:]):
        j = int(np.argmin(np.abs(full[i] - s)))
        assert j != i and abs(full[i, j] - s) < 1e-9
        used.append(j)
    assert sorted(used) == list(range(n))
    assert res.auc == pytest.approx(auc_by_hand(res.scores, ~res.is_mismatch), abs=1e-12)


# ------------------------------------------------------------------ the bilevel rule
def test_bilevel_match_score_margins_written_out():
    rule = BilevelRule(t_cross=0.2, t_text=0.5, scale_cross=0.1, scale_text=2.0)
    cross = [0.3, 0.1, 0.15, 0.0]
    text = [0.0, 0.9, 0.4, 0.6]
    # cross margins (c - 0.2) / 0.1 = [1, -1, -0.5, -2]; text (t - 0.5) / 2 = [-0.25, 0.2,
    # -0.05, 0.05]; the score is the larger of the two
    np.testing.assert_allclose(rule.match_score(cross, text), [1.0, 0.2, -0.05, 0.05], atol=1e-12)
    np.testing.assert_array_equal(rule.flag(cross, text), [False, False, True, False])
    only_text = BilevelRule(t_cross=np.inf, t_text=0.5, scale_cross=0.1, scale_text=2.0)
    np.testing.assert_allclose(only_text.match_score(cross, text), [-0.25, 0.2, -0.05, 0.05])


def test_fit_bilevel_rule_on_six_points():
    cross = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.4])
    text = np.array([0.2, 0.9, 0.8, 0.3, 0.1, 0.2])
    mismatch = np.array([False, False, False, False, True, True])
    rule, accuracy = fit_bilevel_rule(cross, text, mismatch)
    # The two mismatches are the only points under cross 0.5 and text 0.25 at once; the
    # lowest such thresholds are the midpoints 0.5 = (0.4 + 0.6) / 2 and 0.25 = (0.2 + 0.3) / 2.
    assert (rule.t_cross, rule.t_text, accuracy) == pytest.approx((0.5, 0.25, 1.0))
    sc = np.sqrt(np.mean((cross - cross.mean()) ** 2))
    st = np.sqrt(np.mean((text - text.mean()) ** 2))
    assert (rule.scale_cross, rule.scale_text) == pytest.approx((sc, st), abs=1e-12)
    margins = np.maximum((cross - 0.5) / sc, (text - 0.25) / st)
    np.testing.assert_allclose(rule.match_score(cross, text), margins, atol=1e-12)


def _derangements(n):
    return [p for p in itertools.permutations(range(n)) if all(p[i] != i for i in range(n))]


def _fit_rule_by_hand(c, t, y):
    """Exhaustive search over midpoint thresholds; ties to the lowest cross, then text."""

    def grid(v):
        u = np.unique(v)
        return np.concatenate([[-np.inf], (u[:-1] + u[1:]) / 2, [np.inf]])

    best = None
    for tc in grid(c):
        for tt in grid(t):
            acc = float(np.mean(((c < tc) & (t < tt)) == y))
            if best is None or acc > best[2]:
                best = (tc, tt, acc)
    sc, st = float(np.std(c)), float(np.std(t))
    return best, (sc if sc > 0 else 1.0, st if st > 0 else 1.0)


def _bilevel_by_hand(cross, text, val, test, p_val, p_test):
    """cross/text: full (n, n) score tables; partners given as global rows."""

    def scores(items, partners):
        c = np.concatenate([cross[items, items], cross[items, partners]])
        t = np.concatenate([text[items, items], text[partners, items]])
        return c, t, np.repeat([False, True], len(items))

    cv, tv, yv = scores(val, p_val)
    ct, tt_, yt = scores(test, p_test)
    (tc, tt, acc_val), (sc, st) = _fit_rule_by_hand(cv, tv, yv)
    flags = (ct < tc) & (tt_ < tt)
    margins = []
    if tc != np.inf:
        margins.append((ct - tc) / sc)
    if tt != np.inf:
        margins.append((tt_ - tt) / st)
    match = np.max(margins, axis=0) if margins else np.zeros_like(ct)
    return {
        "t_cross": tc,
        "t_text": tt,
        "accuracy_val": acc_val,
        "accuracy_test": float(np.mean(flags == yt)),
        "auc": auc_by_hand(match, ~yt),
        "auc_cross_only": auc_by_hand(ct, ~yt),
        "auc_text_only": auc_by_hand(tt_, ~yt),
    }


def test_bilevel_end_to_end_equals_one_hand_computed_split(fitted_csa):
    """Six items: every split into 3 + 3 and every derangement within each is computed by
    hand; the task's result must be one of them, exactly. A caption drawn from the wrong
    split, or margins scaled by the wrong spread, matches none."""
    model, a_new, b_new = fitted_csa
    a, b = a_new[:6], b_new[:6]
    rng = np.random.default_rng(8)
    reference = b + rng.normal(scale=3.0, size=b.shape)
    res = detect_out_of_context_bilevel(model, a, b, reference, seed=0)
    assert (res.n_val_items, res.n_test_items) == (3, 3)
    cross = csa_scores_by_hand(model, a, b)
    unit_b = b / np.linalg.norm(b, axis=1, keepdims=True)
    unit_r = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    text = unit_b @ unit_r.T  # text[j, i]: caption j against item i's reference
    got = {
        "t_cross": res.rule.t_cross,
        "t_text": res.rule.t_text,
        "accuracy_val": res.accuracy_val,
        "accuracy_test": res.accuracy_test,
        "auc": res.auc,
        "auc_cross_only": res.auc_cross_only,
        "auc_text_only": res.auc_text_only,
    }
    matches = 0
    for val in itertools.combinations(range(6), 3):
        test = [i for i in range(6) if i not in val]
        for dv in _derangements(3):
            for dt in _derangements(3):
                p_val = [val[k] for k in dv]
                p_test = [test[k] for k in dt]
                hand = _bilevel_by_hand(cross, text, list(val), test, p_val, p_test)
                if all(np.isclose(hand[k], got[k], atol=1e-9) for k in hand):
                    matches += 1
    assert matches >= 1, got


class _Spy:
    """A scorer that records which rows it was asked to pair (column 0 holds the row id)."""

    def __init__(self):
        self.calls = []

    def score_pairs(self, a, b):
        a, b = np.asarray(a), np.asarray(b)
        self.calls.append((a[:, 0].astype(int).tolist(), b[:, 0].astype(int).tolist()))
        return np.sin(a[:, 1] * 3 + b[:, 1])  # any score that differs between pairs

    def similarity(self, a, b):  # pragma: no cover - the bilevel rule scores pairs only
        raise AssertionError("bilevel scoring must use score_pairs")


def test_bilevel_draws_each_wrong_caption_from_its_own_split_once():
    n = 10
    rng = np.random.default_rng(9)
    ids = np.arange(n, dtype=float)[:, None]
    a = np.hstack([ids, rng.normal(size=(n, 2))])
    b = np.hstack([ids, rng.normal(size=(n, 2))])
    cross, text = _Spy(), _Spy()
    detect_out_of_context_bilevel(cross, a, b, b, text_model=text, seed=4)
    wrong = [(i, j) for qa, qb in cross.calls for i, j in zip(qa, qb, strict=True) if i != j]
    genuine = [i for qa, qb in cross.calls for i, j in zip(qa, qb, strict=True) if i == j]
    assert sorted(genuine) == list(range(n))
    assert sorted(j for _, j in wrong) == list(range(n))  # each caption is a negative once
    assert sorted(i for i, _ in wrong) == list(range(n))
    # the text scorer sees the same wrong captions against the item's own reference
    text_wrong = [(i, j) for qb, qr in text.calls for j, i in zip(qb, qr, strict=True) if i != j]
    assert sorted(text_wrong) == sorted(wrong)
    # the wrong pairs form cycles within a split: follow them and no cycle exceeds n / 2
    partner = dict(wrong)
    for start in range(n):
        seen, i = {start}, partner[start]
        while i != start:
            seen.add(i)
            i = partner[i]
        assert len(seen) <= n // 2


# ------------------------------------------------------------ selection: accuracy@K
def test_tune_accuracy_at_k_is_top_k_not_top_1(toy):
    rng = np.random.default_rng(10)
    classes = rng.normal(size=(6, 3))
    inputs = rng.normal(size=(50, 3))
    labels = rng.integers(0, 6, size=50)
    scores = bilinear_by_hand(toy, inputs, classes)
    top1, top3 = _top_k_by_hand(scores, labels, 1), _top_k_by_hand(scores, labels, 3)
    assert top1 != top3
    res = tune(
        lambda: toy,
        None,
        inputs,
        inputs,
        inputs,
        inputs,
        metric="accuracy@3",
        class_embeddings=classes,
        labels=labels,
    )
    assert res.best_score == pytest.approx(top3, abs=1e-12)


def test_select_sim_dim_accuracy_at_2_curve_by_hand(fitted_csa):
    model, a_new, b_new = fitted_csa
    classes = b_new[:8]
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 8, size=40)
    inputs = a_new[20:60]
    sel = select_sim_dim(
        model,
        inputs,
        inputs,
        [2, 3, 5],  # s = 1 scores every pair +-rho_1: ties, not a ranking
        "accuracy@2",
        class_embeddings=classes,
        labels=labels,
    )
    differs = False
    for s in (2, 3, 5):
        scores = csa_scores_by_hand(model, inputs, classes, sim_dim=s)
        assert sel.curve[s] == pytest.approx(_top_k_by_hand(scores, labels, 2), abs=1e-12)
        differs |= _top_k_by_hand(scores, labels, 1) != _top_k_by_hand(scores, labels, 2)
    assert differs


def test_select_sim_dim_auc_curve_by_hand(fitted_csa):
    model, a_new, b_new = fitted_csa
    sel = select_sim_dim(model, a_new, b_new, [1, 3], "auc", seed=2)
    for s in (1, 3):
        res = detect_out_of_context(model, a_new, b_new, seed=2, sim_dim=s)
        assert sel.curve[s] == pytest.approx(auc_by_hand(res.scores, ~res.is_mismatch))
    assert sel.best == max((1, 3), key=lambda s: (sel.curve[s], -s))


# --------------------------------------------------------------------------- retrieval
def _retrieval_by_hand(scores, relevance, ks):
    recall = {k: 0.0 for k in ks}
    aps = []
    for row, rel in zip(scores, relevance, strict=True):
        ranks = ranks_by_hand(row, rel)
        for k in ks:
            recall[k] += float(ranks[0] <= k) / scores.shape[0]
        aps.append(average_precision_by_hand(row, rel))
    return recall, float(np.mean(aps))


@pytest.mark.parametrize("block_size", [2, 3, None])
def test_paired_retrieval_in_blocks_by_hand(toy, block_size):
    rng = np.random.default_rng(12)
    a = rng.normal(size=(9, 3))
    b = a @ toy.m_a @ np.linalg.inv(toy.m_b) + rng.normal(scale=1.5, size=(9, 3))
    res = evaluate_retrieval(toy, a, b, ks=(1, 3), block_size=block_size)
    full = bilinear_by_hand(toy, a, b)
    eye = np.eye(9, dtype=bool)
    for direction, scores in (("a->b", full), ("b->a", full.T)):
        recall, m_ap = _retrieval_by_hand(scores, eye, (1, 3))
        assert res[direction].recall == pytest.approx(recall, abs=1e-12)
        assert res[direction].mAP == pytest.approx(m_ap, abs=1e-12)
        assert 0 < recall[1] < 1  # neither all found nor none: an offset would move it


def test_retrieval_with_repeated_captions_in_blocks_by_hand(toy):
    rng = np.random.default_rng(13)
    a = rng.normal(size=(8, 3))
    captions = rng.normal(size=(3, 3))
    which = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    b = captions[which]
    res = evaluate_retrieval(toy, a, b, ks=(1,), block_size=3, directions=("a->b",))
    relevant = which[:, None] == which[None, :]  # identical captions are right answers
    recall, m_ap = _retrieval_by_hand(bilinear_by_hand(toy, a, b), relevant, (1,))
    assert res["a->b"].recall[1] == pytest.approx(recall[1], abs=1e-12)
    assert res["a->b"].mAP == pytest.approx(m_ap, abs=1e-12)


def test_retrieval_on_a_fitted_csa_in_blocks_by_hand(fitted_csa):
    model, a_new, b_new = fitted_csa
    res = evaluate_retrieval(model, a_new, b_new, ks=(1, 5), sim_dim=2, block_size=7)
    full = csa_scores_by_hand(model, a_new, b_new, sim_dim=2)
    eye = np.eye(a_new.shape[0], dtype=bool)
    for direction, scores in (("a->b", full), ("b->a", full.T)):
        recall, m_ap = _retrieval_by_hand(scores, eye, (1, 5))
        assert res[direction].recall == pytest.approx(recall, abs=1e-12)
        assert res[direction].mAP == pytest.approx(m_ap, abs=1e-12)


def test_map_is_a_mean_over_queries_when_gallery_size_differs(toy):
    rng = np.random.default_rng(14)
    a = rng.normal(size=(5, 3))
    b = rng.normal(size=(8, 3))
    labels_a = np.array([0, 1, 2, 0, 1])
    labels_b = np.array([0, 1, 2, 0, 1, 2, 2, 1])
    res = evaluate_retrieval(toy, a, b, labels_a=labels_a, labels_b=labels_b, ks=(1, 2))
    full = bilinear_by_hand(toy, a, b)
    rel = labels_a[:, None] == labels_b[None, :]
    for direction, scores, relevance in (("a->b", full, rel), ("b->a", full.T, rel.T)):
        recall, m_ap = _retrieval_by_hand(scores, relevance, (1, 2))
        assert res[direction].mAP == pytest.approx(m_ap, abs=1e-12)
        assert res[direction].recall == pytest.approx(recall, abs=1e-12)
        assert res[direction].n_queries == scores.shape[0]
    assert res.mean_map == pytest.approx((res["a->b"].mAP + res["b->a"].mAP) / 2)


# -------------------------------------------------------------- mismatch thresholds
def test_false_positive_budget_is_inclusive():
    genuine = [0.5, 0.6, 0.7, 0.8]
    mismatched = [0.1, 0.55, 0.65]
    scores = np.array(genuine + mismatched)
    is_mismatch = np.array([False] * 4 + [True] * 3)
    th = fit_mismatch_threshold(scores, is_mismatch, max_false_positive_rate=0.25)
    # candidates are midpoints; 0.575 flags one genuine pair of four (exactly the budget)
    # and two mismatches (0.1, 0.55); the next, 0.625, would flag two genuine pairs.
    assert th.threshold == pytest.approx(0.575)
    assert (th.false_positive_rate, th.true_positive_rate) == pytest.approx((0.25, 2 / 3))
    youden = fit_mismatch_threshold(scores, is_mismatch)
    # J = tpr - fpr: 0.525 gives 2/3 - 1/4, 0.3 gives 1/3 - 0, 0.675 gives 1 - 1/2
    assert youden.threshold == pytest.approx(0.675)
    assert youden.true_positive_rate - youden.false_positive_rate == pytest.approx(0.5)


def test_chosen_threshold_on_a_fitted_csa_spends_the_budget_exactly(fitted_csa):
    model, a_new, b_new = fitted_csa
    n = a_new.shape[0]
    th = choose_mismatch_threshold(model, a_new, b_new, max_false_positive_rate=3 / n)
    genuine = np.sort(np.diag(csa_scores_by_hand(model, a_new, b_new)))
    # the highest threshold flagging at most 3 genuine pairs lies just under the 4th lowest
    assert int(np.sum(genuine < th.threshold)) == 3
    assert genuine[2] < th.threshold < genuine[3]
    assert th.false_positive_rate == pytest.approx(3 / n)


def test_cosine_scorer_by_hand():
    rng = np.random.default_rng(15)
    x, y = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    ux = x / np.linalg.norm(x, axis=1, keepdims=True)
    uy = y / np.linalg.norm(y, axis=1, keepdims=True)
    np.testing.assert_allclose(CosineScorer().similarity(x, y), ux @ uy.T, atol=1e-12)
    np.testing.assert_allclose(CosineScorer().score_pairs(x, y), np.sum(ux * uy, 1), atol=1e-12)


# ------------------------------------------------------------------ prompts and ties
class _Prompts:
    """A prompt encoder: each prompt's vector is fixed, with very different norms."""

    def __init__(self, table):
        self.table = table
        self.seen = []

    def encode(self, texts, **kwargs):
        self.seen.extend(texts)
        return np.stack([self.table[t] for t in texts])


def test_class_embeddings_average_unit_prompts_class_by_class():
    table = {
        "a cat": np.array([10.0, 0.0, 0.0]),
        "the cat": np.array([0.0, 1.0, 0.0]),
        "a dog": np.array([0.0, 0.0, 3.0]),
        "the dog": np.array([1.0, 0.0, 1.0]),
    }
    enc = _Prompts(table)
    emb = build_class_embeddings(enc, ["cat", "dog"], ["a {}", "the {}"])
    assert enc.seen == ["a cat", "the cat", "a dog", "the dog"]
    # unit prompts averaged, then the mean normalised: cat (1, 1, 0)/sqrt2; dog from
    # (0, 0, 1) and (1, 0, 1)/sqrt2
    dog = np.array([0.0, 0.0, 1.0]) + np.array([1.0, 0.0, 1.0]) / np.sqrt(2)
    expected = np.array([[1.0, 1.0, 0.0] / np.sqrt(2), dog / np.linalg.norm(dog)])
    np.testing.assert_allclose(emb, expected, rtol=1e-6)


def test_tied_scores_rank_the_true_class_last():
    scores = np.array([[0.5, 0.5, 0.5], [0.9, 0.2, 0.9], [0.1, 0.3, 0.2]])
    labels = np.array([0, 2, 1])
    # row 0: three-way tie -> rank 3; row 1: tie with class 0 -> rank 2; row 2: rank 1
    assert top_k_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(scores, labels, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(scores, labels, 3) == pytest.approx(1.0)


def test_roc_auc_counts_ties_one_half():
    scores = [0.9, 0.5, 0.5, 0.1, 0.5]
    positive = [True, True, False, False, False]
    # pairs (pos, neg): 0.9 beats all 3; 0.5 beats 0.1, ties 0.5 twice -> (3 + 1 + 1) / 6
    assert roc_auc(scores, positive) == pytest.approx(5 / 6)
    assert roc_auc(scores, positive) == pytest.approx(auc_by_hand(scores, positive))


def test_youden_ties_go_to_the_lower_threshold():
    scores = np.array([0.4, 0.8, 0.2, 0.6])
    is_mismatch = np.array([False, False, True, True])
    th = fit_mismatch_threshold(scores, is_mismatch)
    # J = 1/2 at t = 0.3 (flags 0.2) and at t = 0.7 (flags 0.2, 0.4, 0.6): fewer flags win
    assert th.threshold == pytest.approx(0.3)
    assert (th.true_positive_rate, th.false_positive_rate) == pytest.approx((0.5, 0.0))


def test_out_of_context_never_draws_an_identical_caption(toy):
    rng = np.random.default_rng(16)
    a = rng.normal(size=(12, 3))
    captions = rng.normal(size=(3, 3))
    which = np.arange(12) % 3
    b = captions[which]
    res = detect_out_of_context(toy, a, b, seed=1)
    full = bilinear_by_hand(toy, a, b)
    for i, s in enumerate(res.scores[12:]):
        j = int(np.argmin(np.abs(full[i] - s)))
        assert abs(full[i, j] - s) < 1e-9 and which[j] != which[i]


def test_ties_in_selection_go_to_the_smallest_sim_dim(fitted_csa):
    model, a_new, b_new = fitted_csa
    a, b = a_new[:8], b_new[:8]
    # recall@8 over a gallery of 8 is 1 at every s: a three-way tie to break
    sel = select_sim_dim(model, a, b, [5, 3, 2], "recall@8")
    assert sel.curve == {2: 1.0, 3: 1.0, 5: 1.0} and sel.best == 2
    res = tune(
        lambda: model, None, a, b, a, b, metric="recall@8", query_grid={"sim_dim": [5, 3, 2]}
    )
    assert res.best_query == {"sim_dim": 2} and res.best_score == 1.0


def test_linear_map_scores_by_its_formula(fitted_csa):
    _, a_new, b_new = fitted_csa
    model = csa.LinearMap(ridge=0.5).fit(a_new, b_new)
    pred = (a_new[:7] - model.mean_a_) @ model.coef_
    target = b_new[:9] - model.mean_b_
    pred /= np.linalg.norm(pred, axis=1, keepdims=True)
    target /= np.linalg.norm(target, axis=1, keepdims=True)
    np.testing.assert_allclose(model.similarity(a_new[:7], b_new[:9]), pred @ target.T, atol=1e-10)


class _Recording:
    """A fitted model passed through unchanged, noting which rows of a and b each call paired."""

    def __init__(self, model, a, b):
        self.model = model
        self.rows_a = {np.asarray(r).tobytes(): i for i, r in enumerate(a)}
        self.rows_b = {np.asarray(r).tobytes(): i for i, r in enumerate(b)}
        self.calls = []

    def score_pairs(self, x, y, **options):
        ids_x = [self.rows_a[np.asarray(r).tobytes()] for r in x]
        ids_y = [self.rows_b[np.asarray(r).tobytes()] for r in y]
        self.calls.append((ids_x, ids_y))
        return self.model.score_pairs(x, y, **options)

    def similarity(self, x, y, **options):  # pragma: no cover - the rule scores pairs only
        return self.model.similarity(x, y, **options)


def test_bilevel_on_a_fitted_csa_with_the_split_read_off_the_calls(fitted_csa):
    """30 items, 12 for validation: which items and wrong captions each split used is read
    from the calls the task makes; every number of the result is then recomputed by hand."""
    model, a_new, b_new = fitted_csa
    a, b = a_new[:30], b_new[:30]
    rng = np.random.default_rng(17)
    reference = 3.0 * b + rng.normal(scale=1.0, size=b.shape)
    spy = _Recording(model, a, b)
    res = detect_out_of_context_bilevel(spy, a, b, reference, val_fraction=0.4, seed=2)
    assert (res.n_val_items, res.n_test_items) == (12, 18)
    genuine = {len(x): x for x, y in spy.calls if x == y}
    wrong = {len(x): (x, y) for x, y in spy.calls if x != y}
    (val, (val_items, p_val)), (test, (test_items, p_test)) = (
        (genuine[12], wrong[12]),
        (genuine[18], wrong[18]),
    )
    assert val == val_items and test == test_items and not set(val) & set(test)
    # each split's wrong captions are its own items' captions, each used once, none its own
    assert sorted(p_val) == sorted(val) and sorted(p_test) == sorted(test)
    assert all(i != j for i, j in zip(val + test, p_val + p_test, strict=True))
    cross = csa_scores_by_hand(model, a, b)
    text = (b / np.linalg.norm(b, axis=1, keepdims=True)) @ (
        reference / np.linalg.norm(reference, axis=1, keepdims=True)
    ).T
    hand = _bilevel_by_hand(cross, text, val, test, p_val, p_test)
    assert res.rule.t_cross == pytest.approx(hand["t_cross"], abs=1e-9)
    assert res.rule.t_text == pytest.approx(hand["t_text"], abs=1e-9)
    for key in ("accuracy_val", "accuracy_test", "auc", "auc_cross_only", "auc_text_only"):
        assert getattr(res, key) == pytest.approx(hand[key], abs=1e-9), key
