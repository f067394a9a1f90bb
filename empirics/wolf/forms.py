"""The paper's fit forms as curves for the fitter: thin adapters over ``empirics.formulas``
(``paper_tanh``, ``paper_helpfulness``) through ``empirics.fits``' curves, which look them up at
call time so a patched theory object is what gets fitted. Nothing here writes a formula."""

from __future__ import annotations

from empirics.fits import helpfulness_four_curve, helpfulness_two_curve, tanh_curve
from empirics.wolf.boundfit import Curve

OPTIONS = (None, 4)

#: tanh(a x + b) (``formulas.paper_tanh``, through ``fits.tanh_curve``).
tanh_form = tanh_curve


def helpfulness_form(options: int | None) -> Curve:
    """1/(1 + a + a(b²/2)x²) for the full vocabulary (``None``), 0.5/(…) + 0.25 for A–D (4)."""
    if options not in OPTIONS:
        raise ValueError(f"options {options!r} must be None (full vocabulary) or 4 (A–D)")
    return helpfulness_two_curve if options is None else helpfulness_four_curve
