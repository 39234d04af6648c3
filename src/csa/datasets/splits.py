"""The fixed train/test split used by data sets that ship without one.

The split seed is separate from the subsampling seed so that changing ``seed`` draws a
different sample of the same training pool and never moves test pairs into training.
"""

from __future__ import annotations

from csa.datasets.base import PairedDataset
from csa.errors import DatasetError

SPLITS = ("all", "train", "test")


def select_split(
    data: PairedDataset, split: str, test_fraction: float, split_seed: int
) -> PairedDataset:
    """``data`` itself for "all", else one side of its seeded stratified split."""
    if split not in SPLITS:
        raise DatasetError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    if split == "all":
        return data
    train, test = data.split(test_fraction=test_fraction, seed=split_seed)
    return train if split == "train" else test
