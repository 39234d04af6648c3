"""The torch path for the moment products: same fit as numpy, bounded float32 error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import csa
from csa.moments import PairMoments, moments_of
from csa.torch_backend import check_device


def chunk_moments(a, b, *, device=None, precision="float64") -> PairMoments:
    """All-row moments with the products in ``precision`` on ``device`` (one fold)."""
    dtype = np.float32 if precision == "float32" else np.float64
    return moments_of(a, b, n_folds=1, product_dtype=dtype, device=device).total


def _pairs(n: int, seed: int = 0, dim_a: int = 24, dim_b: int = 16):
    """Correlated pairs with a large common offset, so centring matters."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n, 6))
    a = shared @ rng.standard_normal((6, dim_a)) + rng.standard_normal((n, dim_a)) + 50.0
    b = shared @ rng.standard_normal((6, dim_b)) + rng.standard_normal((n, dim_b)) - 20.0
    return a, b


def _assert_same_fit(m1: csa.CSA, m2: csa.CSA, tol: float) -> None:
    np.testing.assert_allclose(m1.canonical_correlations_, m2.canonical_correlations_, atol=tol)
    np.testing.assert_allclose(m1.projection_a_, m2.projection_a_, atol=tol)
    np.testing.assert_allclose(m1.projection_b_, m2.projection_b_, atol=tol)


def test_torch_cpu_float64_equals_numpy_fit():
    a, b = _pairs(3000)
    ref = csa.CSA().fit(a, b)
    torch_fit = csa.CSA(device="cpu").fit(a, b)
    _assert_same_fit(ref, torch_fit, 1e-8)
    np.testing.assert_allclose(
        torch_fit.moments_.total.comoment_ab, ref.moments_.total.comoment_ab, rtol=1e-10
    )
    probe_a, probe_b = _pairs(50, seed=1)
    np.testing.assert_allclose(
        torch_fit.similarity(probe_a, probe_b), ref.similarity(probe_a, probe_b), atol=1e-8
    )


def test_torch_chunked_fits_equal_numpy_fit():
    a, b = _pairs(2500)
    ref = csa.CSA().fit(a, b)
    chunked = csa.CSA(device="cpu", chunk_size=700).fit(a, b)
    streamed = csa.CSA(device="cpu").fit_chunks(
        (a[i : i + 600], b[i : i + 600]) for i in range(0, 2500, 600)
    )
    _assert_same_fit(ref, chunked, 1e-8)
    _assert_same_fit(ref, streamed, 1e-8)


@pytest.mark.parametrize("device", [None, "cpu"])
def test_float32_products_error_is_bounded(device):
    a, b = _pairs(4000, dim_a=64, dim_b=48)
    exact = chunk_moments(a, b)
    approx = chunk_moments(a, b, device=device, precision="float32")
    # Means are float64 on every path, so they match to float64 round-off.
    np.testing.assert_allclose(approx.mean_a, exact.mean_a, rtol=1e-12)
    # A float32 dot product of n centred terms has a rounding error of about
    # sqrt(n) * 2**-24 relative to the sum of |terms| (errors add like a random walk;
    # blocked GEMM kernels do better still). With n = 4000 that is ~4e-6, and the sum of
    # |terms| is at most the product of the two column norms, i.e. the diagonal scale.
    # 2e-5 leaves room for the worst column without letting a float64-vs-float32 mix-up
    # (1e-16) or an uncentred product (cancellation error ~ 50**2 / var * 6e-8 ~ 1e-4,
    # times sqrt(n)) pass unnoticed.
    bound = 2e-5
    sd_a = np.sqrt(np.diag(exact.comoment_aa))
    sd_b = np.sqrt(np.diag(exact.comoment_bb))
    for got, want, scale in (
        (approx.comoment_aa, exact.comoment_aa, np.outer(sd_a, sd_a)),
        (approx.comoment_bb, exact.comoment_bb, np.outer(sd_b, sd_b)),
        (approx.comoment_ab, exact.comoment_ab, np.outer(sd_a, sd_b)),
    ):
        rel = np.max(np.abs(got - want) / scale)
        assert rel < bound, f"float32 product error {rel:.2e} exceeds {bound:.0e}"
        assert rel > 0, "float32 products should differ from float64 ones by round-off"
    # The error that reaches a user: canonical correlations and scores.
    ref = csa.CSA().fit(a, b)
    fast = csa.CSA(device=device, precision="float32").fit(a, b)
    assert np.max(np.abs(fast.canonical_correlations_ - ref.canonical_correlations_)) < 1e-5
    probe_a, probe_b = _pairs(40, seed=3, dim_a=64, dim_b=48)
    score_err = np.abs(fast.similarity(probe_a, probe_b) - ref.similarity(probe_a, probe_b))
    assert score_err.max() < 1e-4


def test_float32_path_agrees_between_numpy_and_torch():
    a, b = _pairs(1000)
    m_np = chunk_moments(a, b, device=None, precision="float32")
    m_t = chunk_moments(a, b, device="cpu", precision="float32")
    scale = np.abs(m_np.comoment_aa).max()
    assert np.abs(m_np.comoment_aa - m_t.comoment_aa).max() / scale < 1e-5


def test_device_and_precision_survive_save_and_load(tmp_path):
    a, b = _pairs(300)
    model = csa.CSA(device="cpu", precision="float32").fit(a, b)
    loaded = csa.load(model.save(tmp_path / "m.csa"))
    assert (loaded.device, loaded.precision) == ("cpu", "float32")
    np.testing.assert_allclose(loaded.similarity(a[:5], b[:5]), model.similarity(a[:5], b[:5]))


def test_bad_precision_and_device_are_refused_before_any_work():
    a, b = _pairs(100)
    with pytest.raises(csa.ParameterError, match="precision"):
        csa.CSA(precision="float16").fit(a, b)
    with pytest.raises(csa.ParameterError, match="device"):
        csa.CSA(device="tpu").fit(a, b)
    assert check_device(None) is None and check_device("cpu") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present here")
def test_cuda_without_gpu_names_the_problem():
    a, b = _pairs(100)
    with pytest.raises(csa.ParameterError, match="GPU"):
        csa.CSA(device="cuda").fit(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_float64_equals_numpy_fit():
    a, b = _pairs(3000)
    _assert_same_fit(csa.CSA().fit(a, b), csa.CSA(device="cuda").fit(a, b), 1e-8)
