"""3D CAD models of electronic parts paired with a sentence naming their kind.

Debian's ``kicad-packages3d`` holds KiCad's library of part models (one ``.wrl`` mesh
and one ``.step`` per part) in folders named by category, e.g.
``Capacitor_SMD.3dshapes``. Each mesh read here (:mod:`csa_demo.data.vrml`) becomes a
point cloud sampled uniformly over its surface with trimesh, in millimetres (KiCad's
VRML unit is 0.1 inch), with a fixed seed, and is paired with one sentence describing
its folder's kind of part. As with the time-series data, the text describes the class
only; the part's name (which spells out its size and pin count) is never used.

Sampling costs tens of milliseconds a file, so each cloud is cached on disk, keyed by
the file's path, size and modification time and the sampling settings. A file that
cannot be read is skipped and counted in ``info["skipped"]``, not fatal; a cached note
remembers it so it is not parsed again.

Parts of one family differ mostly in size (a 1x05 and a 1x06 pin header). A split
here is by model file; models whose sampled geometry is identical share a ``group``,
so :meth:`PairedDataset.split` keeps them on one side and no test shape is a copy of a
training shape.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa import DatasetError
from csa.datasets import PairedDataset
from csa.extras import require
from csa.files import atomic_write, cache_root
from csa_demo.data.vrml import VrmlError, read_vrml

DEBIAN_PACKAGE = "kicad-packages3d"
DEFAULT_ROOT = Path("/usr/share/kicad/3dmodels")
ROOT_ENV = "CSA_KICAD_3DMODELS"
#: KiCad StepUp writes VRML in units of 0.1 inch.
MM_PER_UNIT = 2.54
FOLDER_SUFFIX = ".3dshapes"
CACHE_VERSION = 1
INSTALL_HINT = (
    f"apt-get install --no-install-recommends {DEBIAN_PACKAGE} (about 380 MB), or make shapes3d"
)

#: Category folder -> the sentence paired with each of its models. Chosen for kinds of
#: part a reader would name differently, with at least about 30 models each; several
#: pairs are deliberately close in shape (chip capacitor vs chip resistor, pin header vs
#: pin socket, SOIC vs QFP) so the benchmark is not only "big vs small".
CATEGORIES: dict[str, str] = {
    "Capacitor_SMD": "a small surface-mount capacitor",
    "Capacitor_THT": "a through-hole capacitor with wire leads",
    "Resistor_SMD": "a tiny surface-mount chip resistor",
    "Resistor_THT": "a through-hole resistor with axial wire leads",
    "Diode_THT": "a through-hole diode in a cylindrical body with axial leads",
    "LED_THT": "a through-hole light-emitting diode with a round dome",
    "Inductor_THT": "a through-hole inductor, a coil of wire",
    "Crystal": "a quartz crystal resonator in a metal can",
    "Connector_PinHeader_2.54mm": "a pin header connector: rows of straight metal pins",
    "Connector_PinSocket_2.54mm": "a female pin socket connector strip",
    "Connector_Dsub": "a D-sub connector with a trapezoid metal shell",
    "Connector_JST": "a small JST wire-to-board connector housing",
    "Package_DIP": "a dual in-line integrated circuit with two rows of through-hole pins",
    "Package_SO": "a small-outline surface-mount integrated circuit with gull-wing leads",
    "Package_DFN_QFN": "a flat leadless surface-mount chip package",
    "Package_QFP": "a quad flat package chip with leads on all four sides",
    "Package_BGA": "a ball grid array chip package with solder balls underneath",
    "Package_TO_SOT_THT": "a through-hole power transistor package with a metal tab",
    "Package_TO_SOT_SMD": "a small surface-mount transistor package",
    "Button_Switch_SMD": "a surface-mount push button or slide switch",
}


def models_root(root: str | os.PathLike[str] | None = None) -> Path:
    """``root``, else ``$CSA_KICAD_3DMODELS``, else Debian's install folder."""
    if root is not None:
        return Path(root)
    env = os.environ.get(ROOT_ENV)
    return Path(env).expanduser() if env else DEFAULT_ROOT


def require_models(root: str | os.PathLike[str] | None = None) -> Path:
    """The models folder, or a :class:`DatasetError` that says how to install it."""
    path = models_root(root)
    if not path.is_dir() or not any(path.glob(f"*{FOLDER_SUFFIX}")):
        raise DatasetError(
            f"KiCad's 3D part models are not installed (no *{FOLDER_SUFFIX} folders in "
            f"{path}); {INSTALL_HINT}, or point ${ROOT_ENV} at a copy"
        )
    return path


def available_categories(root: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Every category folder present, with its number of ``.wrl`` models."""
    path = require_models(root)
    return {
        d.name[: -len(FOLDER_SUFFIX)]: sum(1 for _ in d.glob("*.wrl"))
        for d in sorted(path.glob(f"*{FOLDER_SUFFIX}"))
        if d.is_dir()
    }


def _trimesh() -> Any:
    return require("trimesh", extra="shapes3d", purpose="sampling 3D models")


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n_points: int, seed: int) -> np.ndarray:
    """``(n_points, 3)`` float32 points, uniform over the mesh's area, reproducibly.

    Zero-area faces are dropped first (CAD exports hold many); a mesh with no area left
    is a :class:`VrmlError`, so the caller skips it like any other unreadable file.
    """
    trimesh = _trimesh()
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    keep = mesh.area_faces > 0
    if not keep.any():
        raise VrmlError("the mesh has no surface area")
    mesh.update_faces(keep)
    points, _ = trimesh.sample.sample_surface(mesh, n_points, seed=seed)
    return np.asarray(points, dtype=np.float32)


def _cache_path(path: Path, n_points: int, seed: int, cache_dir: Path) -> Path:
    stat = path.stat()
    key = hashlib.sha256(
        f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{n_points}|{seed}|"
        f"v{CACHE_VERSION}".encode()
    ).hexdigest()[:16]
    return cache_dir / path.parent.name / f"{path.stem}-{key}.npy"


def load_cloud(
    path: str | os.PathLike[str],
    n_points: int = 2048,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """The sampled point cloud of one ``.wrl`` file, in mm; cached; :class:`VrmlError` if bad.

    ``cache_dir=None`` uses the csa cache folder (``$CSA_CACHE_DIR`` or ``~/.cache/csa``).
    """
    path = Path(path)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    cached = _cache_path(path, n_points, seed, root / "datasets" / "shapes3d")
    failed = cached.with_suffix(".failed")
    if failed.is_file():
        raise VrmlError(failed.read_text(encoding="utf-8"))
    if cached.is_file():
        try:
            cloud = np.load(cached, allow_pickle=False)
            if cloud.shape == (n_points, 3):
                return cloud
        except (OSError, ValueError):
            pass  # damaged entry: rebuild it below
    try:
        vertices, faces = read_vrml(path)
        cloud = sample_surface(vertices * MM_PER_UNIT, faces, n_points, seed)
    except VrmlError as exc:
        message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
        atomic_write(
            failed,
            lambda p: p.write_text(message, encoding="utf-8"),
            error=DatasetError,
            what="shape cache entry",
        )
        raise VrmlError(message) from exc

    atomic_write(
        cached, lambda tmp: np.save(tmp, cloud), error=DatasetError, what="shape cache entry"
    )
    return cloud


def _choose_files(folder: Path, limit: int | None, seed: int) -> list[Path]:
    files = sorted(folder.glob("*.wrl"))
    if limit is not None and len(files) > limit:
        pick = np.random.default_rng(seed).choice(len(files), size=limit, replace=False)
        files = [files[i] for i in np.sort(pick)]
    return files


def _geometry_key(cloud: np.ndarray) -> str:
    """Identical meshes sample identical clouds; rounding absorbs float noise."""
    return hashlib.sha256(np.round(cloud.astype(np.float64), 3).tobytes()).hexdigest()[:16]


def load_kicad_shapes(
    categories: Sequence[str] | None = None,
    per_category: int | None = 100,
    n_points: int = 2048,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> PairedDataset:
    """(surface point cloud in mm, description of its kind of part) pairs from KiCad's library.

    ``categories`` are folder names without ``.3dshapes`` (default: :data:`CATEGORIES`);
    ``per_category`` caps the models drawn from each, with ``seed`` (None: all of them;
    the pin header folders alone hold 278 models each). ``n_points`` are sampled per
    model. Files that cannot be read are skipped and listed in ``info["skipped"]``.
    """
    path = require_models(root)
    chosen = list(CATEGORIES) if categories is None else list(categories)
    unknown = [c for c in chosen if c not in CATEGORIES]
    if unknown:
        raise DatasetError(
            f"no description for categor{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
            f"choose from {sorted(CATEGORIES)}"
        )
    if per_category is not None and per_category < 1:
        raise DatasetError(f"per_category must be a positive integer or None, got {per_category}")
    if n_points < 3:
        raise DatasetError(f"n_points must be at least 3, got {n_points}")
    clouds: list[np.ndarray] = []
    labels: list[int] = []
    files: list[str] = []
    skipped: dict[str, str] = {}
    for k, category in enumerate(chosen):
        folder = path / f"{category}{FOLDER_SUFFIX}"
        if not folder.is_dir():
            raise DatasetError(f"category folder {folder} is missing; is {DEBIAN_PACKAGE} whole?")
        for file in _choose_files(folder, per_category, seed):
            try:
                cloud = load_cloud(file, n_points=n_points, seed=seed, cache_dir=cache_dir)
            except VrmlError as exc:
                skipped[str(file.relative_to(path))] = str(exc)
                continue
            cloud.flags.writeable = False
            clouds.append(cloud)
            labels.append(k)
            files.append(str(file.relative_to(path)))
    if not clouds:
        raise DatasetError(f"no readable models in {chosen} under {path}")
    _, groups = np.unique([_geometry_key(c) for c in clouds], return_inverse=True)
    y = np.asarray(labels, dtype=np.int64)
    descriptions = tuple(CATEGORIES[c] for c in chosen)
    return PairedDataset(
        name="kicad-shapes",
        a=clouds,
        b=[descriptions[k] for k in labels],
        modalities=("shape3d", "text"),
        labels=y,
        class_names=tuple(chosen),
        groups=groups.astype(np.int64),
        info={
            "source": f"Debian {DEBIAN_PACKAGE}, {path}",
            "descriptions": descriptions,
            "files": files,
            "skipped": skipped,
            "n_skipped": len(skipped),
            "n_points": n_points,
            "units": "mm",
            "n_duplicate_groups": int(len(clouds) - np.unique(groups).size),
        },
    )
