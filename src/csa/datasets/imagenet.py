"""ImageNet-1k (ILSVRC 2012) in the layouts it is distributed in, for the paper's experiments.

``load("imagenet", root=DIR, split="train"|"val", n=..., relabels=...)`` pairs each image
with "An image of {label}." (the paper's prompt), labelled by synset. Layouts read:

- Kaggle's ILSVRC release::

      DIR/LOC_synset_mapping.txt      n01440764 tench, Tinca tinca
      DIR/LOC_val_solution.csv        ImageId,PredictionString
                                      ILSVRC2012_val_00008726,n02119789 255 142 454 329 ...
      DIR/ILSVRC/Data/CLS-LOC/train/n01440764/n01440764_10026.JPEG
      DIR/ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00008726.JPEG

- the folder layout of torchvision and most scripts: ``DIR/train/<synset>/*.JPEG`` and
  ``DIR/val/<synset>/*.JPEG`` (validation already sorted into synset folders), or
  ``DIR/val/*.JPEG`` with a label file: ``LOC_val_solution.csv``, or a two-column text
  file of ``<file> <synset or class index>`` lines (Caffe's ``val.txt``), given as
  ``val_labels=``;
- the official release with its development kit (as torchvision's ``ImageNet`` reads
  it): ``DIR/ILSVRC2012_devkit_t12/data/meta.mat`` (the synsets, MATLAB format) and
  ``.../data/ILSVRC2012_validation_ground_truth.txt`` (one ``ILSVRC2012_ID`` per line,
  line i for ``ILSVRC2012_val_<i>``), beside ``DIR/train/<synset>/`` and ``DIR/val/``.
  The devkit numbers classes 1-1000 in its own order, not the sorted-synset order of
  every other file here (ReaL's indices included): its IDs go through their synsets;
- the synset -> name mapping ``LOC_synset_mapping.txt`` (or Caffe's ``synset_words.txt``,
  the same format) in ``DIR``, or given as ``synset_mapping=``, or the devkit's
  ``meta.mat``. The class index order is the sorted synsets (the usual 0-999), which is
  the line order of the text files. The class name is the first synonym ("tench");
  note that two pairs of classes share a first name ("crane", "maillot"), as in the
  paper's prompts.

Mislabel detection: ``relabels=`` names a file of re-annotated validation labels; each
row's valid labels go to ``info["relabels"]`` keyed by image path, and
:func:`relabel_flags` turns them into (known, mislabelled) masks for any subset. Formats:
ImageNet-ReaL's ``real.json`` (a list of 50,000 lists of class indices, in validation
file order; an empty list means no valid label), a JSON object ``{file or ImageId:
[labels]}``, or a CSV with columns ``ImageId`` (or ``file``) and ``labels`` (synsets or
indices separated by spaces). Items are image file paths: pixels are read by the encoder.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from csa.datasets.base import PairedDataset
from csa.datasets.layout import first_existing, listing, read_json, require_root
from csa.errors import DatasetError

DEFAULT_TEMPLATE = "An image of {label}."
_LAYOUT = (
    "LOC_synset_mapping.txt (or ILSVRC2012_devkit_t12/data/meta.mat), and "
    "train/<synset>/*.JPEG and val/ (or ILSVRC/Data/CLS-LOC/train and val) with "
    "LOC_val_solution.csv, the devkit's ground truth file or val/<synset>/ folders"
)
_DEVKIT_DATA = ("ILSVRC2012_devkit_t12/data", "devkit/data")
_DEVKIT_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
_SYNSET = re.compile(r"^n\d{8}$")
_VAL_ID = re.compile(r"ILSVRC2012_val_(\d{8})")
_IMAGE_ENDINGS = (".jpeg", ".jpg", ".png")


def read_synset_mapping(path: Path) -> tuple[list[str], list[str], list[str]]:
    """Synsets in class-index order, their first names, and the full synonym lists."""
    synsets, names, synonyms = [], [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        wnid, _, words = line.strip().partition(" ")
        if not _SYNSET.match(wnid) or not words.strip():
            raise DatasetError(
                f"{path}, line {number}: expected '<synset> <names>' such as "
                f"'n01440764 tench, Tinca tinca'; got {line.strip()[:80]!r}"
            )
        synsets.append(wnid)
        synonyms.append(words.strip())
        names.append(words.split(",")[0].strip())
    if len(set(synsets)) != len(synsets):
        raise DatasetError(f"{path} lists a synset more than once")
    if not synsets:
        raise DatasetError(f"{path} holds no synsets")
    return synsets, names, synonyms


def devkit_folder(base: Path) -> Path | None:
    """The devkit's ``data`` folder under ``base``, if it holds ``meta.mat``."""
    for relative in _DEVKIT_DATA:
        if (base / relative / "meta.mat").is_file():
            return base / relative
    return None


def read_devkit_meta(path: Path) -> tuple[list[str], list[str], list[str], dict[int, str]]:
    """The devkit's 1000 classes in sorted-synset order (synsets, first names, synonyms)
    and its own numbering, ``ILSVRC2012_ID -> synset``, which the ground truth file uses.

    ``meta.mat`` is MATLAB's format, read by scipy (no pickle); its ``synsets`` struct
    also lists the WordNet ancestors of the classes, which have children and are skipped.
    """
    import scipy.io

    try:
        table = scipy.io.loadmat(path, squeeze_me=True)["synsets"]
        ids = np.asarray(table["ILSVRC2012_ID"], dtype=np.int64).reshape(-1)
        wnids = [str(w).strip() for w in np.asarray(table["WNID"]).reshape(-1)]
        words = [str(w).strip() for w in np.asarray(table["words"]).reshape(-1)]
        children = np.asarray(table["num_children"], dtype=np.int64).reshape(-1)
    except (OSError, ValueError, KeyError, IndexError, TypeError, NotImplementedError) as exc:
        raise DatasetError(
            f"{path} is not the ILSVRC2012 devkit's meta.mat (a 'synsets' struct with "
            f"ILSVRC2012_ID, WNID, words and num_children): {exc}"
        ) from exc
    leaves = [i for i in range(len(wnids)) if children[i] == 0]
    bad = [wnids[i] for i in leaves if not _SYNSET.match(wnids[i]) or not words[i]]
    if not leaves or bad:
        raise DatasetError(f"{path}: no classes, or malformed synsets {listing(bad)}")
    by_id = {int(ids[i]): wnids[i] for i in leaves}
    if len(by_id) != len(leaves) or len(set(by_id.values())) != len(leaves):
        raise DatasetError(f"{path} numbers a class, or lists a synset, more than once")
    order = sorted(leaves, key=lambda i: wnids[i])
    synonyms = [words[i] for i in order]
    names = [w.split(",")[0].strip() for w in synonyms]
    return [wnids[i] for i in order], names, synonyms, by_id


def read_devkit_ground_truth(
    path: Path, by_id: dict[int, str], index: dict[str, int]
) -> dict[str, int]:
    """Image id -> class index from the devkit's one-ID-per-line validation labels."""
    labels: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        value = line.strip()
        if not value:
            continue
        if not value.isdigit() or int(value) not in by_id:
            raise DatasetError(
                f"{path}, line {number}: {value[:40]!r} is not an ILSVRC2012_ID of meta.mat"
            )
        labels[f"ILSVRC2012_val_{number:08d}"] = index[by_id[int(value)]]
    if not labels:
        raise DatasetError(f"{path} holds no validation labels")
    return labels


def _images_in(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(
            e.path for e in entries if e.is_file() and e.name.lower().endswith(_IMAGE_ENDINGS)
        )


def _class_folders(folder: Path, index: dict[str, int]) -> tuple[list[str], list[int]]:
    """Images and labels of a folder of synset folders; unknown synsets are an error."""
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir())
    unknown = [p.name for p in subfolders if p.name not in index]
    if unknown:
        raise DatasetError(
            f"{folder}: folder(s) {listing(unknown)} are not synsets of the mapping file"
        )
    paths: list[str] = []
    labels: list[int] = []
    for sub in subfolders:
        found = _images_in(sub)
        paths.extend(found)
        labels.extend([index[sub.name]] * len(found))
    if not paths:
        raise DatasetError(f"no images (*.JPEG) in the synset folders of {folder}")
    return paths, labels


def _label_code(value: str, index: dict[str, int], n_classes: int, source: str) -> int:
    value = value.strip()
    if value in index:
        return index[value]
    if value.isdigit() and int(value) < n_classes:
        return int(value)
    raise DatasetError(
        f"{source}: label {value!r} is neither a known synset nor an index < {n_classes}"
    )


def read_val_labels(path: Path, index: dict[str, int]) -> dict[str, int]:
    """Image id (file name without ending) -> class index, from either label file format."""
    labels: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            if "ImageId" not in header or "PredictionString" not in header:
                raise DatasetError(
                    f"{path}: expected the columns ImageId,PredictionString of "
                    f"LOC_val_solution.csv; the header has {', '.join(header) or 'nothing'}"
                )
            for number, row in enumerate(reader, start=2):
                words = (row["PredictionString"] or "").split()
                if not words:
                    raise DatasetError(f"{path}, line {number}: empty PredictionString")
                labels[row["ImageId"].strip()] = _label_code(
                    words[0], index, len(index), f"{path}, line {number}"
                )
        else:
            for number, line in enumerate(handle, start=1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise DatasetError(
                        f"{path}, line {number}: expected '<file> <synset or index>', got "
                        f"{line.strip()[:80]!r}"
                    )
                labels[Path(parts[0]).stem] = _label_code(
                    parts[1], index, len(index), f"{path}, line {number}"
                )
    if not labels:
        raise DatasetError(f"{path} holds no validation labels")
    return labels


def _val_images(
    folder: Path,
    root: Path,
    index: dict[str, int],
    val_labels: str | Path | None,
    devkit: Path | None,
    devkit_ids: dict[int, str] | None,
) -> tuple[list[str], list[int]]:
    if any(p.is_dir() and p.name in index for p in folder.iterdir()):
        return _class_folders(folder, index)
    candidates = [root / "LOC_val_solution.csv", root / "val.txt"]
    if devkit is not None:
        candidates.append(devkit / _DEVKIT_TRUTH)
    label_file = (
        Path(val_labels)
        if val_labels is not None
        else first_existing(candidates, "ImageNet validation labels", _LAYOUT)
    )
    if not label_file.is_file():
        raise DatasetError(f"ImageNet validation label file {label_file} not found")
    if label_file.name == _DEVKIT_TRUTH:
        if devkit_ids is None:
            raise DatasetError(
                f"{label_file} numbers classes by the devkit's ILSVRC2012_ID: it needs the "
                "devkit's meta.mat as the synset mapping (ILSVRC2012_devkit_t12/data/meta.mat)"
            )
        known = read_devkit_ground_truth(label_file, devkit_ids, index)
    else:
        known = read_val_labels(label_file, index)
    paths = _images_in(folder)
    if not paths:
        raise DatasetError(f"no validation images (*.JPEG) in {folder}")
    unlabelled = [Path(p).name for p in paths if Path(p).stem not in known]
    if unlabelled:
        raise DatasetError(
            f"{len(unlabelled)} validation image(s) in {folder} have no label in "
            f"{label_file}: {listing(unlabelled)}"
        )
    return paths, [known[Path(p).stem] for p in paths]


def _relabel_codes(raw: Any, index: dict[str, int], source: str) -> tuple[int, ...]:
    values = raw.split() if isinstance(raw, str) else list(raw)
    return tuple(sorted({_label_code(str(v), index, len(index), source) for v in values}))


def read_relabels(path: Path, index: dict[str, int]) -> dict[str, tuple[int, ...]]:
    """Image id -> the class indices re-annotators judged valid (see the module docstring)."""
    if not path.is_file():
        raise DatasetError(f"relabel file {path} not found")
    out: dict[str, tuple[int, ...]] = {}
    if path.suffix.lower() == ".json":
        data = read_json(path)
        if isinstance(data, list):  # ImageNet-ReaL: position i is ILSVRC2012_val_{i+1:08d}
            for i, entry in enumerate(data):
                if not isinstance(entry, list):
                    raise DatasetError(f"{path}: entry {i} should be a list of class indices")
                out[f"ILSVRC2012_val_{i + 1:08d}"] = _relabel_codes(entry, index, f"{path}[{i}]")
        elif isinstance(data, dict):
            for key, entry in data.items():
                out[Path(str(key)).stem] = _relabel_codes(entry, index, f"{path}[{key!r}]")
        else:
            raise DatasetError(f"{path}: expected a JSON list (ReaL) or object of label lists")
        return out
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        id_col = next((c for c in ("ImageId", "file", "image") if c in header), None)
        lab_col = next((c for c in ("labels", "label", "PredictionString") if c in header), None)
        if id_col is None or lab_col is None:
            raise DatasetError(
                f"{path}: expected columns ImageId (or file) and labels; the header has "
                f"{', '.join(header) or 'nothing'}"
            )
        for number, row in enumerate(reader, start=2):
            out[Path(row[id_col].strip()).stem] = _relabel_codes(
                row[lab_col] or "", index, f"{path}, line {number}"
            )
    return out


def relabel_flags(data: PairedDataset) -> tuple[np.ndarray, np.ndarray]:
    """``(known, mislabelled)`` boolean masks over ``data``'s rows, from its relabels.

    ``known`` is False where the relabel file has no entry or an empty one (no valid
    label: leave those rows out of a mislabel AUC); ``mislabelled`` is True where the
    row's given label is not among its valid ones.
    """
    relabels = data.info.get("relabels")
    if relabels is None or data.labels is None:
        raise DatasetError(f"{data.name} was loaded without relabels=; nothing to flag")
    known = np.zeros(len(data), dtype=bool)
    wrong = np.zeros(len(data), dtype=bool)
    for i, (item, label) in enumerate(zip(data.a, data.labels.tolist(), strict=True)):
        valid = relabels.get(str(item))
        if valid:
            known[i] = True
            wrong[i] = label not in valid
    return known, wrong


def load_imagenet(
    root: str | Path | None = None,
    split: str = "train",
    n: int | None = None,
    seed: int = 0,
    relabels: str | Path | None = None,
    caption_template: str = DEFAULT_TEMPLATE,
    synset_mapping: str | Path | None = None,
    val_labels: str | Path | None = None,
) -> PairedDataset:
    """ImageNet-1k (image path, "An image of {label}.") pairs, from a copy the user holds.

    ``split`` is "train" or "val"; ``n`` draws a seeded class-stratified subsample;
    ``relabels`` (validation only) adds re-annotated labels for :func:`relabel_flags`.
    """
    if split not in ("train", "val"):
        raise DatasetError(f"ImageNet split must be 'train' or 'val', got {split!r}")
    if "{label}" not in caption_template:
        raise DatasetError(f"caption_template must contain '{{label}}', got {caption_template!r}")
    base = require_root(root, "ImageNet", _LAYOUT)
    devkit = devkit_folder(base)
    candidates = [base / "LOC_synset_mapping.txt", base / "synset_words.txt"]
    if devkit is not None:
        candidates.append(devkit / "meta.mat")
    mapping = (
        Path(synset_mapping)
        if synset_mapping is not None
        else first_existing(candidates, "ImageNet synset -> class name mapping", _LAYOUT)
    )
    if not mapping.is_file():
        raise DatasetError(f"ImageNet synset mapping file {mapping} not found")
    devkit_ids: dict[int, str] | None = None
    if mapping.suffix.lower() == ".mat":
        synsets, names, synonyms, devkit_ids = read_devkit_meta(mapping)
    else:
        synsets, names, synonyms = read_synset_mapping(mapping)
    index = {wnid: i for i, wnid in enumerate(synsets)}
    folder = first_existing(
        [base / "ILSVRC" / "Data" / "CLS-LOC" / split, base / split],
        f"ImageNet {split} images",
        _LAYOUT,
        folder=True,
    )
    if split == "train":
        paths, labels = _class_folders(folder, index)
    else:
        paths, labels = _val_images(folder, base, index, val_labels, devkit, devkit_ids)
    info: dict[str, Any] = {
        "source": str(base),
        "synsets": tuple(synsets),
        "synonyms": tuple(synonyms),
        "caption_template": caption_template,
    }
    if relabels is not None:
        if split != "val":
            raise DatasetError("relabels= re-annotates the validation images; use split='val'")
        by_id = read_relabels(Path(relabels), index)
        info["relabels"] = {p: by_id[Path(p).stem] for p in paths if Path(p).stem in by_id}
        info["relabel_source"] = str(relabels)
    captions = [caption_template.format(label=name) for name in names]
    data = PairedDataset(
        name=f"imagenet/{split}",
        a=paths,
        b=[captions[k] for k in labels],
        modalities=("image", "text"),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=tuple(names),
        info=info,
    )
    return data if n is None else data.subsample(n, seed=seed)
