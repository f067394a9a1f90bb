"""THEORY v3 in ``proofs``: the holes a mutation audit found stay closed (each mutant kept here is
rejected), the v3 proofs fail on their mutants (w dropped, its ½ doubled, a flipped Hessian sign,
…), and ``python -m proofs`` exits non-zero on each hole."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

import theory
from proofs import all_proofs
from proofs.__main__ import main
from proofs.composition import proposition1_second
from proofs.corollary import corollary_loss, ratio_iid
from proofs.framework import Assumption, Eq, Hyp, Proof, SeriesEq, Step, Taylor
from proofs.helpfulness2 import E, softmax_c, theorem2_iid, x
from proofs.random_direction import sphere_lemma, theorem2_random
from proofs.readout import theorem2r_behavior, theorem2r_readout, theorem2r_softmax
from proofs.registry import TARGETS
from proofs.second_order import theorem1_second
from proofs.statements import check_target
from theory import Statement, alignment, helpfulness, response, tradeoff
from theory.symbols import B_0, a, b, curvatures, r_e

_t = sp.Symbol("t", real=True)


def by_name(name: str) -> Proof:
    return next(p for p in all_proofs() if p.name == name)


def target(module: str, attr: str):  # type: ignore[no-untyped-def]
    return next(t for t in TARGETS if t.module == module and t.attr == attr)


def fresh(proof: Proof, **changes: object) -> Proof:
    return dataclasses.replace(proof, _cache=None, _ok=None, **changes)  # type: ignore[arg-type]


def test_every_v3_statement_is_concluded() -> None:
    for st in theory.STATEMENTS:
        hits = [t for t in TARGETS if getattr(getattr(theory, t.module), t.attr) is st]
        assert hits, f"{st.name} has no target"
        assert all(check_target(t, all_proofs()) == "concluded" for t in hits), st.name


# ----------------------------------------------------------------- the audit's holes
def test_doubled_random_direction_c2_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    t = target("helpfulness", "random_direction_c2")
    assert check_target(t, all_proofs()) == "concluded"
    doubled = 2 * helpfulness.random_direction_c2
    monkeypatch.setattr(helpfulness, "random_direction_c2", doubled)
    assert check_target(t, all_proofs()) != "concluded"
    # and a proof built on the doubled object does not go through
    assert not theorem2_random(sphere_lemma()).verify()


def test_a_lower_order_expansion_cannot_be_claimed() -> None:
    """O(r³) for O(r⁴): an assumed O-fact is refused; a Taylor step of order 3 cannot conclude
    Theorem 2's O(r⁴), not even without the third-order term; a premise of order 3 cannot give
    a step of order 4."""
    proof = by_name("Theorem 2 (i.i.d., symbolic K)")
    claimed = Assumption("dominated convergence", "H = ... + O(r^4)", "claimed", label="dc",
                         expr=E(softmax_c(x, r_e)) - E(softmax_c(x, 0)), kind="o", var=r_e,
                         order=4)
    steps: list[Step] = [claimed if getattr(s, "label", None) == "dc" else s for s in proof.steps]
    assert not fresh(proof, steps=steps).verify()
    short = [dataclasses.replace(s, order=3) if isinstance(s, Taylor) else s for s in proof.steps]
    assert not fresh(proof, steps=short).verify()
    no_e3 = [dataclasses.replace(s, by=[x for x in s.by if x != "e3"], weights=list(s.weights[:3])
                                 + [1]) if isinstance(s, SeriesEq) and s.label == "iid" else s
             for s in short]
    assert not fresh(proof, steps=no_e3).verify()
    assert proof.verify()  # the original, with its order-4 Taylor step, does


def test_a_hypothesis_beyond_the_statement_is_rejected() -> None:
    """An extra B_0 >= 0 (or r_e >= 1) in Theorem 1's proof: the proof still checks, the
    statement is not concluded; a hypothesis the ranges imply (B_0 > −1) is fine."""
    t = target("alignment", "THEOREM")
    proofs = list(all_proofs())
    i = next(k for k, p in enumerate(proofs) if p.name == t.proof)
    for extra, ok in ((Hyp("extra", B_0, ">=", 0), False), (Hyp("extra", r_e, ">=", 1), False),
                      (Hyp("extra", B_0, ">", -1), True)):
        mutated = fresh(proofs[i], hypotheses=[*proofs[i].hypotheses, extra])
        assert mutated.verify()
        verdict = check_target(t, [*proofs[:i], mutated, *proofs[i + 1:]])
        assert (verdict == "concluded") == ok, (extra, verdict)
        if not ok:
            assert "is not a condition of Theorem 1" in verdict


def test_the_corollary_ratio_and_loss_are_concluded_and_linked() -> None:
    """G/L → ∞ is a concluded statement (a wrong limit is not); the loss is Theorem 2's: with
    the old tautological step it is not concluded, and a wrong Theorem 2 breaks it."""
    ratio = ratio_iid()
    assert ratio.verify()
    wrong = [dataclasses.replace(s, rhs=0) if getattr(s, "label", None) == "limit" else s
             for s in ratio.steps]
    assert not fresh(ratio, steps=wrong).verify()
    t2 = theorem2_iid()
    loss = corollary_loss(t2)
    assert loss.verify()
    tautology = Eq(tradeoff.loss, P0 - (P0 - tradeoff.loss), "tautology", label="loss")
    assert not fresh(loss, steps=[loss.steps[0], tautology]).verify()
    bad_t2 = fresh(t2, steps=[dataclasses.replace(s, value=3 * s.value)  # type: ignore[attr-defined]
                              if getattr(s, "label", None) == "e2" else s for s in t2.steps])
    assert not corollary_loss(bad_t2).verify()


P0 = theory.P_0


def test_the_uniform_direction_lemma_is_proved_and_used() -> None:
    lemma = sphere_lemma()
    assert lemma.verify()
    no_reflection = [s for s in lemma.steps if getattr(s, "label", None) != "refl"]
    broken = fresh(lemma, steps=no_reflection)
    assert not broken.verify()
    assert not theorem2_random(broken).verify()  # the random-direction form needs the lemma
    doubled = [dataclasses.replace(s, rhs=2 * s.rhs) if getattr(s, "label", None) == "cov"
               else s for s in lemma.steps]
    assert not fresh(lemma, steps=doubled).verify()


# ----------------------------------------------------------------- v3 proof mutants
def _with(monkeypatch: pytest.MonkeyPatch, mod: object, attr: str, value: object) -> None:
    monkeypatch.setattr(mod, attr, value)


@pytest.mark.parametrize("kind", ["w dropped", "half on w doubled", "Hessian off-diagonal flipped"])
def test_theorem2r_proofs_reject_the_mutants(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each mutant of Theorem 2R's coefficients, built into the statements the proofs conclude,
    makes the proofs fail (generic readout, P(correct), B)."""
    if kind == "w dropped":
        c2 = response.readout_c2.xreplace({curvatures[a]: 0})
    elif kind == "half on w doubled":
        c2 = response.readout_c2.xreplace({curvatures[a]: 2 * curvatures[a]})
    else:
        c2 = response.readout_c2.xreplace({response.hess_f[a, b]: 2 * sp.KroneckerDelta(a, b)
                                           * response.hess_f[a, b] - response.hess_f[a, b]})
    _with(monkeypatch, response, "readout_c2", c2)
    for mod, grad, hess in ((helpfulness, helpfulness.grad_entry, helpfulness.hess_entry),
                            (alignment, alignment.behavior_grad_entry,
                             alignment.behavior_hess_entry)):
        _with(monkeypatch, mod, "response_c2", response.readout_for(grad, hess)[1])
    for build in (theorem2r_readout, theorem2r_softmax, theorem2r_behavior):
        assert not build().verify(), (kind, build.__name__)
    for module, attr in (("response", "readout_c2"), ("helpfulness", "response_c2"),
                         ("alignment", "response_c2")):
        assert check_target(target(module, attr), all_proofs()) != "concluded"


def test_theorem1_second_order_rejects_r2_over_2(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = alignment.second_order_bound.xreplace({theory.symbols.w_gap: 2 * theory.symbols.w_gap})
    _with(monkeypatch, alignment, "second_order_bound", wrong)
    assert not theorem1_second().verify()
    assert check_target(target("alignment", "second_order_bound"), all_proofs()) != "concluded"


def test_proposition1_second_order_rejects_a_missing_curvature_term() -> None:
    proof = proposition1_second()
    assert proof.verify()
    k = next(i for i, s in enumerate(proof.steps) if getattr(s, "label", None) == "second3")
    step = proof.steps[k]
    assert isinstance(step, Eq)
    wrong = dataclasses.replace(step, rhs=step.rhs * 2)
    assert not fresh(proof, steps=[*proof.steps[:k], wrong, *proof.steps[k + 1:]]).verify()


def test_general_corollary_rejects_a_wrong_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    for attr in ("response_optimum", "response_utility_star"):
        t = target("tradeoff", attr)
        assert check_target(t, all_proofs()) == "concluded"
        monkeypatch.setattr(tradeoff, attr, 2 * getattr(tradeoff, attr))
        assert check_target(t, all_proofs()) != "concluded"


# ------------------------------------------------- python -m proofs exits non-zero on each hole
HOLES = {
    "random_direction_c2 doubled": lambda: (helpfulness, "random_direction_c2",
                                            2 * helpfulness.random_direction_c2),
    "second-order bound r^2/2": lambda: (alignment, "second_order_bound",
                                         alignment.second_order_bound.xreplace(
                                             {theory.symbols.w_gap: 2 * theory.symbols.w_gap})),
    "G/L limit finite": lambda: (tradeoff, "RATIO", Statement(
        tradeoff.RATIO.name, sp.Eq(tradeoff.RATIO.lhs, 1), tradeoff.RATIO.condition,
        tradeoff.RATIO.assumes)),
    "loss doubled": lambda: (tradeoff, "loss", 2 * tradeoff.loss),
    "sigma_random 1/d": lambda: (helpfulness, "sigma_random", 1 / theory.symbols.d),
}


@pytest.mark.parametrize("name", sorted(HOLES))
def test_cli_exits_nonzero_on_a_hole(name: str, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    mod, attr, value = HOLES[name]()
    monkeypatch.setattr(mod, attr, value)
    assert main([]) == 1
    assert "theory statements concluded" in capsys.readouterr().out


def test_cli_exits_nonzero_on_an_extra_hypothesis(monkeypatch: pytest.MonkeyPatch) -> None:
    import proofs.__main__ as cli

    proofs = list(all_proofs())
    i = next(k for k, p in enumerate(proofs) if p.name == "Theorem 1 (r_e >= 0)")
    proofs[i] = fresh(proofs[i], hypotheses=[*proofs[i].hypotheses, Hyp("extra", B_0, ">=", 0)])
    monkeypatch.setattr(cli, "all_proofs", lambda: tuple(proofs))
    assert main([]) == 1
