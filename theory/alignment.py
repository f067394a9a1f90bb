"""Theorem 1 (alignment bound). Placeholder symbolic core; the theory helper completes this module."""

from __future__ import annotations

import sympy as sp

from theory.symbols import B_0, epsilon, lam, r_e

bound: sp.Expr = sp.tanh(lam * r_e + sp.atanh(B_0))
linear_gain: sp.Expr = B_0 + lam * (1 - B_0**2) * r_e
guarantee_coefficient: sp.Expr = (sp.atanh(1 - epsilon) - sp.atanh(B_0)) / lam
