"""Getting any image a user holds into the RGB form vision models were trained on.

Images arrive as PIL images, file paths, or numpy arrays (Fashion-MNIST is
28x28 grayscale uint8; photos are HxWx3; PNGs may carry alpha). Every image model
here wants three channels at a fixed square size, so this module does the common
part once: load, force RGB, resize the short side, centre-crop, scale to floats.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from csa.errors import DatasetError, DtypeError, ParameterError, ShapeError
from csa.extras import require

# File endings taken as images when a folder is scanned (Pillow reads all of them).
IMAGE_SUFFIXES: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
)

# Standard evaluation crop for ImageNet models: resize to size/0.875, crop size.
DEFAULT_CROP_FRACTION = 0.875
#: Bounds of a square input side, in pixels. Below 32 a convolutional backbone has no
#: spatial extent left; above 1024 (4.6x the 224 such models are trained at) one batch
#: of activations takes gigabytes, and a model file recording 10**6 would allocate
#: without bound on the first encode.
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 1024


def check_image_size(value: Any, name: str = "image_size") -> int:
    """An image side in pixels: an integer (not a string) in MIN..MAX_IMAGE_SIZE."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ParameterError(f"{name} must be an integer number of pixels; got {value!r}")
    if not MIN_IMAGE_SIZE <= int(value) <= MAX_IMAGE_SIZE:
        raise ParameterError(f"{name}={value} is outside {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE} pixels")
    return int(value)


def check_crop_fraction(value: Any) -> float:
    """The share of the resized short side kept by the centre crop, in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"crop_fraction must be a number in (0, 1]; got {value!r}")
    if not 0.0 < float(value) <= 1.0:
        raise ParameterError(f"crop_fraction must be in (0, 1]; got {value}")
    return float(value)


def _array_to_pil(arr: np.ndarray) -> Any:
    from PIL import Image

    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ShapeError(
            f"an image array must be HxW, HxWx1, HxWx3 or HxWx4; got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(f"an image array must not be empty; got shape {arr.shape}")
    if arr.dtype == np.uint8:
        pass
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
            raise DtypeError(
                "a float image array must hold finite values in [0, 1]; got range "
                f"[{np.nanmin(arr):.3g}, {np.nanmax(arr):.3g}]; pass uint8 for 0..255"
            )
        arr = np.round(arr * 255.0).astype(np.uint8)
    else:
        raise DtypeError(f"an image array must be uint8 or float in [0, 1]; got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]  # alpha carries no content a classifier was trained on
    return Image.fromarray(np.ascontiguousarray(arr))


def load_image(item: Any) -> Any:
    """Return a PIL RGB image from a PIL image, a path, or a uint8/float array."""
    Image = require("PIL.Image", extra="encoders", purpose="reading images", package="pillow")
    UnidentifiedImageError = Image.UnidentifiedImageError

    if isinstance(item, Image.Image):
        img = item
    elif isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise DatasetError(f"image file not found: {path}")
        try:
            with Image.open(path) as opened:
                img = opened.convert("RGB")
        except Image.DecompressionBombError as exc:
            raise DatasetError(
                f"image file {path} is too large to decode safely: {exc} Downscale it, or "
                "raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file"
            ) from exc
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DatasetError(f"cannot read image file {path}: {exc}") from exc
    elif isinstance(item, np.ndarray):
        img = _array_to_pil(item)
    else:
        raise DtypeError(
            f"an image must be a PIL image, a file path or a numpy array; got {type(item).__name__}"
        )
    return img if img.mode == "RGB" else img.convert("RGB")


def resize_center_crop(img: Any, size: int, crop_fraction: float = DEFAULT_CROP_FRACTION) -> Any:
    """Resize the short side to ``size / crop_fraction`` (bicubic), then crop the centre square."""
    from PIL import Image

    crop_fraction = check_crop_fraction(crop_fraction)
    w, h = img.size
    short = max(size, round(size / crop_fraction))
    scale = short / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return img.crop((left, top, left + size, top + size))


def to_chw_float(img: Any, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """An RGB PIL image as a normalised float32 CHW array, ``(pixel - mean) / std`` on 0..255."""
    arr = np.asarray(img, dtype=np.float32)
    arr = (arr - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))
