"""The steering planner on tiny random Llamas: candidates, reverse-mode shifts vs the JVP,
predictions, verification sweeps, rendering."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from empirics import formulas, plan
from empirics.jvp import delta2_jvp, delta_jvp
from empirics.models import LoadedModel
from empirics.plan import predictions as plan_predict
from empirics.plan import report as plan_report
from empirics.plan import response as plan_response
from empirics.plan import runner as plan_run
from empirics.plan import verify as plan_verify
from empirics.reading_vectors import random_directions
from empirics.tasks import ScoredPrompt
from tests.empirics.tiny import tiny_llama


def _prompts(n: int, seed: int, *, behavior: bool) -> list[ScoredPrompt]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ids = tuple(int(x) for x in rng.integers(1, 97, size=int(rng.integers(5, 12))))
        if behavior:
            out.append(ScoredPrompt("", ids, (3, 7), "b", f"b:{i}", scores=(1, -1)))
        else:
            k = int(rng.integers(2, 5))
            cands = tuple(int(x) for x in rng.choice(np.arange(10, 90), size=k, replace=False))
            out.append(ScoredPrompt("", ids, cands, "h", f"h:{i}", correct=int(rng.integers(0, k))))
    return out


def test_candidates_cover_depth() -> None:
    c = plan.candidates(30)
    assert len(c) >= 12
    assert len({x.layers for x in c}) == len(c)
    assert {x.width for x in c} >= {1, 3, 6, 10}
    assert min(x.layers[0] for x in c) == 0 and max(x.layers[-1] for x in c) == 29
    for x in c:
        assert list(x.layers) == list(range(x.layers[0], x.layers[-1] + 1))
    assert len(plan.candidates(4)) >= 4
    with pytest.raises(ValueError, match="width"):
        plan.candidates(4, widths=[5])
    with pytest.raises(ValueError, match="num_layers"):
        plan.candidates(0)


def test_reverse_mode_shifts_equal_jvp_for_windows() -> None:
    """Proposition 1's additivity + reverse mode: Σ_l G[l] equals <u_a, Δ_W> from delta_jvp."""
    lm = tiny_llama(layers=5)
    vec = random_directions(range(5), lm.hidden_size, 3)
    prompts = _prompts(3, 1, behavior=False)
    shifts = plan.layer_shifts(lm, prompts, vec, batch_size=2)
    checked = 0
    for cand in (plan.Candidate((1,)), plan.Candidate((1, 2, 3)), plan.Candidate((0, 1, 2, 3, 4))):
        for i, p in enumerate(prompts):
            _, d = delta_jvp(lm, {layer: vec[layer] for layer in cand.layers}, [list(p.input_ids)])
            g = (lm.unembedding_rows(list(p.candidate_ids)).double() @ d[0].double()).numpy()
            np.testing.assert_allclose(shifts.window(i, cand), g, rtol=1e-4, atol=1e-5)
            checked += 1
            # mutation: a window one layer off gives different shifts
            if cand.layers[-1] < 4:
                off = plan.Candidate(tuple(x + 1 for x in cand.layers))
                assert not np.allclose(shifts.window(i, off), g, rtol=1e-4, atol=1e-5)
    assert checked == 9
    # the unsteered logits are the model's own
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([list(prompts[0].input_ids)])).logits[0, -1]
    np.testing.assert_allclose(shifts.z[0], logits[list(prompts[0].candidate_ids)].double().numpy(),
                               rtol=1e-4, atol=1e-5)
    # the model's parameters keep their requires_grad flags
    assert all(not p.requires_grad for p in lm.model.parameters())


def _terms(lm: LoadedModel, vec: dict[int, torch.Tensor], cand: plan.Candidate,
           b: list[ScoredPrompt], h: list[ScoredPrompt], n_check: int = 0) -> plan.CandidateTerms:
    sb = plan.layer_shifts(lm, b, vec)
    h0 = plan_response.unsteered_hidden(lm, vec, h)
    return plan.candidate_terms(lm, cand, vec, b, h, sb, h0, n_check)


def test_gain_slope_matches_finite_difference_of_gain_curve() -> None:
    lm = tiny_llama(layers=3)
    vec = random_directions(range(3), lm.hidden_size, 5)
    b, h = _prompts(4, 2, behavior=True), _prompts(4, 3, behavior=False)
    t = _terms(lm, vec, plan.Candidate((0, 1)), b, h, n_check=2)
    eps = 1e-5
    fd = (plan_predict.gain_curves(t, np.array([eps]))[:, 0] - plan_predict.gain_curves(t, np.array([-eps]))[:, 0]) / (2 * eps)
    np.testing.assert_allclose(t.slope, fd, rtol=1e-5, atol=1e-8)
    # JVP vs reverse mode (exact) and vs central differences at s·h = 0.05 (O(h²): the tiny
    # model is very nonlinear at that scale)
    assert t.jvp_check < 0.2 and t.lam.shape == (4,)
    assert np.all(np.isfinite(t.c2_random)) and np.all(np.isfinite(t.c2_response))
    # the response form adds ½∇ᵀΔ₂ to the actual-Δ curvature: not the same numbers
    assert not np.allclose(t.c2_response, t.c2)
    # without JVP checks the check is absent, the rest unchanged
    t0 = _terms(lm, vec, plan.Candidate((0, 1)), b, h, n_check=0)
    assert math.isnan(t0.jvp_check)
    np.testing.assert_array_equal(t0.c2_response, t.c2_response)
    # the softmax loss curve starts at 0 with slope −c1 and curvature −c2_response
    r = np.array([-1e-3, 0.0, 1e-3])
    loss = plan_predict.softmax_loss_curves(t, r)
    np.testing.assert_allclose(loss[:, 1], 0.0, atol=1e-15)
    np.testing.assert_allclose((loss[:, 2] - loss[:, 0]) / 2e-3, -t.c1, rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose((loss[:, 2] + loss[:, 0]) / 2e-6, -t.c2_response, rtol=1e-3,
                               atol=1e-7)


def test_optimum_of_known_quadratic() -> None:
    r = np.linspace(0, 10, 100001)
    # U = 2r − κ(ℓ₂ r²) with gain exactly linear: r* = g/(2κℓ₂) = 2/(2·1·0.5) = 2, U* = 2
    rs, us = plan_predict.optimum_on_grid(2 * r, 0.0, 0.5, 1.0, r)
    assert rs == pytest.approx(2.0, abs=1e-3) and us == pytest.approx(2.0, abs=1e-6)
    # a first-order helpfulness gain c1 adds to the slope: (2 + 1)/(2·0.5) = 3
    assert plan_predict.optimum_on_grid(2 * r, 1.0, 0.5, 1.0, r)[0] == pytest.approx(3.0, abs=1e-3)
    # no gain: r* = 0
    assert plan_predict.optimum_on_grid(-r, 0.0, 0.5, 1.0, r) == (0.0, 0.0)


def test_verification_set_spreads() -> None:
    preds = list(range(20))
    chosen = plan_verify.verification_set(preds, 3)  # type: ignore[arg-type]
    assert chosen[:3] == [0, 1, 2] and len(chosen) == 6 and chosen[-1] == 19
    assert len(set(chosen)) == 6
    with pytest.raises(ValueError, match="K"):
        plan_verify.verification_set(preds, 0)  # type: ignore[arg-type]


def test_plan_and_verify_end_to_end_tiny(tmp_path: Path) -> None:
    """Plan and verify on a tiny model; outputs are written and loadable."""
    import json

    import pandas as pd

    lm = tiny_llama(layers=6)
    vec = random_directions(range(6), lm.hidden_size, 9)
    b, h = _prompts(4, 4, behavior=True), _prompts(4, 5, behavior=False)
    s = plan.PlanSettings(behaviors=("bias",), n_behavior=4, n_help=4, n_check=1, verify=2,
                          n_boot=50, progress=False)
    cands = plan.candidates(6, widths=(1, 2, 3), per_width=3)
    sb, h0 = plan.layer_shifts(lm, b, vec), plan_response.unsteered_hidden(lm, vec, h)
    preds = [plan.predict(c, plan.candidate_terms(lm, c, vec, b, h, sb, h0, 1), 1.0, n_boot=50)
             for c in cands]
    with pytest.raises(ValueError, match="loss form"):
        plan.predict(cands[0], plan.candidate_terms(lm, cands[0], vec, b, h, sb, h0), 1.0,
                     loss="cubic")
    t0 = plan.candidate_terms(lm, cands[0], vec, b, h, sb, h0)
    soft = plan.predict(cands[0], t0, 1.0, loss="softmax", n_boot=20)
    assert soft.utility.value == pytest.approx(soft.utility_softmax)
    quad = plan.predict(cands[0], t0, 1.0, loss="quadratic", n_boot=20)
    assert quad.utility.value == pytest.approx(quad.utilities.response)
    rnd = plan.predict(cands[0], t0, 1.0, loss="quadratic", curvature="random", n_boot=20)
    assert rnd.utility.value == pytest.approx(rnd.utilities.random)
    with pytest.raises(ValueError, match="softmax loss"):
        plan.predict(cands[0], t0, 1.0, loss="softmax", curvature="random")
    ranked = plan.rank(preds)
    assert [p.rank for p in ranked] == list(range(1, len(cands) + 1))
    assert all(ranked[i].utility.value >= ranked[i + 1].utility.value for i in range(len(ranked) - 1))
    bp = plan.BehaviorPlan("bias", ranked, 0.0, 1.0, 0.5, 0.5, 0.25, 4, 4, dict(vec))
    plan_run.verify_behavior(lm, bp, vec, b, h, s, len(cands))
    assert len(bp.measured) == 4 and bp.agreement is not None and bp.cost_ratio is not None
    # sweeping all: the measured sweeps extrapolated by each candidate's multiply-adds
    assert bp.sweep_all_seconds is not None and bp.sweep_all_seconds > 0
    assert bp.cost_ratio_mean is not None and bp.sweep_cost_fit is not None
    assert math.isfinite(bp.sweep_cost_fit)
    assert bp.cost_ratio_cpu is None  # this BehaviorPlan was built without a planning CPU time
    for m in bp.measured:
        assert math.isfinite(m.utility.value) and m.utility.value >= 0
    res = plan.PlanResult("tiny", 6, s, cands, [bp])
    paths = plan_report.write(res, tmp_path)
    assert all(p.is_file() for p in paths)
    df = pd.read_csv(paths[1])
    assert len(df) == len(cands) and df["verified"].sum() == 4
    d = json.loads(paths[0].read_text())
    assert d["behaviors"]["bias"]["pick"]["name"] == ranked[0].candidate.name
    line = plan_report.summary_line(bp)
    assert line.startswith("plan: spearman_u=") and "pick_vs_best=" in line and "cost_ratio=" in line


def test_cli_bad_input() -> None:
    assert plan.main(["--behaviors", "nonsense"]) == 2
    assert plan.main(["--n-prompts", "1"]) == 2


def test_pick_layers_reads_plan(tmp_path: Path) -> None:
    import json

    (tmp_path / "plan.json").write_text(json.dumps(
        {"num_layers": 30, "behaviors": {"bias": {"pick": {"layers": [15, 16, 17]}}}}))
    assert plan.pick_layers(f"plan:{tmp_path}", "m", "bias", 30) == [15, 16, 17]
    link = plan.plan_pick(f"plan:{tmp_path}", "m", "bias", 30)
    assert link.path == str((tmp_path / "plan.json").resolve()) and link.name == "15-17"
    assert link.r_star is None and link.layers == (15, 16, 17) and link.behavior == "bias"
    (tmp_path / "p2.json").write_text(json.dumps({"num_layers": 30, "behaviors": {"bias": {
        "pick": {"layers": [4], "name": "4", "r_star": 12.5}}}}))
    assert plan.plan_pick(f"plan:{tmp_path / 'p2.json'}", "m", "bias", 30).r_star == 12.5
    with pytest.raises(ValueError, match="no behavior"):
        plan.pick_layers(f"plan:{tmp_path}", "m", "harmfulness", 30)
    with pytest.raises(ValueError, match="layer model"):
        plan.pick_layers(f"plan:{tmp_path}", "m", "bias", 12)
    with pytest.raises(ValueError, match="run `python -m empirics.plan`"):
        plan.pick_layers(f"plan:{tmp_path / 'nope'}", "m", "bias", 30)


# ----------------------------------------------------------- second-order response (Δ₂)
@settings(max_examples=60, deadline=None)
@given(k=st.integers(2, 5), seed=st.integers(0, 10_000))
def test_response_coefficients_match_exact_quadratic_logit_path(k: int, seed: int) -> None:
    """For logits exactly z0 + r g + (r²/2) g2, (c1, c2) are the Taylor coefficients of
    softmax_c(z(r)), here by float64 finite differences of the exact curve."""
    rng = np.random.default_rng(seed)
    z0, g, g2 = rng.normal(size=k), rng.normal(size=k), rng.normal(size=k) * 2
    c = int(rng.integers(0, k))

    def pc(r: float) -> float:
        z = z0 + r * g + 0.5 * r * r * g2
        e = np.exp(z - z.max())
        return float(e[c] / e.sum())

    def diffs(h: float) -> tuple[float, float]:
        return (pc(h) - pc(-h)) / (2 * h), (pc(h) - 2 * pc(0) + pc(-h)) / (2 * h * h)

    # Richardson: O(h⁴) error; d2 is the r² coefficient P''/2
    (a1, a2), (b1, b2) = diffs(2e-3), diffs(1e-3)
    d1, d2 = (4 * b1 - a1) / 3, (4 * b2 - a2) / 3
    p = np.exp(z0 - z0.max())
    p /= p.sum()
    c1, c2 = formulas.response_coefficients(p, c, g, g2)
    assert c1 == pytest.approx(d1, abs=1e-6)
    assert c2 == pytest.approx(d2, abs=1e-5)
    # without the response term only the actual-Δ part remains; it differs where ∇ᵀg2 ≠ 0
    c2_actual = formulas.actual_coefficients(p, c, g)[1]
    grad_g2 = formulas.actual_coefficients(p, c, g2)[0]
    if abs(grad_g2) > 1e-3:
        assert c2_actual != pytest.approx(d2, abs=1e-5)
    # a common offset of the second-order shifts (log-probs instead of logits) changes nothing
    assert formulas.response_coefficients(p, c, g, g2 + 3.0)[1] == pytest.approx(c2, abs=1e-12)


def _derivatives_ad(lm: LoadedModel, vectors: dict[int, torch.Tensor],
                    ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(h'(0), h''(0)) of the final-norm output at the last position by nested forward-mode
    JVPs through the Hugging Face forward (``jvp.delta2_jvp(method="reference")``): an
    independent route to the planner's differences of sweep values."""
    _, d1, d2 = delta2_jvp(lm, vectors, [ids], method="reference")
    return d1[0].double().numpy(), d2[0].double().numpy()


def test_second_response_matches_ad() -> None:
    """Central differences of the sweep's final hidden states at ±h vs h'(0), h''(0) from JVPs,
    on a tiny random Llama in float64."""
    lm = tiny_llama(layers=4)
    lm.model.double()
    vec = {k: v.double() for k, v in random_directions(range(4), lm.hidden_size, 7).items()}
    prompts = _prompts(3, 11, behavior=False)
    sub = {layer: vec[layer] for layer in (1, 2)}
    h0 = plan_response.unsteered_hidden(lm, vec, prompts)
    # The sweep keeps hidden states in float32: h = 0.1 balances rounding/h² and O(h²) error.
    resp = plan_response.second_response(lm, sub, prompts, 0.1, h0, batch_size=4)
    for i, p in enumerate(prompts):
        h1, h2 = _derivatives_ad(lm, sub, list(p.input_ids))
        top = np.abs(h2).max()
        assert top > 1e-3 * np.abs(h1).max()      # the model is nonlinear: a real check
        assert np.abs(resp.delta2[i] - h2).max() <= 0.03 * top
        assert np.abs(resp.delta[i] - h1).max() <= 1e-3 * np.abs(h1).max()
        # mutation: the first difference is not the second
        assert not np.allclose(resp.delta[i], h2, rtol=1e-2)
    # the cached layer inputs (one unsteered pass, each candidate from its first steered layer
    # up) give the same differences as running every layer
    lower = plan_response.help_inputs(lm, prompts, batch_size=4)
    assert lower is not None
    h0c = plan_response.unsteered_hidden(lm, vec, prompts, lower=lower)
    np.testing.assert_allclose(h0c, h0, rtol=0, atol=1e-6)
    cached = plan_response.second_response(lm, sub, prompts, 0.1, h0c, batch_size=4, lower=lower)
    np.testing.assert_allclose(cached.delta, resp.delta, rtol=0, atol=1e-5)
    np.testing.assert_allclose(cached.delta2, resp.delta2, rtol=0, atol=1e-3 * np.abs(resp.delta2).max())
    # mutation: a cache of other prompts is refused, not silently used
    with pytest.raises(ValueError, match="other prompts"):
        plan_response.second_response(lm, sub, prompts[:2], 0.1, h0[:2], lower=lower)
    with pytest.raises(ValueError, match="step"):
        plan_response.second_response(lm, sub, prompts, 0.0, h0)
    with pytest.raises(ValueError, match="h0 has shape"):
        plan_response.second_response(lm, sub, prompts, 1e-3, h0[:2])


def test_response_step_scales_with_shift_spread() -> None:
    lm = tiny_llama(layers=3)
    vec = random_directions(range(3), lm.hidden_size, 5)
    b = _prompts(4, 3, behavior=True)
    sb = plan.layer_shifts(lm, b, vec)
    norms = [np.linalg.norm(lm.unembedding_rows(list(p.candidate_ids)).numpy(), axis=1) for p in b]
    cand = plan.Candidate((0, 1))
    s = np.mean([plan_response.shift_scale(sb.window(i, cand), n) for i, n in enumerate(norms)])
    assert plan_response.response_step(sb, cand, norms) == pytest.approx(plan_response.RESPONSE_STEP / s)
    zero = plan.LayerShifts(sb.layers, sb.z, [g * 0 for g in sb.G])
    with pytest.raises(ValueError, match="zero shift scale"):
        plan_response.response_step(zero, cand, norms)


def test_lambdified_formulas_follow_a_changed_theory(monkeypatch: pytest.MonkeyPatch) -> None:
    """formulas lambdifies theory expressions once (a cache): patching the theory object must
    still change the numbers, so the cache is keyed by the expression, not the call site."""
    import theory
    from empirics import formulas

    r = np.linspace(0.0, 2.0, 5)
    before = formulas.general_utility(0.3, 0.05, 1.0, r)
    np.testing.assert_allclose(before, 0.3 * r - 0.05 * r * r)
    monkeypatch.setattr(theory.tradeoff, "general_utility", 2 * theory.tradeoff.general_utility)
    np.testing.assert_allclose(formulas.general_utility(0.3, 0.05, 1.0, r), 2 * before)
    slope = formulas.gain_slopes(np.array([0.5]), np.array([0.2]))
    monkeypatch.setattr(theory.alignment, "linear_gain", 3 * theory.alignment.linear_gain)
    np.testing.assert_allclose(formulas.gain_slopes(np.array([0.5]), np.array([0.2])), 3 * slope)
