"""Every proof checks, the CLI reports it, and docs/proofs.md equals the generated text."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from proofs import all_proofs, markdown, summarize, text_report
from proofs.__main__ import main

REPO = Path(__file__).resolve().parents[2]


CHECK_SECONDS: list[float] = []


@pytest.fixture(scope="module")
def proofs():  # type: ignore[no-untyped-def]
    start = time.process_time()  # CPU time: robust to other jobs sharing the machine
    result = all_proofs()
    for proof in result:
        proof.verify()
    CHECK_SECONDS.append(time.process_time() - start)
    return result


def test_checking_is_fast(proofs) -> None:  # type: ignore[no-untyped-def]
    assert CHECK_SECONDS and CHECK_SECONDS[0] < 60.0


def test_every_proof_checks(proofs) -> None:  # type: ignore[no-untyped-def]
    failed = [p.name for p in proofs if not p.verify()]
    assert failed == []


def test_every_statement_concluded(proofs) -> None:  # type: ignore[no-untyped-def]
    assert all(v == "concluded" for _, v in summarize(proofs).statements)


def test_required_proofs_present(proofs) -> None:  # type: ignore[no-untyped-def]
    names = " | ".join(p.name for p in proofs)
    for needle in ["mediant", "Theorem 1 (r_e >= 0)", "Theorem 1 (r_e <= 0)", "equality case",
                   "guarantee", "linear gain", "sequence level", "symmetric sigmoid",
                   "Theorem 2 (i.i.d., symbolic K)", "Theorem 2 (general form, symbolic K)",
                   "Theorem 2'", "efficient regime", "general form", "sequence-level slope",
                   "Proposition 1"]:
        assert needle in names


def test_summary_line(proofs) -> None:  # type: ignore[no-untyped-def]
    summary = summarize(proofs)
    assert summary.ok
    assert summary.failed == 0 and summary.steps > 100
    assert f"0 failed, {summary.assumptions} named assumptions" in summary.line()
    assert len(summary.statements) >= 10
    report = text_report(proofs)
    assert report.rstrip().endswith(summary.line())
    assert "ASSUMPTION [Chebyshev]" in report


def test_main_exit_status(proofs, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "theory.helpfulness.THEOREM_GENERAL: concluded" in out


def test_docs_equal_generated_markdown(proofs) -> None:  # type: ignore[no-untyped-def]
    committed = (REPO / "docs" / "proofs.md").read_text(encoding="utf-8")
    assert committed == markdown(proofs), "run: python -m proofs --markdown docs/proofs.md"


def test_markdown_marks_assumptions(proofs) -> None:  # type: ignore[no-untyped-def]
    text = markdown(proofs)
    assert text.count("not checked).**") == summarize(proofs).assumptions
    assert "✗" not in text


@pytest.mark.slow
def test_cli_nonzero_on_failure(tmp_path: Path) -> None:
    """A broken step makes `python -m proofs` exit non-zero (run in a subprocess)."""
    script = (
        "import sys, sympy as sp\n"
        "import proofs.registry as reg\n"
        "from proofs.framework import Eq, Proof\n"
        "bad = Proof('Broken', 'Lemma', 'x', [Eq(sp.Symbol('x'), 2 * sp.Symbol('x'), 'wrong')])\n"
        "reg.all_proofs = lambda: (bad,)\n"
        "import proofs.__main__ as m\n"
        "m.all_proofs = reg.all_proofs\n"
        "sys.exit(m.main([]))\n"
    )
    res = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 1
    assert "1 steps checked, 1 failed" in res.stdout
