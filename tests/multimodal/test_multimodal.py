"""The one object on real raw items: bundled encoders, a fitted map, one model file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import csa
from csa.errors import EncoderError, ModelFileError, ParameterError
from csa.multimodal import MultimodalEncoder
from multimodal.colour_items import CLASS_ORDER, image_paths, write_items

pytestmark = pytest.mark.slow
N = 48  # held_out=0.25 keeps 12 pairs to calibrate on
IMAGE = {"image_size": 64}  # small inputs: the colours survive, the encoding is fast


def _map():
    # fixed hyperparameters: CSA()'s own held-out search costs minutes at 1280 x 384 dims
    return csa.CSA(ridge=0.1, sim_dim=3)  # 4 distinct captions: 3 centred dimensions


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("items")
    folder, captions, labels = write_items(root, N)
    cache = root / "cache"
    mm = MultimodalEncoder(
        "efficientnet-lite0", "minilm-l6", _map(), encoder_a_options=IMAGE, cache_dir=cache
    )
    mm.fit(image_paths(folder, N), captions, held_out=0.25, seed=0)
    path = mm.save(root / "model.csa")
    return mm, path, folder, captions, labels, cache


def test_fit_records_encoders_fit_and_calibration(fitted):
    mm, *_ = fitted
    meta = mm.metadata()
    assert meta["csa_version"] == csa.__version__
    a, b = meta["encoders"]["a"], meta["encoders"]["b"]
    assert (a["registry"], a["options"], a["dim"]) == ("efficientnet-lite0", IMAGE, 1280)
    assert (b["name"], b["dim"]) == ("minilm-l6", 384)
    assert meta["fit"]["method"] == "CSA" and meta["fit"]["n_held_out"] == 12
    assert meta["fit"]["n_fit"] == N - 12 == mm.model.n_pairs_seen_
    cal = meta["calibration"]
    assert cal["n_pairs"] == 12 and cal["temperature"] > 0


def test_saved_model_works_in_a_fresh_process_with_no_encoder_restated(fitted):
    _, path, folder, captions, labels, cache = fitted
    script = textwrap.dedent(
        f"""
        import json, numpy as np
        from csa.multimodal import MultimodalEncoder
        mm = MultimodalEncoder.load({str(path)!r}, cache_dir={str(cache)!r})
        paths = [{str(folder)!r} + f"/img_{{i}}.png" for i in range({N})]
        caps = {captions!r}
        c = mm.classify(paths, {list(CLASS_ORDER)!r})
        s = mm.search(["a blue circle"], paths, k=5, query_side="b")
        shuffled = caps[1:] + caps[:1]
        print(json.dumps({{
            "labels": c.labels,
            "prob_rows": np.asarray(c.probabilities).sum(axis=1).tolist(),
            "hits": s.ids[0].tolist(),
            "flag_genuine": mm.flag(paths, caps).flagged.tolist(),
            "flag_shuffled": mm.flag(paths, shuffled).flagged.tolist(),
        }}))
        """
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    accuracy = np.mean(np.array(out["labels"]) == np.array(labels))
    assert accuracy >= 0.9  # chance is 0.25
    np.testing.assert_allclose(out["prob_rows"], 1.0, atol=1e-6)
    assert all(labels[i] == "blue" for i in out["hits"])
    # every shuffled caption names another colour (the classes cycle), so all are wrong
    assert np.mean(out["flag_shuffled"]) >= 0.8
    assert np.mean(out["flag_genuine"]) <= 0.2


def test_load_refuses_another_encoder_unless_told(fitted):
    _, path, *_ = fitted
    with pytest.raises(EncoderError, match="minilm-l6"):
        MultimodalEncoder.load(path, encoder_b="minilm-l3-onnx")
    other = MultimodalEncoder.load(path, encoder_b="minilm-l3-onnx", allow_other_encoders=True)
    assert other.encoder_b.name == "minilm-l3-onnx"
    with pytest.raises(EncoderError, match="384"):  # a different width never works
        MultimodalEncoder.load(path, encoder_b="efficientnet-lite0", allow_other_encoders=True)
    same = MultimodalEncoder.load(path, encoder_b="minilm-l6")
    assert same.encoder_specs["b"].name == "minilm-l6"


def test_a_bare_model_file_is_refused_with_the_way_out(tmp_path):
    rng = np.random.default_rng(0)
    path = csa.CCA().fit(rng.normal(size=(50, 4)), rng.normal(size=(50, 3))).save(tmp_path / "m")
    with pytest.raises(ModelFileError, match="no encoders"):
        MultimodalEncoder.load(path)


def test_scores_are_inner_products_of_the_shared_vectors(fitted):
    mm, _, folder, captions, *_ = fitted
    paths = image_paths(folder, 6)
    ea, eb = mm.encode_a(paths), mm.encode_b(captions[:6], batch_size=2, show_progress_bar=False)
    assert ea.shape[0] == eb.shape[0] == 6
    np.testing.assert_allclose(mm.similarity(paths, captions[:6]), ea @ eb.T, atol=1e-6)
    np.testing.assert_allclose(mm.score_pairs(paths, captions[:6]), np.diag(ea @ eb.T), atol=1e-6)


def test_templates_per_modality(fitted):
    mm, *_ = fitted
    clf = mm.zero_shot_classifier(CLASS_ORDER, {"image": ["a {} thing"], "text": ["{}"]})
    assert clf.templates == ("a {} thing",) and clf.embeddings.shape == (4, 384)
    assert mm.zero_shot_classifier(CLASS_ORDER).templates[0] == "a photo of a {}."


def test_without_held_out_pairs_there_are_no_probabilities_and_no_threshold(fitted):
    mm, _, folder, captions, *_ = fitted
    bare = MultimodalEncoder(
        "efficientnet-lite0", "minilm-l6", _map(), encoder_a_options=IMAGE, cache_dir=mm.cache_dir
    )
    paths = image_paths(folder, N)
    bare.fit(paths, captions, held_out=0)
    assert bare.classify(paths[:4], CLASS_ORDER).probabilities is None
    with pytest.raises(ParameterError, match="threshold"):
        bare.flag(paths[:4], captions[:4])
    cal = bare.calibrate(paths[:16], captions[:16])
    assert bare.flag(paths[:4], captions[:4]).threshold == cal.threshold


def test_modality_is_read_from_registry_names_with_options():
    from csa.multimodal import modality_of

    assert modality_of("efficientnet-lite0?image_size=64") == "image"
    assert modality_of("minilm-l6@128") == "text"
    assert modality_of(object()) is None
