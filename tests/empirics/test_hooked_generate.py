"""Steered generation on every family: the generic path (``empirics.hooked_generate``, taken by
``steered_generate`` where the engine has no adapter) equals Hugging Face ``generate`` with the
same hooks, greedy, token for token, and equals the fast path where both run (greedy and
seeded sampling)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from empirics.decoding import GenRow, Sampling
from empirics.engine import fast_path_reason
from empirics.generate import generate_loop, steered_generate
from empirics.hooked_generate import hooked_generate
from tests.empirics.tiny import FAMILIES, FAST, tiny_family, tiny_llama
from tests.empirics.tiny import prompts_with_prefix as _prompts
from tests.empirics.tiny import unit_vectors as _vectors

EOS = [5, 11]
COEFS = [-3.0, 0.0, 2.5]


def _hooked(lm: Any, vec: dict[int, torch.Tensor], coefs: list[float], prompts: list[list[int]],
            samples: int, temperature: float, top_p: float = 1.0) -> tuple[list[list[int]], Any]:
    rows = [GenRow(c, p, s) for c in range(len(coefs)) for p in range(len(prompts))
            for s in range(samples)]
    sampling = Sampling(12, temperature, top_p, 3, (), tuple(EOS))
    tokens, logprobs, _ = hooked_generate(lm, vec, np.asarray(coefs), prompts, rows, sampling,
                                          lambda t: "")
    return tokens, logprobs


def test_generic_path_equals_the_fast_path_on_llama() -> None:
    lm = tiny_llama(0, layers=4)
    vec = {k: v * 3.0 for k, v in _vectors(64, [1, 2], seed=1).items()}
    prompts = _prompts(5, [3, 7, 7, 1, 12], seed=2)
    fast = steered_generate(lm, vec, COEFS, prompts, max_new_tokens=12, eos_token_ids=EOS)
    tokens, logprobs = _hooked(lm, vec, COEFS, prompts, 1, 0.0)
    assert tokens == fast.tokens
    for a, b in zip(logprobs, fast.logprobs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    kw: dict[str, Any] = {"max_new_tokens": 12, "samples": 3, "temperature": 1.0, "top_p": 0.9,
                          "seed": 3, "eos_token_ids": EOS}
    sampled = steered_generate(lm, vec, COEFS, prompts, **kw)
    assert _hooked(lm, vec, COEFS, prompts, 3, 1.0, 0.9)[0] == sampled.tokens


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_generation_equals_hf_generate(family: str) -> None:
    lm = tiny_family(family)
    vec = {k: v * 4.0 for k, v in _vectors(64, [1, 2], seed=1).items()}
    prompts = _prompts(4, [3, 9, 6], seed=2)
    got = steered_generate(lm, vec, COEFS, prompts, max_new_tokens=12, eos_token_ids=EOS)
    ref = generate_loop(lm, vec, COEFS, prompts, max_new_tokens=12, batch_size=1,
                        eos_token_ids=EOS)
    assert got.tokens == ref.tokens, family
    for a, b in zip(got.logprobs, ref.logprobs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # The check can fail: the reference at shifted coefficients gives other replies.
    shifted = generate_loop(lm, vec, [c + 1.0 for c in COEFS], prompts, max_new_tokens=12,
                            batch_size=1, eos_token_ids=EOS)
    assert shifted.tokens != got.tokens
    path = "fast" if fast_path_reason(lm) is None else "generic"
    assert path == ("fast" if family in FAST else "generic")
