"""How far is a float32-product fit from the float64 fit on the bundled real embeddings? (issue 12)

    .venv/bin/python benchmarks/float32_accuracy.py

float32 embeddings are multiplied in float32 by default (``precision="auto"``, summed per
block into float64). On Fashion-MNIST (EfficientNet-Lite0 images against MiniLM-L6 class
captions, 3000 x (1280 + 384)) and BBC News (MiniLM-L3 bodies against MiniLM-L6
headlines, 1789 x (384 + 384)), the fit is compared with ``precision="float64"`` on the
same arrays: the largest difference of the canonical correlations and of the scores of
300 x 300 pairs. Embeddings come from the cache (``csa embed`` / ``cached_encode``).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import csa
from _common import markdown_table, save
from csa.datasets import load_bbc_news, load_fashion_mnist
from csa.encoders import cached_encode, get


def _pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    text = get("minilm-l6")
    train = load_fashion_mnist("train", n=3000, seed=0)
    images = cached_encode(
        get("efficientnet-lite0", image_size=112, crop_fraction=1.0), train.a, key=train.name
    )
    distinct, index = np.unique(np.asarray(list(train.b), dtype=object), return_inverse=True)
    captions = cached_encode(text, list(distinct))[index]
    news = load_bbc_news("train")
    bodies = cached_encode(get("minilm-l3-onnx"), list(news.b))
    return {
        "fashion-mnist 3000 x (1280 + 384)": (images, captions),
        "bbc-news 1789 x (384 + 384)": (bodies, cached_encode(text, list(news.a))),
    }


def main() -> None:
    rows = []
    warnings.simplefilter("ignore", csa.WeakFitWarning)
    for name, (a, b) in _pairs().items():
        for ridge in (0.1, 1.0):
            fast = csa.CSA(ridge=ridge, sim_dim=None).fit(a, b)
            exact = csa.CSA(ridge=ridge, sim_dim=None, precision="float64").fit(a, b)
            k = min(fast.n_components_, exact.n_components_)
            rows.append(
                {
                    "data": name,
                    "ridge": ridge,
                    "dims float32 / float64": f"{fast.n_components_} / {exact.n_components_}",
                    "max |rho diff|": float(
                        np.max(
                            np.abs(
                                fast.canonical_correlations_[:k] - exact.canonical_correlations_[:k]
                            )
                        )
                    ),
                    "max |score diff|": float(
                        np.max(
                            np.abs(
                                fast.similarity(a[:300], b[:300], sim_dim=k)
                                - exact.similarity(a[:300], b[:300], sim_dim=k)
                            )
                        )
                    ),
                }
            )
    path = save("float32_accuracy", rows, {"inputs": "float32 embeddings from the cache"})
    print(markdown_table(list(rows[0]), [list(r.values()) for r in rows]))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
