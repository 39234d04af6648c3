"""Open Clip Art: metadata filtering, thumbnails on white, grouping; on a tiny copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csa.errors import DatasetError
from csa_demo.data.openclipart import (
    DEFAULT_ROOT,
    clean_title,
    load_openclipart,
    name_from_file,
    parse_metadata,
)
from paper_fixtures import make_openclipart


@pytest.fixture()
def clipart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CSA_CACHE_DIR", str(tmp_path / "cache"))
    return make_openclipart(tmp_path / "openclipart")


def test_captions_are_filtered_as_documented(clipart: Path) -> None:
    data = load_openclipart(root=clipart)
    captions = dict(zip([data.info["svg_of"][p] for p in data.a], data.b, strict=True))
    assert (
        captions["animals/cat_jane_doe_01.svg"] == "Sleeping cat. A grey cat asleep on a cushion."
    )
    assert captions["animals/birds/owl_jane_doe_01.svg"] == "Owl"  # e-mail description dropped
    assert captions["food/apple_pie.svg"] == "Apple Pie & cream"  # description = title
    assert captions["food/banana_bob_bak_01.svg"] == "banana"  # collection title -> file name
    assert "food/0x8677e2c.svg" not in captions and "food/99.svg" not in captions  # nothing left
    assert "unsorted/thing.svg" not in captions  # excluded category
    stars = [k for k in captions if k.startswith("shapes/")]
    assert len(stars) == 5  # 7 drawings share the caption "gramastar": the first 5 stay
    counts = data.info["filter_counts"]
    assert counts["kept"] == len(data) == 9 and counts["drawings"] == 14  # symlink not counted
    assert counts["dropped: caption repeated past max_per_caption"] == 2
    assert counts["dropped: no caption left"] == 2 and counts["dropped: excluded category"] == 1


def test_labels_groups_and_splits(clipart: Path) -> None:
    data = load_openclipart(root=clipart)
    assert data.class_names == ("animals", "food", "shapes")
    assert np.bincount(data.labels).tolist() == [2, 2, 5]
    star_groups = {int(g) for g, c in zip(data.groups, data.b, strict=True) if c == "gramastar"}
    assert len(star_groups) == 1 and len(set(data.groups.tolist())) == 5
    train = load_openclipart(root=clipart, split="train", test_fraction=0.4)
    test = load_openclipart(root=clipart, split="test", test_fraction=0.4)
    assert not set(train.b) & set(test.b) and len(train) + len(test) == len(data)
    everything = load_openclipart(root=clipart, exclude_categories=())
    assert "some thing" in [c.lower() for c in everything.b]


def test_thumbnails_are_square_rgb_on_white_and_cached(clipart: Path) -> None:
    from PIL import Image

    data = load_openclipart(root=clipart, image_size=32)
    with Image.open(data.a[0]) as img:
        assert img.mode == "RGB" and img.size == (32, 32)
        pixels = np.asarray(img)
    assert (pixels[0, 0] == 255).all()  # transparent background became white, not black
    assert (np.abs(pixels.astype(int) - (200, 30, 30)).sum(axis=2) < 60).any()  # the drawing
    stamp = Path(data.a[0]).stat().st_mtime_ns
    again = load_openclipart(root=clipart, image_size=32)
    assert again.a == data.a and again.b == data.b
    assert Path(again.a[0]).stat().st_mtime_ns == stamp  # warm: not rewritten


def test_missing_packages_are_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"openclipart-svg.*openclipart-png"):
        load_openclipart(root=tmp_path)


def test_cleaning_rules() -> None:
    assert clean_title("Clipart by Nicu Buculei - jigsaw_red_10") == "jigsaw red"
    assert clean_title("arrow08_4") == "arrow"
    assert clean_title("BasseTemperature") == "Basse Temperature"
    assert name_from_file("animals/acquila_architetto_franc_01.svg", "Architetto Francesco") == (
        "acquila"
    )
    assert name_from_file("shapes/stars/star_49pt16step.svg", "codified") == "star"
    drawing = parse_metadata(
        "<svg><metadata><cc:Work><dc:title>A &amp; B</dc:title>"
        "<dc:creator><cc:Agent><dc:title>Me</dc:title></cc:Agent>"
        "</dc:creator></cc:Work></metadata></svg>",
        "x/y.svg",
    )
    assert (drawing.title, drawing.creator, drawing.category) == ("A & B", "Me", "x")


@pytest.mark.slow
@pytest.mark.skipif(not (DEFAULT_ROOT / "png").is_dir(), reason="openclipart-png not installed")
def test_real_package_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSA_CACHE_DIR", str(Path.home() / ".cache" / "csa"))
    data = load_openclipart(n=50, seed=0)
    assert len(data) == 50 and data.n_classes == 21
    assert all(Path(p).is_file() for p in data.a)
