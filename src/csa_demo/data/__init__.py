"""The demo's own data sets: synthesised speech and GM notes, PLAID and two more sktime
time-series sets, Open Clip Art drawings and KiCad's 3D part models.

Only the demo's sections read them, so they live with the demo rather than in the
library a user installs to fit CSA. :func:`register_datasets` adds them to
``csa.datasets`` under the names the demo and its users know (``"spoken-words"``,
``"plaid"``, ``"openclipart"``, ``"kicad-shapes"``, ...); the package's entry point in the
``csa.datasets`` group names it, so ``csa.datasets.load("plaid")`` works wherever
``csa_demo`` is installed, with no import by hand.
"""

from __future__ import annotations

from csa.datasets import register
from csa_demo.data.audio import load_gm_instruments, load_spoken_words
from csa_demo.data.openclipart import load_openclipart
from csa_demo.data.shapes3d import load_kicad_shapes
from csa_demo.data.timeseries import load_basic_motions, load_italy_power_demand, load_plaid

#: Name -> loader of every data set this package adds to ``csa.datasets``.
DATASETS = {
    "spoken-words": load_spoken_words,
    "gm-instruments": load_gm_instruments,
    "plaid": load_plaid,
    "basic-motions": load_basic_motions,
    "italy-power-demand": load_italy_power_demand,
    "openclipart": load_openclipart,
    "kicad-shapes": load_kicad_shapes,
}


def register_datasets() -> None:
    """Add the demo's data sets to ``csa.datasets`` (the ``csa.datasets`` entry point).

    Registering the same loaders again is a no-op, so calling this by hand where the
    entry point has already run (or running it twice) is harmless.
    """
    for name, loader in DATASETS.items():
        register(name, loader)


__all__ = ["DATASETS", "register_datasets"]
