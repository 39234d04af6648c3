"""3D part models <-> text: zero-shot classification and retrieval with few pairs.

Each KiCad part model (a surface point cloud, :mod:`csa_demo.data.shapes3d`) is paired
with the MiniLM embedding of its category's description; the 3D side is the
hand-designed shape descriptor of :mod:`csa.encoders.shapes`. As for time series, the
text side holds one vector per class, so the question is how well each method ties the
shape features to those descriptions from a few dozen to about a thousand pairs.

What is held out where:
- test: a seeded, class-stratified 30% of the model files. Models whose sampled
  geometry is identical (the library has a few dozen such copies under other names)
  form one group and stay on one side, so no test shape is also a training shape.
  Nothing is fitted on it: the shape descriptor has no fit at all;
- selection: each budget of ``n_pairs`` training pairs (stratified, seeded, nested for
  growing ``n_pairs``) is the only data a method gets; the tuned rows of
  :func:`~csa_demo.sweep.run_sweep` choose every method's knobs on a held-out fifth of it;
- floor: chance (1/classes for top-1, random rankings for mAP); ceiling: a logistic
  regression trained on the same budget's shape features and labels.

Not in the default demo: the data is a 380 MB Debian package that ``make test`` and
``make demo`` do not install; ``make shapes3d`` installs it and runs this section.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from csa.datasets import PairedDataset
from csa.encoders import get
from csa_demo.class_text import class_text_sweep, top_k_name
from csa_demo.data.shapes3d import load_kicad_shapes

EXPERIMENT = "shapes3d-text"
ZERO_SHOT = top_k_name(1)
TOP3 = top_k_name(3)
RETRIEVAL = "retrieval mAP (text->shape)"
TEST_FRACTION = 0.3
#: Models per category: the full run reads about 1,800 files (two minutes the first
#: time, then from the cloud cache); the quick run a third of that on fewer categories.
FULL_PER_CATEGORY = 100
QUICK_PER_CATEGORY = 40
QUICK_CATEGORIES: tuple[str, ...] = (
    "Capacitor_SMD",
    "Capacitor_THT",
    "Resistor_THT",
    "Crystal",
    "Connector_PinHeader_2.54mm",
    "Connector_Dsub",
    "Package_DIP",
    "Package_SO",
    "Package_QFP",
    "Package_BGA",
)


def split_models(data: PairedDataset, seed: int = 0) -> tuple[PairedDataset, PairedDataset]:
    """(train, test) by model file, stratified, identical geometry kept on one side."""
    return data.split(TEST_FRACTION, seed=seed)


def run_on(
    data: PairedDataset,
    seeds: Sequence[int],
    cache_dir: str | Path | None = None,
    n_pairs: Sequence[int] | None = None,
    label: str = "kicad-shapes/shape-d2",
) -> list[dict[str, Any]]:
    """All rows for one loaded data set: every method, budget and seed.

    Budgets default to :func:`budgets` of the training split from max(10, classes)
    pairs; every seed runs budgets up to 300 pairs, larger ones run once.
    """
    train, test = split_models(data)
    return class_text_sweep(
        EXPERIMENT,
        label,
        train,
        test,
        get("shape-d2", reuse=False),
        data.info["descriptions"],
        seeds=seeds,
        retrieval=RETRIEVAL,
        n_pairs=n_pairs,
        cache_dir=cache_dir,
        top_ks=(1, 3),
    )


def run(
    quick: bool = False,
    cache_dir: str | Path | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
) -> list[dict[str, Any]]:
    """Rows for the shared result format.

    Full: the 20 categories the data set describes, up to 100 models each, every seed.
    Quick: 10 categories, up to 40 models each, one seed. Raises
    :class:`~csa.errors.DatasetError` with install instructions when the models are absent.
    """
    if quick:
        data = load_kicad_shapes(
            categories=QUICK_CATEGORIES,
            per_category=QUICK_PER_CATEGORY,
            cache_dir=cache_dir,
        )
        seeds = seeds[:1]
    else:
        data = load_kicad_shapes(per_category=FULL_PER_CATEGORY, cache_dir=cache_dir)
    return run_on(data, seeds, cache_dir)


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys
    import time

    from csa_demo.report import markdown_tables

    t0 = time.perf_counter()
    result = run(quick="--full" not in sys.argv)
    print(markdown_tables(result))
    print(f"{len(result)} rows in {time.perf_counter() - t0:.1f} s")
