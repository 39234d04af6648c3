"""Small real raw data for the one object and the CLI: PNG files drawn with Pillow, captions.

Four colour classes of circles on pale, jittered backgrounds, named ``img_0 ... img_{n-1}``
so that lexicographic order (img_0, img_1, img_10, ...) differs from the pairing order.
EfficientNet-Lite0 tells the colours apart, so a map fitted on a few dozen pairs reaches
near-perfect zero-shot accuracy, and any mispairing shows as a collapse towards chance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
}
# classes.txt order on purpose differs from alphabetical order (blue, green, red, yellow)
CLASS_ORDER = ("red", "green", "blue", "yellow")


def write_items(root: Path, n: int, seed: int = 0) -> tuple[Path, list[str], list[str]]:
    """``root/images/img_i.png`` for i < n, captions.txt, labels.txt, classes.txt.

    Returns (image folder, captions, class names per item), all in pairing order.
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    folder = root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    captions, labels = [], []
    for i in range(n):
        name = CLASS_ORDER[i % len(CLASS_ORDER)]
        background = tuple(int(v) for v in rng.integers(200, 256, 3))
        img = Image.new("RGB", (64, 64), background)
        x0, y0 = (int(v) for v in rng.integers(0, 24, 2))
        ImageDraw.Draw(img).ellipse([x0, y0, x0 + 40, y0 + 40], fill=COLOURS[name])
        img.save(folder / f"img_{i}.png")
        captions.append(f"a {name} circle")
        labels.append(name)
    (root / "captions.txt").write_text("\n".join(captions) + "\n")
    (root / "labels.txt").write_text("\n".join(labels) + "\n")
    (root / "classes.txt").write_text("\n".join(CLASS_ORDER) + "\n")
    return folder, captions, labels


def image_paths(folder: Path, n: int) -> list[str]:
    """The images in pairing (natural) order."""
    return [str(folder / f"img_{i}.png") for i in range(n)]
