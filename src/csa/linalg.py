"""Matrix products for the fit, all through SciPy's BLAS.

NumPy and SciPy each bundle their own OpenBLAS, and an OpenBLAS thread pool keeps
spinning for a while after each call. The solver needs LAPACK routines that only SciPy
exposes (Cholesky with pivoting, triangular solves), so if the products went through
NumPy's ``@`` the two pools would alternate, each waiting on the other's spinning
threads: at d = 384 that doubled the time of the whole solve. Keeping every product of
the fit on SciPy's pool avoids it.

Arrays are passed as transposed views where that makes them Fortran-ordered, so f2py
hands them to BLAS without copying a chunk.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas


def gram(x: np.ndarray) -> np.ndarray:
    """``x' x`` for a C-ordered ``(n, d)`` float32/float64 ``x``; symmetric ``(d, d)``.

    SYRK computes one triangle, half the work of a general product.
    """
    (syrk,) = blas.get_blas_funcs(("syrk",), (x,))
    upper = syrk(1.0, x.T, trans=0, lower=0)
    return np.triu(upper) + np.triu(upper, 1).T


def cross(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x' y`` for C-ordered ``(n, d_x)`` and ``(n, d_y)`` arrays of one dtype."""
    (gemm,) = blas.get_blas_funcs(("gemm",), (x, y))
    return gemm(1.0, x.T, y.T, trans_b=1)


def matmul(
    x: np.ndarray, y: np.ndarray, *, trans_x: bool = False, trans_y: bool = False
) -> np.ndarray:
    """``op(x) @ op(y)`` for float64 matrices (the solver's small d x d products)."""
    return blas.dgemm(1.0, x, y, trans_a=trans_x, trans_b=trans_y)
