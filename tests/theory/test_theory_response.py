"""Proposition 1: JVP vs analytic derivative and finite differences; remainder exponent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from theory import response, simulate


def test_quadratic_map_exact() -> None:
    a, b, c = (torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([0.5, -1.0], dtype=torch.float64),
               torch.tensor([3.0, 4.0], dtype=torch.float64))
    res = response.linear_response(lambda r: a + r * b + r**2 * c)
    torch.testing.assert_close(res.delta, b)
    np.testing.assert_allclose(res.remainders, res.radii**2 * 5.0, rtol=1e-6)
    assert res.exponent == pytest.approx(2.0, abs=1e-6)


def test_cubic_remainder_is_detected() -> None:
    """A map with no r² term has exponent 3: the fit can tell."""
    res = response.linear_response(lambda r: torch.stack([r + r**3, 2 * r]))
    assert res.exponent == pytest.approx(3.0, abs=1e-3)


def test_along_against_autograd_jacobian() -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, 6, generator=g, dtype=torch.float64)
    x, v = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)

    def f(h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(w @ torch.tanh(w @ h))

    res = response.linear_response(response.along(f, x, v))
    jac = torch.autograd.functional.jacobian(f, x)
    torch.testing.assert_close(res.delta, jac @ v)
    assert res.fd_error < 1e-6 and abs(res.exponent - 2) < 0.1  # central FD: O(h²) error


def test_residual_networks_batched() -> None:
    f = simulate.residual_networks(seed=1, n=64)
    res = response.linear_response(f, radii=np.geomspace(1e-4, 1e-2, 5), batched=True)
    assert res.exponent.shape == (64,) and np.all(np.abs(res.exponent - 2) < 0.25)
    assert np.all(res.fd_error < 1e-6)
    # Δ of network 0 by reverse-mode autograd through the same function, as an independent check
    r = torch.zeros((), dtype=torch.float64, requires_grad=True)
    out = f(r)[0]
    grad = torch.stack([torch.autograd.grad(out[i], r, retain_graph=True)[0] for i in range(out.numel())])
    torch.testing.assert_close(res.delta[0], grad)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="radii"):
        response.linear_response(lambda r: r * torch.ones(2, dtype=torch.float64), radii=[0.1, -0.1])
    with pytest.raises(ValueError, match="fd_step"):
        response.linear_response(lambda r: r * torch.ones(2, dtype=torch.float64), fd_step=0.0)
