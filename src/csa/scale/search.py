"""Scoring and top-k search over galleries too large for one score matrix.

Every csa model scores by an inner product, ``embed_a(a) @ embed_b(b).T`` (for CSA
the embeddings are unit canonical coordinates scaled by ``sqrt(rho)``). A gallery is
therefore embedded once and searched by maximum inner product: exactly, in blocks
whose size bounds memory (the one blocked top-k merge of :mod:`csa.scoring`, shared with
retrieval and zero-shot), or with a FAISS flat index, which is exact too (it
compares every item) and multi-threaded. ASIF's embeddings are sparse vectors over
all its anchors; they are searched in blocks the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from csa.errors import DtypeError, NotFittedError, ParameterError, ShapeError
from csa.scoring import inner_product, merge_top_k
from csa.validation import Side, check_features, check_side, other_side

Backend = Literal["auto", "faiss", "numpy"]

# Scores held at once per block: 2**24 float32 values is 64 MB.
_SCORE_BUDGET = 2**24
_EMBED_ROWS = 8192


def _check_k(k: int, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ParameterError(f"{name} must be a positive integer; got {k!r}")
    return int(k)


def _embed(model: Any, x: Any, side: Side, options: dict[str, Any]) -> Any:
    embed = model.embed_a if side == "a" else model.embed_b
    out = embed(x, **options)
    if sp.issparse(out):
        return sp.csr_matrix(out, dtype=np.float32)
    return np.ascontiguousarray(out, dtype=np.float32)


def embed_blocks(
    model: Any, items: Any, side: Side, *, rows: int = _EMBED_ROWS, **options: Any
) -> Iterator[Any]:
    """Embeddings of ``items`` in row blocks (float32 dense, or CSR for ASIF)."""
    side = check_side(side)
    n = len(items)
    width = getattr(model, f"n_features_{side}_", None)
    for start in range(0, n, rows):
        # Checked here first so that a bad row is named by its place in ``items``, not
        # in the block.
        block = check_features(items[start : start + rows], side, n_features=width, first_row=start)
        yield _embed(model, block, side, options)


class GalleryIndex:
    """Items of one side embedded once, searchable by items of the other side.

    Parameters
    ----------
    model:
        Any fitted csa model (CSA, CCA, LinearMap, ASIF).
    side:
        Which side the gallery items are on; queries come from the other side.
    backend:
        ``"faiss"`` (an exact ``IndexFlatIP``), ``"numpy"`` (exact blocked products),
        or ``"auto"``: FAISS for dense embeddings when it is installed. ASIF's sparse
        embeddings always use the blocked path.
    options:
        Scoring options passed to ``embed_a``/``embed_b`` (CSA: ``sim_dim``); they must
        be the same for gallery and queries, so they are fixed here.
    """

    def __init__(
        self, model: Any, side: Side = "b", *, backend: Backend = "auto", **options: Any
    ) -> None:
        if not getattr(model, "is_fitted", False):
            raise NotFittedError(f"{type(model).__name__} must be fitted before indexing")
        if backend not in ("auto", "faiss", "numpy"):
            raise ParameterError(f"backend must be 'auto', 'faiss' or 'numpy'; got {backend!r}")
        self.model = model
        self.side = check_side(side)
        self.backend = backend
        self.options = {k: v for k, v in options.items() if v is not None}
        self._blocks: list[Any] = []
        self._faiss: Any = None
        self.ntotal = 0
        self.dim: int | None = None

    def _use_faiss(self, block: Any) -> bool:
        if sp.issparse(block):
            if self.backend == "faiss":
                raise ParameterError(
                    f"{type(self.model).__name__} gives sparse embeddings; FAISS flat "
                    "indexes need dense ones: use backend='numpy'"
                )
            return False
        if self.backend == "numpy":
            return False
        try:
            import faiss  # noqa: F401
        except ImportError as exc:
            if self.backend == "faiss":
                raise ParameterError(
                    "backend='faiss' needs faiss-cpu: pip install 'csa[scale]'"
                ) from exc
            return False
        return True

    def add(self, items: Any) -> GalleryIndex:
        """Embed ``items`` (features of the gallery side) in blocks and append them.

        Every block is embedded before any is stored, so items that fail half way (a
        NaN in row 9,000 of 10,000) add nothing and ids keep matching the items added.
        """
        if not hasattr(items, "__len__") or not hasattr(items, "__getitem__"):
            raise DtypeError(
                f"gallery items must be an array of features (rows x dims); got "
                f"{type(items).__name__}"
            )
        staged = list(embed_blocks(self.model, items, self.side, **self.options))
        if not staged:
            return self
        dim = int(staged[0].shape[1])
        use_faiss = self._use_faiss(staged[0]) if self.dim is None else self._faiss is not None
        if use_faiss and self._faiss is None:
            import faiss

            self._faiss = faiss.IndexFlatIP(dim)
        self.dim = dim
        for block in staged:
            if self._faiss is not None:
                self._faiss.add(block)
            else:
                self._blocks.append(block)
            self.ntotal += int(block.shape[0])
        return self

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the stored gallery embeddings (not counting the model)."""
        if self._faiss is not None:
            return int(self.ntotal * self.dim * 4)
        total = 0
        for block in self._blocks:
            if sp.issparse(block):
                total += block.data.nbytes + block.indices.nbytes + block.indptr.nbytes
            else:
                total += block.nbytes
        return total

    def search(
        self, queries: Any, k: int = 10, *, query_rows: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` gallery items per query: ``(scores, ids)``, each ``(m, k)``.

        Scores are the model's similarity (float32), best first; ids index the items
        in the order they were added.
        """
        k = _check_k(k)
        if query_rows is not None:
            query_rows = _check_k(query_rows, "query_rows")
        if self.ntotal == 0:
            raise ShapeError("the index is empty: add() gallery items first")
        k_eff = min(k, self.ntotal)
        if query_rows is None:
            if self._faiss is not None:
                # FAISS blocks internally and returns only (m, k): big batches are cheap.
                query_rows = _EMBED_ROWS
            else:
                widest = max(block.shape[0] for block in self._blocks)
                query_rows = max(1, min(_EMBED_ROWS, _SCORE_BUDGET // max(1, widest)))
        out_scores, out_ids = [], []
        for q in embed_blocks(
            self.model, queries, other_side(self.side), rows=query_rows, **self.options
        ):
            if self._faiss is not None:
                scores, ids = self._faiss.search(q, k_eff)
                # FAISS orders equal scores arbitrarily; order them by id as the blocked
                # path does (a tie straddling the k-th place can still differ).
                order = np.lexsort((ids, -scores), axis=1)
                scores = np.take_along_axis(scores, order, axis=1)
                ids = np.take_along_axis(ids, order, axis=1)
            else:
                scores = ids = None
                offset = 0
                for block in self._blocks:
                    ids, scores = merge_top_k(ids, scores, inner_product(q, block), offset, k_eff)
                    offset += block.shape[0]
            out_scores.append(scores)
            out_ids.append(ids.astype(np.int64, copy=False))
        if not out_scores:  # no queries: empty results, not a failed concatenation
            return np.empty((0, k_eff), np.float32), np.empty((0, k_eff), np.int64)
        return np.vstack(out_scores), np.vstack(out_ids)


def top_k(
    model: Any,
    queries: Any,
    gallery: Any,
    k: int = 10,
    *,
    query_side: Side = "a",
    backend: Backend = "auto",
    **options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of ``gallery`` for each query, never forming the full score matrix.

    ``query_side="a"`` scores rows of ``queries`` (side a) against rows of
    ``gallery`` (side b); zero-shot classification is ``k=1`` with the class
    prompts' embeddings as the gallery.
    """
    index = GalleryIndex(model, other_side(check_side(query_side)), backend=backend, **options)
    return index.add(gallery).search(queries, k)


def similarity_blocks(
    model: Any, a: Any, b: Any, *, rows: int | None = None, **options: Any
) -> Iterator[tuple[slice, np.ndarray]]:
    """``(row_slice, scores)`` blocks of ``model.similarity(a, b)``, a few rows of a at a time.

    For consumers that reduce each block (thresholds, histograms, per-row statistics)
    and so never need the whole matrix.
    """
    options = {k: v for k, v in options.items() if v is not None}
    if rows is not None:
        rows = _check_k(rows, "rows")
    gallery = _embed(model, b, "b", options)
    if rows is None:
        rows = max(1, min(_EMBED_ROWS, _SCORE_BUDGET // max(1, gallery.shape[0])))
    for start, block in zip(
        range(0, len(a), rows), embed_blocks(model, a, "a", rows=rows, **options), strict=True
    ):
        yield slice(start, start + block.shape[0]), inner_product(block, gallery)


def model_nbytes(model: Any) -> int:
    """Bytes of the arrays a fitted model holds (ASIF: its anchors; CSA: d x d state)."""
    total = 0
    for value in vars(model).values():
        if isinstance(value, np.ndarray):
            total += value.nbytes
        elif hasattr(value, "to_arrays"):
            total += sum(arr.nbytes for arr in value.to_arrays().values())
    return total
