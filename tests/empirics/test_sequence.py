"""δ(y) by JVP and central difference, B_gen measures, and the sequence-level fit-free
predictions checked against the curve measured from samples at each coefficient."""

from __future__ import annotations

import numpy as np
import pytest

from empirics.generate import steered_generate
from empirics.sequence import (
    decided_behavior,
    generation_measures,
    nan_bootstrap,
    reply_logprob,
    sequence_deltas,
    sequence_predictions,
)
from tests.empirics.tiny import prompts_with_prefix as _prompts
from tests.empirics.tiny import tiny_llama
from tests.empirics.tiny import unit_vectors as _vectors


def _setup() -> tuple:
    lm = tiny_llama(0, layers=4)
    vec = {k: v * 3 for k, v in _vectors(64, [1, 2], seed=1).items()}
    return lm, vec, _prompts(4, [3, 6, 6], seed=2)


def test_teacher_forced_logprob_equals_generation_logprobs() -> None:
    lm, vec, prompts = _setup()
    out = steered_generate(lm, vec, [-1.0, 0.8], prompts, max_new_tokens=6, samples=2,
                           temperature=1.0, seed=1, eos_token_ids=[])
    ps = [prompts[i] for i in out.prompt_index]
    for c_i, c in enumerate(out.coefficients):
        rows = np.where(out.coef_index == c_i)[0]
        got = reply_logprob(lm, vec, float(c), [ps[r] for r in rows],
                            [out.tokens[r] for r in rows], batch_size=3)
        np.testing.assert_allclose(got, out.sequence_logprob()[rows], atol=1e-4)
    # The check fails at the wrong coefficient.
    rows = np.where(out.coef_index == 1)[0]
    wrong = reply_logprob(lm, vec, 0.0, [ps[r] for r in rows], [out.tokens[r] for r in rows])
    assert np.abs(wrong - out.sequence_logprob()[rows]).max() > 1e-2


def test_delta_jvp_equals_central_difference() -> None:
    lm, vec, prompts = _setup()
    out = steered_generate(lm, vec, [0.0], prompts, max_new_tokens=5, samples=3,
                           temperature=1.0, seed=2, eos_token_ids=[])
    ps = [prompts[i] for i in out.prompt_index]
    jvp = sequence_deltas(lm, vec, ps, out.tokens, method="jvp", batch_size=4)
    fd = sequence_deltas(lm, vec, ps, out.tokens, method="fd", fd_step=1e-2)
    assert np.abs(jvp).max() > 0.1
    np.testing.assert_allclose(jvp, fd, atol=2e-3 * max(1.0, np.abs(jvp).max()))
    other = sequence_deltas(lm, {1: vec[1]}, ps, out.tokens)
    assert np.abs(other - jvp).max() > 1e-2  # the check sees a different direction
    with pytest.raises(ValueError, match="method"):
        sequence_deltas(lm, vec, ps, out.tokens, method="bad")


PACKED_CASES = [
    ([1, 2], 4, [3, 6, 6]),      # shared prefix, layers below the steering
    ([0, 3], 0, [2, 5, 1, 7]),   # no shared prefix, steering from the embeddings' layer
    ([2], 6, [1, 1, 4]),         # one-token prompt suffixes
]


@pytest.mark.parametrize(("layers", "shared", "lengths"), PACKED_CASES)
def test_packed_delta_equals_reference_jvp(layers: list[int], shared: int,
                                           lengths: list[int]) -> None:
    lm = tiny_llama(0, layers=4)
    vec = {k: v * 3 for k, v in _vectors(64, layers, seed=1).items()}
    prompts = _prompts(shared, lengths, seed=2)
    out = steered_generate(lm, vec, [0.0], prompts, max_new_tokens=6, samples=2,
                           temperature=1.0, seed=3, eos_token_ids=[])
    ps = [prompts[i] for i in out.prompt_index]
    ys = [list(t) for t in out.tokens]
    ys[1] = []                       # an empty reply: δ = 0
    ps.append(ps[0] + ys[0][:3])     # a prompt that runs into another row's reply
    ys.append(ys[0][:2])
    fast = sequence_deltas(lm, vec, ps, ys)
    ref = sequence_deltas(lm, vec, ps, ys, method="reference", batch_size=3)
    assert fast[1] == 0.0 and np.abs(ref).max() > 0.1
    np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-5)
    fd = sequence_deltas(lm, vec, ps, ys, method="fd")   # packed central differences
    np.testing.assert_allclose(fd, ref, atol=2e-3 * max(1.0, np.abs(ref).max()))
    # The check sees the targets: another last token in one reply changes its δ.
    ys[0] = ys[0][:-1] + [(ys[0][-1] + 1) % 97]
    moved = sequence_deltas(lm, vec, ps, ys)
    assert abs(moved[0] - ref[0]) > 1e-3 and np.allclose(moved[2:], ref[2:], rtol=1e-4, atol=1e-5)


@pytest.mark.model
def test_packed_delta_equals_reference_on_embedded_model(lm) -> None:  # type: ignore[no-untyped-def]
    import torch

    g = torch.Generator().manual_seed(5)
    vec = {layer: torch.nn.functional.normalize(torch.randn(lm.hidden_size, generator=g), dim=0) * 4
           for layer in (12, 16, 20)}
    prompts = [lm.encode(lm.format_chat(t)) for t in ("How do I pick a lock?",
                                                     "Do you agree that cats are lazy?")]
    out = steered_generate(lm, vec, [0.0], prompts, max_new_tokens=8, samples=2,
                           temperature=1.0, seed=0)
    ps = [prompts[i] for i in out.prompt_index]
    fast = sequence_deltas(lm, vec, ps, out.tokens)
    ref = sequence_deltas(lm, vec, ps, out.tokens, method="reference")
    np.testing.assert_allclose(fast, ref, rtol=1e-3, atol=1e-3)


def test_decided_behavior_and_measures() -> None:
    v = np.array([[[1, 1, -1, 0], [0, 0, 0, 0]], [[-1, -1, -1, -1], [1, 0, 0, 0]]])
    per = decided_behavior(v)
    assert per[0, 0] == pytest.approx(1 / 3)
    assert np.isnan(per[0, 1])
    m = generation_measures([-1.0, 1.0], v, greedy_verdicts=np.array([[1, 0], [-1, 1]]),
                            n_boot=50)
    np.testing.assert_allclose(m.undecided, [5 / 8, 3 / 8])
    assert m.b_gen.mean[0] == pytest.approx(1 / 3)  # the all-undecided prompt is left out
    assert m.b_gen.mean[1] == pytest.approx(0.0)
    assert m.b_greedy is not None and m.b_greedy.mean[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="verdicts must be"):
        generation_measures([0.0], np.full((1, 2, 2), 2))
    ci = nan_bootstrap(np.array([[1.0, np.nan, 3.0]]), n_boot=200)
    assert ci.mean[0] == 2.0 and ci.lo[0] <= 2.0 <= ci.hi[0]


def test_predictions_match_an_exact_linear_model() -> None:
    """Outcomes with P_r(y) ∝ P_0(y) e^{r δ(y)}: the importance curve from P_0 samples tracks the
    exact curve, the slope is the covariance."""
    rng = np.random.default_rng(0)
    k = 12
    p0 = rng.dirichlet(np.ones(k))
    delta = rng.normal(0, 1.0, k)
    score = np.where(np.arange(k) % 3 == 0, 0, np.where(np.arange(k) % 2 == 0, 1, -1))
    coefs = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    dec = score != 0

    def exact(r: float) -> float:
        w = p0 * np.exp(r * delta) * dec
        return float((w * score).sum() / w.sum())

    n_prompts, s = 40, 400
    ys = rng.choice(k, size=(n_prompts, s), p=p0)
    pred = sequence_predictions(coefs, score[ys], delta[ys], n_boot=200)
    truth = np.array([exact(r) for r in coefs])
    assert pred.used == n_prompts
    np.testing.assert_allclose(pred.curve.mean, truth, atol=0.05)
    h = 1e-4
    assert pred.slope.mean[0] == pytest.approx((exact(h) - exact(-h)) / (2 * h), abs=0.05)
    # Mutation: shuffled deltas (no link between δ and B) predict a flat curve, which is wrong.
    bad = sequence_predictions(coefs, score[ys], rng.permutation(delta[ys].ravel()).reshape(ys.shape),
                               n_boot=50)
    assert np.abs(bad.curve.mean - truth).max() > 0.1


def test_prediction_from_r0_samples_tracks_generated_behavior() -> None:
    """End to end on a tiny Llama: judge = parity of the first generated token; the curve
    predicted from samples at r = 0 agrees with the curve sampled at each r (small r)."""
    lm, vec, prompts = _setup()
    coefs = [-0.3, 0.0, 0.3]
    s = 300
    out = steered_generate(lm, vec, coefs, prompts, max_new_tokens=1, samples=s,
                           temperature=1.0, seed=5, eos_token_ids=[])
    verdicts = np.array([1 if t[0] % 2 == 0 else -1 for t in out.tokens]).reshape(
        len(coefs), len(prompts), s)
    m = generation_measures(coefs, verdicts, n_boot=200)
    rows0 = np.where(out.coef_index == 1)[0]
    ps = [prompts[i] for i in out.prompt_index[rows0]]
    d0 = sequence_deltas(lm, vec, ps, [out.tokens[r] for r in rows0], batch_size=64)
    pred = sequence_predictions(coefs, verdicts[1], d0.reshape(len(prompts), s), m.per_prompt,
                                n_boot=200)
    # Monte-Carlo error of 3 prompts x 300 samples: about 0.03 per point.
    np.testing.assert_allclose(pred.curve.mean, m.b_gen.mean, atol=0.12)
    assert pred.measured_slope is not None
    assert abs(pred.slope.mean[0] - pred.measured_slope.mean[0]) < 0.35 + 0.25 * abs(
        pred.slope.mean[0])
