"""The audio, time-series and 3D-shape sections on small real or synthetic slices.

(Moved from the encoder tests: they exercise the demo application, not the library.)
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::csa.WeakFitWarning")

KEYS = {"experiment", "dataset", "method", "n_pairs", "metric", "value", "seed"}
FITTED = {f"{m} ({v})" for m in ("CSA", "CCA", "ASIF", "LinearMap") for v in ("default", "tuned")}


@pytest.mark.slow
def test_audio_espeak_to_flite_digits_above_chance(tmp_path):
    """Fit on espeak voices, test on flite voices: a small slice of the real experiment."""
    from csa.encoders import get
    from csa_demo.audio_text import METRIC, QUICK_WORDS, Task, sweep
    from csa_demo.data.audio import load_spoken_words

    data = load_spoken_words(words=QUICK_WORDS, n_espeak=5, n_flite=2, seed=0,
                cache_dir=tmp_path)  # fmt: skip
    x = get("whisper-tiny.en", window_seconds=3.0).encode(data.a)
    text = get("minilm-l6")
    t = text.encode(list(data.b))
    classes = text.encode(list(QUICK_WORDS))
    y = np.asarray(data.labels)
    train = np.asarray(data.info["meta"]["engine"]) == "espeak"
    task = Task("", y[train], classes, x[~train], classes, y[~train])
    rows = sweep("digits", x[train], t[train], y[train], [20, 50], [task], seeds=(0,))
    assert all(KEYS <= set(r) and r["metric"] == METRIC for r in rows)
    assert {r["n_pairs"] for r in rows} == {20, 50}
    value = {r["method"]: r["value"] for r in rows if r["n_pairs"] == 50}
    assert {*FITTED, "chance", "linear-probe"} <= set(value)
    assert value["chance"] == pytest.approx(0.1)
    assert value["CSA (tuned)"] >= 0.4 and value["CSA (default)"] >= 0.4
    assert "(test 20)" in rows[0]["dataset"]


def test_timeseries_rows_format(tmp_path):
    pytest.importorskip("sktime")
    from csa_demo.report import markdown_tables
    from csa_demo.timeseries_text import ZERO_SHOT, Setting, run_setting

    setting = Setting("italy-power-demand", "minirocket")
    rows = run_setting(setting, seeds=(0,), cache_dir=tmp_path, n_pairs=(20,))
    assert all(KEYS <= set(r) for r in rows)
    assert {r["method"] for r in rows} == {*FITTED, "chance", "linear-probe"}
    assert {r["n_pairs"] for r in rows} == {20}
    assert all(0.0 <= r["value"] <= 1.0 for r in rows)
    top1 = {r["method"]: r["value"] for r in rows if r["metric"] == ZERO_SHOT}
    assert top1["chance"] == 0.5
    assert top1["linear-probe"] > 0.6
    assert top1["CSA (default)"] > 0.6 and top1["CSA (tuned)"] > 0.6
    assert "italy-power-demand/minirocket (test 1029)" in markdown_tables(rows)
    # Embeddings were cached: a second run reads them and gives the same rows.
    assert run_setting(setting, seeds=(0,), cache_dir=tmp_path, n_pairs=(20,)) == rows


def _box_wrl(extents: np.ndarray) -> str:
    """An axis-aligned box as a one-shape VRML file in KiCad's layout (0.1 inch units)."""
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)]) * extents
    faces = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
             (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3)]  # fmt: skip
    points = ",".join(f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in corners / 2.54)
    index = ",".join(f"{a},{b},{c},-1" for a, b, c in faces)
    return (
        "#VRML V2.0 utf8\n"
        f"Shape {{ geometry IndexedFaceSet\n{{ coordIndex [{index}]\n"
        f"coord Coordinate {{ point [{points}]\n}}}}\n}}\n"
    )


@pytest.fixture
def box_library(tmp_path):
    """Tiny chip boxes and big connector boxes in KiCad's folder layout."""
    root = tmp_path / "3dmodels"
    rng = np.random.default_rng(0)
    for category, (lo, hi) in {"Capacitor_SMD": (0.5, 3), "Connector_Dsub": (10, 40)}.items():
        folder = root / f"{category}.3dshapes"
        folder.mkdir(parents=True)
        for k in range(6):
            (folder / f"part_{k}.wrl").write_text(_box_wrl(rng.uniform(lo, hi, size=3)))
    return root


def test_shapes3d_section_is_opt_in():
    from csa_demo import demo

    assert "shapes3d-text" in demo.OPT_IN_SECTIONS and "shapes3d-text" not in demo.SECTIONS


def test_shapes3d_rows_on_synthetic_parts(box_library, tmp_path):
    pytest.importorskip("trimesh")
    from csa_demo.data.shapes3d import load_kicad_shapes
    from csa_demo.shapes3d_text import ZERO_SHOT, run_on

    data = load_kicad_shapes(
        categories=("Capacitor_SMD", "Connector_Dsub"),
        per_category=None,
        n_points=512,
        root=box_library,
        cache_dir=tmp_path,
    )
    rows = run_on(data, seeds=(0,), cache_dir=tmp_path, n_pairs=(8,))
    assert all(KEYS <= set(r) for r in rows)
    # 8 pairs leave nothing to hold out: default rows only, with the floor and ceiling.
    assert {r["method"] for r in rows} == {
        "CSA (default)", "CCA (default)", "ASIF (default)", "LinearMap (default)",
        "chance", "linear-probe",
    }  # fmt: skip
    assert all(0.0 <= r["value"] <= 1.0 for r in rows)
    top1 = {r["method"]: r["value"] for r in rows if r["metric"] == ZERO_SHOT}
    assert top1["chance"] == 0.5
    # Tiny chip boxes vs big connector boxes: size alone separates them.
    assert top1["linear-probe"] == 1.0 and top1["CSA (default)"] >= 0.75
