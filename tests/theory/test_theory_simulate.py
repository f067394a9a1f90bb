"""verify_all passes; every mutant (wrong statement) makes its checks fail; the CLI exit codes."""

from __future__ import annotations

import numpy as np
import pytest

from theory import alignment, helpfulness, simulate, verify


@pytest.fixture(scope="module")
def report() -> simulate.VerifyReport:
    return simulate.verify_all(seed=1, n=400)


def test_verify_all_small_passes(report: simulate.VerifyReport) -> None:
    assert report.passed, report.table()
    names = [s.name for s in report.statements]
    assert any("Theorem 1" in n for n in names) and any("Prop. 1" in n for n in names)
    t2p = next(s for s in report.statements if s.name.startswith("Theorem 2'"))
    assert t2p.extras["non-vacuous cases"] > 100 and t2p.extras["min slack"] < 0.02
    gen = next(s for s in report.statements if s.name.startswith("Theorem 2 general: sphere"))
    assert gen.extras["iid RMS-beta c2 max rel. error (correlated U)"] > 0.1  # why v2 exists
    assert "all hold" in report.table()


def _rng() -> np.random.Generator:
    return np.random.default_rng(7)


# Each mutant with the (fast) check that must catch it.
CASES = {
    "alpha := 0": lambda: simulate._check_theorem2_iid(_rng(), 10),
    "alpha := 3 alpha": lambda: simulate._check_theorem2_iid(_rng(), 10),
    "alpha := -alpha": lambda: simulate._check_theorem2_iid(_rng(), 10),
    "alpha_def := P0(1-P0) - 2Q": lambda: simulate._check_theorem2_iid(_rng(), 10),
    "full_bound without delta": lambda: [simulate._check_theorem2_prime(_rng())],
    "gamma x 1.01 in bound": lambda: simulate._check_theorem1(_rng(), 300),
    "guarantee without max(0, .)": lambda: simulate._check_theorem1(_rng(), 300),
    "Hessian without -diag(p)": lambda: simulate._check_theorem2_general(_rng(), 300),
}


def test_every_mutant_has_a_case() -> None:
    assert set(CASES) == set(simulate.MUTANTS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_mutant_is_caught(name: str) -> None:
    """(The unmutated checks pass: ``test_verify_all_small_passes``.)"""
    with simulate.mutated(name):
        failed = [r.name for r in CASES[name]() if not r.passed]
    assert failed, f"mutant {name!r} not caught"


def test_mutation_changes_the_statements_and_is_undone() -> None:
    before = (alignment.bound, alignment.THEOREM, helpfulness.THEOREM_PRIME)
    with simulate.mutated("full_bound without delta"):
        assert helpfulness.THEOREM_PRIME.rhs != before[2].rhs
        assert helpfulness.delta_expr not in helpfulness.THEOREM_PRIME.rhs.args
    with simulate.mutated("gamma x 1.01 in bound"):
        assert alignment.THEOREM.rhs != before[1].rhs
    assert (alignment.bound, alignment.THEOREM, helpfulness.THEOREM_PRIME) == before
    with pytest.raises(ValueError, match="unknown mutant"):
        with simulate.mutated("nope"):
            pass


def test_theorem1_simulation_detects_an_overclaimed_margin() -> None:
    m = simulate.theorem1_models(np.random.default_rng(0), 200, 3)
    keep = m["gamma"] > 0
    z, g, pos, la, ga = m["z"][keep], m["g"][keep], m["pos"][keep], m["lam"][keep], m["gamma"][keep]
    b0 = simulate._behavior_masked(z, pos)
    r = 1.0 / (ga * la)
    b = simulate._behavior_masked(z + r[:, None] * g, pos)
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


def test_bad_n() -> None:
    with pytest.raises(ValueError, match="n must be"):
        simulate.verify_all(n=1)
