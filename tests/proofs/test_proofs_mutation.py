"""Mutation tests: perturbing a step (a coefficient, a flipped inequality, a dropped term, a
wrong substitution) makes the checker fail, so the checker is not vacuous."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from proofs import all_proofs
from proofs.alignment import L
from proofs.framework import (
    ByLemma,
    Decided,
    Eq,
    From,
    Hyp,
    Ineq,
    Monotone,
    Proof,
    SeriesEq,
    Step,
)
from theory.symbols import B_0, P_0, gamma, lam, r_e

x = sp.Symbol("x", real=True)


def by_name(name: str) -> Proof:
    return next(p for p in all_proofs() if p.name == name)


def with_step(proof: Proof, index: int, step: Step) -> Proof:
    """A fresh, unchecked copy of ``proof`` with one step replaced."""
    steps = list(proof.steps)
    steps[index] = step
    return dataclasses.replace(proof, steps=steps, _cache=None, _ok=None)


def step_index(proof: Proof, label: str) -> int:
    return next(k for k, s in enumerate(proof.steps) if getattr(s, "label", None) == label)


def step_by_why(proof: Proof, prefix: str) -> int:
    return next(k for k, s in enumerate(proof.steps) if getattr(s, "why", "").startswith(prefix))


T2 = "Theorem 2 (i.i.d., symbolic K)"
P1 = "Proposition 1 (linear response of the last layer)"


def flip(rel: str) -> str:
    return "<=" if rel == ">=" else ">="


def test_originals_pass() -> None:
    for name in ["Lemma M (mediant, lower)", "Theorem 1 (r_e >= 0)", T2,
                 "Lemma S (symmetric sigmoid)", "Corollary (efficient regime)"]:
        assert by_name(name).verify()


def test_mediant_changed_coefficient_fails() -> None:
    proof = by_name("Lemma M (mediant, lower)")
    step = proof.steps[0]
    assert isinstance(step, Eq)
    m = sp.Symbol("m", real=True)
    mutated = with_step(proof, 0, dataclasses.replace(step, rhs=step.rhs.subs(m, 2 * m)))
    assert not mutated.verify()


@pytest.mark.parametrize("label", ["theorem", "ratio_p"])
def test_theorem1_flipped_inequality_fails(label: str) -> None:
    proof = by_name("Theorem 1 (r_e >= 0)")
    k = step_index(proof, label)
    step = proof.steps[k]
    assert isinstance(step, Ineq)
    mutated = with_step(proof, k, dataclasses.replace(step, rel=flip(step.rel)))
    assert not mutated.verify()


def test_theorem1_changed_margin_fails() -> None:
    proof = by_name("Theorem 1 (r_e >= 0)")
    k = step_index(proof, "log_ratio")
    step = proof.steps[k]
    assert isinstance(step, Ineq)
    mutated = with_step(proof, k, dataclasses.replace(step, rhs=L(0) / 2 + 2 * gamma * lam * r_e))
    assert not mutated.verify()


def test_linear_gain_dropped_term_fails() -> None:
    proof = by_name("Corollary (linear gain)")
    step = proof.steps[0]
    assert isinstance(step, SeriesEq)
    dropped = step.approx - step.approx.coeff(r_e, 2) * r_e**2
    assert not with_step(proof, 0, dataclasses.replace(step, approx=dropped)).verify()
    wrong = step.approx + lam * B_0 * r_e**2
    assert not with_step(proof, 0, dataclasses.replace(step, approx=wrong)).verify()


def test_symmetric_sigmoid_flipped_derivative_sign_fails() -> None:
    proof = by_name("Lemma S (symmetric sigmoid)")
    k = step_index(proof, "fp_sign")
    step = proof.steps[k]
    assert isinstance(step, Ineq)
    assert not with_step(proof, k, dataclasses.replace(step, rel=">=")).verify()


def test_proposition1_dropped_term_fails() -> None:
    proof = by_name(P1)
    k = step_by_why(proof, "depth 3")
    step = proof.steps[k]
    assert isinstance(step, Eq)
    v3 = sp.Matrix([sp.Symbol(f"v_3{j}", real=True) for j in (1, 2)])
    assert not with_step(proof, k, dataclasses.replace(step, rhs=step.rhs - v3)).verify()


def test_guarantee_wrong_threshold_fails() -> None:
    proof = by_name("Corollary (guarantee)")
    k = step_index(proof, "guarantee")
    step = proof.steps[k]
    assert isinstance(step, Ineq)
    assert not with_step(proof, k, dataclasses.replace(step, rhs=step.rhs + sp.Rational(1, 10)))\
        .verify()


# --- the rules themselves refuse what they cannot establish -------------------------------

def _single(step: Step, hyps: list[Hyp] | None = None) -> Proof:
    return Proof("probe", "Lemma", "probe", [step], hypotheses=hyps or [])


def test_undecidable_sign_is_not_passed() -> None:
    assert not _single(Ineq(x, ">=", 0, Decided())).verify()
    assert not _single(Ineq(sp.sin(x), "<=", sp.Rational(1, 2), Decided())).verify()


def test_numeric_agreement_is_not_a_proof() -> None:
    # Equal at many points but not identically equal.
    assert not _single(Eq(sp.sin(sp.pi * x) ** 2 * 0 + x, x + sp.sin(sp.pi * x) * 0 + 1e-30,
                          "almost")).verify()


def test_missing_premise_fails() -> None:
    assert not _single(Ineq(x, ">=", 0, From(["nope"]))).verify()


def test_negative_weight_on_inequality_fails() -> None:
    hyps = [Hyp("h", x, ">=", 1)]
    assert _single(Ineq(2 * x, ">=", 2, From(["h"], [2])), hyps).verify()
    assert not _single(Ineq(-2 * x, ">=", -2, From(["h"], [-2])), hyps).verify()


def test_monotone_with_wrong_direction_fails() -> None:
    hyps = [Hyp("h", x, ">=", 0)]
    good = Ineq(sp.exp(x), ">=", 1, Monotone(x, sp.exp(x), 0, x, order="h"))
    bad = Ineq(sp.exp(-x), ">=", 1, Monotone(x, sp.exp(-x), 0, x, order="h"))
    assert _single(good, hyps).verify()
    assert not _single(bad, hyps).verify()


def test_lemma_with_undischarged_hypothesis_fails() -> None:
    tangent = by_name("Lemma E (exp tangent line)")
    xs = sp.Symbol("x", real=True)
    ok = Ineq(sp.exp(P_0), ">=", 1 + P_0, ByLemma(tangent, {xs: P_0}))
    bad = Ineq(sp.exp(-P_0), ">=", 1 - P_0, ByLemma(tangent, {xs: -P_0}))
    assert _single(ok).verify()
    assert not _single(bad).verify()


def test_missing_conclusion_fails() -> None:
    proof = by_name("Lemma M (mediant, lower)")
    truncated = dataclasses.replace(proof, steps=proof.steps[:-1], _cache=None, _ok=None)
    assert not truncated.verify()
