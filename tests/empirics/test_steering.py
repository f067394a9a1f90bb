"""Steering hooks on the real model: exactness at r_e = 0, batching, positions, cleanup, errors,
and that the harmfulness reading vector moves B monotonically on held-out prompts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from empirics import contrast
from empirics.data import harmful_instructions
from empirics.reading_vectors import random_directions, reading_vectors
from empirics.steering import steer

pytestmark = pytest.mark.model
STEER_LAYERS = list(range(12, 21))


@pytest.fixture(scope="module")
def prompt_ids(lm) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return torch.tensor([lm.encode(lm.format_chat("Name a colour."))])


@pytest.fixture(scope="module")
def vecs(lm) -> dict[int, torch.Tensor]:  # type: ignore[no-untyped-def]
    return random_directions([4, 12], lm.hidden_size, seed=0)


def _logits(lm, ids: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    with torch.no_grad():
        return lm.model(input_ids=ids).logits


def _n_hooks(lm) -> int:  # type: ignore[no-untyped-def]
    return sum(len(layer._forward_hooks) for layer in lm.layers)


def test_zero_coefficient_is_bit_identical(lm, prompt_ids, vecs) -> None:  # type: ignore[no-untyped-def]
    base = _logits(lm, prompt_ids)
    with steer(lm, vecs, 0.0):
        assert torch.equal(_logits(lm, prompt_ids), base)
    with steer(lm, vecs, 5.0):
        assert not torch.allclose(_logits(lm, prompt_ids), base)


def test_hooks_removed_after_exception(lm, vecs) -> None:  # type: ignore[no-untyped-def]
    before = _n_hooks(lm)
    with pytest.raises(RuntimeError, match="boom"), steer(lm, vecs, 1.0):
        assert _n_hooks(lm) == before + len(vecs)
        raise RuntimeError("boom")
    assert _n_hooks(lm) == before


def test_per_row_coefficients_equal_separate_runs(lm, prompt_ids, vecs) -> None:  # type: ignore[no-untyped-def]
    coefs = [-3.0, 0.0, 2.5]
    batch = prompt_ids.repeat(len(coefs), 1)
    with steer(lm, vecs, torch.tensor(coefs)):
        together = _logits(lm, batch)
    for row, c in enumerate(coefs):
        with steer(lm, vecs, c):
            alone = _logits(lm, prompt_ids)[0]
        assert torch.allclose(together[row], alone, atol=1e-5, rtol=0)


def test_positions_last_only(lm, prompt_ids, vecs) -> None:  # type: ignore[no-untyped-def]
    base = _logits(lm, prompt_ids)
    n = prompt_ids.shape[1]
    for positions in (slice(-1, None), [n - 1]):
        with steer(lm, vecs, 8.0, positions=positions):
            steered = _logits(lm, prompt_ids)
        assert torch.allclose(steered[0, :-1], base[0, :-1], atol=1e-5, rtol=0)
        assert not torch.allclose(steered[0, -1], base[0, -1], atol=1e-3)


def test_bad_inputs(lm, vecs) -> None:  # type: ignore[no-untyped-def]
    d, before = lm.hidden_size, _n_hooks(lm)
    with pytest.raises(ValueError, match="valid layers are 0..29"):
        with steer(lm, {30: torch.ones(d)}, 1.0):
            pass
    with pytest.raises(ValueError, match="shape"):
        with steer(lm, {3: torch.ones(d + 1)}, 1.0):
            pass
    with pytest.raises(ValueError, match="NaN"):
        with steer(lm, {3: torch.full((d,), float("nan"))}, 1.0):
            pass
    with pytest.raises(ValueError, match="empty"):
        with steer(lm, {}, 1.0):
            pass
    assert _n_hooks(lm) == before


def test_harmfulness_b_monotone_on_heldout(lm, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    # Vectors from fewer than ~32 unmatched pairs are noisy (they can even flip the effect);
    # at 32 pairs the effect is monotone here, at 64+ it is robust across seeds.
    pos, neg = contrast.harmfulness_pairs(lm, data_dir, n=32, seed=0)
    rv = reading_vectors(lm, pos, neg, STEER_LAYERS, method="pca", seed=0)
    no, yes = lm.single_token_id("No"), lm.single_token_id("Yes")
    grid = [-4.0, -2.0, 0.0, 2.0, 4.0]
    held_out = harmful_instructions(data_dir, "val")[:3]
    contrast.check_disjoint(pos, [contrast.harmfulness_prompt(lm, x) for x in held_out])
    b = torch.zeros(len(grid), dtype=torch.float64)
    for instruction in held_out:
        ids = torch.tensor([lm.encode(contrast.harmfulness_prompt(lm, instruction))])
        with steer(lm, rv.vectors, torch.tensor(grid)):
            last = _logits(lm, ids.repeat(len(grid), 1))[:, -1, [no, yes]].double()
        p = torch.softmax(last, dim=-1)
        b += (p[:, 0] - p[:, 1]) / len(held_out)
    assert torch.all(b[1:] > b[:-1]), b.tolist()
