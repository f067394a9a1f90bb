"""The generic path of steered generation (families without an engine adapter): on llama it
equals the fast path, greedy and sampled; on GPT-2 it equals HF ``generate`` with hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirics import generate as gen
from empirics.generate import generate_loop, steered_generate
from tests.empirics.tiny import prompts_with_prefix, tiny_gpt2, tiny_llama, unit_vectors

EOS = [5, 11]
COEFS = [-2.0, 0.0, 2.5]


def _force_generic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gen, "fast_path_reason", lambda *_a, **_k: "forced by the test")


def test_generic_equals_fast_path_on_llama_greedy(monkeypatch: pytest.MonkeyPatch) -> None:
    lm = tiny_llama(seed=0)
    vec = {k: v * 3.0 for k, v in unit_vectors(64, [1, 2], seed=1).items()}
    prompts = prompts_with_prefix(4, [3, 7, 1, 9], seed=2)
    fast = steered_generate(lm, vec, COEFS, prompts, max_new_tokens=10, eos_token_ids=EOS)
    _force_generic(monkeypatch)
    generic = steered_generate(lm, vec, COEFS, prompts, max_new_tokens=10, eos_token_ids=EOS)
    assert generic.settings["path"] == "generic"
    assert generic.tokens == fast.tokens and generic.finish == fast.finish
    for a, b in zip(generic.logprobs, fast.logprobs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_generic_equals_fast_path_on_llama_sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    lm = tiny_llama(seed=3)
    vec = {k: v * 3.0 for k, v in unit_vectors(64, [0, 2], seed=4).items()}
    prompts = prompts_with_prefix(2, [5, 2, 8], seed=5)
    kw = {"max_new_tokens": 8, "samples": 3, "temperature": 0.9, "top_p": 0.9, "seed": 7,
          "eos_token_ids": EOS}
    fast = steered_generate(lm, vec, COEFS, prompts, **kw)  # type: ignore[arg-type]
    _force_generic(monkeypatch)
    generic = steered_generate(lm, vec, COEFS, prompts, **kw)  # type: ignore[arg-type]
    assert generic.tokens == fast.tokens and generic.finish == fast.finish
    assert len({tuple(t) for t in generic.tokens}) > len(prompts)  # samples differ
    # The check can fail: another seed draws other replies.
    other = steered_generate(lm, vec, COEFS, prompts, **{**kw, "seed": 8})  # type: ignore[arg-type]
    assert other.tokens != generic.tokens


def test_generic_batches_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of a few rows give the rows of one batch; EOS ends rows; stop strings need a
    tokenizer (none here), so EOS and length are the finishes."""
    lm = tiny_llama(seed=0)
    vec = {k: v * 3.0 for k, v in unit_vectors(64, [1], seed=1).items()}
    prompts = prompts_with_prefix(0, [3, 6, 2], seed=9)
    _force_generic(monkeypatch)
    whole = steered_generate(lm, vec, COEFS, prompts, max_new_tokens=12, eos_token_ids=EOS)
    monkeypatch.setattr("empirics.generic_generate.GENERIC_ROWS", 2)
    small = steered_generate(lm, vec, COEFS, prompts, max_new_tokens=12, eos_token_ids=EOS)
    assert small.tokens == whole.tokens
    for toks, fin in zip(whole.tokens, whole.finish, strict=True):
        assert (fin == "eos") == (toks[-1] in EOS) and (fin == "length") == (len(toks) == 12)


def test_gpt2_generic_equals_hf_generate() -> None:
    lm = tiny_gpt2(seed=4)
    vec = {k: v * 3.0 for k, v in unit_vectors(64, [1, 2], seed=5).items()}
    prompts = prompts_with_prefix(3, [3, 7, 1, 5], seed=6)
    got = steered_generate(lm, vec, COEFS, prompts, max_new_tokens=10, eos_token_ids=EOS)
    ref = generate_loop(lm, vec, COEFS, prompts, max_new_tokens=10, batch_size=1,
                        eos_token_ids=EOS)
    assert got.settings["path"] == "generic"
    assert got.tokens == ref.tokens and got.finish == ref.finish
    for a, b in zip(got.logprobs, ref.logprobs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    shifted = steered_generate(lm, vec, [c + 0.5 for c in COEFS], prompts, max_new_tokens=10,
                               eos_token_ids=EOS)
    assert shifted.tokens != got.tokens
    assert torch.is_grad_enabled()


def test_generic_stop_strings_end_rows_and_cut_texts() -> None:
    from tests.empirics.families import tiny_family

    lm = tiny_family("gpt2")
    vec = {k: v * 3.0 for k, v in unit_vectors(64, [1], seed=1).items()}
    prompts = prompts_with_prefix(2, [3, 5], seed=3)
    free = steered_generate(lm, vec, [0.0], prompts, max_new_tokens=8, eos_token_ids=[])
    stop_tok = free.tokens[0][3]
    stop = f"w{stop_tok}"
    got = steered_generate(lm, vec, [0.0], prompts, max_new_tokens=8, eos_token_ids=[],
                           stop=[stop])
    assert got.finish[0] == "stop"
    first = free.tokens[0].index(stop_tok)
    assert got.tokens[0] == free.tokens[0][:first + 1]  # the stop token kept in the tokens
    assert stop not in got.texts[0] and free.texts[0].startswith(got.texts[0])
