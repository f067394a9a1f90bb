"""verify_all passes, can fail (negative controls), and the CLI exit code follows it."""

from __future__ import annotations

import numpy as np
import pytest

from theory import alignment, simulate, verify


def test_verify_all_small_passes() -> None:
    rep = simulate.verify_all(seed=1, n=600)
    assert rep.passed, rep.table()
    names = [s.name for s in rep.statements]
    assert any("Theorem 1" in n for n in names) and any("Prop. 1" in n for n in names)
    t2 = next(s for s in rep.statements if s.name.startswith("Theorem 2 "))
    assert t2.extras["empirical sigma^2"] == pytest.approx(t2.extras["1/d"], rel=0.1)
    assert all(s.draws >= 600 for s in rep.statements)
    assert "all hold" in rep.table()


def test_theorem1_simulation_detects_an_overclaimed_margin() -> None:
    m = simulate.theorem1_models(np.random.default_rng(0), 200, 3)
    keep = m["lam"] > 0
    z, g, pos, la = m["z"][keep], m["g"][keep], m["pos"][keep], m["lam"][keep]
    b0 = simulate._behavior_masked(z, pos)
    r = 1.0 / la
    b = simulate._behavior_masked(z + r[:, None] * g, pos)
    assert np.all(b >= alignment.evaluate(r, b0, la) - 1e-9)
    assert np.any(b < alignment.evaluate(r, b0, 1.5 * la) - 1e-6)  # 1.5λ is not certified


def test_cli_exit_codes(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = simulate.StatementReport("fake", 10, 0.5, {"x": 1.0}, None, "none")
    good = simulate.StatementReport("fake", 10, -0.5, {}, None, "none")
    monkeypatch.setattr(verify, "verify_all", lambda seed, n: simulate.VerifyReport(seed, n, 0.0, [bad]))
    assert verify.main(["--n", "10"]) == 1
    assert "VIOLATED" in capsys.readouterr().out
    monkeypatch.setattr(verify, "verify_all", lambda seed, n: simulate.VerifyReport(seed, n, 0.0, [good]))
    assert verify.main([]) == 0


def test_bad_n() -> None:
    with pytest.raises(ValueError, match="n must be"):
        simulate.verify_all(n=1)
