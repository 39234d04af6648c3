"""Tiny copies of the paper's data sets, in their exact published layouts, written by tests.

Each ``make_*`` function writes a few Pillow images and the JSON/CSV/TXT files of one
layout under ``root`` and returns what a test needs to check a reader against it. The
demo tests reuse them to run each paper command end to end offline.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

#: Three ImageNet classes, in the mapping file's (sorted synset) order.
IMAGENET_CLASSES = (
    ("n01440764", "tench, Tinca tinca"),
    ("n01443537", "goldfish, Carassius auratus"),
    ("n01484850", "great white shark, white shark, man-eater, Carcharodon carcharias"),
)


def write_image(path: Path, seed: int, size: tuple[int, int] = (12, 10), mode: str = "RGB") -> Path:
    """A small image of seeded noise (distinct content per seed), any Pillow mode."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode).save(path)
    return path


def write_devkit_meta(path: Path) -> dict[int, int]:
    """The devkit's meta.mat for IMAGENET_CLASSES, numbered out of sorted order, with one
    WordNet ancestor (it has children, so it is no class). Returns class index -> ID."""
    from scipy.io import savemat

    ids = {2: 1, 0: 2, 1: 3}  # great white shark is ILSVRC2012_ID 1, tench 2, goldfish 3
    fields = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")]
    entries = [(ids[k], wnid, words, 0) for k, (wnid, words) in enumerate(IMAGENET_CLASSES)]
    entries.append((4, "n01439121", "cyprinid", 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"synsets": np.array(entries, dtype=fields)})
    return ids


def make_imagenet(
    root: Path, layout: str = "kaggle", train_per_class: int = 4, val_per_class: int = 2
) -> dict[str, object]:
    """ImageNet as Kaggle ships it ("kaggle"), in synset folders ("folders"), or as the
    official release with its devkit ("devkit": meta.mat numbers the classes in an order
    that is not the sorted synsets', as the real one does).

    Returns the validation file names with their true and ReaL-style labels; the second
    validation image of class 0 is "mislabelled" (ReaL says class 1), and the last
    image has an empty ReaL list (no valid label).
    """
    root.mkdir(parents=True, exist_ok=True)
    if layout == "devkit":
        devkit_ids = write_devkit_meta(root / "ILSVRC2012_devkit_t12" / "data" / "meta.mat")
    else:
        (root / "LOC_synset_mapping.txt").write_text(
            "".join(f"{wnid} {names}\n" for wnid, names in IMAGENET_CLASSES), encoding="utf-8"
        )
    data = root / "ILSVRC" / "Data" / "CLS-LOC" if layout == "kaggle" else root
    seed = 0
    for wnid, _ in IMAGENET_CLASSES:
        for j in range(train_per_class):
            seed += 1
            write_image(data / "train" / wnid / f"{wnid}_{j + 1}.JPEG", seed)
    val_files, val_labels = [], []
    number = 0
    for k, (wnid, _) in enumerate(IMAGENET_CLASSES):
        for _ in range(val_per_class):
            number += 1
            name = f"ILSVRC2012_val_{number:08d}"
            folder = data / "val" / wnid if layout == "folders" else data / "val"
            seed += 1
            write_image(folder / f"{name}.JPEG", seed)
            val_files.append(name)
            val_labels.append(k)
    if layout == "devkit":
        truth = root / "ILSVRC2012_devkit_t12" / "data" / "ILSVRC2012_validation_ground_truth.txt"
        truth.write_text("".join(f"{devkit_ids[k]}\n" for k in val_labels), encoding="utf-8")
    if layout == "kaggle":
        with (root / "LOC_val_solution.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["ImageId", "PredictionString"])
            for name, k in zip(val_files, val_labels, strict=True):
                wnid = IMAGENET_CLASSES[k][0]
                writer.writerow([name, f"{wnid} 10 20 30 40 {wnid} 1 2 3 4"])
    real = [[k] for k in val_labels]
    real[1] = [1]  # the second image of class 0 really shows class 1
    real[-1] = []  # no valid label
    (root / "real.json").write_text(json.dumps(real), encoding="utf-8")
    return {
        "val_files": val_files,
        "val_labels": val_labels,
        "real": real,
        "relabels": root / "real.json",
    }


def make_cosmos(root: Path) -> dict[str, object]:
    """COSMOS: train/val JSON lines with articles, test JSON lines with two captions."""
    seed = 100
    train_captions = [
        ["Protesters gather in the square.", "A crowd fills the plaza."],
        ["The minister speaks at the summit."],
        ["Floods cover the valley.", "Rescue teams reach the town.", "Rain."],
    ]
    for split in ("train", "val"):
        lines = []
        for i, caps in enumerate(train_captions):
            seed += 1
            write_image(root / split / f"{i}.jpg", seed)
            articles = [
                {
                    "caption": c,
                    "caption_modified": c.replace("minister", "PERSON"),
                    "article_url": f"https://example.org/{split}/{i}/{j}",
                    "entity_list": [],
                }
                for j, c in enumerate(caps)
            ]
            lines.append(
                json.dumps(
                    {
                        "img_local_path": f"{split}/{i}.jpg",
                        "articles": articles,
                        "maskrcnn_bboxes": [[0, 0, 5, 5]],
                    }
                )
            )
        (root / f"{split}_data.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    test = [
        ("A dog runs on the beach.", "The dog plays in the sand.", 0),
        ("The president visits the factory.", "Aliens land in Paris.", 1),
        ("A storm hits the coast.", "Waves batter the harbour.", 0),
        ("Fans celebrate the win.", "A volcano erupts.", 1),
    ]
    lines = []
    for i, (c1, c2, label) in enumerate(test):
        seed += 1
        write_image(root / "test" / f"{i}.jpg", seed)
        lines.append(
            json.dumps(
                {
                    "img_local_path": f"test/{i}.jpg",
                    "caption1": c1,
                    "caption1_modified": c1,
                    "caption1_entities": [],
                    "caption2": c2,
                    "caption2_modified": c2,
                    "caption2_entities": [],
                    "article_url": "https://example.org",
                    "context_label": label,
                    "bert_base_score": 0.5,
                    "maskrcnn_bboxes": [],
                }
            )
        )
    (root / "test_data.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"train_captions": train_captions, "test": test}


_CAPTIONS = [
    ["Two dogs run across a field.", "A pair of dogs in the grass.", "Dogs playing outside."],
    ["A man rides a bicycle.", "Someone cycling down a street."],
    ["A child eats ice cream.", "A kid with a cone.", "Ice cream on a summer day."],
    ["A red car parked by a house.", "A car in a driveway."],
]


def make_flickr30k(root: Path) -> list[list[str]]:
    """Karpathy's dataset_flickr30k.json and flickr30k-images/: images 0-1 train, 2 val, 3 test."""
    splits = ["train", "train", "val", "test"]
    images = []
    for i, (caps, split) in enumerate(zip(_CAPTIONS, splits, strict=True)):
        write_image(root / "flickr30k-images" / f"{1000 + i}.jpg", 200 + i)
        images.append(
            {
                "sentids": list(range(len(caps))),
                "imgid": i,
                "split": split,
                "filename": f"{1000 + i}.jpg",
                "sentences": [
                    {"tokens": c.lower().rstrip(".").split(), "raw": c, "imgid": i, "sentid": j}
                    for j, c in enumerate(caps)
                ],
            }
        )
    (root / "dataset_flickr30k.json").write_text(
        json.dumps({"images": images, "dataset": "flickr30k"}), encoding="utf-8"
    )
    return _CAPTIONS


def make_coco(root: Path) -> list[list[str]]:
    """Karpathy's dataset_coco.json (train2014/, val2014/) and annotations/captions_val2017.json."""
    splits = [
        ("train2014", "train"),
        ("val2014", "restval"),
        ("val2014", "val"),
        ("val2014", "test"),
    ]
    images = []
    for i, (caps, (folder, split)) in enumerate(zip(_CAPTIONS, splits, strict=True)):
        name = f"COCO_{folder}_{i + 1:012d}.jpg"
        write_image(root / folder / name, 300 + i)
        images.append(
            {
                "filepath": folder,
                "filename": name,
                "split": split,
                "cocoid": i + 1,
                "imgid": i,
                "sentences": [{"raw": c, "imgid": i, "sentid": j} for j, c in enumerate(caps)],
            }
        )
    (root / "dataset_coco.json").write_text(
        json.dumps({"images": images, "dataset": "coco"}), encoding="utf-8"
    )
    coco_images, annotations = [], []
    for i, caps in enumerate(_CAPTIONS):
        name = f"{i + 7:012d}.jpg"
        write_image(root / "val2017" / name, 400 + i)
        coco_images.append({"id": i + 7, "file_name": name, "width": 12, "height": 10})
        for j, c in enumerate(caps):
            annotations.append({"image_id": i + 7, "id": 100 * i + j, "caption": c})
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "captions_val2017.json").write_text(
        json.dumps(
            {"info": {}, "licenses": [], "images": coco_images, "annotations": annotations[::-1]}
        ),
        encoding="utf-8",
    )
    return _CAPTIONS


def make_image_captions(root: Path, split_folders: bool = False) -> Path:
    """A Hugging Face imagefolder: metadata.csv with file_name,text,label (per split folder)."""
    rows = [
        ("a.png", "a red square", "shape"),
        ("b.png", "a blue circle", "shape"),
        ("c.png", "a small cat", "animal"),
        ("c.png", "a cat sitting", "animal"),
        ("d.png", "a brown dog", "animal"),
    ]
    for split in ("train", "test") if split_folders else ("",):
        folder = root / split if split else root
        for i, (name, _, _) in enumerate(rows):
            write_image(folder / "images" / name, 500 + i)
        with (folder / "metadata.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file_name", "text", "label"])
            writer.writerows((f"images/{n}", t, lab) for n, t, lab in rows)
    return root


def _svg(title: str, description: str, keywords: list[str], creator: str) -> str:
    items = "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords)
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:cc="http://web.resource.org/cc/"
     xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" width="10" height="10">
  <metadata>
    <rdf:RDF>
      <cc:Work rdf:about="">
        <dc:title>{title}</dc:title>
        <dc:description>{description}</dc:description>
        <dc:subject><rdf:Bag>{items}</rdf:Bag></dc:subject>
        <dc:publisher><cc:Agent rdf:about="http://www.openclipart.org">
          <dc:title>Open Clip Art Library</dc:title></cc:Agent></dc:publisher>
        <dc:creator><cc:Agent><dc:title>{creator}</dc:title></cc:Agent></dc:creator>
      </cc:Work>
    </rdf:RDF>
  </metadata>
  <rect width="10" height="10"/>
</svg>
"""


#: (relative path, title, description, creator) of the tiny Open Clip Art copy.
OPENCLIPART_DRAWINGS = [
    ("animals/cat_jane_doe_01.svg", "Sleeping cat", "A grey cat asleep on a cushion.", "Jane Doe"),
    ("animals/birds/owl_jane_doe_01.svg", "Owl", "jane.doe@example.org", "Jane Doe"),
    ("food/apple_pie.svg", "Apple Pie &amp; cream", "Apple Pie &amp; cream", "Bob Baker"),
    (
        "food/banana_bob_bak_01.svg",
        "Part of the Flat Icon Collection (Wed Aug 25 2004)",
        "",
        "Bob Baker",
    ),
    ("food/0x8677e2c.svg", "HASH(0x8677e2c)", "HASH(0x86761b8)", "Bob Baker"),
    ("food/99.svg", "Clipart by Nicu Buculei - 07", "", "Nicu Buculei"),
    ("unsorted/thing.svg", "Some thing", "", "Anon"),
] + [(f"shapes/stars/star_{i}pt.svg", "gramastar", "", "codified") for i in range(7)]


def make_openclipart(root: Path) -> Path:
    """Open Clip Art as the two Debian packages lay it out: svg/ and png/ trees.

    PNG renders are RGBA with a transparent background (as the real ones are); one SVG
    is also filed under a second folder as a symlink, as the package does.
    """
    from PIL import Image

    for i, (rel, title, desc, creator) in enumerate(OPENCLIPART_DRAWINGS):
        svg = root / "svg" / rel
        svg.parent.mkdir(parents=True, exist_ok=True)
        svg.write_text(_svg(title, desc, ["clipart", ""], creator), encoding="utf-8")
        png = (root / "png" / rel).with_suffix(".png")
        png.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.zeros((20, 40, 4), dtype=np.uint8)  # transparent, black underneath
        pixels[5:15, 10 + i % 5 : 20 + i % 5] = (200, 30, 30, 255)
        Image.fromarray(pixels, "RGBA").save(png)
    (root / "svg" / "animals" / "pets").mkdir(parents=True, exist_ok=True)
    (root / "svg" / "animals" / "pets" / "cat_jane_doe_01.svg").symlink_to(
        root / "svg" / "animals" / "cat_jane_doe_01.svg"
    )
    return root
