"""verify_all passes; every mutant (wrong statement or implementation) makes the group of checks
declared for it fail; the mutation is undone; the CLI exit codes; the simulation helpers."""

from __future__ import annotations

import numpy as np
import pytest

from theory import alignment, helpfulness, simulate, verify
from theory.checks.theorem1 import behavior_masked


@pytest.fixture(scope="module")
def report() -> simulate.VerifyReport:
    return simulate.verify_all(seed=1, n=400)


def test_verify_all_small_passes(report: simulate.VerifyReport) -> None:
    assert report.passed, report.table()
    names = [s.name for s in report.statements]
    for needle in ("Theorem 1 mirrored", "Prop. 1 second order", "Theorem 2R P(correct)",
                   "Theorem 2R B", "Theorem 1 second order", "theorem2_prime.bound = THEOREM_PRIME",
                   "validity flag", "random_direction_c2", "second_order r* = THEOREM"):
        assert any(needle in n for n in names), needle
    t2p = next(s for s in report.statements if s.name.startswith("Theorem 2'"))
    assert t2p.extras["non-vacuous cases"] > 100 and t2p.extras["min slack"] < 0.02
    rnd = next(s for s in report.statements if s.name.startswith("Theorem 2 random direction"))
    assert rnd.extras["iid RMS-beta c2 max rel. error (correlated U)"] > 0.1  # why v2 exists
    validity = next(s for s in report.statements if s.name.startswith("validity flag"))
    assert validity.extras["cases where r* <= 0.5 and s r* <= 0.5 differ"] > 10
    assert "all hold" in report.table()


#: Each mutant with the (fast) group of checks that must catch it.
CASES = {
    "alpha := 0": "Theorem 2 iid", "alpha := 3 alpha": "Theorem 2 iid",
    "alpha := -alpha": "Theorem 2 iid", "alpha_def := P0(1-P0) - 2Q": "Theorem 2 iid",
    "full_bound without delta": "Theorem 2'", "gamma x 1.01 in bound": "Theorem 1",
    "guarantee without max(0, .)": "Theorem 1", "Hessian without -diag(p)": "Theorem 2 general",
    "random_direction_c2 doubled": "Theorem 2 general",
    "mirrored bound gamma x 1.01": "Theorem 1", "symbolic r* doubled": "tradeoff forms",
    "numeric Theorem 2' without delta": "helpfulness forms",
    "validity as r* <= 0.5": "tradeoff forms",
    "Theorem 2R: w dropped": "readout forms", "Theorem 2R: half on w doubled": "readout forms",
    "Theorem 2R: Hessian off-diagonal flipped": "helpfulness forms",
    "numeric 2R: w dropped": "Theorem 2R", "numeric 2R: half on w doubled": "Theorem 2R",
    "numeric 2R: Hessian off-diagonal flipped": "Theorem 2R",
    "Delta_2 halved": "Proposition 1 second order",
    "remainder without 1/2 on Delta_2": "Proposition 1 second order",
    "Theorem 1 second order with r^2/2": "alignment forms",
    "numeric Theorem 1 second order with r^2/2": "Theorem 1 second order",
    "general r* doubled": "tradeoff forms", "efficient regime with >=": "tradeoff forms",
    "sigma_random := 1/d": "helpfulness forms", "E[DD^T] doubled": "helpfulness forms",
    "margin_from_slope with 1 - B0": "alignment forms",
    "shift scale without beta": "helpfulness forms", "paper form b not squared": "helpfulness forms",
    "utility G + kappa L": "tradeoff forms",
}


def test_every_mutant_has_a_case() -> None:
    assert set(CASES) == set(simulate.MUTANTS)
    assert set(CASES.values()) <= set(simulate.check_names())


@pytest.mark.parametrize("name", sorted(CASES))
def test_mutant_is_caught(name: str) -> None:
    """(The unmutated checks pass: ``test_verify_all_small_passes``.)"""
    with simulate.mutated(name):
        rep = simulate.verify_all(seed=1, n=200, names=[CASES[name]])
    assert not rep.passed, f"mutant {name!r} not caught by {CASES[name]}"


def test_the_same_group_passes_unmutated() -> None:
    for group in sorted(set(CASES.values())):
        rep = simulate.verify_all(seed=1, n=200, names=[group])
        assert rep.passed, rep.table()


def test_mutation_changes_the_statements_and_is_undone() -> None:
    before = (alignment.bound, alignment.THEOREM, helpfulness.THEOREM_PRIME,
              alignment.THEOREM_MIRRORED, helpfulness.theorem2_prime)
    with simulate.mutated("full_bound without delta"):
        assert helpfulness.THEOREM_PRIME.rhs != before[2].rhs
        assert helpfulness.delta_expr not in helpfulness.THEOREM_PRIME.rhs.args
    with simulate.mutated("gamma x 1.01 in bound"):
        assert alignment.THEOREM.rhs != before[1].rhs
    with simulate.mutated("mirrored bound gamma x 1.01"):
        assert alignment.THEOREM_MIRRORED.rhs != before[3].rhs
        assert alignment.THEOREM.rhs == before[1].rhs
    with simulate.mutated("numeric Theorem 2' without delta"):
        assert helpfulness.theorem2_prime is not before[4]
    after = (alignment.bound, alignment.THEOREM, helpfulness.THEOREM_PRIME,
             alignment.THEOREM_MIRRORED, helpfulness.theorem2_prime)
    assert after == before
    with pytest.raises(ValueError, match="unknown mutant"):
        with simulate.mutated("nope"):
            pass


def test_a_statement_that_cannot_be_evaluated_is_violated() -> None:
    with simulate.mutated("alpha := 0"):  # r* = γ(1 − B0²)/(2κ·0·…) is zoo
        rep = simulate.verify_all(seed=1, n=50, names=["tradeoff forms"])
    assert not rep.passed and "could not be evaluated" in rep.table()


def test_theorem1_simulation_detects_an_overclaimed_margin() -> None:
    m = simulate.theorem1_models(np.random.default_rng(0), 200, 3)
    keep = m["gamma"] > 0
    z, g, pos, la, ga = m["z"][keep], m["g"][keep], m["pos"][keep], m["lam"][keep], m["gamma"][keep]
    b0 = behavior_masked(z, pos)
    r = 1.0 / (ga * la)
    b = behavior_masked(z + r[:, None] * g, pos)
    assert np.all(b >= alignment.evaluate(r, b0, ga, la) - 1e-9)
    assert np.any(b < alignment.evaluate(r, b0, 1.5 * ga, la) - 1e-6)


def test_answer_geometry_and_bounds() -> None:
    rng = np.random.default_rng(0)
    U = simulate.answer_geometry(rng, 4, 32, "correlated")
    norms = np.linalg.norm(U, axis=1)
    cos = (U @ U.T) / np.outer(norms, norms)
    assert norms.min() >= 0.5 and norms.max() <= 2 and cos[np.triu_indices(4, 1)].mean() > 0.3
    o = simulate.answer_geometry(rng, 4, 32, "orthonormal")
    np.testing.assert_allclose(o @ o.T, np.eye(4), atol=1e-12)
    # the a-priori E[w^4] bound really bounds a simulated E[w^4]
    d = rng.standard_normal((20_000, 32))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    g = d @ U.T
    assert ((g.max(1) - g.min(1)) ** 4).mean() <= simulate.sphere_w4_bound(U, 1.0)
    x = rng.standard_normal((200_000, 4))
    assert ((x.max(1) - x.min(1)) ** 6).mean() <= simulate.iid_r6_bound(4, 1.0) * 720 / simulate.B6
    with pytest.raises(ValueError, match="kind"):
        simulate.answer_geometry(rng, 4, 32, "other")


def test_cli_exit_codes(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = simulate.StatementReport("fake", 10, 0.5, {"x": 1.0}, None, "none")
    good = simulate.StatementReport("fake", 10, -0.5, {}, None, "none")
    monkeypatch.setattr(verify, "verify_all", lambda seed, n: simulate.VerifyReport(seed, n, 0.0, [bad]))
    assert verify.main(["--n", "10"]) == 1
    assert "VIOLATED" in capsys.readouterr().out
    monkeypatch.setattr(verify, "verify_all", lambda seed, n: simulate.VerifyReport(seed, n, 0.0, [good]))
    assert verify.main([]) == 0
    monkeypatch.setattr(verify, "run_mutants", lambda seed, n: [simulate.MutantResult("m", ())])
    assert verify.main(["--mutants"]) == 1
    assert "NOT CAUGHT" in capsys.readouterr().out
    monkeypatch.setattr(verify, "run_mutants", lambda seed, n: [simulate.MutantResult("m", ("c",))])
    assert verify.main(["--mutants"]) == 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n must be"):
        simulate.verify_all(n=1)
    with pytest.raises(ValueError, match="unknown checks"):
        simulate.verify_all(n=10, names=["nope"])
