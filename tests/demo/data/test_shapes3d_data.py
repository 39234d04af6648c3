"""KiCad's 3D part models for the demo: the VRML reader, the loader, the real Debian data.

Everything except the last test runs on synthetic meshes (a hand-written VRML string,
trimesh primitives written out as KiCad-style files), so CI needs neither the 380 MB
Debian package nor a network. The test on the real models skips when it is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from csa.errors import DatasetError
from csa_demo.data.vrml import VrmlError, parse_vrml, read_vrml

# Two face sets in KiCad StepUp's layout: materials defined once and reused with USE,
# a square written as one quad, a triangle whose coordIndex comes last and unterminated.
TINY_WRL = """#VRML V2.0 utf8
#kicad StepUp wrl exported
# a comment with { braces } and [ brackets ] must not confuse the reader
Shape {
  appearance Appearance {material DEF PIN-01 Material { diffuseColor 0.8 0.8 0.8 } }
}
Shape { geometry IndexedFaceSet
{ creaseAngle 0.50 coordIndex [0,1,2,3,-1]
coord Coordinate { point [0 0 0, 1 0 0, 1 1 0, 0 1 0] }
}
appearance Appearance{material USE PIN-01 }
}
Shape { geometry IndexedFaceSet
{ coord Coordinate { point [0 0 1,1 0 1,0 1 1] }
  coordIndex [0,1,2]
}
appearance Appearance{material USE PIN-01 }
}
"""


def to_wrl(vertices: np.ndarray, faces: np.ndarray) -> str:
    """A mesh as a one-shape VRML file in KiCad's layout (units of 0.1 inch)."""
    points = ",".join(f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices / 2.54)
    index = ",".join(f"{a},{b},{c},-1" for a, b, c in faces)
    return (
        "#VRML V2.0 utf8\n#kicad StepUp wrl exported\n"
        f"Shape {{ geometry IndexedFaceSet\n{{ creaseAngle 0.50 coordIndex [{index}]\n"
        f"coord Coordinate {{ point [{points}]\n}}}}\n}}\n"
    )


# ------------------------------------------------------------------------ VRML reader
def test_parse_tiny_vrml_triangulates_and_offsets():
    vertices, faces = parse_vrml(TINY_WRL)
    assert vertices.shape == (7, 3) and faces.shape == (3, 3)
    # The quad becomes a fan of two triangles; the second set's indices are offset by 4.
    np.testing.assert_array_equal(faces, [[0, 1, 2], [0, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(vertices[4:], [[0, 0, 1], [1, 0, 1], [0, 1, 1]])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("Shape {}", "not a VRML 2.0"),
        ("#VRML V2.0 utf8\nShape { }\n", "no faces"),
        (
            TINY_WRL.replace("Shape { geometry", "Transform { children Shape { geometry", 1),
            "Transform",
        ),
        (TINY_WRL.replace("[0,1,2,3,-1]", "[0,1,2,9,-1]"), "only 4 points"),
        (TINY_WRL.replace("point [0 0 0,", "point [0 0 zero,"), "not a number"),
        (TINY_WRL.replace("0 1 0] }", "0 1] }"), "whole number"),
        (TINY_WRL.replace("coordIndex [0,1,2]", "coordIndex [0,1,2"), "never closed"),
        (
            TINY_WRL + "Shape { geometry IndexedFaceSet { coord USE o1 coordIndex [0,1,2] } }",
            "reuses geometry",
        ),
    ],
)
def test_parse_refuses_what_it_cannot_read_faithfully(text, match):
    with pytest.raises(VrmlError, match=match):
        parse_vrml(text)


def test_vrml_error_is_a_dataset_error_and_read_names_the_file(tmp_path):
    assert issubclass(VrmlError, DatasetError)
    bad = tmp_path / "broken.wrl"
    bad.write_text("#VRML V2.0 utf8\n")
    with pytest.raises(VrmlError, match=r"broken\.wrl"):
        read_vrml(bad)
    with pytest.raises(VrmlError, match="cannot be read"):
        read_vrml(tmp_path / "absent.wrl")


# ---------------------------------------------------------------- KiCad-style loader
@pytest.fixture
def fake_library(tmp_path):
    """Two categories of boxes in KiCad's folder layout, one copy and one broken file."""
    trimesh = pytest.importorskip("trimesh")
    root = tmp_path / "3dmodels"
    rng = np.random.default_rng(0)
    for category, (lo, hi) in {"Capacitor_SMD": (0.5, 3), "Connector_Dsub": (10, 40)}.items():
        folder = root / f"{category}.3dshapes"
        folder.mkdir(parents=True)
        for k in range(6):
            mesh = trimesh.creation.box(extents=rng.uniform(lo, hi, size=3))
            (folder / f"part_{k}.wrl").write_text(to_wrl(mesh.vertices, mesh.faces))
            (folder / f"part_{k}.step").write_text("not read")
    cap = root / "Capacitor_SMD.3dshapes"
    (cap / "part_copy.wrl").write_text((cap / "part_0.wrl").read_text())
    (cap / "part_broken.wrl").write_text("#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { ")
    return root


def test_loader_pairs_skips_and_groups(fake_library, tmp_path):
    from csa_demo.data.shapes3d import CATEGORIES, available_categories, load_kicad_shapes

    cats = ("Capacitor_SMD", "Connector_Dsub")
    assert available_categories(fake_library) == {"Capacitor_SMD": 8, "Connector_Dsub": 6}
    data = load_kicad_shapes(
        cats, per_category=None, n_points=256, root=fake_library, cache_dir=tmp_path / "cache"
    )
    assert len(data) == 13 and data.info["n_skipped"] == 1
    assert "part_broken.wrl" in next(iter(data.info["skipped"]))
    assert data.modalities == ("shape3d", "text") and data.class_names == cats
    assert all(t == CATEGORIES[cats[k]] for t, k in zip(data.b, data.labels, strict=True))
    assert all(c.shape == (256, 3) and c.dtype == np.float32 for c in data.a)
    # Units: the boxes were written in 0.1 inch and come back in millimetres.
    dsub = data.a[int(np.flatnonzero(data.labels == 1)[0])]
    assert 10 <= np.ptp(dsub, axis=0).max() <= 40
    # The copied file has the same geometry, so it shares a group and a split keeps it whole.
    files = data.info["files"]
    i, j = (
        files.index("Capacitor_SMD.3dshapes/part_0.wrl"),
        files.index("Capacitor_SMD.3dshapes/part_copy.wrl"),
    )
    assert data.groups[i] == data.groups[j] and data.info["n_duplicate_groups"] == 1
    train, test = data.split(0.3, seed=0)
    assert not {c.tobytes() for c in train.a} & {c.tobytes() for c in test.a}
    # Second load reads the cloud cache (and the broken file's note) and agrees exactly.
    again = load_kicad_shapes(
        cats, per_category=None, n_points=256, root=fake_library, cache_dir=tmp_path / "cache"
    )
    assert again.fingerprint == data.fingerprint and again.info["n_skipped"] == 1
    assert list((tmp_path / "cache").rglob("*.failed"))
    # A cap per category draws a seeded subset.
    capped = load_kicad_shapes(
        cats, per_category=3, n_points=64, root=fake_library, cache_dir=tmp_path / "cache"
    )
    assert len(capped) <= 6 and set(np.unique(capped.labels)) == {0, 1}


def test_loader_errors_say_how_to_install(tmp_path, monkeypatch):
    from csa_demo.data.shapes3d import ROOT_ENV, load_kicad_shapes

    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match=r"apt-get install .*kicad-packages3d.*make shapes3d"):
        load_kicad_shapes()


def test_loader_refuses_unknown_category(fake_library):
    from csa_demo.data.shapes3d import load_kicad_shapes

    with pytest.raises(DatasetError, match="no description"):
        load_kicad_shapes(["Valve"], root=fake_library)


# ------------------------------------------------------------- the real Debian data
def _real_root():
    from csa_demo.data.shapes3d import require_models

    pytest.importorskip("trimesh")
    try:
        return require_models()
    except DatasetError:
        pytest.skip("KiCad's 3D models are not installed (make shapes3d installs them)")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::csa.errors.WeakFitWarning")
def test_real_kicad_models_load_and_csa_beats_chance(tmp_path):
    import csa
    from csa.encoders import get
    from csa.encoders.shapes import ShapeDistributionEncoder
    from csa_demo.data.shapes3d import CATEGORIES, available_categories, load_kicad_shapes

    root = _real_root()
    counts = available_categories(root)
    assert all(counts.get(c, 0) >= 30 for c in CATEGORIES), counts
    cats = ("Capacitor_SMD", "Connector_Dsub", "Package_DIP", "Package_BGA")
    data = load_kicad_shapes(cats, per_category=25, n_points=1024, cache_dir=tmp_path)
    assert len(data) + data.info["n_skipped"] == 100 and data.info["n_skipped"] <= 2
    sizes = [np.ptp(c, axis=0).max() for c in data.a]
    assert 0.3 < min(sizes) and max(sizes) < 200  # millimetres, not inches or metres
    train, test = data.split(0.4, seed=0)
    enc = ShapeDistributionEncoder()
    classes = get("minilm-l6").encode(list(data.info["descriptions"]))
    model = csa.CSA().fit(enc.encode(train.a), classes[train.labels])
    accuracy = float(
        np.mean(model.similarity(enc.encode(test.a), classes).argmax(1) == test.labels)
    )
    assert accuracy > 0.5, accuracy  # chance is 1/4
