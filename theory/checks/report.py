"""What every simulation check returns, and the allowances they share.

No allowance is computed from the statement under test: allowances are float round-off, Monte
Carlo standard errors, quadrature error estimates, and a-priori Taylor remainders from
derivative bounds of softmax (``|d^n/dt^n softmax_c(z + t g)| ≤ B_n w^n``, ``w = max g − min g``;
``B_4 = 33/8``, ``B_6 = 1053/32``, from the complete Bell polynomial in the cumulants of a
variable of range w).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EXACT_TOL = 1e-12  # allowance for float64 round-off in checks that are exact in theory
Z_MC = 5.0         # Monte Carlo allowance, in standard errors
QUAD_TOL = 1e-9    # quadrature error bound of helpfulness.expected
B4 = 33 / 8        # |f''''| ≤ B4 w⁴ for f(t) = softmax_c(z + t g), w = max g − min g
B6 = 1053 / 32     # |f^(6)| ≤ B6 w⁶


@dataclass
class StatementReport:
    """One check: ``draws`` random models; ``max_violation`` = max over draws of
    ``lhs − rhs − allowance`` (≤ 0: held); ``worst_case`` the parameters of that draw;
    ``mc_error`` the Monte Carlo standard error there (None for exact checks)."""

    name: str
    draws: int
    max_violation: float
    worst_case: dict[str, float]
    mc_error: float | None
    allowance: str
    extras: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.max_violation <= 0)


@dataclass
class VerifyReport:
    """Every check's report from one seeded run."""

    seed: int
    n: int
    seconds: float
    statements: list[StatementReport]

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.statements)

    def table(self) -> str:
        width = max([len(s.name) for s in self.statements] + [5])
        head = f"{'check':<{width}} {'draws':>8} {'max violation':>14} {'MC error':>10}  result"
        lines = ["max violation = max over draws of (lhs - rhs - allowance): <= 0 means it held",
                 head, "-" * len(head)]
        for s in self.statements:
            mc = "exact" if s.mc_error is None else f"{s.mc_error:.2e}"
            lines.append(f"{s.name:<{width}} {s.draws:>8} {s.max_violation:>14.3e} {mc:>10}  "
                         f"{'ok' if s.passed else 'VIOLATED'}")
        for s in self.statements:
            if s.extras:
                lines.append(f"{s.name}: " + ", ".join(f"{k} = {v:.4g}" for k, v in s.extras.items()))
            if not s.passed:
                lines.append(f"  worst case of {s.name} (allowance {s.allowance}): {s.worst_case}")
        lines.append(f"{len(self.statements)} checks, seed {self.seed}, n {self.n}, "
                     f"{self.seconds:.1f} s: {'all hold' if self.passed else 'VIOLATIONS'}")
        return "\n".join(lines)


class Worst:
    """Running maximum of a violation array over batches, with the arguments of the argmax."""

    def __init__(self) -> None:
        self.value = -math.inf
        self.case: dict[str, float] = {}
        self.mc: float | None = None
        self.draws = 0

    def update(self, viol: np.ndarray, params: dict[str, Any], mc: np.ndarray | None = None,
               draws: int | None = None) -> None:
        viol = np.asarray(viol, dtype=float)
        flat = viol.reshape(viol.shape[0], -1) if viol.ndim > 1 else viol[:, None]
        per = np.where(np.isnan(flat), np.inf, flat).max(axis=1)  # NaN counts as a violation
        i = int(np.argmax(per))
        self.draws += viol.shape[0] if draws is None else draws
        if per[i] > self.value:
            self.value = float(per[i])
            self.case = {k: float(np.asarray(v).reshape(viol.shape[0], -1)[i].ravel()[0])
                         if np.asarray(v).ndim else float(v) for k, v in params.items()}
            if mc is not None:
                self.mc = float(np.asarray(mc).reshape(viol.shape[0], -1)[i].max())

    def report(self, name: str, allowance: str, extras: dict[str, float] | None = None,
               exact: bool = True) -> StatementReport:
        return StatementReport(name, self.draws, self.value, self.case,
                               None if exact else (self.mc or 0.0), allowance, extras or {})


def agreement(name: str, got: Any, want: Any, rel: float = 1e-10,
              params: dict[str, Any] | None = None) -> StatementReport:
    """An exact check: ``|got − want| ≤ rel (1 + |want|)`` elementwise (round-off only)."""
    g = np.atleast_1d(np.asarray(got, dtype=float))
    w = np.atleast_1d(np.asarray(want, dtype=float))
    g, w = np.broadcast_arrays(g, w)
    worst = Worst()
    same_inf = np.isinf(g) & np.isinf(w) & (np.sign(g) == np.sign(w))
    viol = np.where(same_inf, -1.0, np.abs(g - w) - rel * (1 + np.abs(w)))
    worst.update(viol.reshape(1, -1), params or {}, draws=int(g.size))
    return worst.report(name, f"relative {rel:g}")


@dataclass(frozen=True)
class Check:
    """A group of simulation checks: ``run(rng, n)`` returns their reports; ``covers`` names the
    ``theory`` objects ("module.attr") whose wrong value makes one of them fail."""

    name: str
    run: Callable[[np.random.Generator, int], list[StatementReport]]
    covers: tuple[str, ...]


__all__ = ["EXACT_TOL", "Z_MC", "QUAD_TOL", "B4", "B6", "StatementReport", "VerifyReport", "Worst",
           "agreement", "Check"]
