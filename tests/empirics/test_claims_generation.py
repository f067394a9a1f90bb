"""Generated text: the sequence-level curve rule either way, an uninformative comparison
reported as such (never as agreement), and the proxy-vs-behavior finding of the issue."""

from __future__ import annotations

import numpy as np
import pytest

from empirics.claims import Finding, Resampling, proxy_vs_behavior, sequence_curve
from empirics.claims.synthetic_text import behavior_following, replies

RS = Resampling(n_boot=300, seed=2)
COEFS = np.array([-10.0, -5.0, 0.0, 5.0, 10.0])


def test_sequence_curve_either_way() -> None:
    rep = replies(np.random.default_rng(0), prompts=64, samples=16)
    base = rep.predicted[:, [2]]
    assert sequence_curve("g", rep.coefficients, rep.scores0, rep.predicted, rep.measured,
                          resampling=RS).holds is True
    for f in (0.5, 2.0):
        wrong = base + f * (rep.predicted - base)
        assert sequence_curve("g", rep.coefficients, rep.scores0, wrong, rep.measured,
                              resampling=RS).holds is False


def test_one_class_at_zero_is_not_informative() -> None:
    """Every r = 0 sample compliant: the fit-free curve is flat by construction. The issue's
    'fit-free slope +0.000 vs measured −0.004' must not read as agreement."""
    n = 12
    scores0 = -np.ones((n, 4))
    flat = -np.ones((n, COEFS.size))
    v = sequence_curve("g", COEFS, scores0, flat, flat, resampling=RS)
    assert v.holds is None and v.summary.startswith("Not informative")
    assert "no agreement" in v.summary.lower()


def test_sequence_curve_checks_shapes() -> None:
    with pytest.raises(ValueError, match="prompts"):
        sequence_curve("g", COEFS, np.ones((3, 4)), np.zeros((3, 4)), np.zeros((3, 5)))


def test_the_vector_moves_the_proxy_but_not_the_behavior() -> None:
    """The issue's harmfulness case: next-token B −0.22 → +0.53, B_gen = −1.00 everywhere."""
    n = 12
    proxy = np.tanh(np.arctanh(-0.22) + 0.08 * COEFS)[None] + 0.01 * np.arange(n)[:, None]
    behavior = -np.ones((n, COEFS.size))
    out = proxy_vs_behavior(COEFS, proxy, behavior, resampling=RS)
    assert out.finding is Finding.PROXY_ONLY
    assert "moves the proxy but not the behavior" in out.summary
    top = out.rows[-1]
    assert top.coefficient == 10 and top.proxy_gain.lo > 0 and top.behavior_gain.value == 0
    assert top.agree is False


def test_proxy_and_behavior_together_and_still() -> None:
    proxy, behaved = behavior_following(np.random.default_rng(1), 1.0, prompts=64, samples=16)
    assert proxy_vs_behavior(COEFS, proxy, behaved, resampling=RS).finding is Finding.TOGETHER
    still = np.zeros((8, COEFS.size)) + 0.1 * np.arange(8)[:, None]
    assert proxy_vs_behavior(COEFS, still, still,
                             resampling=RS).finding is Finding.PROXY_STILL
    with pytest.raises(ValueError, match="proxy"):
        proxy_vs_behavior(COEFS, np.zeros((3, 4)), np.zeros((3, 4)))


def test_proxy_behavior_detects_a_flat_behavior_with_sampling_noise() -> None:
    proxy, behaved = behavior_following(np.random.default_rng(2), 0.0, prompts=64, samples=16)
    assert proxy_vs_behavior(COEFS, proxy, behaved,
                             resampling=RS).finding is Finding.PROXY_ONLY
