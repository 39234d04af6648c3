"""What the `csa` command prints and writes equals the library's answer, and the hand one.

Each command runs on a model fitted on feature files (or, for classify and flag, on a
one-object model whose encoders are precomputed parquet tables looked up by id, so no
weights load). The printed metric is read back from the table and compared with the
library call on the same inputs and with the value recomputed by hand.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

import csa
from csa.cli import app
from csa.tasks import detect_mislabelled, detect_out_of_context
from known_models import (
    auc_by_hand,
    average_precision_by_hand,
    csa_scores_by_hand,
    prompt_scores_by_hand,
    softmax_by_hand,
)
from synthetic import known_cca_pairs

runner = CliRunner()


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def _printed(output: str, name: str) -> float:
    match = re.search(re.escape(name) + r"[^0-9\n-]*(-?[0-9]+\.[0-9]+)", output)
    assert match, output
    return float(match.group(1))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-values")
    a, b = known_cca_pairs(300, rho=(0.8, 0.6, 0.4), dim_a=6, dim_b=5, seed=0, mixing_seed=4)
    a_val, b_val = known_cca_pairs(40, rho=(0.8, 0.6, 0.4), dim_a=6, dim_b=5, seed=1, mixing_seed=4)
    np.save(d / "a.npy", a)
    np.save(d / "b.npy", b)
    np.save(d / "a_val.npy", a_val)
    np.save(d / "b_val.npy", b_val)
    _run("fit", d / "a.npy", d / "b.npy", "-o", d / "m.csa", "--ridge", "0.1", "--sim-dim", "3")
    return d, csa.load(d / "m.csa"), a_val, b_val


@pytest.mark.parametrize("seed", [0, 3])
def test_printed_out_of_context_auc_is_the_librarys(fitted, seed):
    d, model, a_val, b_val = fitted
    out = _run(
        "eval", "detect", "-m", d / "m.csa", d / "a_val.npy", d / "b_val.npy",
        "--seed", seed, "--json", d / "det.json",
    )  # fmt: skip
    lib = detect_out_of_context(model, a_val, b_val, seed=seed)
    assert _printed(out, "ROC AUC") == pytest.approx(lib.auc, abs=5e-5)
    written = json.loads((d / "det.json").read_text())
    assert written["auc"] == pytest.approx(lib.auc, abs=1e-12)
    assert written["seed"] == seed
    genuine = np.diag(csa_scores_by_hand(model, a_val, b_val))
    np.testing.assert_allclose(lib.scores[:40], genuine, atol=1e-9)
    assert lib.auc == pytest.approx(auc_by_hand(lib.scores, ~lib.is_mismatch), abs=1e-12)


def test_printed_auc_moves_with_the_seed(fitted):
    d, *_ = fitted
    base = ("eval", "detect", "-m", d / "m.csa", d / "a_val.npy", d / "b_val.npy")
    aucs = {_printed(_run(*base, "--seed", s), "ROC AUC") for s in (0, 1, 2, 3)}
    assert len(aucs) > 1  # a seed that is ignored would print one number


@pytest.mark.parametrize(("flip", "seed"), [(0.25, 0), (0.2, 5)])
def test_printed_mislabelled_auc_is_the_librarys(fitted, flip, seed):
    d, model, a_val, b_val = fitted
    classes = b_val[:4]
    labels = np.arange(40) % 4
    np.save(d / "classes.npy", classes)
    np.save(d / "labels.npy", labels)
    out = _run(
        "eval", "detect", "-m", d / "m.csa", d / "a_val.npy", "--mode", "mislabelled",
        "--labels", d / "labels.npy", "--classes", d / "classes.npy",
        "--flip-fraction", flip, "--seed", seed, "--json", d / "mis.json",
    )  # fmt: skip
    lib = detect_mislabelled(model, a_val, labels, classes, flip_fraction=flip, seed=seed)
    assert _printed(out, "ROC AUC") == pytest.approx(lib.auc, abs=5e-5)
    written = json.loads((d / "mis.json").read_text())
    assert written["auc"] == pytest.approx(lib.auc, abs=1e-12)
    assert written["n_mismatched"] == round(flip * 40)
    full = csa_scores_by_hand(model, a_val, classes)
    keep = ~lib.is_mismatch
    np.testing.assert_allclose(lib.scores[keep], full[keep, labels[keep]], atol=1e-9)


def test_printed_retrieval_map_with_labels_and_unequal_sides(fitted):
    d, model, a_val, b_val = fitted
    a, b = a_val[:12], b_val[:20]
    la, lb = np.arange(12) % 3, np.arange(20) % 3
    np.save(d / "ra.npy", a)
    np.save(d / "rb.npy", b)
    np.save(d / "la.npy", la)
    np.save(d / "lb.npy", lb)
    out = _run(
        "eval", "retrieval", "-m", d / "m.csa", d / "ra.npy", d / "rb.npy",
        "--labels-a", d / "la.npy", "--labels-b", d / "lb.npy", "--json", d / "r.json",
    )  # fmt: skip
    full = csa_scores_by_hand(model, a, b)
    rel = la[:, None] == lb[None, :]
    map_ab = np.mean([average_precision_by_hand(full[i], rel[i]) for i in range(12)])
    map_ba = np.mean([average_precision_by_hand(full.T[j], rel.T[j]) for j in range(20)])
    written = json.loads((d / "r.json").read_text())["directions"]
    assert written["a->b"]["mAP"] == pytest.approx(map_ab, abs=1e-9)
    assert written["b->a"]["mAP"] == pytest.approx(map_ba, abs=1e-9)
    assert _printed(out, "a->b mAP") == pytest.approx(map_ab, abs=5e-5)
    assert _printed(out, "b->a mAP") == pytest.approx(map_ba, abs=5e-5)


def test_printed_exact_pair_retrieval_counts_identical_captions_as_misses(fitted):
    d, model, a_val, b_val = fitted
    b = b_val[np.arange(40) % 5]  # five captions, repeated
    np.save(d / "rep.npy", b)
    default = _run("eval", "retrieval", "-m", d / "m.csa", d / "a_val.npy", d / "rep.npy")
    strict = _run(
        "eval", "retrieval", "-m", d / "m.csa", d / "a_val.npy", d / "rep.npy", "--exact-pairs"
    )
    full = csa_scores_by_hand(model, a_val, b)
    groups = np.arange(40) % 5
    same = groups[:, None] == groups[None, :]
    eye = np.eye(40, dtype=bool)
    hand_default = np.mean([average_precision_by_hand(full[i], same[i]) for i in range(40)])
    hand_strict = np.mean([average_precision_by_hand(full[i], eye[i]) for i in range(40)])
    assert _printed(default, "a->b mAP") == pytest.approx(hand_default, abs=5e-5)
    assert _printed(strict, "a->b mAP") == pytest.approx(hand_strict, abs=5e-5)


def test_printed_zero_shot_accuracy_by_hand(fitted):
    d, model, a_val, b_val = fitted
    classes = b_val[:6]
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 6, size=40)
    labels[:25] = np.argmax(prompt_scores_by_hand(model, a_val[:25], classes), axis=1)
    np.save(d / "zc.npy", classes)
    np.save(d / "zl.npy", labels)
    out = _run(
        "eval", "zero-shot", "-m", d / "m.csa", "--inputs", d / "a_val.npy",
        "--classes", d / "zc.npy", "--labels", d / "zl.npy", "--json", d / "z.json",
    )  # fmt: skip
    full = prompt_scores_by_hand(model, a_val, classes)
    ranks = np.array([np.sum(full[i] >= full[i, labels[i]]) for i in range(40)])
    assert _printed(out, "top-1") == pytest.approx(np.mean(ranks <= 1), abs=5e-5)
    written = json.loads((d / "z.json").read_text())
    assert written["top_k"]["1"] == pytest.approx(np.mean(ranks <= 1), abs=1e-12)
    assert written["top_k"]["5"] == pytest.approx(np.mean(ranks <= 5), abs=1e-12)


# -------------------------------------------------- classify and flag on the one object
CLASSES = ("red", "green", "blue", "yellow")


@pytest.fixture(scope="module")
def one_object(tmp_path_factory):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from csa.multimodal import MultimodalEncoder

    d = tmp_path_factory.mktemp("cli-object")
    rng = np.random.default_rng(0)
    centre_a, centre_b = rng.normal(size=(4, 6)) * 2, rng.normal(size=(4, 5)) * 2
    n = 80
    labels = np.arange(n) % 4
    img = centre_a[labels] + rng.normal(scale=0.8, size=(n, 6))
    ids_a = [f"img{i}" for i in range(n)]
    pd.DataFrame({"id": ids_a, "emb": list(img)}).to_parquet(d / "a.parquet")
    caption_ids = list(CLASSES) + [f"a {c} thing" for c in CLASSES]
    caption_vecs = np.vstack([centre_b, centre_b + rng.normal(scale=0.3, size=(4, 5))])
    pd.DataFrame({"id": caption_ids, "emb": list(caption_vecs)}).to_parquet(d / "b.parquet")
    captions = [CLASSES[c] if i % 3 else f"a {CLASSES[c]} thing" for i, c in enumerate(labels)]
    mm = MultimodalEncoder(
        f"precomputed:{d / 'a.parquet'}",
        f"precomputed:{d / 'b.parquet'}",
        csa.CSA(ridge=0.05, sim_dim=3, weights="canonical"),
        encoder_a_options={"id_column": "id"},
        encoder_b_options={"id_column": "id"},
        cache_dir=d / "cache",
    )
    mm.fit(ids_a[:60], captions[:60], held_out=0.25, seed=0)
    mm.save(d / "mm.csa")
    (d / "items.txt").write_text("\n".join(ids_a[60:]) + "\n")
    (d / "captions.txt").write_text("\n".join(captions[60:]) + "\n")
    (d / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return d, mm, img, caption_vecs, caption_ids, captions


def test_classify_writes_probabilities_at_the_calibrated_temperature(one_object, monkeypatch):
    d, mm, img, caption_vecs, caption_ids, _ = one_object
    monkeypatch.setenv("CSA_CACHE_DIR", str(d / "cli-cache"))
    _run("classify", "-m", d / "mm.csa", d / "items.txt", "--class-names", d / "classes.txt",
         "--json", d / "c.json")  # fmt: skip
    rows = json.loads((d / "c.json").read_text())["predictions"]
    prompts = caption_vecs[[caption_ids.index(c) for c in CLASSES]].astype(np.float32)
    prompts = prompts / np.linalg.norm(prompts, axis=1, keepdims=True)
    scores = csa_scores_by_hand(mm.model, img[60:].astype(np.float32), prompts)
    probs = softmax_by_hand(scores, mm.calibration_.temperature)
    best = np.argmax(scores, axis=1)
    assert [r["class"] for r in rows] == [CLASSES[c] for c in best]
    np.testing.assert_allclose([r["score"] for r in rows], scores[np.arange(20), best], atol=1e-5)
    np.testing.assert_allclose(
        [r["probability"] for r in rows], probs[np.arange(20), best], rtol=1e-4, atol=1e-6
    )


def test_flag_prints_the_count_below_the_threshold(one_object, monkeypatch):
    d, mm, img, caption_vecs, caption_ids, captions = one_object
    monkeypatch.setenv("CSA_CACHE_DIR", str(d / "cli-cache"))
    shuffled = captions[61:] + captions[60:61]
    (d / "shuffled.txt").write_text("\n".join(shuffled) + "\n")
    fb = caption_vecs[[caption_ids.index(c) for c in shuffled]].astype(np.float32)
    hand = np.diag(csa_scores_by_hand(mm.model, img[60:].astype(np.float32), fb))
    threshold = float(np.sort(hand)[7] + np.sort(hand)[8]) / 2  # 8 pairs fall below it
    out = _run("flag", "-m", d / "mm.csa", d / "items.txt", d / "shuffled.txt",
               f"--threshold={threshold!r}", "--json", d / "f.json")  # fmt: skip
    assert "8 of 20 pairs flagged" in out
    pairs = json.loads((d / "f.json").read_text())["pairs"]
    np.testing.assert_allclose([p["score"] for p in pairs], hand, atol=1e-5)
    assert [p["flagged"] for p in pairs] == (hand < threshold).tolist()
    exact = pairs[4]["score"]  # the score the command computed, to the last bit
    again = _run("flag", "-m", d / "mm.csa", d / "items.txt", d / "shuffled.txt",
                 f"--threshold={exact!r}", "--json", d / "f2.json")  # fmt: skip
    flags = [p["flagged"] for p in json.loads((d / "f2.json").read_text())["pairs"]]
    assert flags == [p["score"] < exact for p in pairs] and not flags[4]
    assert f"{sum(flags)} of 20 pairs flagged" in again
    held = _run("flag", "-m", d / "mm.csa", d / "items.txt", d / "captions.txt")
    cal = mm.calibration_.threshold
    fa_true = caption_vecs[[caption_ids.index(c) for c in captions[60:]]].astype(np.float32)
    genuine = np.diag(csa_scores_by_hand(mm.model, img[60:].astype(np.float32), fa_true))
    assert f"{int(np.sum(genuine < cal))} of 20 pairs flagged" in held
