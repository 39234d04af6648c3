"""Bundled real data sets and users' own paired data, as :class:`PairedDataset`.

``load("fashion-mnist", split="train", n=1000, seed=0)`` is the usual entry; see
:func:`available` for the names. The library holds the bundled sets its examples use and
readers of published layouts (ImageNet, COSMOS, Flickr30k, COCO, image folders,
``metadata.csv``, feature files); applications add their own through :func:`register` or
the ``csa.datasets`` entry-point group (:mod:`csa.datasets.registry`).

Loaders return raw items (images, text, feature rows); encoding is the encoders' job.
:func:`read_items` reads one side's raw items from a user's folder or table (natural
order, ImageFolder, metadata.csv) so that rows cannot mispair, and :func:`match_labels`
maps label names onto class names by name.
"""

from __future__ import annotations

from csa.datasets.base import PairedDataset, factorize_labels
from csa.datasets.bbc_news import load_bbc_news
from csa.datasets.digits import load_digits
from csa.datasets.embeddings import load_embedding_pair
from csa.datasets.fashion_mnist import load_fashion_mnist
from csa.datasets.folder import load_image_folder
from csa.datasets.items import RawItems, match_labels, read_items
from csa.datasets.registry import available, describe, load, register, unregister
from csa.datasets.splits import select_split

__all__ = [
    "PairedDataset",
    "RawItems",
    "available",
    "describe",
    "factorize_labels",
    "load",
    "load_bbc_news",
    "load_digits",
    "load_embedding_pair",
    "load_fashion_mnist",
    "load_image_folder",
    "match_labels",
    "read_items",
    "register",
    "select_split",
    "unregister",
]
