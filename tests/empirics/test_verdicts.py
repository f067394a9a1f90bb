"""The main job's verdicts (``empirics.verdicts``, rules from ``empirics.claims``) and the
Δ̂₂ estimates they read: each shown holding on data that satisfy it and failing on a wrong
input (the end-to-end checks on a synthetic world are in test_pipeline.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from empirics import formulas, report
from empirics import verdicts as V
from empirics.claims import Kind, Resampling
from empirics.estimates import PromptEstimates, prompt_estimates
from empirics.tasks import ScoredPrompt

GRID = np.array([-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0])
RS = Resampling(200, seed=0)
SCORES = np.array([1.0, -1.0])


def two_outcome_prompts(n: int, seed: int, grid: np.ndarray = GRID, w_factor: float = 1.0
                        ) -> tuple[list[PromptEstimates], np.ndarray]:
    """Two-outcome prompts whose B follows softmax(z + r g + (r²/2) w) exactly on ``grid``;
    the estimates are given ``w_factor`` × the true w (also used by test_claim_points)."""
    rng = np.random.default_rng(seed)
    est, rows = [], []
    for i in range(n):
        z = rng.normal(0, 0.5, 2)
        g = np.array([0.3, -0.2]) + rng.normal(0, 0.05, 2)
        w = np.array([0.08, -0.02]) + rng.normal(0, 0.01, 2)
        p = ScoredPrompt("t", (1,), (10, 11), "harmful", f"h{i}", scores=(1, -1))
        est.append(prompt_estimates(p, z, g, np.zeros(2), np.ones(2), 1.0, w=w_factor * w))
        rows.append(formulas.behavior_response_curve(z, g, SCORES, grid, w))
    return est, np.array(rows)


def test_c2_2r_is_the_curvature_of_the_second_order_path() -> None:
    est, b = two_outcome_prompts(1, 0)
    e = est[0]
    assert e.w is not None and e.c2_2r is not None
    h = 1e-3
    r = np.array([-h, 0.0, h])
    f = formulas.behavior_response_curve(e.z, e.g, SCORES, r, e.w)
    assert e.c2_2r == pytest.approx((f[0] - 2 * f[1] + f[2]) / (2 * h * h), rel=1e-4)
    assert e.w_a_minus_w_b == pytest.approx(e.w[0] - e.w[1])
    # without w (no Δ̂₂) there is no Theorem 2R coefficient; a w of the wrong shape is refused
    p = ScoredPrompt("t", (1,), (10, 11), "harmful", "x", scores=(1, -1))
    plain = prompt_estimates(p, e.z, e.g, np.zeros(2), np.ones(2), 1.0)
    assert plain.c2_2r is None and plain.w_a_minus_w_b is None
    with pytest.raises(ValueError, match="w of x"):
        prompt_estimates(p, e.z, e.g, np.zeros(2), np.ones(2), 1.0, w=np.zeros(3))


def test_c2_2r_on_helpfulness_prompts_uses_w() -> None:
    p = ScoredPrompt("t", (1,), (2, 3, 4), "knowledge", "k", correct=0)
    z, g, w = np.array([0.5, 0.0, -0.2]), np.array([0.1, -0.2, 0.05]), np.array([0.3, 0.0, -0.1])
    e = prompt_estimates(p, z, g, np.zeros(3), np.ones(3), 1.0, w=w)
    h = 1e-3
    f = formulas.helpfulness_response_curve(z, g, 0, np.array([-h, 0.0, h]), w)
    assert e.c2_2r == pytest.approx((f[0] - 2 * f[1] + f[2]) / (2 * h * h), rel=1e-4)
    assert e.w_a_minus_w_b is None


def test_theorem1_rules_either_way() -> None:
    est, b = two_outcome_prompts(8, 1)
    dep, curve = V.theorem1("B", GRID, b, est, RS)
    assert (dep.name, curve.name) == ("theorem1_departure", "theorem1_curve")
    assert dep.holds is True and dep.kind is Kind.CLAIM
    wrong, _ = two_outcome_prompts(8, 1, w_factor=2.0)     # the w gap off by ×2
    assert V.theorem1("B", GRID, b, wrong, RS)[0].holds is False
    # a single two-outcome prompt cannot be paired: undecided, with the reason
    few = V.theorem1("B", GRID, b[:1], est[:1], RS)
    assert [v.holds for v in few] == [None, None] and "fewer than 2" in few[0].summary
    # a prompt whose certified margin is ≤ 0 lies outside Theorem 1's hypothesis: left out
    # (and named in the subject), not fed to the bound
    bad = replace(est[0], gamma_lam=-0.01)
    rest = V.theorem1("B", GRID, b, [bad, *est[1:]], RS)
    assert rest[0].holds is True and "γ̂λ̂ > 0 (7 of 8 prompts)" in rest[0].subject


def test_texts_show_statistic_numbers_and_agreement() -> None:
    est, b = two_outcome_prompts(8, 1)
    dep = V.theorem1("B", GRID, b, est, RS)[0]
    ev = report.evidence_text(dep)
    assert ev.startswith("statistic ") and "band [0.8, 1.25]" in ev and "predicted departure" in ev
    assert "scale" in report.agreement_text(dep) and "of 8 prompts" in report.agreement_text(dep)
    line = report.console_line("harmfulness", dep)
    assert "theorem1_departure [B]: HOLDS" in line
