"""Theorem 2 / 2'. Placeholder symbolic core; the theory helper completes this module."""

from __future__ import annotations

import sympy as sp

from theory.symbols import P_0, alpha, beta, lam, r_e, sigma

expansion: sp.Expr = P_0 - alpha * P_0 * (lam * sigma * beta) ** 2 * r_e**2
spread_bound: sp.Expr = 1 / (1 + ((1 - P_0) / P_0) * sp.exp((lam * sigma * beta * r_e) ** 2 / 2))
spread_bound_quadratic: sp.Expr = 1 / (1 + ((1 - P_0) / P_0) * (1 + (lam * sigma * beta * r_e) ** 2 / 2))
