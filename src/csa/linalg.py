"""Matrix products for the fit, all through SciPy's BLAS.

NumPy and SciPy each bundle their own OpenBLAS, and an OpenBLAS thread pool keeps
spinning for a while after each call. The solver needs LAPACK routines that only SciPy
exposes (Cholesky with pivoting, triangular solves), so if the products went through
NumPy's ``@`` the two pools would alternate, each waiting on the other's spinning
threads: at d = 384 that doubled the time of the whole solve. Keeping every product of
the fit on SciPy's pool avoids it.

The streamed moments add each chunk's products straight into Fortran-ordered float64
accumulators (BLAS ``beta = 1``): no d x d temporary per chunk, and SYRK computes only
the upper triangle of ``x'x``, half the work of a general product. Arrays are passed as
transposed views where that makes them Fortran-ordered, so f2py hands them to BLAS
without copying a chunk.
"""

from __future__ import annotations

import numpy as np


def accumulator(rows: int, cols: int) -> np.ndarray:
    """A zeroed float64 matrix in the layout :func:`add_gram` and :func:`add_cross` update."""
    return np.zeros((rows, cols), order="F")


def add_gram(upper: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``upper += x' x`` on the upper triangle, for a C-ordered ``(n, d)`` ``x``.

    ``upper`` comes from :func:`accumulator`; its strictly lower triangle is left as
    it is (see :func:`symmetric`). Float32 ``x`` is multiplied in float32 and added in
    float64. Returns ``upper``, updated in place.
    """
    from scipy.linalg import blas  # loaded by the first fit, not by ``import csa``

    if x.dtype == np.float64:
        (syrk,) = blas.get_blas_funcs(("syrk",), (x,))
        return syrk(1.0, x.T, beta=1.0, c=upper, trans=0, lower=0, overwrite_c=1)
    upper += gram_upper(x, columns=True)
    return upper


def add_cross(total: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``total += x' y`` for C-ordered ``(n, d_x)`` and ``(n, d_y)`` arrays of one dtype."""
    from scipy.linalg import blas

    (gemm,) = blas.get_blas_funcs(("gemm",), (x, y))
    if x.dtype == np.float64:
        return gemm(1.0, x.T, y.T, beta=1.0, c=total, trans_b=1, overwrite_c=1)
    total += gemm(1.0, x.T, y.T, trans_b=1)
    return total


def symmetrize_in_place(upper: np.ndarray) -> np.ndarray:
    """Fill the lower triangle of an :func:`accumulator` from its upper one, in place.

    Returns the symmetric result as a C-ordered view (the transpose of the Fortran
    array, equal to it by symmetry): no d x d copy, where :func:`symmetric` makes one.
    """
    for j in range(upper.shape[0] - 1):
        upper[j + 1 :, j] = upper[j, j + 1 :]
    return upper.T


def symmetric(upper: np.ndarray) -> np.ndarray:
    """The full symmetric matrix whose upper triangle is ``upper``'s, C-ordered."""
    return np.ascontiguousarray(np.triu(upper) + np.triu(upper, 1).T)


def matmul(
    x: np.ndarray, y: np.ndarray, *, trans_x: bool = False, trans_y: bool = False
) -> np.ndarray:
    """``op(x) @ op(y)`` for the solver's small d x d products, in the inputs' precision
    (float64, or float32 for the held-out search, see :mod:`csa.selection`)."""
    from scipy.linalg import blas

    (gemm,) = blas.get_blas_funcs(("gemm",), (x, y))
    return gemm(1.0, x, y, trans_a=trans_x, trans_b=trans_y)


def gram_upper(x: np.ndarray, *, columns: bool) -> np.ndarray:
    """The upper triangle of ``x' x`` (``columns``) or ``x x'``, by SYRK: half the work
    of the general product. The strictly lower triangle is zero; LAPACK's symmetric
    routines asked for the upper triangle never read it."""
    from scipy.linalg import blas

    (syrk,) = blas.get_blas_funcs(("syrk",), (x,))
    # x' (Fortran order) is x's memory: op(A) = A' A' ' reads x without a copy.
    return syrk(1.0, x.T, trans=0 if columns else 1, lower=0)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero (score 0, never NaN).

    The one row normalisation of csa. Each row is divided by its largest magnitude
    before squaring, so rows of 1e200 or 1e-200 normalise as well as rows of 1 (a plain
    ``sqrt(sum(x**2))`` overflows or underflows there and the cosine is lost).
    """
    x = np.asarray(x)
    scale = np.max(np.abs(x), axis=1, keepdims=True) if x.size else np.ones((x.shape[0], 1))
    scale = np.where(scale > 0, scale, 1.0)
    scaled = x / scale
    norms = np.sqrt(np.einsum("ij,ij->i", scaled, scaled))[:, None]
    return scaled / np.where(norms > 0, norms, 1.0)
