"""The one object's numbers against hand computations: scores, probabilities, calibration.

Encoders here are lookup tables (real :class:`BatchedEncoder` subclasses, no weights), so
every path of :class:`MultimodalEncoder` runs in milliseconds: fit with held-out pairs,
calibrate, classify on either side, search, flag, save and load. Every expected number
is computed in the test from the fitted map's attributes and the design's formulas.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

import csa
from csa.multimodal import Calibration, MultimodalEncoder
from known_models import TableEncoder, csa_scores_by_hand, softmax_by_hand

CLASSES = ("red", "green", "blue", "yellow")
N_ITEMS = 80


def _unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def world():
    """Items img0..img79 of four classes (side a, 6-d) and their class captions (side b, 5-d)."""
    rng = np.random.default_rng(0)
    centre_a = rng.normal(size=(4, 6)) * 2
    centre_b = rng.normal(size=(4, 5)) * 2
    labels = np.arange(N_ITEMS) % 4
    image_vectors = centre_a[labels] + rng.normal(scale=0.8, size=(N_ITEMS, 6))
    table_a = {f"img{i}": image_vectors[i] for i in range(N_ITEMS)}
    table_a.update({name: centre_a[c] for c, name in enumerate(CLASSES)})  # prompts for side b
    # the caption of class c is its name; a few paraphrases give side b more than 4 rows
    table_b = {name: centre_b[c] for c, name in enumerate(CLASSES)}
    for c, name in enumerate(CLASSES):
        table_b[f"a {name} thing"] = centre_b[c] + rng.normal(scale=0.3, size=5)
    items_a = [f"img{i}" for i in range(N_ITEMS)]
    captions = [CLASSES[c] if i % 3 else f"a {CLASSES[c]} thing" for i, c in enumerate(labels)]
    return table_a, table_b, items_a, captions, labels


def _object(world, tmp_path):
    table_a, table_b, *_ = world
    enc_a = TableEncoder("table-a", table_a, modality="image-table")
    enc_b = TableEncoder("table-b", table_b, modality="text")
    model = csa.CSA(ridge=0.05, sim_dim=3, weights="canonical")
    return MultimodalEncoder(enc_a, enc_b, model, cache_dir=tmp_path / "cache")


@pytest.fixture()
def fitted(world, tmp_path):
    _, _, items_a, captions, _ = world
    mm = _object(world, tmp_path)
    mm.fit(items_a[:60], captions[:60], held_out=0.25, seed=0)
    return mm


def _features(world, side, items):
    table = world[0] if side == "a" else world[1]
    return np.stack([np.asarray(table[i], dtype=np.float32) for i in items]).astype(np.float64)


def _class_prompts(world, side_of_prompts):
    table = world[0] if side_of_prompts == "a" else world[1]
    return _unit(np.stack([np.asarray(table[c], dtype=np.float32) for c in CLASSES]))


def test_classify_scores_and_probabilities_by_hand(world, fitted):
    _, _, items_a, _, labels = world
    test_items = items_a[60:]
    res = fitted.classify(test_items, list(CLASSES))
    fa = _features(world, "a", test_items)
    expected = csa_scores_by_hand(fitted.model, fa, _class_prompts(world, "b"))
    np.testing.assert_allclose(res.scores, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(res.indices, np.argmax(expected, axis=1))
    temperature = fitted.calibration_.temperature
    np.testing.assert_allclose(
        res.probabilities, softmax_by_hand(expected, temperature), rtol=1e-4, atol=1e-6
    )
    assert np.mean(res.indices == labels[60:]) >= 0.75  # the map has learnt the classes
    order = np.argsort(-expected, axis=1, kind="stable")
    np.testing.assert_array_equal(res.top_k(2), order[:, :2])


def test_probabilities_at_a_known_temperature(world, fitted):
    _, _, items_a, _, _ = world
    fitted.calibration_ = Calibration(
        temperature=0.2, threshold=0.0, true_positive_rate=1.0, false_positive_rate=0.0, n_pairs=9
    )
    res = fitted.classify(items_a[60:70], list(CLASSES))
    by_hand = np.exp(res.scores / 0.2)
    by_hand /= by_hand.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(res.probabilities, by_hand, rtol=1e-9, atol=1e-12)
    assert fitted.classify(items_a[60:70], list(CLASSES), sim_dim=2).probabilities is None


def _temperature_by_hand(scores, labels):
    """Minimise the mean log-loss of softmax(beta * scores) over a fine grid of log beta."""
    log_beta = np.linspace(np.log(1e-3), np.log(1e5), 40001)
    z = np.exp(log_beta)[:, None, None] * scores[None]
    true = z[:, np.arange(len(labels)), labels]
    losses = -np.mean(true - logsumexp(z, axis=2), axis=1)
    best = int(np.argmin(losses))
    assert 0 < best < len(log_beta) - 1  # an interior optimum, not a bound
    return float(np.exp(-log_beta[best]))


def test_calibrated_temperature_is_the_log_loss_optimum_over_distinct_captions(world, fitted):
    _, _, items_a, captions, _ = world
    held_a, held_b = items_a[60:], captions[60:]
    cal = fitted.calibrate(held_a, held_b, seed=1)
    fa = _features(world, "a", held_a)
    fb = _features(world, "b", held_b)
    # the classes are the distinct held-out captions, numbered by first appearance
    distinct = list(dict.fromkeys(held_b))
    targets = np.array([distinct.index(c) for c in held_b])
    columns = np.stack([fb[held_b.index(c)] for c in distinct])
    scores = csa_scores_by_hand(fitted.model, fa, columns)
    expected = _temperature_by_hand(scores, targets)
    assert cal.temperature == pytest.approx(expected, rel=2e-3)
    assert cal.n_pairs == len(held_a)
    # calibrated probabilities put most mass on the true caption: far from uniform
    probs = softmax_by_hand(scores, cal.temperature)
    assert np.mean(probs[np.arange(len(targets)), targets]) > 2 / len(distinct)


def test_classify_items_on_side_b_against_prompts_on_side_a(world, fitted):
    _, _, _, captions, _ = world
    queries = captions[60:72]
    res = fitted.classify(queries, list(CLASSES), side="b")
    fb = _features(world, "b", queries)
    expected = csa_scores_by_hand(fitted.model, _class_prompts(world, "a"), fb).T
    np.testing.assert_allclose(res.scores, expected, rtol=1e-5, atol=1e-6)
    truth = np.array([next(c for c, n in enumerate(CLASSES) if n in q) for q in queries])
    np.testing.assert_array_equal(res.indices, truth)


def test_search_both_directions_by_hand(world, fitted):
    _, _, items_a, captions, _ = world
    gallery = items_a[60:]
    res = fitted.search(["red", "blue"], gallery, k=4, query_side="b", backend="numpy")
    scores = csa_scores_by_hand(
        fitted.model, _features(world, "a", gallery), _features(world, "b", ["red", "blue"])
    ).T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(res.ids, order)
    np.testing.assert_allclose(res.scores, np.take_along_axis(scores, order, 1), atol=1e-5)
    back = fitted.search(gallery[:3], captions[60:], k=2, query_side="a", backend="numpy")
    s2 = csa_scores_by_hand(
        fitted.model, _features(world, "a", gallery[:3]), _features(world, "b", captions[60:])
    )
    top = np.take_along_axis(s2, np.argsort(-s2, axis=1, kind="stable")[:, :2], 1)
    np.testing.assert_allclose(back.scores, top, atol=1e-5)


def test_flag_and_score_pairs_by_hand(world, fitted):
    _, _, items_a, captions, _ = world
    a, b = items_a[60:], captions[60:]
    shuffled = b[1:] + b[:1]
    hand = np.diag(
        csa_scores_by_hand(fitted.model, _features(world, "a", a), _features(world, "b", shuffled))
    )
    np.testing.assert_allclose(fitted.score_pairs(a, shuffled), hand, atol=1e-5)
    threshold = float(np.median(hand))
    res = fitted.flag(a, shuffled, threshold=threshold)
    np.testing.assert_array_equal(res.flagged, hand < threshold)
    held = fitted.flag(a, b)  # the held-out threshold: genuine pairs mostly pass
    assert held.threshold == fitted.calibration_.threshold
    assert held.n_flagged < fitted.flag(a, shuffled).n_flagged


def test_saved_and_loaded_object_gives_the_same_probabilities(world, fitted, tmp_path):
    table_a, table_b, items_a, _, _ = world
    path = fitted.save(tmp_path / "model.csa")
    loaded = MultimodalEncoder.load(
        path,
        encoder_a=TableEncoder("table-a", table_a, modality="image-table"),
        encoder_b=TableEncoder("table-b", table_b, modality="text"),
        cache_dir=tmp_path / "cache",
    )
    assert loaded.calibration_.temperature == fitted.calibration_.temperature
    before = fitted.classify(items_a[60:], list(CLASSES))
    after = loaded.classify(items_a[60:], list(CLASSES))
    np.testing.assert_allclose(after.probabilities, before.probabilities, atol=1e-9)
    np.testing.assert_allclose(
        after.probabilities,
        softmax_by_hand(after.scores, fitted.calibration_.temperature),
        rtol=1e-9,
        atol=1e-12,
    )


def test_fit_holds_out_the_stated_share_and_fits_on_the_rest(world, tmp_path):
    _, _, items_a, captions, _ = world
    mm = _object(world, tmp_path)
    mm.fit(items_a[:60], captions[:60], held_out=0.25, seed=3)
    assert mm.model.n_pairs_seen_ == 45 == mm.fit_info_["n_fit"]
    assert mm.calibration_.n_pairs == 15
    whole = _object(world, tmp_path).fit(items_a[:60], captions[:60], held_out=0.0)
    assert whole.model.n_pairs_seen_ == 60 and whole.calibration_ is None
    # with nothing held out the map is the plain fit on every pair
    direct = csa.CSA(ridge=0.05, sim_dim=3, weights="canonical").fit(
        _features(world, "a", items_a[:60]), _features(world, "b", captions[:60])
    )
    np.testing.assert_allclose(
        whole.model.canonical_correlations_, direct.canonical_correlations_, rtol=1e-5
    )


def test_a_pair_scoring_exactly_the_threshold_is_not_flagged(world, fitted):
    _, _, items_a, captions, _ = world
    a, b = items_a[60:66], captions[61:67]
    scores = fitted.score_pairs(a, b)
    res = fitted.flag(a, b, threshold=float(scores[2]))
    np.testing.assert_array_equal(res.flagged, scores < scores[2])
    assert not res.flagged[2]


def test_calibration_at_a_chosen_sim_dim(world, fitted):
    _, _, items_a, captions, _ = world
    held_a, held_b = items_a[60:], captions[60:]
    cal = fitted.calibrate(held_a, held_b, sim_dim=2)
    assert cal.sim_dim == 2
    fa, fb = _features(world, "a", held_a), _features(world, "b", held_b)
    distinct = list(dict.fromkeys(held_b))
    targets = np.array([distinct.index(c) for c in held_b])
    columns = np.stack([fb[held_b.index(c)] for c in distinct])
    scores = csa_scores_by_hand(fitted.model, fa, columns, sim_dim=2)
    assert cal.temperature == pytest.approx(_temperature_by_hand(scores, targets), rel=2e-3)
    res = fitted.classify(held_a, list(CLASSES), sim_dim=2)
    np.testing.assert_allclose(
        res.probabilities, softmax_by_hand(res.scores, cal.temperature), rtol=1e-9
    )
    assert fitted.classify(held_a, list(CLASSES)).probabilities is None  # default sim_dim: 3
