"""Precomputed features as a data set: two files of row-aligned embeddings.

This is how any modality the encoders do not cover (lidar, audio, time series, a private
model) enters CSA: the user encodes elsewhere, and only arrays cross over.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from csa.datasets.base import PairedDataset, factorize_labels
from csa.datasets.splits import select_split
from csa.errors import DatasetError
from csa.scale.features import FeatureFile

SUFFIXES = (".npy", ".parquet")


def _read(path: Path, label_column: str) -> tuple[np.ndarray, list | None]:
    """One embedding file through the one feature reader, as checked float32 features."""
    if not path.is_file():
        raise DatasetError(f"embedding file {path} not found")
    if path.suffix not in SUFFIXES:
        raise DatasetError(
            f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(SUFFIXES)}"
        )
    features = FeatureFile(path, exclude=(label_column,))
    if features.n_rows == 0 or features.dim == 0:
        raise DatasetError(
            f"{path}: expected a non-empty 2-D array (rows, dims), got "
            f"{features.n_rows} x {features.dim}"
        )
    features.check_finite()
    labels = features.column(label_column) if features.has_column(label_column) else None
    return features.read().astype(np.float32), labels


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(
            f"{path} is not a readable .npy array (pickled objects are refused): {exc}"
        ) from exc


def _read_labels(labels: str | Path | Sequence | np.ndarray) -> list:
    if isinstance(labels, str | Path):
        path = Path(labels)
        if not path.is_file():
            raise DatasetError(f"label file {path} not found")
        if path.suffix == ".npy":
            values = _read_npy(path)
        elif path.suffix in (".txt", ".csv"):
            values = np.array(path.read_text(encoding="utf-8").splitlines())
        else:
            raise DatasetError(f"{path}: labels are read from .npy, .txt or .csv (one per line)")
        if values.ndim != 1:
            raise DatasetError(f"{path}: labels must be 1-D, got shape {values.shape}")
        return values.tolist()
    return list(labels)


def load_embedding_pair(
    a: str | Path,
    b: str | Path,
    labels: str | Path | Sequence | np.ndarray | None = None,
    label_column: str = "label",
    name: str | None = None,
    split: str = "all",
    n: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> PairedDataset:
    """Row-aligned embeddings from two .npy or .parquet files, as a float32 data set.

    Labels come from ``labels`` (a file or a sequence) or else from a ``label_column``
    in the parquet files; strings and numbers are both accepted and factorized.
    ``split``/``n`` work as for the bundled data sets.
    """
    path_a, path_b = Path(a), Path(b)
    feats_a, labels_a = _read(path_a, label_column)
    feats_b, labels_b = _read(path_b, label_column)
    if feats_a.shape[0] != feats_b.shape[0]:
        raise DatasetError(
            f"row-count mismatch: {path_a} has {feats_a.shape[0]} rows but {path_b} has "
            f"{feats_b.shape[0]}; row i of each file must describe the same pair"
        )
    raw_labels = None
    if labels is not None:
        raw_labels = _read_labels(labels)
    elif labels_a is not None and labels_b is not None:
        if [str(x) for x in labels_a] != [str(x) for x in labels_b]:
            raise DatasetError(f"{path_a} and {path_b} both have {label_column!r} but disagree")
        raw_labels = labels_a
    else:
        raw_labels = labels_a if labels_a is not None else labels_b
    codes = class_names = None
    if raw_labels is not None:
        if len(raw_labels) != feats_a.shape[0]:
            raise DatasetError(
                f"row-count mismatch: {len(raw_labels)} labels for {feats_a.shape[0]} pairs"
            )
        codes, class_names = factorize_labels(raw_labels)
    data = PairedDataset(
        name=name or f"embeddings:{path_a.stem}+{path_b.stem}",
        a=feats_a,
        b=feats_b,
        modalities=("embedding", "embedding"),
        labels=codes,
        class_names=class_names,
        info={"source": f"{path_a} + {path_b}"},
    )
    data = select_split(data, split, test_fraction, split_seed)
    return data if n is None else data.subsample(n, seed=seed)


def read_features(path: str | Path, label_column: str = "label") -> tuple[np.ndarray, list | None]:
    """One embedding file (.npy, or .parquet with an optional label column), validated."""
    return _read(Path(path), label_column)


def read_labels(labels: str | Path | Sequence | np.ndarray) -> list:
    """Labels from a .npy, .txt or .csv file (one per line), or passed through."""
    return _read_labels(labels)
