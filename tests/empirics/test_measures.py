"""Measures against an independent computation, and bootstrap determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirics.intervals import difference_interval, mean_interval, resample
from empirics.measures import (
    BehaviorMeasures,
    HelpfulnessMeasures,
    behavior,
    helpfulness,
    measure,
)
from empirics.tasks import ScoredPrompt


def _behavior(scores: tuple[int, ...], k: int = 0) -> ScoredPrompt:
    cands = tuple(range(10 + k, 10 + k + len(scores)))
    return ScoredPrompt("t", (1, 2), cands, "harmful", f"harmful:{k}", scores=scores)


def _help(n_opts: int, correct: int, k: int = 0) -> ScoredPrompt:
    return ScoredPrompt("t", (1, 2), tuple(range(n_opts)), "knowledge", f"knowledge:{k}",
                        correct=correct)


def test_behavior_matches_torch_softmax() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 50, generator=gen, dtype=torch.float64)  # (C, N, vocab)
    full = torch.log_softmax(logits, dim=-1)
    cand = [5, 7]  # token 5 = "No" (+1), token 7 = "Yes" (-1)
    lp = full[..., cand].numpy()
    prompts = [_behavior((+1, -1), k) for k in range(4)]
    m = behavior(lp, prompts)
    norm = torch.softmax(logits[..., cand], dim=-1)  # normalised over {No, Yes} by hand
    expected = (norm[..., 0] - norm[..., 1]).numpy()
    assert m.B.shape == (4, 3)  # prompts × coefficients
    np.testing.assert_allclose(m.B, expected.T, atol=1e-12)
    p = torch.softmax(logits, -1)
    np.testing.assert_allclose(m.mass, (p[..., 5] + p[..., 7]).numpy().T, atol=1e-12)
    np.testing.assert_allclose(m.B_full, (p[..., 5] - p[..., 7]).numpy().T, atol=1e-12)
    assert [name for name, _ in m.named()] == ["B", "B_full", "mass"]


def test_helpfulness_with_padding() -> None:
    logits = torch.tensor([[[2.0, 1.0, 0.0, -1.0], [0.0, 3.0, 1.0, 9.0]]], dtype=torch.float64)
    lp = torch.log_softmax(logits, -1).numpy().copy()
    lp[0, 1, 3] = np.nan  # second prompt has only 3 options: padded
    prompts = [_help(4, 0, 0), _help(3, 1, 1)]
    m = helpfulness(lp, prompts)
    p0 = torch.softmax(logits[0, 0], -1)[0].item()
    p1 = torch.softmax(logits[0, 1, :3], -1)[1].item()
    np.testing.assert_allclose(m.p_correct[:, 0], [p0, p1], atol=1e-12)
    np.testing.assert_allclose(m.accuracy[:, 0], [1.0, 1.0])
    full1 = torch.softmax(logits[0, 1], -1)[1].item()
    np.testing.assert_allclose(m.p_correct_full[1, 0], full1, atol=1e-12)


def test_measure_dispatch_and_mixing() -> None:
    lp = np.log(np.full((1, 2, 2), 0.5))
    m = measure(lp, [_behavior((1, -1), 0), _behavior((1, -1), 1)])
    assert isinstance(m, BehaviorMeasures) and [n for n, _ in m.named()] == ["B", "B_full", "mass"]
    h = measure(lp, [_help(2, 0, 0), _help(2, 1, 1)])
    assert isinstance(h, HelpfulnessMeasures)
    assert [n for n, _ in h.named()] == ["p_correct", "p_correct_full", "accuracy", "mass"]
    with pytest.raises(ValueError, match="mix kinds"):
        measure(lp, [_behavior((1, -1)), _help(2, 0)])


def test_bootstrap_ci_deterministic_and_sane() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(size=(40, 3))  # prompts × coefficients
    a = mean_interval(v, n_boot=500, seed=7)
    b = mean_interval(v, n_boot=500, seed=7)
    c = mean_interval(v, n_boot=500, seed=8)
    np.testing.assert_array_equal(a.lo, b.lo)
    np.testing.assert_array_equal(a.hi, b.hi)
    assert not np.array_equal(a.lo, c.lo)
    np.testing.assert_allclose(a.value, v.mean(0))
    assert np.all(a.lo <= a.value) and np.all(a.value <= a.hi)
    # width ≈ 2·1.96·sd/√n
    width = a.hi - a.lo
    np.testing.assert_allclose(width, 2 * 1.96 * v.std(0) / np.sqrt(40), rtol=0.3)
    with pytest.raises(ValueError):
        mean_interval(np.zeros((0, 2)))


def test_resample_is_the_one_seeded_draw() -> None:
    idx = resample(7, 50, seed=3)
    assert idx.shape == (50, 7) and idx.min() >= 0 and idx.max() < 7
    np.testing.assert_array_equal(idx, resample(7, 50, seed=3))
    assert not np.array_equal(idx, resample(7, 50, seed=4))
    # drawn at once or a row at a time, the same indices (the fits draw a row at a time)
    rng = np.random.default_rng(3)
    np.testing.assert_array_equal(idx, np.stack([rng.integers(0, 7, 7) for _ in range(50)]))
    with pytest.raises(ValueError, match="no prompts"):
        resample(0, 5, 0)
    with pytest.raises(ValueError, match="n_boot"):
        resample(3, 0, 0)


def test_interval_at_a_coefficient() -> None:
    ci = mean_interval(np.arange(12.0).reshape(4, 3), n_boot=50, seed=0)
    one = ci.at(1)
    assert (one.value, one.lo, one.hi, one.n) == (float(ci.value[1]), float(ci.lo[1]),
                                                   float(ci.hi[1]), 4)


def test_difference_ci_independent_groups() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(1.0, 0.1, size=(30, 2))
    b = rng.normal(0.2, 0.1, size=(10, 2))
    d = difference_interval(a, b, n_boot=400, seed=3)
    np.testing.assert_allclose(d.value, a.mean(0) - b.mean(0))
    assert np.all(d.lo < d.value) and np.all(d.value < d.hi) and np.all(d.lo > 0.6)
    # the same difference with the groups swapped changes sign
    e = difference_interval(b, a, n_boot=400, seed=3)
    assert np.all(e.hi < 0)
