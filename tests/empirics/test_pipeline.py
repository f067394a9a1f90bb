"""The pipeline's stages on a synthetic linear-softmax world (no model): predictions on the
measured prompts, verdicts that follow the ground truth, and every formula from ``theory``
(patch a theory function, the results and the rendered report follow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import theory
from empirics import report
from empirics.results import BehaviorResults
from tests.empirics import synthetic


def _verdict(b: BehaviorResults, name: str, subject: str = "B") -> bool | None:
    """The verdict ``name`` on the subject starting with ``subject`` (B or P(correct))."""
    return next(v.holds for v in b.verdicts if v.name == name and v.subject.startswith(subject))


def _coef(rows: list, label_start: str):  # type: ignore[no-untyped-def]
    return next(c for c in rows if c.label.startswith(label_start))


def test_exact_linear_world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    res = synthetic.run(monkeypatch, tmp_path)
    b = res.behaviors[0]
    # every measured prompt got its JVP, and the note says so
    assert len(b.estimates) == 18 and "every measured prompt" in b.jvp_note
    # exact linear response: the linear-model curve IS the measurement
    lin = next(c for c in b.alignment_curves if c.label.startswith("linear model"))
    np.testing.assert_allclose(lin.y, b.groups["harmful"].curves.B.value, atol=1e-9)
    # two-outcome prompts: Theorem 1 is the equality case; the bound is the measured curve
    bound = next(c for c in b.alignment_curves if c.label.startswith("Thm 1"))
    np.testing.assert_allclose(bound.y, b.groups["harmful"].curves.B.value, atol=1e-9)
    # actual-Δ̂ helpfulness coefficients vs the local quadratic fit of the same prompts
    measured = _coef(b.helpfulness_coefficients, "measured")
    actual = _coef(b.helpfulness_coefficients, "Thm 2 actual")
    assert actual.c1.value == pytest.approx(measured.c1.value, rel=0.1, abs=1e-4)
    # consistency: the JVP's slope is the sweep's; Theorem 2R's curvature with w = UΔ̂₂ and the
    # parameter-free tanh hold on an exact world
    for subject in ("B", "P(correct)"):
        assert _verdict(b, "first_order_consistency", subject) is True
        assert _verdict(b, "curvature_2r", subject) is True
    assert _verdict(b, "theorem1_curve") is True
    # the coefficient tables carry Theorem 2R's row: the mean of the per-prompt c2_2r
    for rows, kind in ((b.alignment_coefficients, "behavior"),
                       (b.helpfulness_coefficients, "helpfulness")):
        c2 = _coef(rows, "Theorem 2R").c2.value
        group = [e.c2_2r for e in b.estimates if e.kind == kind and e.group != "harmless"]
        assert c2 == pytest.approx(np.mean(group))
    assert [v.kind.value for v in b.verdicts][:4] == ["consistency"] * 2 + ["claim"] * 2
    assert b.linear_response is not None and b.linear_response.linear_range == 4.0


def test_bent_world_breaks_linear_range(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    res = synthetic.run(monkeypatch, tmp_path, bend=30.0)
    b = res.behaviors[0]
    assert b.linear_response is not None and b.linear_response.linear_range < 4.0


def test_report_renders_results(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pandas as pd

    res = synthetic.run(monkeypatch, tmp_path)
    out = report.write(res, tmp_path)
    text = (tmp_path / "report.json").read_text()
    json.loads(text)   # written with allow_nan=False
    assert out["verdicts"] and {v["name"] for v in out["verdicts"]} == {
        "first_order_consistency", "curvature_2r", "theorem1_departure", "theorem1_curve",
        "efficient_regime", "theorem2_random_forms", "theorem2_prime"}
    assert {v["kind"] for v in out["verdicts"]} == {"consistency", "claim"}
    assert all(v["label"] in ("holds", "fails", "undecided") for v in out["verdicts"])
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# Steering tradeoff report")
    checks, claims = md.index("## Consistency checks"), md.index("## Claims")
    assert checks < md.index("| harmfulness | first_order_consistency |") < claims
    assert claims < md.index("| harmfulness | curvature_2r |")
    assert "scale 1" in md and "correlation" in md    # the per-prompt agreement is shown
    df = pd.read_csv(tmp_path / "sweep.csv")
    # 10 behavior prompts × 3 measures + 8 helpfulness prompts × 4 measures, per coefficient;
    # and each of the 8 random directions: 8 helpfulness prompts × 4 measures at 0, ±h, ±2h
    assert len(df) == (10 * 3 + 8 * 4) * len(synthetic.GRID) + 8 * 8 * 4 * 5
    assert set(df["direction"]) == {"harmfulness", *(f"random{j}" for j in range(8))}
    assert set(df["measure"]) >= {"B", "p_correct"}
    est = pd.read_csv(tmp_path / "estimates.csv")
    assert len(est) == 18 and est["c2_2r"].notna().all()
    assert est["w_a_minus_w_b"].notna().sum() == 10   # the two-outcome prompts
    for png in ("alignment_harmfulness.png", "helpfulness_harmfulness.png", "tradeoff.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
    # the output layer wrote the control vector and lists it
    [cv] = out["control_vectors"]
    assert cv["behavior"] == "harmfulness" and Path(cv["path"]).is_file()
    assert cv["recommended_coefficient"] == res.behaviors[0].recommendation.r
    # the report renders what it is given: change a field, the rendered text follows
    from dataclasses import replace
    b = res.behaviors[0]
    res.behaviors[0] = replace(b, recommendation=replace(b.recommendation, r=7.25))
    assert "at r = 7.25" in report.markdown(res, [])


def test_report_links_the_plan(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Layers from `--layers plan`: prepare's PlanLink reaches Results and the rendered report."""
    from dataclasses import replace

    from empirics import pipeline
    from empirics.results import PlanLink

    world = synthetic.make_world()
    synthetic.install(monkeypatch, world)
    prep = synthetic.prepared(world, tmp_path)
    plain = pipeline.run(prep)
    assert plain.plan is None and "steering plan" not in report.markdown(plain, [])
    link = PlanLink("runs/plan/x/plan.json", "harmfulness", (1,), "1", 42.5)
    res = pipeline.run(replace(prep, plan_link=link))
    assert res.plan == link
    md = report.markdown(res, [])
    assert "[runs/plan/x/plan.json](runs/plan/x/plan.json)" in md
    assert "harmfulness pick 1, planner's r* = 42.5" in md
    assert report.to_json(res)["plan"]["path"] == "runs/plan/x/plan.json"


# ------------------------------------------------------------------ every formula from theory
def test_theorem1_slope_follows_theory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = synthetic.run(monkeypatch, tmp_path / "a").behaviors[0]
    monkeypatch.setattr(theory.tradeoff, "gain", 2 * theory.tradeoff.gain)
    doubled = synthetic.run(monkeypatch, tmp_path / "b").behaviors[0]
    a = _coef(base.alignment_coefficients, "Theorem 1").c1.value
    b = _coef(doubled.alignment_coefficients, "Theorem 1").c1.value
    assert b == pytest.approx(2 * a)
    # and the fitted tanh's slope at 0 uses the same expression
    fa = next(f for f in base.fits if f.label.endswith("full grid") and f.slope_at_zero)
    fb = next(f for f in doubled.fits if f.label.endswith("full grid") and f.slope_at_zero)
    assert fa.slope_at_zero is not None and fb.slope_at_zero is not None
    assert fb.slope_at_zero == pytest.approx(2 * fa.slope_at_zero)


def test_bound_follows_theory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = theory.alignment.evaluate
    monkeypatch.setattr(theory.alignment, "evaluate",
                        lambda r, b0, g, lam: np.asarray(real(r, b0, g, lam)) + 0.5)
    b = synthetic.run(monkeypatch, tmp_path).behaviors[0]
    bound = next(c for c in b.alignment_curves if c.label.startswith("Thm 1"))
    np.testing.assert_allclose(bound.y, b.groups["harmful"].curves.B.value + 0.5, atol=1e-9)
    assert _verdict(b, "theorem1_curve") is False   # a wrong theorem is caught


def test_bent_world_claims_follow_the_truth(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """h = h0 + rΔ + r²W: Theorem 2R (with Δ₂ = 2W) and the departure hold; the
    parameter-free tanh is left on |r| ≤ 1 and fails. A JVP that drops Δ₂ never holds; one
    that doubles Δ or Δ₂ fails."""
    b = synthetic.run(monkeypatch, tmp_path / "a", bend=10.0).behaviors[0]
    assert _verdict(b, "curvature_2r", "B") is True
    assert _verdict(b, "curvature_2r", "P(correct)") is True
    assert _verdict(b, "theorem1_departure") is True
    assert _verdict(b, "theorem1_curve") is False
    est = [e for e in b.estimates if e.kind == "behavior"]
    assert all(e.c2_2r is not None and e.w_a_minus_w_b is not None for e in est)
    dropped = synthetic.run(monkeypatch, tmp_path / "b", bend=10.0,
                            jvp_factors=(1, 0)).behaviors[0]
    # without the path term the prediction does not track the prompts: never "holds" (its
    # scale straddles the band here, as in the calibration's "w dropped")
    assert _verdict(dropped, "curvature_2r", "B") is None
    assert _verdict(dropped, "curvature_2r", "P(correct)") is None
    doubled_w = synthetic.run(monkeypatch, tmp_path / "c", bend=10.0,
                              jvp_factors=(1, 2)).behaviors[0]
    for subject in ("B", "P(correct)"):
        assert _verdict(doubled_w, "curvature_2r", subject) is False
    assert _verdict(doubled_w, "theorem1_departure") is False
    doubled = synthetic.run(monkeypatch, tmp_path / "d", jvp_factors=(2, 1)).behaviors[0]
    assert _verdict(doubled, "first_order_consistency", "B") is False
    assert _verdict(doubled, "first_order_consistency", "P(correct)") is False


def test_curvature_2r_follows_theory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Theorem 2R's coefficients come from theory: doubling its c2 makes the claim fail."""
    for module, subject in ((theory.alignment, "B"), (theory.helpfulness, "P(correct)")):
        real = module.response_coefficients
        with monkeypatch.context() as m:
            m.setattr(module, "response_coefficients",
                      lambda *a, real=real: (real(*a)[0], 2 * np.asarray(real(*a)[1])))
            b = synthetic.run(m, tmp_path / subject, bend=10.0).behaviors[0]
        assert _verdict(b, "curvature_2r", subject) is False


def test_theorem2_forms_follow_theory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = synthetic.run(monkeypatch, tmp_path / "a").behaviors[0]
    so, rd, ex = (theory.helpfulness.second_order, theory.helpfulness.random_direction_second_order,
                  theory.helpfulness.expansion_value)
    patches = {
        "second_order": (lambda p, c, mean=None, cov=None: tuple(x + 1.0 for x in so(p, c, mean, cov)),
                         [("Thm 2 actual", "c1", 1.0), ("Thm 2 actual", "c2", 1.0)]),
        "random_direction_second_order": (lambda p, c, U, lam: rd(p, c, U, lam) - 3.0,
                                          [("Thm 2 random", "c2", -3.0)]),
        "expansion_value": (lambda P0, a, s, r: np.asarray(ex(P0, a, s, r)) - 5.0 * np.asarray(r) ** 2,
                            [("Thm 2 i.i.d. (pooled", "c2", -5.0), ("Thm 2 i.i.d. (σ", "c2", -5.0)]),
    }
    for k, (name, (fn, checks)) in enumerate(patches.items()):
        with monkeypatch.context() as m:
            m.setattr(theory.helpfulness, name, fn)
            new = synthetic.run(m, tmp_path / f"b{k}").behaviors[0]
        for label, part, shift in checks:
            a = getattr(_coef(base.helpfulness_coefficients, label), part).value
            b = getattr(_coef(new.helpfulness_coefficients, label), part).value
            assert b == pytest.approx(a + shift), (name, label, part)


def test_alpha_and_margin_follow_theory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(theory.helpfulness, "alpha", lambda p, c: 0.125)
    monkeypatch.setattr(theory.alignment, "margin", lambda g, pos: np.float64(0.0625))
    b = synthetic.run(monkeypatch, tmp_path).behaviors[0]
    assert {e.alpha_hat for e in b.estimates if e.kind == "helpfulness"} == {0.125}
    assert {e.gamma_lam for e in b.estimates if e.kind == "behavior"} == {0.0625}


def test_optimum_follows_theory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Theorem 2R's r* beside the measured argmax comes from theory, with Theorem 2R's means
    (c1 of Δ̂, c2 with w) as its inputs; it is reported, never the decision."""
    from theory.tradeoff import Tradeoff
    seen = []

    def patched(g1, l1, g2, l2, kappa, radius=None):  # type: ignore[no-untyped-def]
        seen.append((g1, l1, g2, l2, radius))
        return Tradeoff(1.5, 0.2, 3.0, "second-order", True, "patched")

    monkeypatch.setattr(theory.tradeoff, "general_response", patched)
    b = synthetic.run(monkeypatch, tmp_path).behaviors[0]
    rec = b.recommendation
    assert rec.second_order is not None and rec.second_order.r_star == 1.5
    assert rec.second_order_inside_radius is True and rec.r != 1.5
    est = [e for e in b.estimates if e.group == "harmful"]
    ctrl = [e for e in b.estimates if e.group == "harmless"]
    g2 = np.mean([e.c2_2r for e in est]) - np.mean([e.c2_2r for e in ctrl])
    assert seen[-1][2] == pytest.approx(g2) and seen[-1][4] == 4.0   # radius: linear range
    assert "r* = 1.5" in report.recommendation_line("harmfulness", 1.0, rec)


def test_random_direction_forms(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """k = 8 seeded random directions swept at 0, ±h, ±2h: Theorem 2's forms are not failed by
    the truth (k = 8 leaves them mostly undecided: docs/claims.md) and Theorem 2′ holds; a
    sign-flipped random-direction form and a bound at half its value fail."""
    from dataclasses import replace

    b = synthetic.run(monkeypatch, tmp_path / "a").behaviors[0]
    forms = [v for v in b.verdicts if v.name == "theorem2_random_forms"]
    assert [v.subject.split("(")[-1] for v in forms] == ["i.i.d. form)", "random direction form)"]
    assert all(v.holds is not False for v in forms)
    assert _verdict(b, "theorem2_prime", "P(correct)") is True
    assert "directions: 8" in report.evidence_text(forms[1])
    rd, sb = theory.helpfulness.random_direction_second_order, theory.helpfulness.theorem2_prime
    with monkeypatch.context() as m:
        m.setattr(theory.helpfulness, "random_direction_second_order", lambda *a: -rd(*a))
        m.setattr(theory.helpfulness, "theorem2_prime",
                  lambda *a: replace(sb(*a), bound=0.5 * np.asarray(sb(*a).bound)))
        wrong = synthetic.run(m, tmp_path / "b").behaviors[0]
    assert [v.holds for v in wrong.verdicts if v.name == "theorem2_random_forms"][1] is False
    assert _verdict(wrong, "theorem2_prime", "P(correct)") is False
    none = synthetic.run(monkeypatch, tmp_path / "c", random_directions=0).behaviors[0]
    assert not [v for v in none.verdicts if v.name.startswith("theorem2")]


def test_recommendation_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With the control group the specific gain decides (here: no U CI above 0, do not
    steer); on the target gain U is largest at the grid edge, so the job sweeps further
    coefficients itself and steers inside the extended grid."""
    spec = synthetic.run(monkeypatch, tmp_path / "a").behaviors[0].recommendation
    assert spec.decision.value == "do not steer" and spec.r == 0.0
    assert spec.over_refusal is not None and not spec.extensions
    target = synthetic.run(monkeypatch, tmp_path / "b", recommend_on="target").behaviors[0]
    rec = target.recommendation
    assert rec.over_refusal is None and len(rec.extensions) == 1
    assert rec.extensions[0].coefficients.tolist() == [5.0, 6.0, 7.0, 8.0]
    assert rec.decision.value == "steer" and rec.r == 7.0 and rec.utility.grid.max() == 8.0
    assert any("grid extended" in x for x in report.recommendation_md(rec, 1.0, 0.05))


# ------------------------------------------------------------------ the generation stage's input
def test_generation_reads_the_token_sweep(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With the token stage's sweep at hand, the next-token B of the generation prompts is its
    rows (no second sweep); without it, the prompts are swept at the generation coefficients."""
    from empirics import directions, pipeline
    from empirics.generation_stage import pick_coefficients

    world = synthetic.make_world()
    synthetic.install(monkeypatch, world)
    prep = synthetic.prepared(world, tmp_path)
    runs = pipeline.sweep_directions(prep)
    run = runs["harmfulness"]
    setup = prep.behavior("harmfulness")
    items = [q for q in setup.prompts if q.group == "harmful"][1:4]
    swept = directions.chunked_sweep
    calls: list[list[float]] = []

    def counted(*args, **kw):  # type: ignore[no-untyped-def]
        calls.append(list(args[2]))
        return swept(*args, **kw)

    monkeypatch.setattr(directions, "chunked_sweep", counted)
    tb = pipeline.next_token_b(prep, setup, items, run)
    assert calls == []   # the token stage's sweep, reused
    np.testing.assert_array_equal(tb.grid, run.grid)
    np.testing.assert_array_equal(tb.values, run.behavior("harmful").B[1:4])
    alone = pipeline.next_token_b(prep, setup, items, None)
    coefs = pick_coefficients(prep.settings.grid, prep.settings.generation.coefficients)
    assert calls == [coefs] and alone.grid.tolist() == coefs
    cols = [list(run.grid).index(c) for c in coefs]
    np.testing.assert_allclose(alone.values, tb.values[:, cols], atol=1e-12)


def test_recommendation_on_generated_behavior(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """With both measured, the recommendation rests on B_gen per prompt at the generation
    coefficients (the control group's next-token B beside it); it never extends the grid."""
    from types import SimpleNamespace

    from empirics import pipeline, recommend

    world = synthetic.make_world()
    synthetic.install(monkeypatch, world)
    prep = synthetic.prepared(world, tmp_path)
    run = pipeline.sweep_directions(prep)["harmfulness"]
    coefs = np.array([-4.0, 0.0, 4.0])
    rising = np.outer([-0.9, 0.0, 0.9], np.ones(6)) + 0.01 * np.arange(6)   # (C, N)
    gen: Any = SimpleNamespace(coefficients=coefs, per_prompt=rising)
    rec = recommend.generated(prep, run, gen, None)
    assert rec is not None and rec.source == "generated"
    assert rec.decision.value == "steer" and rec.r == 4.0
    assert rec.stopped_because.startswith("generated text is not extended")
    flat: Any = SimpleNamespace(coefficients=coefs, per_prompt=np.zeros((3, 6)) + 0.01 * np.arange(6))
    assert recommend.generated(prep, run, flat, None).decision.value == "do not steer"
    spec = recommend.generated(prep, run, gen, "harmless")
    assert spec is not None and "control group: next-token B" in spec.summary
    assert spec.over_refusal is not None
    undecided: Any = SimpleNamespace(coefficients=coefs, per_prompt=np.full((3, 6), np.nan))
    assert recommend.generated(prep, run, undecided, None) is None
