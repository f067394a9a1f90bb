"""Claim rules that can fail, their calibration on synthetic truth, and the recommendation rule.

Every rule is a pure function from typed per-prompt arrays (``Curves`` ``(N, C)``,
``DirectionSweeps`` ``(k, N, C)``, per-prompt predictions ``(N,)``) to a ``ClaimVerdict`` —
``holds`` True / False / None, the rule in words, the numbers, and its ``Kind``: a
``CONSISTENCY`` check of the implementation or a ``CLAIM`` of the theory about the model.
``python -m empirics.calibrate`` gives each rule's false-fail rate and power (docs/claims.md).
"""

from empirics.claims.generation import Finding, ProxyBehavior, proxy_vs_behavior, sequence_curve
from empirics.claims.inputs import Curves, DirectionSweeps
from empirics.claims.random_forms import random_direction_form, spread_bound
from empirics.claims.recommend import (
    Decision,
    GridExtension,
    Measurements,
    Policy,
    Recommendation,
    SecondOrder,
    recommend,
    recommend_extending,
    second_order_inputs,
)
from empirics.claims.regime import efficient_regime
from empirics.claims.response import curvature_2r, first_order_consistency
from empirics.claims.stats import Resampling
from empirics.claims.theorem1 import departure, tanh_curve
from empirics.claims.verdict import ClaimVerdict, Kind

__all__ = [
    "ClaimVerdict", "Curves", "Decision", "DirectionSweeps", "Finding", "GridExtension", "Kind",
    "Measurements", "Policy", "ProxyBehavior", "Recommendation", "Resampling", "SecondOrder",
    "curvature_2r", "departure", "efficient_regime", "first_order_consistency",
    "proxy_vs_behavior", "random_direction_form", "recommend", "recommend_extending",
    "second_order_inputs", "sequence_curve", "spread_bound", "tanh_curve",
]
