"""The paper's fit forms as curves for the fitter: thin adapters over ``empirics.formulas``
(``paper_tanh``, ``paper_helpfulness``), looked up at call time so a patched theory object is
what gets fitted. Nothing here writes a formula."""

from __future__ import annotations

import numpy as np

from empirics import formulas
from empirics.wolf.boundfit import Curve

OPTIONS = (None, 4)


def tanh_form(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """tanh(a x + b) (``formulas.paper_tanh``)."""
    return formulas.paper_tanh(x, a, b)


def _full(x: np.ndarray, a: float, b: float) -> np.ndarray:
    return formulas.paper_helpfulness(x, a, b)


def _four(x: np.ndarray, a: float, b: float) -> np.ndarray:
    return formulas.paper_helpfulness(x, a, b, options=4)


def helpfulness_form(options: int | None) -> Curve:
    """1/(1 + a + a(b²/2)x²) for the full vocabulary (``None``), 0.5/(…) + 0.25 for A–D (4)."""
    if options not in OPTIONS:
        raise ValueError(f"options {options!r} must be None (full vocabulary) or 4 (A–D)")
    return _full if options is None else _four
