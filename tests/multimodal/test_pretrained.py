"""save_pretrained / from_pretrained / push_to_hub, offline, on local folders.

The model pairs two bundled text encoders (all-MiniLM-L6-v2 with a recorded option,
and the ONNX paraphrase-MiniLM-L3-v2) on paraphrased sentences: both load in seconds,
so the round trip runs through real encoders rebuilt from the folder's records.
"""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

import csa
from csa.errors import ModelFileError, NotFittedError, ParameterError
from csa.multimodal import MultimodalEncoder
from csa.pretrained import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME

pytestmark = pytest.mark.slow
DATASET = "toy paraphrases v1"
OPTIONS_A = {"max_seq_length": 64}
OFFLINE_LIMIT_S = 5.0


def _pairs(n: int = 60) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(0)
    subjects = ["cat", "dog", "car", "tree", "house", "boat", "bird", "horse"]
    adjectives = ["red", "small", "old", "fast", "quiet", "green", "tall", "bright"]
    a = [f"a {rng.choice(adjectives)} {rng.choice(subjects)} number {i}" for i in range(n)]
    b = [t.replace("a ", "one ", 1) + " in a photo" for t in a]
    return a, b


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    a, b = _pairs()
    mm = MultimodalEncoder(
        "minilm-l6",
        "minilm-l3-onnx",
        csa.CSA(ridge=0.5, sim_dim=8),
        encoder_a_options=OPTIONS_A,
        cache_dir=root / "cache",
    )
    mm.fit(a, b, held_out=0.25, seed=0)
    folder = mm.save_pretrained(root / "model", dataset=DATASET)
    return mm, folder, a, b, root


def test_round_trip_gives_identical_scores(saved):
    mm, folder, a, b, root = saved
    again = MultimodalEncoder.from_pretrained(folder, cache_dir=root / "cache2")
    assert np.array_equal(again.similarity(a[:10], b[:10]), mm.similarity(a[:10], b[:10]))
    assert np.array_equal(again.encode_b(b[:5]), mm.encode_b(b[:5]))
    assert again.calibration_ == mm.calibration_
    assert again.metadata() == mm.metadata()
    assert again.encoder_specs["a"].options == OPTIONS_A
    # the weights are the csa model file itself: MultimodalEncoder.load reads it too
    alone = MultimodalEncoder.load(folder / WEIGHTS_NAME)
    assert np.array_equal(alone.score_pairs(a[:4], b[:4]), mm.score_pairs(a[:4], b[:4]))


def test_folder_layout(saved):
    _, folder, *_ = saved
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([WEIGHTS_NAME, CONFIG_NAME, CARD_NAME])
    config = json.loads((folder / CONFIG_NAME).read_text())
    assert config["library_name"] == "csa" and config["weights"]["file"] == WEIGHTS_NAME
    sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    print("save_pretrained folder:", sizes)


def test_config_and_card_list_what_the_model_holds(saved):
    mm, folder, *_ = saved
    config = json.loads((folder / CONFIG_NAME).read_text())
    card = (folder / CARD_NAME).read_text()
    model, fit, cal = mm.model, mm.fit_info_, mm.calibration_
    # config.json: every value equals the fitted object's
    assert config["map"]["ridge"] == list(model.ridge_)
    assert config["map"]["sim_dim"] == model.sim_dim_
    assert config["map"]["n_components"] == model.n_components_
    assert config["pairs"]["n_pairs"] == fit["n_pairs"] == 60
    assert config["pairs"]["n_held_out"] == fit["n_held_out"] == cal.n_pairs
    assert config["calibration"] == cal.to_dict() and config["dataset"] == DATASET
    for side in ("a", "b"):
        assert config["encoders"][side] == mm.encoder_specs[side].to_dict()
    # the card: encoders with their options, pairs, ridge, sim_dim, weighting, calibration
    spec_a, spec_b = mm.encoder_specs["a"], mm.encoder_specs["b"]
    expected_lines = [
        f"| a | `{spec_a.name}` | `minilm-l6` | `{json.dumps(OPTIONS_A)}` | text | 384 |",
        f"| b | `{spec_b.name}` | `minilm-l3-onnx` | `{{}}` | text | 384 |",
        "| method | CSA |",
        f"| pairs | {fit['n_pairs']} ({fit['n_fit']} fitted, {fit['n_held_out']} held out "
        "for calibration) |",
        f"| ridge (relative to each side's mean variance) | "
        f"({model.ridge_[0]:.4g}, {model.ridge_[1]:.4g}) |",
        f"| sim_dim (canonical dimensions scored) | {model.sim_dim_} |",
        f"| canonical dimensions | {model.n_components_} |",
        "| weighting | chosen per question (the map rows below) |",
        *(f"| map for {q} | {answer} |" for q, answer in model.map_choices().items()),
        f"On {cal.n_pairs} held-out pairs the fit never saw",
        f"| softmax temperature | {cal.temperature:.4g} |",
        f"| mismatch threshold (score) | {cal.threshold:.4g} |",
        f"| genuine pairs kept (true positive rate) | {cal.true_positive_rate:.4g} |",
        f"| mismatched pairs kept (false positive rate) | {cal.false_positive_rate:.4g} |",
        f"Data set: {DATASET}.",
        f'- "{DATASET}"',  # the Hub's datasets: field
        "library_name: csa",
        "## Intended use and limits",
    ]
    missing = [line for line in expected_lines if line not in card]
    assert not missing, missing


def test_card_without_calibration_or_dataset_says_so(saved, tmp_path):
    mm, _, a, b, _ = saved
    plain = MultimodalEncoder(mm.encoder("a"), mm.encoder("b"), csa.CCA(ridge=0.5, sim_dim=4))
    plain.fit_features(mm.features("a", a), mm.features("b", b), held_out=0)
    folder = plain.save_pretrained(tmp_path / "plain", repo_id="someone/plain-cca")
    card = (folder / CARD_NAME).read_text()
    assert "Not calibrated" in card and "not recorded" in card
    assert "| weighting | equal (plain CCA cosine) |" in card
    assert 'from_pretrained("someone/plain-cca")' in card
    assert "datasets:" not in card


def test_folders_that_are_not_one_save_are_refused(saved, tmp_path):
    mm, folder, *_ = saved
    mixed = tmp_path / "mixed"
    shutil.copytree(folder, mixed)
    other = MultimodalEncoder(mm.encoder("a"), mm.encoder("b"), csa.CSA(ridge=0.9, sim_dim=2))
    a, b = _pairs()
    other.fit_features(mm.features("a", a), mm.features("b", b), held_out=0)
    other.save(mixed / WEIGHTS_NAME)  # new weights beside the old config
    with pytest.raises(ModelFileError, match="mixes two saves"):
        MultimodalEncoder.from_pretrained(mixed)
    (mixed / CONFIG_NAME).write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelFileError, match="not describe a csa"):
        MultimodalEncoder.from_pretrained(mixed)
    (mixed / CONFIG_NAME).unlink()
    with pytest.raises(ModelFileError, match=r"no config\.json"):
        MultimodalEncoder.from_pretrained(mixed)
    with pytest.raises(ModelFileError, match="is a file"):
        MultimodalEncoder.from_pretrained(mixed / WEIGHTS_NAME)
    with pytest.raises(ModelFileError, match="no model folder"):
        MultimodalEncoder.from_pretrained(tmp_path / "absent")
    with pytest.raises(ModelFileError, match="no model folder"):
        MultimodalEncoder.from_pretrained("./absent/folder")
    with pytest.raises(ModelFileError, match="is a file"):
        mm.save_pretrained(mixed / WEIGHTS_NAME)
    with pytest.raises(NotFittedError):
        MultimodalEncoder(mm.encoder("a"), mm.encoder("b")).save_pretrained(tmp_path / "x")
    with pytest.raises(ParameterError, match="dataset"):
        mm.save_pretrained(tmp_path / "y", dataset="  ")


# ------------------------------------------------------------------------------ the Hub
def _timed(call):
    start = time.perf_counter()
    with pytest.raises(ModelFileError) as info:
        call()
    return time.perf_counter() - start, str(info.value)


@pytest.fixture()
def offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def test_offline_repo_id_fails_fast_with_what_to_do(offline, tmp_path):
    seconds, message = _timed(
        lambda: MultimodalEncoder.from_pretrained("someone/no-such-model", hub_cache_dir=tmp_path)
    )
    assert seconds < OFFLINE_LIMIT_S, seconds
    assert "HF_HUB_OFFLINE" in message and "model folder" in message


def test_unreachable_hub_fails_fast(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    # a non-routable address: the connection probe gets no answer at all
    monkeypatch.setenv("HF_ENDPOINT", "http://10.255.255.1:81")
    seconds, message = _timed(
        lambda: MultimodalEncoder.from_pretrained("someone/no-such-model", hub_cache_dir=tmp_path)
    )
    assert seconds < OFFLINE_LIMIT_S, seconds
    # where the connection probe is refused: "cannot be reached"; where a proxy accepts
    # every connection: the metadata request that follows fails, "does not answer"
    assert "cannot be reached" in message or "does not answer" in message
    assert "model folder" in message


def test_push_to_hub_offline_fails_fast_and_writes_nothing(saved, offline):
    mm, *_ = saved
    seconds, message = _timed(lambda: mm.push_to_hub("someone/csa-model"))
    assert seconds < OFFLINE_LIMIT_S and "save_pretrained" in message
    with pytest.raises(ParameterError, match="owner/name"):
        mm.push_to_hub("no-owner")


def _fill_hub_cache(cache, repo_id: str, folder) -> None:
    """The layout huggingface_hub keeps: refs/main names a snapshot folder of the files."""
    commit = "0" * 39 + "1"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)


def test_a_cached_repository_loads_offline(saved, offline, tmp_path):
    mm, folder, a, b, _ = saved
    _fill_hub_cache(tmp_path, "someone/csa-model", folder)
    start = time.perf_counter()
    again = MultimodalEncoder.from_pretrained("someone/csa-model", hub_cache_dir=tmp_path)
    assert time.perf_counter() - start < OFFLINE_LIMIT_S + 10  # encoders load lazily
    assert np.array_equal(again.similarity(a[:6], b[:6]), mm.similarity(a[:6], b[:6]))


def test_push_to_hub_uploads_the_save_pretrained_folder(saved, monkeypatch, tmp_path):
    import huggingface_hub

    import csa.pretrained as pretrained

    mm, _, a, b, _ = saved
    calls: list[tuple[str, dict]] = []
    uploaded = tmp_path / "uploaded"

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", {"token": token}))

        def create_repo(self, repo_id, **options):
            calls.append(("create_repo", {"repo_id": repo_id, **options}))

        def upload_folder(self, *, repo_id, folder_path, **options):
            calls.append(("upload_folder", {"repo_id": repo_id, **options}))
            shutil.copytree(folder_path, uploaded)
            return f"https://hub.example/{repo_id}/commit/1"

    monkeypatch.setattr(pretrained, "_hub_reason", lambda *args, **kw: None)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    url = mm.push_to_hub("someone/csa-model", dataset=DATASET, private=True, token="t")
    assert url == "https://hub.example/someone/csa-model/commit/1"
    assert [c[0] for c in calls] == ["init", "create_repo", "upload_folder"]
    assert calls[1][1] == {"repo_id": "someone/csa-model", "private": True, "exist_ok": True}
    assert 'from_pretrained("someone/csa-model")' in (uploaded / CARD_NAME).read_text()
    again = MultimodalEncoder.from_pretrained(uploaded)
    assert np.array_equal(again.similarity(a[:5], b[:5]), mm.similarity(a[:5], b[:5]))


# ---------------------------------------------------------------------------------- CLI
def test_csa_export_pretrained(saved, tmp_path):
    from typer.testing import CliRunner

    from csa.cli import app

    mm, folder, a, b, _ = saved
    model = mm.save(tmp_path / "model.csa")
    out = tmp_path / "shared"
    runner = CliRunner()
    args = ["export", str(model), str(out), "--format", "pretrained", "--dataset", DATASET]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "config.json" in done.output and (out / CARD_NAME).is_file()
    again = MultimodalEncoder.from_pretrained(out)
    assert np.array_equal(again.similarity(a[:5], b[:5]), mm.similarity(a[:5], b[:5]))
    # a folder is accepted as the model too
    done = runner.invoke(app, ["export", str(folder), str(tmp_path / "again"), "-f", "pretrained"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(
        app, ["export", str(model), str(tmp_path / "x"), "-f", "pretrained", "--side", "a"]
    )
    assert done.exit_code == 2 and "--side" in done.output
