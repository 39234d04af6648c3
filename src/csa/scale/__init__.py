"""csa at scale: feature files read in row blocks, Dask fits, top-k search.

Nothing here is imported by ``import csa``: the heavy optional dependencies (pyarrow,
dask, faiss) load only when a function that needs them runs.

- :mod:`csa.scale.features`: the one reader of feature files (``.npy`` and parquet).
- :mod:`csa.scale.streaming`: out-of-core fits from those files (``fit_files``).
- :mod:`csa.scale.distributed`: moments reduced across Dask partitions (``fit_dask``).
- :mod:`csa.scale.search`: exact top-k retrieval over large galleries (``GalleryIndex``).
"""

from csa.scale.distributed import encode_dask, fit_dask, moments_from_dask, moments_from_frames
from csa.scale.search import GalleryIndex, similarity_blocks, top_k
from csa.scale.streaming import fit_files, iter_pair_chunks

__all__ = [
    "GalleryIndex",
    "encode_dask",
    "fit_dask",
    "fit_files",
    "iter_pair_chunks",
    "moments_from_dask",
    "moments_from_frames",
    "similarity_blocks",
    "top_k",
]
