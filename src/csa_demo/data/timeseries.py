"""Time series paired with a text description of their class, from data bundled in sktime.

The three UCR/UEA problems used here ship inside the ``sktime`` wheel as ``.ts`` files,
so they load with no network. Each series is paired with one short sentence that says
what it is a recording of; the sentences describe the class only (nothing about the
individual series), which is all the labels of these data sets support.

Series come back as float64 arrays of shape ``(channels, length)``. PLAID's lengths
differ from series to series; they are kept as they are here, and the encoders decide
how to handle them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from csa import DatasetError
from csa.datasets import PairedDataset
from csa.extras import require

SPLITS = ("all", "train", "test")


@dataclass(frozen=True)
class _Problem:
    """Where a problem lives in sktime and what its classes mean."""

    name: str
    sktime_loader: str
    #: The label strings as written in the ``.ts`` file, in class order.
    raw_labels: tuple[str, ...]
    class_names: tuple[str, ...]
    descriptions: tuple[str, ...]
    note: str


# PLAID's file header lists the 11 appliance types in this order, from class 0 (air
# conditioner) to class 10 (washing machine). Each series is the current drawn over a
# few seconds around switch-on or steady operation, sampled at 30 kHz.
PLAID = _Problem(
    name="plaid",
    sktime_loader="load_plaid",
    raw_labels=tuple(str(i) for i in range(11)),
    class_names=(
        "air conditioner",
        "compact fluorescent lamp",
        "fan",
        "fridge",
        "hair dryer",
        "heater",
        "incandescent light bulb",
        "laptop",
        "microwave",
        "vacuum cleaner",
        "washing machine",
    ),
    descriptions=(
        "the electric current drawn by an air conditioner",
        "the electric current drawn by a compact fluorescent lamp",
        "the electric current drawn by an electric fan",
        "the electric current drawn by a fridge",
        "the electric current drawn by a hair dryer",
        "the electric current drawn by an electric space heater",
        "the electric current drawn by an incandescent light bulb",
        "the electric current drawn by a laptop computer",
        "the electric current drawn by a microwave oven",
        "the electric current drawn by a vacuum cleaner",
        "the electric current drawn by a washing machine",
    ),
    note="PLAID1 appliance current traces (30 kHz), unequal lengths 100..1344",
)

# Students wearing a smart watch; 3-axis accelerometer then 3-axis gyroscope, 10 Hz, 10 s.
BASIC_MOTIONS = _Problem(
    name="basic-motions",
    sktime_loader="load_basic_motions",
    raw_labels=("badminton", "running", "standing", "walking"),
    class_names=("badminton", "running", "standing", "walking"),
    descriptions=(
        "smart watch accelerometer and gyroscope readings while playing badminton",
        "smart watch accelerometer and gyroscope readings while running",
        "smart watch accelerometer and gyroscope readings while standing still",
        "smart watch accelerometer and gyroscope readings while walking",
    ),
    note="6 channels (accelerometer xyz, gyroscope xyz), length 100",
)

# The UCR description says the task is to tell days from October to March from days
# from April to September and lists them in that order; class "1" is taken to be the
# October-March half, following that order (the file itself does not name the classes).
ITALY_POWER_DEMAND = _Problem(
    name="italy-power-demand",
    sktime_loader="load_italy_power_demand",
    raw_labels=("1", "2"),
    class_names=("October to March", "April to September"),
    descriptions=(
        "hourly electricity demand in Italy over one day in the colder months, October to March",
        "hourly electricity demand in Italy over one day in the warmer months, April to September",
    ),
    note="24 hourly values per day; class order assumed from the UCR description",
)

PROBLEMS: dict[str, _Problem] = {p.name: p for p in (PLAID, BASIC_MOTIONS, ITALY_POWER_DEMAND)}


def _sktime_loader(problem: _Problem) -> Callable[..., tuple]:
    purpose = f"the {problem.name} data set (it ships inside sktime)"
    skd = require("sktime.datasets", extra="timeseries", purpose=purpose)
    return getattr(skd, problem.sktime_loader)


@lru_cache(maxsize=8)
def _read(name: str, split: str) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Read one official split as read-only float64 ``(channels, length)`` arrays."""
    problem = PROBLEMS[name]
    loader = _sktime_loader(problem)
    try:
        frame, raw = loader(split=split, return_X_y=True)
    except Exception as exc:  # sktime raises assorted errors for a damaged install
        raise DatasetError(
            f"could not read the {problem.name} {split} split from sktime's bundled files: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    code = {label: i for i, label in enumerate(problem.raw_labels)}
    unknown = sorted({str(v) for v in raw} - set(code))
    if unknown:
        raise DatasetError(f"{problem.name}: unexpected class labels {unknown} in sktime's files")
    labels = np.array([code[str(v)] for v in raw], dtype=np.int64)
    series = []
    for row in range(frame.shape[0]):
        channels = [np.asarray(frame.iloc[row, c], dtype=np.float64) for c in range(frame.shape[1])]
        if len({ch.size for ch in channels}) != 1:
            raise DatasetError(f"{problem.name}: series {row} has channels of unequal length")
        arr = np.stack(channels)
        if not np.isfinite(arr).all():
            raise DatasetError(f"{problem.name}: series {row} holds NaN or infinite values")
        arr.flags.writeable = False
        series.append(arr)
    labels.flags.writeable = False
    return tuple(series), labels


def load_timeseries_text(
    name: str, split: str = "train", n: int | None = None, seed: int = 0
) -> PairedDataset:
    """(time series, class description) pairs of one bundled problem.

    ``split`` is the problem's official UCR/UEA train or test split, or "all" for both;
    the official splits are kept so results stay comparable with the literature and so
    encoders fitted on "train" never see "test". ``n`` subsamples with ``seed``
    (stratified, nested for growing ``n``).
    """
    if name not in PROBLEMS:
        raise DatasetError(
            f"unknown time-series problem {name!r}; choose one of {sorted(PROBLEMS)}"
        )
    if split not in SPLITS:
        raise DatasetError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    problem = PROBLEMS[name]
    parts = ("train", "test") if split == "all" else (split,)
    series: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for part in parts:
        s, y = _read(name, part)
        series.extend(s)
        labels.append(y)
    y_all = np.concatenate(labels)
    data = PairedDataset(
        name=problem.name if split == "all" else f"{problem.name}/{split}",
        a=series,
        b=[problem.descriptions[k] for k in y_all.tolist()],
        modalities=("timeseries", "text"),
        labels=y_all,
        class_names=problem.class_names,
        info={
            "source": f"sktime.datasets.{problem.sktime_loader}",
            "split": split,
            "descriptions": problem.descriptions,
            "note": problem.note,
        },
    )
    return data if n is None else data.subsample(n, seed=seed)


def load_plaid(split: str = "train", n: int | None = None, seed: int = 0) -> PairedDataset:
    """PLAID appliance current traces (1074, 11 appliances) paired with appliance descriptions."""
    return load_timeseries_text("plaid", split, n, seed)


def load_basic_motions(split: str = "train", n: int | None = None, seed: int = 0) -> PairedDataset:
    """BasicMotions smart-watch motion (80, 4 activities) paired with activity descriptions."""
    return load_timeseries_text("basic-motions", split, n, seed)


def load_italy_power_demand(
    split: str = "train", n: int | None = None, seed: int = 0
) -> PairedDataset:
    """ItalyPowerDemand daily load curves (1096, 2 seasons) paired with season descriptions."""
    return load_timeseries_text("italy-power-demand", split, n, seed)
