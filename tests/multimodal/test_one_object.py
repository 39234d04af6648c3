"""The one object's contract on toy encoders (no weights): checks before encoding, a failed
call that changes nothing, the one model table, and docstring examples that run."""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest

import csa
import csa.multimodal
from csa.errors import InputError, ParameterError
from csa.multimodal import MultimodalEncoder

COLOURS = {"red": (200, 40, 40), "green": (40, 180, 50), "blue": (40, 60, 200)}


class RGB:
    """An item is an (r, g, b) colour; counts what it encodes."""

    name, dim, modality = "toy-rgb", 3, "colour"

    def __init__(self):
        self.encoded = 0

    def encode(self, items, batch_size=32, show_progress=None):
        self.encoded += len(items)
        return np.asarray(items, dtype=np.float32) / 255


class Words:
    name, dim, modality = "toy-words", 3, "text"

    def __init__(self):
        self.encoded = 0

    def encode(self, texts, batch_size=32, show_progress=None):
        self.encoded += len(texts)
        return np.array([[t.split().count(w) for w in COLOURS] for t in texts], np.float32)


def _pairs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    names = [list(COLOURS)[i % 3] for i in range(n)]
    colours = [tuple(int(v) for v in np.add(COLOURS[c], rng.integers(-30, 30, 3))) for c in names]
    return colours, [f"a {c} thing" for c in names]


def _object(model=None):
    return MultimodalEncoder(RGB(), Words(), model or csa.CCA(ridge=0.1), use_cache=False)


def _encoded(mm):
    return mm.encoder("a").encoded + mm.encoder("b").encoded


def test_a_failed_fit_leaves_the_object_exactly_as_it_was():
    # before: the map was refit (scores moved by up to 0.44), then calibration raised
    colours, captions = _pairs()
    mm = _object().fit(colours, captions, held_out=0.2, seed=0)
    before = (mm.model, mm.calibration_, dict(mm.fit_info_))
    probe = mm.similarity(colours[:6], captions[:6])
    held = np.sort(np.random.default_rng(0).permutation(60)[:12])
    bad_colours, bad_captions = list(colours), list(captions)
    for i in held:  # every held-out pair the same red: nothing to calibrate against
        bad_colours[i], bad_captions[i] = COLOURS["red"], "a red thing"
    bad_colours[0], bad_captions[0] = COLOURS["blue"], "a blue thing"
    with pytest.raises(InputError, match="held-out side-b items are identical"):
        mm.fit(bad_colours, bad_captions, held_out=0.2, seed=0)
    assert (mm.model, mm.calibration_, mm.fit_info_) == before
    np.testing.assert_array_equal(mm.similarity(colours[:6], captions[:6]), probe)


def test_bad_arguments_are_refused_before_anything_is_encoded():
    colours, captions = _pairs()
    mm = _object().fit(colours, captions, held_out=0.2)
    start = _encoded(mm)
    refused = [
        lambda: mm.fit(colours, captions[:-1]),
        lambda: mm.fit(colours, captions, held_out=1.5),
        lambda: mm.fit(colours, captions, held_out="0.2"),
        lambda: mm.fit(colours, captions, seed="3"),
        lambda: mm.flag(colours, captions, threshold=float("nan")),
        lambda: mm.flag(colours, captions[:-1]),
        lambda: mm.flag(colours, captions, sim_dim=1),  # calibrated at sim_dim=None
        lambda: mm.score_pairs(colours, captions[:-1]),
        lambda: mm.classify(colours, ["red", "Red"]),
        lambda: mm.classify(colours, ["red", "blue"], templates=["{x}"]),
        lambda: mm.search(captions, colours, k=0, query_side="b"),
        lambda: mm.search(captions, colours, query_side="c"),
        lambda: mm.calibrate(colours, captions, seed=-1),
    ]
    for call in refused:
        with pytest.raises((InputError, ParameterError)):
            call()
    assert _encoded(mm) == start


def test_features_methods_match_the_raw_item_methods_and_keep_the_templates():
    colours, captions = _pairs()
    mm = _object().fit(colours, captions, held_out=0.2)
    names = ["red", "green", "blue"]
    raw = mm.classify(colours, names, templates=["{}", "a {} thing"])
    feats = mm.classify_features(mm.features("a", colours), names, templates=["{}", "a {} thing"])
    assert raw.templates == feats.templates == ("{}", "a {} thing")
    np.testing.assert_array_equal(raw.scores, feats.scores)
    assert raw.labels == [c for c in (list(COLOURS)[i % 3] for i in range(60))]
    flags = mm.flag(colours, captions)
    again = mm.flag_features(mm.features("a", colours), mm.features("b", captions))
    np.testing.assert_array_equal(flags.scores, again.scores)
    with pytest.raises(InputError, match="encoder a"):
        mm.classify_features(np.ones((2, 4)), names)


def test_one_model_table_and_early_model_checks():
    # before: MultimodalEncoder(model="CSA") failed late with AttributeError
    assert isinstance(_object("CSA").model, csa.CSA)
    assert isinstance(_object("linear-map").model, csa.LinearMap)
    for bad in ("bogus", csa.CSA, 42):
        with pytest.raises(ParameterError, match=r"model|method"):
            _object(bad)
    from csa.multimodal import make_model, model_classes

    assert set(model_classes()) == {n.lower() for n in ("csa", "cca", "asif", "linear-map")}
    with pytest.raises(ParameterError, match="'ridge'"):
        make_model("asif", ridge=1.0)


def test_the_docstring_examples_run():
    """Every example in csa.multimodal, in one session: the class example builds ``mm``."""
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = sorted(finder.find(csa.multimodal), key=lambda t: t.name)
    assert len([t for t in tests if t.examples]) >= 15
    names = {t.name.rsplit(".", 1)[-1] for t in tests if t.examples}
    for method in ("classify", "classify_features", "flag", "flag_features", "search", "fit"):
        assert method in names
    shared = dict(vars(csa.multimodal))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the toy captions span 2 of 3 dimensions: warned
        for test in tests:
            test.globs = shared
            runner.run(test, clear_globs=False)
    result = runner.summarize(verbose=False)
    assert result.failed == 0 and result.attempted > 40
