"""The steering planner on tiny random Llamas: candidates, reverse-mode shifts vs the JVP,
predictions, verification sweeps, rendering."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from empirics import plan, plan_report
from empirics.jvp import delta_jvp
from empirics.reading_vectors import random_directions
from empirics.tasks import ScoredPrompt
from tests.empirics.test_sweep import tiny_llama


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


def test_gain_slope_matches_finite_difference_of_gain_curve() -> None:
    lm = tiny_llama(layers=3)
    vec = random_directions(range(3), lm.hidden_size, 5)
    b, h = _prompts(4, 2, behavior=True), _prompts(4, 3, behavior=False)
    sb, sh = plan.layer_shifts(lm, b, vec), plan.layer_shifts(lm, h, vec)
    t = plan.candidate_terms(lm, plan.Candidate((0, 1)), vec, b, h, sb, sh, n_lambda=2)
    eps = 1e-5
    fd = (plan.gain_curves(t, np.array([eps]))[:, 0] - plan.gain_curves(t, np.array([-eps]))[:, 0]) / (2 * eps)
    np.testing.assert_allclose(t.slope, fd, rtol=1e-5, atol=1e-8)
    assert t.jvp_check < 1e-3 and t.lam.shape == (2,) and np.all(np.isfinite(t.c2_random))


def test_optimum_of_known_quadratic() -> None:
    r = np.linspace(0, 10, 100001)
    # U = 2r − κ(ℓ₂ r²) with gain exactly linear: r* = g/(2κℓ₂) = 2/(2·1·0.5) = 2, U* = 2
    rs, us = plan._optimum(2 * r, 0.0, 0.5, 1.0, r)
    assert rs == pytest.approx(2.0, abs=1e-3) and us == pytest.approx(2.0, abs=1e-6)
    # a first-order helpfulness gain c1 adds to the slope: (2 + 1)/(2·0.5) = 3
    assert plan._optimum(2 * r, 1.0, 0.5, 1.0, r)[0] == pytest.approx(3.0, abs=1e-3)
    # no gain: r* = 0
    assert plan._optimum(-r, 0.0, 0.5, 1.0, r) == (0.0, 0.0)


def test_verification_set_spreads() -> None:
    preds = list(range(20))
    chosen = plan.verification_set(preds, 3)  # type: ignore[arg-type]
    assert chosen[:3] == [0, 1, 2] and len(chosen) == 6 and chosen[-1] == 19
    assert len(set(chosen)) == 6
    with pytest.raises(ValueError, match="K"):
        plan.verification_set(preds, 0)  # type: ignore[arg-type]


def test_plan_and_verify_end_to_end_tiny(tmp_path: Path) -> None:
    """Plan and verify on a tiny model; outputs are written and loadable."""
    import json

    import pandas as pd

    lm = tiny_llama(layers=6)
    vec = random_directions(range(6), lm.hidden_size, 9)
    b, h = _prompts(4, 4, behavior=True), _prompts(4, 5, behavior=False)
    s = plan.PlanSettings(behaviors=("bias",), n_behavior=4, n_help=4, n_lambda=1, verify=2,
                          n_boot=50, progress=False)
    cands = plan.candidates(6, widths=(1, 2, 3), per_width=3)
    sb, sh = plan.layer_shifts(lm, b, vec), plan.layer_shifts(lm, h, vec)
    preds = [plan.predict(c, plan.candidate_terms(lm, c, vec, b, h, sb, sh, 1), 1.0, n_boot=50)
             for c in cands]
    ranked = plan.rank(preds)
    assert [p.rank for p in ranked] == list(range(1, len(cands) + 1))
    assert all(ranked[i].utility.value >= ranked[i + 1].utility.value for i in range(len(ranked) - 1))
    bp = plan.BehaviorPlan("bias", ranked, 0.0, 1.0, 0.5, 0.5, 4, 4, dict(vec))
    plan.verify_behavior(lm, bp, vec, b, h, s, len(cands))
    assert len(bp.measured) == 4 and bp.agreement is not None and bp.cost_ratio is not None
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
    with pytest.raises(ValueError, match="no behavior"):
        plan.pick_layers(f"plan:{tmp_path}", "m", "harmfulness", 30)
    with pytest.raises(ValueError, match="layer model"):
        plan.pick_layers(f"plan:{tmp_path}", "m", "bias", 12)
    with pytest.raises(ValueError, match="run `python -m empirics.plan`"):
        plan.pick_layers(f"plan:{tmp_path / 'nope'}", "m", "bias", 30)
