"""Issue 19: image inputs and image-size options that used to escape as raw errors.

A 400-megapixel PNG raised Pillow's own ``DecompressionBombError``; ``image_size`` was
passed through ``int()`` (a string "abc" raised a raw ValueError, "64" was silently
taken) and had no upper bound, so a model file recording ``image_size=10**6`` loaded
and then allocated without bound on its first encode.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import csa
from csa.encoders.images import (
    MAX_IMAGE_SIZE,
    check_image_size,
    load_image,
    resize_center_crop,
)


def _png_header_only(path, width, height):
    """A PNG claiming ``width x height`` pixels: Pillow judges the size from the header."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def test_a_400_megapixel_png_is_a_dataset_error(tmp_path):
    path = _png_header_only(tmp_path / "huge.png", 20_000, 20_000)
    with pytest.raises(csa.DatasetError, match="too large to decode safely"):
        load_image(path)


@pytest.mark.parametrize("value", ["64", "abc", 64.0, True, None, 10**6, 31, -5])
def test_image_sizes_that_are_not_pixel_counts_in_bounds(value):
    with pytest.raises(csa.ParameterError, match="image_size"):
        check_image_size(value)


@pytest.mark.parametrize("value", [32, 224, MAX_IMAGE_SIZE, np.int64(64)])
def test_image_sizes_in_bounds(value):
    assert check_image_size(value) == int(value)


@pytest.mark.parametrize("fraction", [0.0, 1.5, float("nan"), "x"])
def test_crop_fractions_outside_zero_one_are_parameter_errors(fraction):
    from PIL import Image

    with pytest.raises(csa.ParameterError, match="crop_fraction"):
        resize_center_crop(Image.new("RGB", (40, 40)), 32, fraction)


@pytest.mark.parametrize("options", [{"image_size": 10**6}, {"image_size": "abc"}])
def test_efficientnet_refuses_bad_sizes_before_loading_weights(options):
    pytest.importorskip("efficientnet_lite_pytorch")
    with pytest.raises(csa.ParameterError, match="image_size"):
        csa.encoders.get("efficientnet-lite0", reuse=False, **options)
