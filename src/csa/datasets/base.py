"""The one container every loader returns, and the seeded ways to cut it.

Loaders hand back raw items (images, strings, feature rows), never embeddings, so the
encoder layer decides how to turn them into arrays; the content fingerprint lets the
embedding cache recognise the same items again without trusting file names or paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from csa.errors import DatasetError
from csa.files import content_fingerprint

#: Raw items of one side: one array with items along axis 0, or a list of items.
Items = np.ndarray | Sequence[Any]
# Keeps data-set hashes apart from other users of the one content fingerprint.
_NAMESPACE = "csa-dataset"


def _take(items: Items, index: np.ndarray) -> Items:
    if isinstance(items, np.ndarray):
        return items[index]
    return [items[i] for i in index.tolist()]


def _stratified_order(labels: np.ndarray | None, n: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded order whose every prefix is close to the class proportions.

    Each item gets the key (rank within its class + jitter) / class size, ranks drawn at
    random; sorting by it interleaves the classes evenly. Prefixes are nested, so the
    100-pair sample of a data-efficiency curve is contained in its 1000-pair sample, and
    even 10 pairs of 10 balanced classes hold one of each.
    """
    if labels is None:
        return rng.permutation(n)
    keys = np.empty(n, dtype=np.float64)
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        ranks = rng.permutation(members.size)
        keys[members] = (ranks + rng.random(members.size)) / members.size
    return np.argsort(keys, kind="stable")


@dataclass(frozen=True, eq=False)
class PairedDataset:
    """Paired raw items of two modalities, with optional class labels.

    ``a[i]`` and ``b[i]`` describe the same thing (an image and its caption, a headline
    and its article). ``groups``, where set, marks pairs that are interchangeable
    (e.g. repeated headlines): retrieval should count any member of a query's group as
    a true match, and splits keep a group on one side so duplicates do not leak.
    """

    name: str
    a: Items
    b: Items
    modalities: tuple[str, str]
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    groups: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.a)
        if len(self.b) != n:
            raise DatasetError(
                f"{self.name}: side a has {n} items but side b has {len(self.b)}; "
                "pairs must line up one to one"
            )
        if n == 0:
            raise DatasetError(f"{self.name}: the data set holds no pairs")
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
                raise DatasetError(
                    f"{self.name}: labels must be {n} integers, got shape {labels.shape} "
                    f"dtype {labels.dtype}"
                )
            if self.class_names is not None and (
                labels.min() < 0 or labels.max() >= len(self.class_names)
            ):
                raise DatasetError(
                    f"{self.name}: labels run from {labels.min()} to {labels.max()} but "
                    f"there are {len(self.class_names)} class names"
                )
            object.__setattr__(self, "labels", labels.astype(np.int64, copy=False))
        if self.groups is not None and np.shape(self.groups) != (n,):
            raise DatasetError(f"{self.name}: groups must have one entry per pair ({n})")

    def __len__(self) -> int:
        return len(self.a)

    def __repr__(self) -> str:
        classes = "" if self.class_names is None else f", {len(self.class_names)} classes"
        return (
            f"PairedDataset({self.name!r}, {len(self)} pairs, "
            f"{self.modalities[0]} <-> {self.modalities[1]}{classes})"
        )

    @property
    def n_classes(self) -> int | None:
        return None if self.class_names is None else len(self.class_names)

    @cached_property
    def fingerprint_a(self) -> str:
        """Content hash of side a: the embedding cache key for this side's items."""
        return content_fingerprint(self.a, namespace=_NAMESPACE)

    @cached_property
    def fingerprint_b(self) -> str:
        """Content hash of side b: the embedding cache key for this side's items."""
        return content_fingerprint(self.b, namespace=_NAMESPACE)

    @cached_property
    def fingerprint(self) -> str:
        """Content hash of both sides, labels and class names (short hex)."""
        parts = [self.fingerprint_a, self.fingerprint_b, self.labels, self.class_names]
        return content_fingerprint(parts, namespace=_NAMESPACE)[:16]

    def subset(self, index: Sequence[int] | np.ndarray, name: str | None = None) -> PairedDataset:
        """The pairs at ``index``, in that order."""
        idx = np.asarray(index, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise DatasetError(f"{self.name}: index out of range for {len(self)} pairs")
        return replace(
            self,
            name=name or f"{self.name}[{idx.size} pairs]",
            a=_take(self.a, idx),
            b=_take(self.b, idx),
            labels=None if self.labels is None else self.labels[idx],
            groups=None if self.groups is None else np.asarray(self.groups)[idx],
            info=dict(self.info),
        )

    def subsample(self, n: int, seed: int = 0, stratify: bool = True) -> PairedDataset:
        """``n`` pairs drawn without replacement, the same ones for the same seed.

        With labels and ``stratify``, class proportions are kept in every sample and
        samples of growing ``n`` are nested (see :func:`_stratified_order`).
        """
        return self.subset(
            self.sample_index(n, seed=seed, stratify=stratify),
            name=f"{self.name}[n={n},seed={seed}]",
        )

    def sample_index(self, n: int, seed: int = 0, stratify: bool = True) -> np.ndarray:
        """Row indices of :meth:`subsample`, for slicing arrays already encoded from it."""
        if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
            raise DatasetError(f"n must be a positive integer, got {n!r}")
        if n > len(self):
            raise DatasetError(f"n={n} asked for, but {self.name} holds only {len(self)} pairs")
        rng = np.random.default_rng(seed)
        return _stratified_order(self.labels if stratify else None, len(self), rng)[:n]

    def split(
        self, test_fraction: float = 0.2, seed: int = 0, stratify: bool = True
    ) -> tuple[PairedDataset, PairedDataset]:
        """A seeded (train, test) split; pairs of one group never straddle it."""
        if not 0.0 < test_fraction < 1.0:
            raise DatasetError(
                f"test_fraction must lie strictly between 0 and 1, got {test_fraction}"
            )
        if len(self) < 2:
            raise DatasetError(f"{self.name}: cannot split {len(self)} pair(s)")
        rng = np.random.default_rng(seed)
        if self.groups is None:
            units = np.arange(len(self))
        else:
            _, units = np.unique(np.asarray(self.groups), return_inverse=True)
        n_units = int(units.max()) + 1
        # One member's label per group is enough to stratify groups.
        unit_labels = None
        if stratify and self.labels is not None:
            unit_labels = np.empty(n_units, dtype=np.int64)
            unit_labels[units[::-1]] = self.labels[::-1]
        order = _stratified_order(unit_labels, n_units, rng)
        n_test_units = min(max(1, round(test_fraction * n_units)), n_units - 1)
        is_test_unit = np.zeros(n_units, dtype=bool)
        is_test_unit[order[:n_test_units]] = True
        test_mask = is_test_unit[units]
        train = self.subset(np.flatnonzero(~test_mask), name=f"{self.name}/train")
        test = self.subset(np.flatnonzero(test_mask), name=f"{self.name}/test")
        return train, test


def factorize_labels(values: Sequence[Any]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer codes and sorted class names for user labels (strings or numbers)."""
    raw = [str(v).strip() for v in values]
    if any(v == "" for v in raw):
        missing = sum(v == "" for v in raw)
        raise DatasetError(f"{missing} label(s) are empty; give every row a label or none")
    names = sorted(set(raw), key=_natural_key)
    code = {name: i for i, name in enumerate(names)}
    return np.array([code[v] for v in raw], dtype=np.int64), tuple(names)


def _natural_key(text: str) -> tuple[int, float, str]:
    """Numbers sort numerically (2 before 10), everything else alphabetically after."""
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)
