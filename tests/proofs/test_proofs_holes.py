"""The checker has no holes: the false "∀x∈ℝ: x ≥ 1" proofs are rejected, and mutated
theory statements (dropped δ, α with 2Q, γ×1.01, missing max(0, ·)) are not concluded."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

import theory
from proofs import all_proofs
from proofs.expectation import centred_iid_moments
from proofs.framework import Decided, Def, Eq, From, Hyp, Ineq, Proof, Reparam
from proofs.registry import TARGETS
from proofs.spread import DELTA_OWN
from proofs.statements import check_target, same_expr
from theory._common import Statement
from theory.symbols import P_0, Q, alpha, r_e

x = sp.Symbol("x", real=True)
y = sp.Symbol("y", real=True)
GOAL = Hyp("goal", x, ">=", 1)


def _verify(steps: list, concludes: str = "c") -> bool:  # type: ignore[type-arg]
    return Proof("x >= 1", "Lemma", "false", steps, conclusion=GOAL, concludes=concludes).verify()


def test_false_proof_by_unchecked_reparam_is_rejected() -> None:
    eq = Eq(x, 1 + y**2, "x = 1 + y^2", reparam={x: 1 + y**2}, label="e")
    assert not _verify([eq, Ineq(x, ">=", 1, From(["e"]), label="c")])


def test_false_proof_by_noncovering_change_of_variables_is_rejected() -> None:
    steps = [Reparam(x, 1 + y**2, "x = 1 + y^2"), Ineq(x, ">=", 1, Decided(), label="c")]
    assert not _verify(steps)
    # A covering change of variables is accepted (the check is not vacuous).
    t = sp.Symbol("t", positive=True)
    p = Proof("log", "Lemma", "", [Reparam(x, sp.log(t), "x = log t"),
                                   Ineq(sp.exp(x), ">=", 0, Decided(), label="c")],
              conclusion=Hyp("c", sp.exp(x), ">=", 0), concludes="c")
    assert p.verify()


def test_false_proof_by_redefining_a_quantified_symbol_is_rejected() -> None:
    assert not _verify([Def(x, sp.Integer(1)), Ineq(x, ">=", 1, Decided(), label="c")])


def by_name(name: str) -> Proof:
    return next(p for p in all_proofs() if p.name == name)


def target(module: str, attr: str):  # type: ignore[no-untyped-def]
    return next(t for t in TARGETS if t.module == module and t.attr == attr)


@pytest.mark.parametrize(("module", "attr"), [
    ("alignment", "THEOREM"), ("alignment", "GUARANTEE"), ("alignment", "bound"),
    ("helpfulness", "THEOREM"), ("helpfulness", "alpha_def"), ("tradeoff", "THEOREM"),
    ("helpfulness", "full_bound"), ("helpfulness", "THEOREM_PRIME"),
])
def test_originals_concluded(module: str, attr: str) -> None:
    assert check_target(target(module, attr), all_proofs()) == "concluded"


def test_dropped_delta_in_full_bound_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    proof = by_name("Theorem 2' (full bound)")
    original = theory.helpfulness.full_bound
    assert proof.conclusion is not None and same_expr(proof.conclusion.rhs, original)
    mutated = original - theory.helpfulness.delta_expr
    assert not same_expr(proof.conclusion.rhs, mutated)
    monkeypatch.setattr(theory.helpfulness, "full_bound", mutated)
    assert check_target(target("helpfulness", "full_bound"), all_proofs()).startswith(
        "conclusion's right side")
    # Claiming the bound without delta inside the proof fails the final step.
    steps = [dataclasses.replace(st, rhs=st.rhs - DELTA_OWN)  # type: ignore[type-var,attr-defined]
             if getattr(st, "label", None) == "bound" else st for st in proof.steps]
    assert not dataclasses.replace(proof, steps=steps, _cache=None, _ok=None).verify()


def test_gamma_times_1_01_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    from theory.alignment import B_r
    from theory.symbols import gamma

    mutated = theory.alignment.bound.subs(gamma, gamma * sp.Rational(101, 100))
    monkeypatch.setattr(theory.alignment, "bound", mutated)
    monkeypatch.setattr(theory.alignment, "THEOREM",
                        Statement("Theorem 1", sp.Ge(B_r, mutated), "mutant"))
    proofs = all_proofs()
    assert check_target(target("alignment", "bound"), proofs) != "concluded"
    assert check_target(target("alignment", "THEOREM"), proofs) != "concluded"


def test_missing_max_in_guarantee_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    threshold = theory.alignment.guarantee_coefficient.args[1]  # Max(0, t) -> t
    assert isinstance(theory.alignment.guarantee_coefficient, sp.Max)
    monkeypatch.setattr(theory.alignment, "GUARANTEE",
                        Statement("Guarantee", sp.Ge(r_e, threshold), "mutant"))
    assert check_target(target("alignment", "GUARANTEE"), all_proofs()) != "concluded"
    # And the proof itself does not go through without the max: r_e >= 0 is not derivable.
    proof = by_name("Corollary (guarantee)")
    hyps = [h if h.label != "enough" else Hyp("enough", r_e, ">=", threshold)
            for h in proof.hypotheses]
    assert not dataclasses.replace(proof, hypotheses=hyps, _cache=None, _ok=None).verify()


def test_alpha_with_2q_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(theory.helpfulness, "alpha_def", P_0 * (1 - P_0) - 2 * Q)
    assert check_target(target("helpfulness", "alpha_def"), all_proofs()) != "concluded"
    # The proof with that alpha and consistently doubled second moments fails as well.
    proof = by_name("Theorem 2 (i.i.d., symbolic K)")
    defs = dict(proof.defs)
    defs[alpha] = P_0 * (1 - P_0) - 2 * Q
    s2 = sp.sqrt(2) * theory.symbols.lam * theory.symbols.sigma * theory.symbols.beta
    steps = [dataclasses.replace(st, moments=centred_iid_moments(s2))  # type: ignore[type-var]
             if getattr(st, "label", None) == "e2" else st for st in proof.steps]
    mutated = dataclasses.replace(proof, defs=defs, steps=steps, _cache=None, _ok=None)
    assert not mutated.verify()


@pytest.mark.parametrize("factor", [0, 3, -1])
def test_scaled_alpha_in_theorem2_is_rejected(factor: int) -> None:
    proof = by_name("Theorem 2 (i.i.d., symbolic K)")
    steps = [dataclasses.replace(st, value=factor * st.value)  # type: ignore[attr-defined,type-var]
             if getattr(st, "label", None) == "e2" else st for st in proof.steps]
    assert not dataclasses.replace(proof, steps=steps, _cache=None, _ok=None).verify()


def test_skewed_third_moment_breaks_the_order_four_claim() -> None:
    proof = by_name("Theorem 2 (i.i.d., symbolic K)")
    base = centred_iid_moments(sp.Symbol("s", positive=True))
    k3 = sp.Symbol("k_3", positive=True)

    def skewed(idx):  # type: ignore[no-untyped-def]
        if len(idx) == 3:
            return k3 * sp.KroneckerDelta(idx[0], idx[1]) * sp.KroneckerDelta(idx[1], idx[2])
        return base(idx)

    steps = [dataclasses.replace(st, moments=skewed)  # type: ignore[type-var]
             if getattr(st, "label", None) == "e3" else st for st in proof.steps]
    assert not dataclasses.replace(proof, steps=steps, _cache=None, _ok=None).verify()
