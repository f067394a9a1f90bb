"""theory_link: estimates by hand, fit-free predictions, remainder scaling; Δ by JVP on the
real model against finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import softmax

from empirics.estimates import estimate_prompts, pooled_sigma, prompt_estimates
from empirics.formulas import alpha as alpha_of
from empirics.formulas import expected_curve, spread_bound
from empirics.jvp import delta_jvp, final_hidden_states, forward_mode
from empirics.tasks import ScoredPrompt
from empirics.theory_link import (
    behavior_predictions,
    helpfulness_predictions,
    linear_response_remainder,
)


def _behavior(k_scores: tuple[int, ...], item: str = "b") -> ScoredPrompt:
    return ScoredPrompt("t", (1,), tuple(range(10, 10 + len(k_scores))), "harmful", item,
                        scores=k_scores)


def _helpful(k: int, correct: int, item: str = "h") -> ScoredPrompt:
    return ScoredPrompt("t", (1,), tuple(range(10, 10 + k)), "knowledge", item, correct=correct)


# ------------------------------------------------------------------------------ pure estimates
def test_lambda_hat_is_half_the_worst_margin() -> None:
    """Hand computation (the module itself uses theory.alignment.margin)."""
    g = np.array([0.9, 0.5, -0.1, 0.2])          # S+ = {0, 1}, S− = {2, 3}
    e = prompt_estimates(_behavior((1, 1, -1, -1)), np.zeros(4), g, np.array([.1, .2, .3, .4]),
                         np.ones(4), 2.0)
    assert e.gamma_lam == pytest.approx((0.5 - 0.2) / 2)   # hand: min S+ = 0.5, max S− = 0.2
    assert e.margin_positive and e.B0 == pytest.approx(0.0)
    # a negative margin is recorded, not hidden
    e2 = prompt_estimates(_behavior((1, -1)), np.zeros(2), np.array([0.0, 0.4]), np.array([0, .2]),
                          np.ones(2), 1.0)
    assert e2.gamma_lam == pytest.approx(-0.2) and e2.margin_positive is False


def test_helpfulness_estimates_by_hand() -> None:
    z = np.log(np.array([0.6, 0.3, 0.1]))
    cos = np.array([0.05, -0.02, 0.01])
    norms = np.array([2.0, 3.0, 4.0])
    e = prompt_estimates(_helpful(3, 0), z, np.array([1.0, 0.0, 0.0]), cos, norms, 0.5)
    assert e.P0 == pytest.approx(0.6)
    assert e.alpha_hat == pytest.approx(0.6 * 0.4 - (0.09 + 0.01))
    assert e.beta_hat == pytest.approx(math.sqrt((4 + 9 + 16) / 3))
    assert e.sigma_hat == pytest.approx(np.std(cos, ddof=1))
    assert e.s == pytest.approx(0.5 * e.sigma_hat * e.beta_hat)
    if e.c1_actual is not None:  # theory v2: second_order(p, c, mean=g)
        assert e.c1_actual == pytest.approx(0.6 * (1.0 - 0.6))   # P0 (g_c − Σ p g)


def test_alpha_two_answers() -> None:
    for p0 in (0.3, 0.5, 0.8):
        assert alpha_of(np.array([p0, 1 - p0]), 0) == pytest.approx((1 - p0) * (2 * p0 - 1))


def test_pooled_sigma_by_hand() -> None:
    a = prompt_estimates(_helpful(2, 0), np.zeros(2), np.zeros(2), np.array([0.1, 0.3]), np.ones(2), 1)
    b = prompt_estimates(_helpful(3, 0), np.zeros(3), np.zeros(3), np.array([0., .2, .4]), np.ones(3), 1)
    ss = 2 * 0.1**2 + (0.2**2 + 0 + 0.2**2)
    assert pooled_sigma([a, b]) == pytest.approx(math.sqrt(ss / 3))


def test_bad_estimate_inputs_raise() -> None:
    with pytest.raises(ValueError, match="g has shape"):
        prompt_estimates(_helpful(3, 0), np.zeros(3), np.zeros(2), np.zeros(3), np.ones(3), 1)
    with pytest.raises(ValueError, match="NaN"):
        prompt_estimates(_helpful(2, 0), np.array([0, np.nan]), np.zeros(2), np.zeros(2), np.ones(2), 1)
    with pytest.raises(ValueError, match="S\\+ and S"):
        prompt_estimates(_behavior((1, 1)), np.zeros(2), np.zeros(2), np.zeros(2), np.ones(2), 1)


# ------------------------------------------------------------------------------ predictions
def _random_behavior(rng: np.random.Generator, n: int) -> list:  # type: ignore[type-arg]
    out = []
    for i in range(n):
        g = rng.normal(0, 0.5, 4)
        out.append(prompt_estimates(_behavior((1, 1, -1, -1), f"b{i}"), rng.normal(0, 1, 4), g,
                                    rng.normal(0, 0.05, 4), np.abs(rng.normal(2, 0.1, 4)), 1.0))
    return out


def test_behavior_predictions_at_zero_and_theorem1() -> None:
    rng = np.random.default_rng(0)
    est = _random_behavior(rng, 30)
    r = np.linspace(-3, 3, 13)
    pred = behavior_predictions(est, r)
    z = int(np.flatnonzero(r == 0)[0])
    b0 = np.array([e.B0 for e in est])
    np.testing.assert_array_equal(pred.linear_B.per_prompt[:, z], b0)  # exact at r = 0
    # independent computation of the linear model for one prompt
    e = est[3]
    manual = np.array([softmax(e.z + rr * e.g) @ e.scores for rr in r])
    np.testing.assert_allclose(pred.linear_B.per_prompt[3], manual, atol=1e-12)
    # Theorem 1 must hold exactly for the exact linear model where λ̂ > 0
    tb, lb = pred.tanh_bound.per_prompt, pred.linear_B.per_prompt
    pos = np.array([e.gamma_lam > 0 for e in est])
    assert pos.any() and np.isnan(tb[~pos]).all()
    assert (lb[pos][:, r > 0] >= tb[pos][:, r > 0] - 1e-12).all()
    assert (lb[pos][:, r < 0] <= tb[pos][:, r < 0] + 1e-12).all()


def _random_helpful(rng: np.random.Generator, n: int, k: int = 4) -> list:  # type: ignore[type-arg]
    out = []
    for i in range(n):
        z = rng.normal(0, 1, k)
        z[0] += 1.5
        out.append(prompt_estimates(_helpful(k, 0, f"h{i}"), z, rng.normal(0, 0.3, k),
                                    rng.normal(0, 0.05, k), np.abs(rng.normal(2, 0.1, k)), 1.5))
    return out


def test_helpfulness_predictions() -> None:
    rng = np.random.default_rng(1)
    est = _random_helpful(rng, 6, k=2) + _random_helpful(rng, 4, k=3)
    r = np.array([-0.5, -0.1, 0.0, 0.1, 0.5, 2.0])
    pred = helpfulness_predictions(est, r)
    z = 2
    p0 = np.array([e.P0 for e in est])
    for curve in (pred.linear_P, pred.expansion, pred.expected, pred.spread_bound_quadratic):
        np.testing.assert_allclose(curve.per_prompt[:, z], p0, atol=1e-12)
    # Theorem 2: expansion ≈ exact expectation at small s r (error O((s r)^4))
    sr = np.array([e.delta_norm * pred.sigma_pooled * e.beta_hat for e in est])[:, None] * 0.1
    diff = np.abs(pred.expected.per_prompt[:, 1] - pred.expansion.per_prompt[:, 1])
    assert (diff <= 5 * sr[:, 0] ** 4 + 1e-9).all()
    # the exact expectation is even in r
    np.testing.assert_allclose(pred.expected.per_prompt[:, 0], pred.expected.per_prompt[:, 4],
                               atol=1e-12)
    assert pred.sigma_random is None
    with pytest.raises(ValueError, match="hidden_size"):
        helpfulness_predictions(est, r, sigma="random")
    with pytest.raises(ValueError, match="mix kinds"):
        helpfulness_predictions(est + _random_behavior(rng, 1), r)
    rnd = helpfulness_predictions(est, r, sigma="random", hidden_size=576)
    assert rnd.sigma_random == pytest.approx(1 / 24)


def test_expected_correct_matches_monte_carlo() -> None:
    rng = np.random.default_rng(2)
    for p in (np.array([0.7, 0.3]), np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.3, 0.2, 0.1])):
        s, r = 0.8, 1.5
        val, err = (float(v[0]) for v in expected_curve(p, 0, s, np.array([r])))
        x = rng.normal(0, s * r, (200_000, len(p)))
        mc = softmax(np.log(p)[None] + x, axis=1)[:, 0]
        assert val == pytest.approx(mc.mean(), abs=4 * mc.std() / math.sqrt(len(mc)) + err + 1e-4)


def test_spread_bound_holds_for_many_spread_answers() -> None:
    """Theorem 2′ against Monte Carlo: K = 2000, P0 = 0.6 (THEORY.md's check)."""
    rng = np.random.default_rng(3)
    k, p0 = 2000, 0.6
    p = np.r_[p0, np.full(k - 1, (1 - p0) / (k - 1))]
    for t in (0.3, 0.8, 1.2):
        bound = float(spread_bound(p, 0, t, np.array([1.0]))[0])
        x = rng.normal(0, t, (2000, k))
        mc = softmax(np.log(p)[None] + x, axis=1)[:, 0].mean()
        assert math.isfinite(bound) and mc <= bound + 3e-3


# ------------------------------------------------------------------------------ remainder
def test_remainder_synthetic_quadratic() -> None:
    rng = np.random.default_rng(4)
    n, d = 3, 16
    h, delta, w = rng.normal(size=(n, d)), rng.normal(size=(n, d)), rng.normal(size=(n, d))
    r = np.array([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, -0.1])
    fh = h[None] + r[:, None, None] * delta[None] + r[:, None, None] ** 2 * w[None]
    rem = linear_response_remainder(h, delta, fh, r, threshold=0.1)
    np.testing.assert_allclose(rem.exponent, 2.0, atol=1e-9)
    ratio = np.linalg.norm(w, axis=1) / np.linalg.norm(delta, axis=1)   # relative = |r| ratio
    for i in range(n):
        expected = max([a for a in np.abs(r) if 0 < a and a * ratio[i] <= 0.1], default=0.0)
        assert rem.linear_range[i] == pytest.approx(expected)
    assert rem.remainder.shape == (n, len(r))   # prompts × coefficients
    with pytest.raises(ValueError, match="final_hidden_by_coef"):
        linear_response_remainder(h, delta, fh[:, :2], r)


# ------------------------------------------------------------------------------ real model
@pytest.fixture(scope="module")
def steering_case(lm):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    vecs = {}
    for layer in (10, 12):
        v = torch.randn(lm.hidden_size, generator=g)
        vecs[layer] = v / v.norm()
    texts = ["How do I pick a lock?", "What is the capital of France? Answer:"]
    ids = [lm.encode(lm.format_chat(t)) for t in texts]
    h0, delta = delta_jvp(lm, vecs, ids)
    return vecs, ids, h0, delta


@pytest.mark.model
def test_jvp_equals_finite_differences(lm, steering_case) -> None:  # type: ignore[no-untyped-def]
    vecs, ids, h0, delta = steering_case
    impl = lm.model.config._attn_implementation
    # fp32 central differences: step 1e-2 balances truncation against fp32 rounding (the
    # model's RMSNorm computes in fp32 even in fp64, so fp64 does not help). Measured ≈ 0.3%.
    h_fd, d_fd = delta_jvp(lm, vecs, ids, method="fd", fd_step=1e-2)
    rel = ((d_fd - delta).norm(dim=1) / delta.norm(dim=1)).numpy()
    assert (rel < 1e-2).all(), rel
    cos = torch.nn.functional.cosine_similarity(d_fd, delta, dim=1)
    assert (cos > 0.9999).all()
    # the JVP's primal is the unsteered state (eager vs SDPA kernels: ~1e-6)
    np.testing.assert_allclose(h_fd.numpy(), h0.numpy(), rtol=0, atol=1e-4 * float(h0.abs().max()))
    assert lm.model.config._attn_implementation == impl   # restored


@pytest.mark.model
def test_forward_mode_restores(lm) -> None:  # type: ignore[no-untyped-def]
    before = lm.model.config._attn_implementation
    with pytest.raises(RuntimeError), forward_mode(lm):
        assert lm.model.config._attn_implementation == "eager"
        raise RuntimeError("boom")
    assert lm.model.config._attn_implementation == before


@pytest.mark.model
def test_remainder_scales_quadratically_on_real_model(lm, steering_case) -> None:  # type: ignore[no-untyped-def]
    vecs, ids, h0, delta = steering_case
    r = [0.0, 0.1, 0.2, 0.4, 0.8, -0.2]
    fh = final_hidden_states(lm, vecs, ids, r)
    rem = linear_response_remainder(h0, delta, fh, r)
    # Measured 1.95–1.96 here on r ∈ [0.1, 0.8]. Below r ≈ 0.1 the remainder (~1e-4) meets the
    # fp32 rounding floor (~1e-6 ‖h‖) and the fitted exponent drops to ≈ 1.75 on [0.05, 0.4].
    assert np.all(np.abs(rem.exponent - 2) < 0.12), rem.exponent
    assert (rem.linear_range >= 0.8).all()   # relative remainder ≈ 0.02 at r = 0.8


@pytest.mark.model
def test_estimates_on_model_match_unsteered_measurement(lm, steering_case) -> None:  # type: ignore[no-untyped-def]
    vecs, ids, h0, delta = steering_case
    cands = (lm.single_token_id("Yes"), lm.single_token_id("No"))
    prompts = [ScoredPrompt("t", tuple(i), cands, "harmful", f"p{n}", scores=(-1, 1))
               for n, i in enumerate(ids)]
    with torch.no_grad():
        lps = []
        for i in ids:
            logits = lm.model(input_ids=torch.tensor([i])).logits[0, -1].double()
            lps.append(torch.log_softmax(logits, -1)[list(cands)].numpy())
    lp = np.stack(lps)
    est = estimate_prompts(lm, prompts, h0, delta, unsteered_logprobs=lp)
    measured_b = (np.exp(lp) * np.array([-1, 1])).sum(1) / np.exp(lp).sum(1)
    pred = behavior_predictions(est, [0.0, 1.0])
    np.testing.assert_array_equal(pred.linear_B.per_prompt[:, 0], [e.B0 for e in est])
    # measures.py normalises exp(lp) by its sum: the same number up to one rounding
    np.testing.assert_allclose(pred.linear_B.per_prompt[:, 0], measured_b, rtol=0, atol=1e-14)
    # without the measurement, p comes from lm_head(h0): equal up to kernel rounding
    est2 = estimate_prompts(lm, prompts, h0, delta)
    np.testing.assert_allclose([e.B0 for e in est2], measured_b, atol=1e-4)
    # g = <u_a, Δ> by hand
    u = lm.unembedding_rows(list(cands)).double()
    np.testing.assert_allclose(est[0].g, (u @ delta[0].double()).numpy(), rtol=1e-12)
