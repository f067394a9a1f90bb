"""Proposition 1 (response of the last layer) and Theorem 2R (any readout of the logits).

For a network whose blocks are twice continuously differentiable, steering by ``r_e v_l`` at
the steered layers gives ``h_{r_e} = h + r_e Δ + O(r_e²)`` with ``Δ = Σ_l J_{L←l} v_l``; with
three derivatives, ``h_{r_e} = h + r_e Δ + (r_e²/2) Δ₂ + O(r_e³)`` (``remainder`` measures what
is left). Here ``f(r)`` is any torch callable (e.g. ``along(F, x, v)`` for ``F(x + r v)``): ``Δ``
is its exact forward-mode derivative at 0 (``torch.func.jvp``), checked against the central
finite difference, and the remainder ``‖f(r) − f(0) − rΔ‖`` is fitted against r on a log–log
scale; its slope (the scaling exponent) is ≈ 2 where the linear theory holds.

Theorem 2R: a readout ``f`` of logits that respond as ``z + r g + (r²/2) w + O(r³)`` has
``f(z_r) = f(z) + r ∇fᵀg + (r²/2)(gᵀ∇²f g + ∇fᵀw) + O(r³)`` (``readout_c1``/``readout_c2``,
numerically ``readout_coefficients``); ``logit_path`` is the path itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from theory import _common as chk
from theory.symbols import K, Sigma, a, b, curvatures, grad_f, hess_f, logits, r_e, shifts

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


def remainder(h_r: Any, h0: Any, delta: Any, r: Any, delta2: Any = None) -> np.ndarray:
    """Per-row ``‖h_r − h0 − rΔ − (r²/2)Δ₂‖`` (last axis; ``delta2=None`` gives Proposition 1's
    first-order remainder ‖h_r − h0 − rΔ‖). Arrays of shape (..., d) broadcast against each
    other; ``r`` broadcasts against the leading axes (one coefficient per row)."""
    hr = chk.finite("h_r", h_r)
    if hr.ndim < 1:
        raise ValueError("h_r must have a last axis (the hidden dimension), got a scalar")
    rows = [hr, chk.finite("h0", h0), chk.finite("delta", delta)]
    if delta2 is not None:
        rows.append(chk.finite("delta2", delta2))
    dims = {x.shape[-1] for x in rows if x.ndim}
    if len(dims) != 1:
        raise ValueError("h_r, h0, delta (and delta2) must share the last (hidden) axis, got "
                         f"shapes {[x.shape for x in rows]}")
    rr = chk.finite("r", r)[..., None]
    left = rows[0] - rows[1] - rr * rows[2]
    if delta2 is not None:
        left = left - 0.5 * rr**2 * rows[3]
    return np.asarray(np.linalg.norm(left, axis=-1))


# ------------------------------------------------------------------------------------------
# Theorem 2R: any twice-differentiable readout f of the logits along the second-order path
# ------------------------------------------------------------------------------------------
#: The logit path ``z_a + r g_a + (r²/2) w_a`` (w = UΔ₂, the path's own curvature).
logit_path_expr: sp.Expr = logits[a] + r_e * shifts[a] + r_e**2 / 2 * curvatures[a]
#: The r coefficient ∇fᵀg of f(z_r) (symbolic K).
readout_c1: sp.Expr = sp.Sum(grad_f[a] * shifts[a], (a, 0, K - 1))
#: The r² coefficient ½(gᵀ∇²f g + ∇fᵀw) of f(z_r): the Hessian term and the path term.
readout_c2: sp.Expr = (sp.Sum(sp.Sum(hess_f[a, b] * shifts[a] * shifts[b], (a, 0, K - 1)),
                              (b, 0, K - 1))
                       + sp.Sum(grad_f[a] * curvatures[a], (a, 0, K - 1))) / 2
#: What a random part of g with mean 0 and covariance Σ adds to the r² coefficient: ½ tr(∇²f Σ).
readout_c2_random: sp.Expr = sp.Sum(sp.Sum(hess_f[a, b] * Sigma[b, a], (a, 0, K - 1)),
                                    (b, 0, K - 1)) / 2


def logit_path(z: Any, g: Any, r: Any, w: Any = None) -> np.ndarray:
    """The logits ``z + r g + (r²/2) w`` at every coefficient of ``r``: shape (..., R, K) for
    ``z``, ``g``, ``w`` of shape (..., K) and ``r`` of shape (R,) (``r.shape + (K,)`` for 1-D
    z). ``w=None`` is the exact linear path ``z + r g``."""
    zz = chk.finite("z", z)
    gg = chk.finite("g", g)
    if zz.ndim < 1 or zz.shape[-1] < 1:
        raise ValueError(f"z must have a last axis of logits (one per outcome), got shape {zz.shape}")
    parts = [zz, gg] + ([] if w is None else [chk.finite("w", w)])
    if any(x.ndim < 1 or x.shape[-1] != zz.shape[-1] for x in parts):
        raise ValueError("z, g (and w) must have the same last axis (one entry per outcome), got "
                         f"shapes {[x.shape for x in parts]}")
    rr = chk.finite("r", r)
    flat = rr.reshape(-1, 1)
    out = zz[..., None, :] + flat * gg[..., None, :]
    if w is not None:
        out = out + 0.5 * flat**2 * parts[2][..., None, :]
    batch = out.shape[:-2]
    return np.asarray(out.reshape(*batch, *rr.shape, zz.shape[-1]))


def _last_axis(name: str, x: Any, k: int | None, extra: int = 0) -> np.ndarray:
    """A finite array whose last ``1 + extra`` axes all have length k (the outcomes)."""
    arr = chk.finite(name, x)
    kk = arr.shape[-1] if k is None and arr.ndim else k
    if arr.ndim < 1 + extra or any(n != kk for n in arr.shape[arr.ndim - 1 - extra:]):
        want = ", ".join(["K"] * (1 + extra))
        raise ValueError(f"{name} must have shape (..., {want}) with K = {kk} outcomes, "
                         f"got {arr.shape}")
    return arr


def readout_coefficients(grad: Any, hess: Any, g: Any, w: Any,
                         cov: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``(c1, c2)`` of ``f(z + r g + (r²/2) w) = f(z) + c1 r + c2 r² + O(r³)`` (Theorem 2R):
    ``c1 = ∇ᵀg``, ``c2 = ½(gᵀ∇²f g + ∇ᵀw)``, plus ``½ tr(∇²f Σ)`` when a random part of g
    with mean 0 and covariance ``cov`` is added. ``grad`` (..., K) and ``hess`` (..., K, K)
    are ∇f and ∇²f at z; ``w=None`` means w = 0. Leading axes broadcast (0-d for one readout)."""
    gr = _last_axis("grad", grad, None)
    k = gr.shape[-1]
    he = _last_axis("hess", hess, k, extra=1)
    gg = _last_axis("g", g, k)
    c1 = np.einsum("...a,...a->...", gr, gg)
    c2 = 0.5 * np.einsum("...a,...ab,...b->...", gg, he, gg)
    if w is not None:
        c2 = c2 + 0.5 * np.einsum("...a,...a->...", gr, _last_axis("w", w, k))
    if cov is not None:
        c2 = c2 + 0.5 * np.einsum("...ab,...ba->...", he, _last_axis("cov", cov, k, extra=1))
    return np.asarray(c1), np.asarray(c2)


__all__ = ["Response", "along", "linear_response", "remainder", "logit_path_expr", "readout_c1",
           "readout_c2", "readout_c2_random", "logit_path", "readout_coefficients"]
