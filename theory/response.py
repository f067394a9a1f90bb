"""Proposition 1 (linear response of the last layer).

For a network whose blocks are twice continuously differentiable, steering by ``r_e v_l`` at
the steered layers gives ``h_{r_e} = h + r_e Δ + O(r_e²)`` with ``Δ = Σ_l J_{L←l} v_l``. Here
``f(r)`` is any torch callable (e.g. ``along(F, x, v)`` for ``F(x + r v)``): ``Δ`` is its exact
forward-mode derivative at 0 (``torch.func.jvp``), checked against the central finite
difference, and the remainder ``‖f(r) − f(0) − rΔ‖`` is fitted against r on a log–log scale; its
slope (the scaling exponent) is ≈ 2 where the linear theory holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from theory import _common as chk

if TYPE_CHECKING:  # torch is imported lazily: ``import theory`` must not pay for it
    import torch


@dataclass(frozen=True)
class Response:
    """``delta`` = Δ (JVP), ``finite_difference`` = (f(h) − f(−h))/(2h), ``fd_error`` their
    relative difference, ``radii`` and ``remainders`` the measured ‖f(r) − f(0) − rΔ‖ and
    ``exponent`` the fitted slope of log remainder vs log r (per model when ``batched``)."""

    delta: torch.Tensor
    finite_difference: torch.Tensor
    fd_error: np.ndarray
    radii: np.ndarray
    remainders: np.ndarray
    exponent: np.ndarray


def along(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
          v: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """The map ``r ↦ f(x + r v)`` (a single injection point)."""
    return lambda r: f(x + r * v)


def _norms(t: torch.Tensor, batched: bool) -> np.ndarray:
    import torch

    flat = t.reshape(t.shape[0], -1) if batched else t.reshape(1, -1)
    return torch.linalg.vector_norm(flat, dim=1).detach().cpu().double().numpy()


def linear_response(f: Callable[[torch.Tensor], torch.Tensor], *,
                    radii: Sequence[float] | np.ndarray | None = None, fd_step: float = 1e-4,
                    batched: bool = False, dtype: torch.dtype | None = None) -> Response:
    """Δ, its finite-difference check and the remainder exponent of ``f`` at r = 0.

    ``f`` takes a 0-d tensor r (of ``dtype``) and returns a tensor; with ``batched`` its first
    axis indexes independent models and norms/exponents are per model. ``radii`` (positive)
    default to ``geomspace(1e-3, 1e-1, 7)``; ``dtype`` defaults to float64.
    """
    import torch

    rad = chk.positive("radii", np.geomspace(1e-3, 1e-1, 7) if radii is None else radii)
    if rad.ndim != 1 or rad.size < 2:
        raise ValueError(f"radii must be a 1-D sequence of >= 2 positive values, got {radii!r}")
    h = float(chk.positive("fd_step", fd_step))
    dtype = torch.float64 if dtype is None else dtype
    zero = torch.zeros((), dtype=dtype)
    out = torch.func.jvp(f, (zero,), (torch.ones((), dtype=dtype),))
    f0, delta = out[0].detach(), out[1].detach()
    with torch.no_grad():
        fd = (f(torch.tensor(h, dtype=dtype)) - f(torch.tensor(-h, dtype=dtype))) / (2 * h)
        rem = np.stack([_norms(f(torch.tensor(float(r), dtype=dtype)) - f0 - float(r) * delta,
                               batched) for r in rad], axis=1)
    scale = np.maximum(_norms(delta, batched), np.finfo(float).tiny)
    fd_err = _norms(fd - delta, batched) / scale
    # Least-squares slope of log remainder against log r, per model (a remainder of exactly 0,
    # e.g. for a linear f, is floored at the smallest float so the fit stays finite).
    lr = np.log(rad)
    ly = np.log(np.maximum(rem, np.finfo(float).tiny))
    lc = lr - lr.mean()
    exponent = ((ly - ly.mean(axis=1, keepdims=True)) @ lc) / (lc @ lc)
    if not batched:
        fd_err, rem, exponent = fd_err[0], rem[0], exponent[0]
    return Response(delta, fd, np.asarray(fd_err), rad, rem, np.asarray(exponent))


__all__ = ["Response", "along", "linear_response"]
