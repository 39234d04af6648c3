"""Readers of the paper's published layouts, each on a tiny copy the test writes itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from csa.datasets import load
from csa.datasets.cosmos import other_captions
from csa.datasets.imagenet import relabel_flags
from csa.errors import DatasetError
from paper_fixtures import (
    IMAGENET_CLASSES,
    make_coco,
    make_cosmos,
    make_flickr30k,
    make_image_captions,
    make_imagenet,
)


# ---- ImageNet ----------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["kaggle", "folders", "devkit"])
def test_imagenet_train_and_val(tmp_path: Path, layout: str) -> None:
    truth = make_imagenet(tmp_path, layout=layout)
    train = load("imagenet", root=tmp_path, split="train")
    assert len(train) == 12 and train.class_names == ("tench", "goldfish", "great white shark")
    assert np.bincount(train.labels).tolist() == [4, 4, 4]
    first = train.a[int(np.flatnonzero(train.labels == 2)[0])]
    assert Path(first).parent.name == IMAGENET_CLASSES[2][0] and Path(first).is_file()
    assert train.b[int(np.flatnonzero(train.labels == 2)[0])] == "An image of great white shark."
    val = load("imagenet", root=tmp_path, split="val")
    by_name = {Path(p).stem: int(k) for p, k in zip(val.a, val.labels, strict=True)}
    assert by_name == dict(zip(truth["val_files"], truth["val_labels"], strict=True))


def test_imagenet_devkit_ids_go_through_their_synsets(tmp_path: Path) -> None:
    """The devkit numbers the shark 1: its images must still get class index 2, the index
    ReaL and every other file use, and the ReaL relabels must line up with them."""
    truth = make_imagenet(tmp_path, layout="devkit")
    assert not (tmp_path / "LOC_synset_mapping.txt").exists()
    data = tmp_path / "ILSVRC2012_devkit_t12" / "data"
    assert (data / "ILSVRC2012_validation_ground_truth.txt").read_text().split()[:2] == ["2", "2"]
    val = load("imagenet", root=tmp_path, split="val", relabels=truth["relabels"])
    assert val.labels.tolist() == truth["val_labels"]
    assert val.class_names == ("tench", "goldfish", "great white shark")
    known, wrong = relabel_flags(val)
    assert wrong.tolist() == [name == truth["val_files"][1] for name in map(_stem, val.a)]
    assert known.sum() == len(val) - 1


def _stem(path: str) -> str:
    return Path(path).stem


def test_imagenet_devkit_errors(tmp_path: Path) -> None:
    make_imagenet(tmp_path, layout="devkit")
    data = tmp_path / "ILSVRC2012_devkit_t12" / "data"
    truth = data / "ILSVRC2012_validation_ground_truth.txt"
    truth.write_text("2\n7\n")
    with pytest.raises(DatasetError, match=r"line 2: '7' is not an ILSVRC2012_ID"):
        load("imagenet", root=tmp_path, split="val")
    (data / "meta.mat").write_bytes(b"MATLAB 5.0 MAT-file, but edited by hand")
    with pytest.raises(DatasetError, match=r"is not the ILSVRC2012 devkit's meta\.mat"):
        load("imagenet", root=tmp_path, split="train")
    from scipy.io import savemat

    savemat(data / "meta.mat", {"classes": np.arange(3)})
    with pytest.raises(DatasetError, match=r"is not the ILSVRC2012 devkit's meta\.mat"):
        load("imagenet", root=tmp_path, split="train")
    make_imagenet(tmp_path / "text", layout="kaggle")
    with pytest.raises(DatasetError, match=r"needs the devkit's meta\.mat"):
        load("imagenet", root=tmp_path / "text", split="val", val_labels=truth)


def test_imagenet_relabels_flag_mislabelled_rows_after_subsampling(tmp_path: Path) -> None:
    truth = make_imagenet(tmp_path)
    val = load("imagenet", root=tmp_path, split="val", relabels=truth["relabels"])
    known, wrong = relabel_flags(val)
    names = [Path(p).stem for p in val.a]
    assert wrong.tolist() == [name == truth["val_files"][1] for name in names]
    assert known.tolist() == [name != truth["val_files"][-1] for name in names]
    sub = val.subsample(4, seed=3)
    known_s, wrong_s = relabel_flags(sub)  # keyed by item, so a subset stays right
    expected = [Path(p).stem == truth["val_files"][1] for p in sub.a]
    assert wrong_s.tolist() == expected and known_s.sum() >= 3


def test_imagenet_csv_relabels_and_caffe_val_labels(tmp_path: Path) -> None:
    truth = make_imagenet(tmp_path)
    (tmp_path / "LOC_val_solution.csv").unlink()
    lines = [f"{f}.JPEG {k}" for f, k in zip(truth["val_files"], truth["val_labels"], strict=True)]
    (tmp_path / "val.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    relabel_csv = tmp_path / "relabels.csv"
    relabel_csv.write_text(f"ImageId,labels\n{truth['val_files'][0]},n01443537 n01440764\n")
    val = load("imagenet", root=tmp_path, split="val", relabels=relabel_csv, n=6, seed=1)
    known, wrong = relabel_flags(val)
    assert known.sum() == 1 and not wrong.any()


def test_imagenet_errors_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="pass root="):
        load("imagenet")
    make_imagenet(tmp_path)
    (tmp_path / "LOC_synset_mapping.txt").unlink()
    with pytest.raises(DatasetError, match=r"LOC_synset_mapping\.txt.*Expected layout"):
        load("imagenet", root=tmp_path)
    make_imagenet(tmp_path)
    (tmp_path / "LOC_val_solution.csv").unlink()
    with pytest.raises(DatasetError, match=r"LOC_val_solution\.csv"):
        load("imagenet", root=tmp_path, split="val")
    with pytest.raises(DatasetError, match="split='val'"):
        load("imagenet", root=tmp_path, relabels=tmp_path / "real.json")
    bad = tmp_path / "bad_mapping.txt"
    bad.write_text("tench fish\n")
    with pytest.raises(DatasetError, match=r"bad_mapping\.txt, line 1"):
        load("imagenet", root=tmp_path, synset_mapping=bad)


# ---- COSMOS ------------------------------------------------------------------------
def test_cosmos_train_groups_captions_of_one_image(tmp_path: Path) -> None:
    truth = make_cosmos(tmp_path)
    train = load("cosmos", root=tmp_path, split="train")
    assert train.b == [c for caps in truth["train_captions"] for c in caps]
    assert train.groups.tolist() == [0, 0, 1, 2, 2, 2]
    assert train.labels is None and all(Path(p).is_file() for p in train.a)
    modified = load("cosmos", root=tmp_path, split="val", modified=True)
    assert "The PERSON speaks at the summit." in modified.b


def test_cosmos_test_labels_and_second_captions(tmp_path: Path) -> None:
    truth = make_cosmos(tmp_path)
    test = load("cosmos", root=tmp_path, split="test")
    assert test.labels.tolist() == [t[2] for t in truth["test"]]
    assert test.class_names == ("not out-of-context", "out-of-context")
    assert other_captions(test) == [t[1] for t in truth["test"]]
    sub = test.subsample(2, seed=5)
    pairs = {t[0]: t[1] for t in truth["test"]}
    assert other_captions(sub) == [pairs[c] for c in sub.b]
    flipped = load("cosmos", root=tmp_path, split="test", caption="caption2")
    assert flipped.b == [t[1] for t in truth["test"]] and flipped.a == test.a


def test_cosmos_errors(tmp_path: Path) -> None:
    make_cosmos(tmp_path)
    (tmp_path / "test" / "2.jpg").unlink()
    with pytest.raises(DatasetError, match=r"1 image file\(s\) listed in .*test_data.json"):
        load("cosmos", root=tmp_path, split="test")
    (tmp_path / "train_data.json").write_text('{"img_local_path": "train/0.jpg"}\n')
    with pytest.raises(DatasetError, match="missing field 'articles'"):
        load("cosmos", root=tmp_path, split="train")
    (tmp_path / "val_data.json").unlink()
    with pytest.raises(DatasetError, match=r"val_data\.json.*Expected layout"):
        load("cosmos", root=tmp_path, split="val")


# ---- Flickr30k and COCO --------------------------------------------------------------
def test_flickr30k_karpathy_splits(tmp_path: Path) -> None:
    captions = make_flickr30k(tmp_path)
    train = load("flickr30k", root=tmp_path, split="train")
    assert train.b == captions[0] + captions[1]
    assert train.groups.tolist() == [0, 0, 0, 1, 1]
    test = load("flickr30k", root=tmp_path, split="test")
    assert test.b == captions[3] and Path(test.a[0]).name == "1003.jpg"
    everything = load("flickr30k", root=tmp_path, split="all", captions_per_image=1)
    assert everything.b == [c[0] for c in captions]
    two = load("flickr30k", root=tmp_path, split="all", n_images=2, seed=0)
    assert len(set(two.groups.tolist())) == 2 and len(set(two.a)) == 2
    tr, te = load("flickr30k", root=tmp_path, split="all").split(0.5, seed=0)
    assert not set(tr.a) & set(te.a)  # an image's captions never straddle a split


def test_coco_karpathy_and_official_annotations(tmp_path: Path) -> None:
    captions = make_coco(tmp_path)
    both = load("coco-captions", root=tmp_path, split="train+restval")
    assert both.b == captions[0] + captions[1]
    assert Path(both.a[0]).parent.name == "train2014" and Path(both.a[-1]).parent.name == "val2014"
    val17 = load("coco-captions", root=tmp_path, split="val2017")
    assert sorted(val17.b) == sorted(c for caps in captions for c in caps)
    for path, text, group in zip(val17.a, val17.b, val17.groups.tolist(), strict=True):
        k = int(Path(path).stem) - 7
        assert text in captions[k] and group == k


def test_caption_readers_errors(tmp_path: Path) -> None:
    make_flickr30k(tmp_path)
    (tmp_path / "flickr30k-images" / "1000.jpg").unlink()
    with pytest.raises(DatasetError, match=r"1000\.jpg"):
        load("flickr30k", root=tmp_path, split="train")
    with pytest.raises(DatasetError, match=r"captions_train2017\.json"):
        load("coco-captions", root=tmp_path, split="train2017")
    (tmp_path / "dataset_flickr30k.json").write_text(json.dumps({"images": "nope"}))
    with pytest.raises(DatasetError, match="'images' list"):
        load("flickr30k", root=tmp_path, split="train", check_images=False)


# ---- generic image + caption tables ---------------------------------------------------
def test_image_captions_metadata_csv(tmp_path: Path) -> None:
    make_image_captions(tmp_path)
    data = load("image-captions", path=tmp_path)
    assert data.b[:2] == ["a red square", "a blue circle"]
    assert data.class_names == ("animal", "shape") and data.labels.tolist() == [1, 1, 0, 0, 0]
    assert data.groups.tolist() == [0, 1, 2, 2, 3]  # two captions of c.png: one group
    assert Path(data.a[0]) == tmp_path / "images" / "a.png"
    same = load("image-captions", path=tmp_path / "metadata.csv")
    assert same.a == data.a and same.b == data.b
    tr, te = load("image-captions", path=tmp_path).split(0.4, seed=1)
    assert not set(tr.a) & set(te.a)


def test_image_captions_split_folders_and_jsonl(tmp_path: Path) -> None:
    make_image_captions(tmp_path, split_folders=True)
    test = load("image-captions", path=tmp_path, split="test")
    assert len(test) == 5 and all("/test/" in p for p in test.a)
    assert len(load("image-captions", path=tmp_path, split="all")) == 10
    lines = [
        json.dumps({"image": "images/a.png", "caption": "red"}),
        json.dumps({"image": "images/b.png", "caption": "blue"}),
    ]
    (tmp_path / "train" / "pairs.jsonl").write_text("\n".join(lines))
    pairs = load("image-captions", path=tmp_path / "train" / "pairs.jsonl")
    assert pairs.b == ["red", "blue"] and pairs.labels is None


def test_image_captions_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load("image-captions", path=tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"no metadata\.csv or metadata\.jsonl"):
        load("image-captions", path=tmp_path)
    make_image_captions(tmp_path)
    with pytest.raises(DatasetError, match="no caption column 'words'"):
        load("image-captions", path=tmp_path, caption_column="words")
    (tmp_path / "images" / "d.png").unlink()
    with pytest.raises(DatasetError, match=r"d\.png"):
        load("image-captions", path=tmp_path)
    with pytest.raises(DatasetError, match="no split folder 'validation'"):
        make_image_captions(tmp_path / "hf", split_folders=True)
        load("image-captions", path=tmp_path / "hf", split="validation")
