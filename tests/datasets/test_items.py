"""read_items and match_labels: each ingestion trap of issue 9, reproduced, now refused or right."""

from __future__ import annotations

import numpy as np
import pytest

from csa.datasets import match_labels, read_items
from csa.datasets.items import natural_key
from csa.errors import DatasetError, InputError


def _touch(folder, names):
    """Tiny real images (their headers are checked on reading), other files as text."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = folder / name
        if path.suffix in (".png", ".jpg"):
            Image.new("RGB", (2, 2), (len(name), 0, 0)).save(path)
        else:
            path.write_bytes(b"not an image: " + name.encode())
    return folder


def test_damaged_and_oversized_images_are_refused_by_name(tmp_path, monkeypatch):
    from PIL import Image

    folder = _touch(tmp_path / "images", ["a.png", "b.png"])
    (folder / "c.png").write_bytes(b"\x89PNG damaged")
    with pytest.raises(DatasetError, match=r"cannot be read as images: 'c\.png'"):
        read_items(folder, "image")
    (folder / "c.png").unlink()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1)  # 2 x 2 is over twice the limit
    with pytest.raises(DatasetError, match="too large to decode safely"):
        read_items(folder, "image")


def test_folder_is_read_in_natural_order(tmp_path):
    """img_0 ... img_199 read as img_0, img_1, img_10 ... mispaired every caption line."""
    names = [f"img_{i}.png" for i in range(12)]
    folder = _touch(tmp_path / "images", reversed(names))
    found = read_items(folder, "image")
    assert found.ids == names and found.layout == "folder" and found.labels is None
    assert found.items == [str(folder / n) for n in names]
    assert sorted(["b10", "a2", "b9", "a10"], key=natural_key) == ["a2", "a10", "b9", "b10"]


def test_imagefolder_layout_gives_labels(tmp_path):
    """An ImageFolder root used to encode 1 of 23 images: subfolders were skipped."""
    _touch(tmp_path / "root" / "dog", ["d_10.jpg", "d_2.jpg"])
    _touch(tmp_path / "root" / "cat", ["c_1.png"])
    found = read_items(tmp_path / "root", "image")
    assert found.layout == "imagefolder"
    assert found.ids == ["cat/c_1.png", "dog/d_2.jpg", "dog/d_10.jpg"]
    assert found.labels == ["cat", "dog", "dog"]


def test_mixed_or_stray_entries_are_refused_not_skipped(tmp_path):
    mixed = _touch(tmp_path / "mixed", ["a.png"])
    _touch(mixed / "sub", ["b.png"])
    with pytest.raises(DatasetError, match="never a mix"):
        read_items(mixed, "image")
    stray = _touch(tmp_path / "stray", ["a.png", "notes.doc"])
    with pytest.raises(DatasetError, match=r"not image files: 'notes\.doc'"):
        read_items(stray, "image")
    (stray / "notes.doc").unlink()
    (stray / ".DS_Store").write_bytes(b"")  # hidden files are not items
    assert read_items(stray, "image").ids == ["a.png"]


def test_hugging_face_metadata_csv(tmp_path):
    folder = _touch(tmp_path / "hf", ["b.png", "a.png"])
    (folder / "metadata.csv").write_text(
        "file_name,text,label\nb.png,a red bus,bus\na.png,a cat asleep,cat\n", encoding="utf-8"
    )
    images = read_items(folder, "image")
    texts = read_items(folder, "text")
    assert images.layout == "hf-metadata" and images.ids == ["b.png", "a.png"]
    assert images.items == [str(folder / "b.png"), str(folder / "a.png")]
    assert texts.items == ["a red bus", "a cat asleep"] and texts.labels == ["bus", "cat"]


def test_csv_column_follows_the_modality(tmp_path):
    """An image encoder used to pick the caption column of a CSV."""
    folder = _touch(tmp_path / "pics", ["x.png", "y.png"])
    table = tmp_path / "pairs.csv"
    table.write_text("caption,picture\na dog,pics/x.png\na boat,pics/y.png\n", encoding="utf-8")
    assert read_items(table, "image").items == [str(folder / "x.png"), str(folder / "y.png")]
    assert read_items(table, "text").items == ["a dog", "a boat"]
    assert read_items(table, "text", column="caption").ids == ["0", "1"]
    with pytest.raises(DatasetError, match="no column 'nope'"):
        read_items(table, "text", column="nope")
    with pytest.raises(InputError, match="look like file paths"):
        read_items(table, "text", column="picture")


def test_parquet_tables_are_read_like_csv(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"id": [7, 8], "sentence": ["one", "two"], "class": ["a", "b"]}),
        tmp_path / "t.parquet",
    )
    found = read_items(tmp_path / "t.parquet", "text")
    assert found.items == ["one", "two"] and found.ids == ["7", "8"] and found.labels == ["a", "b"]


def test_empty_and_blank_input_is_an_error(tmp_path):
    """`csa embed` on an empty file wrote a (0, 384) array and exited 0."""
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(DatasetError, match="empty"):
        read_items(tmp_path / "empty.txt", "text")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty"):
        read_items(tmp_path / "empty", "image")
    (tmp_path / "gap.txt").write_text("one\n\nthree\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"line\(s\) 2 are blank"):
        read_items(tmp_path / "gap.txt", "text")
    (tmp_path / "ok.txt").write_text("one\ntwo\n", encoding="utf-8")
    assert read_items(tmp_path / "ok.txt", "text").items == ["one", "two"]
    with pytest.raises(DatasetError, match="holds no items"):
        read_items([], "text")


def test_items_that_do_not_fit_the_modality(tmp_path):
    """`csa embed minilm-l6 images/` embedded the file paths as text."""
    folder = _touch(tmp_path / "images", ["a.png", "b.png"])
    with pytest.raises(InputError, match=r"image files.*Use an image encoder"):
        read_items(folder, "text")
    with pytest.raises(InputError, match="look like file paths"):
        read_items([str(folder / "a.png"), str(folder / "b.png")], "text")
    with pytest.raises(InputError, match=r"not files.*text encoder"):
        read_items(["a photo of a cat", "a dog"], "image")
    lines = tmp_path / "files.txt"
    lines.write_text("images/a.png\nimages/b.png\n", encoding="utf-8")
    assert read_items(lines, "image").items == [str(folder / "a.png"), str(folder / "b.png")]
    with pytest.raises(InputError, match="modality"):
        read_items(lines, "video")


def test_labels_are_matched_to_class_names_by_name():
    """Label names were sorted alphabetically instead of matched to classes.txt."""
    classes = ["zebra", "ant", "Moth"]
    codes = match_labels(["ant", "zebra", "moth ", "ant"], classes)
    assert codes.tolist() == [1, 0, 2, 1]
    assert match_labels(np.array([2, 0]), classes).tolist() == [2, 0]
    with pytest.raises(InputError, match="name no class: 'bee'"):
        match_labels(["ant", "bee"], classes)
    with pytest.raises(InputError, match="repeat"):
        match_labels(["a"], ["a", "a"])
    # Classes named by numbers match by name, not position.
    assert match_labels([10, 3], ["3", "10"]).tolist() == [1, 0]
