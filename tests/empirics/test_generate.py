"""steered_generate equals HF ``generate`` with steering hooks (greedy, fp32 CPU), sampling is
seeded, finished rows leave the batch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import torch

from empirics import decoding
from empirics import generate as gen
from empirics.engine import decode_attention, readout
from empirics.engine.histories import Slots
from empirics.engine.readout import choose as _choose
from empirics.engine.readout import logsumexp_, streamed_greedy
from empirics.generate import generate_loop, steered_generate
from tests.empirics.tiny import prompts_with_prefix as _prompts
from tests.empirics.tiny import tiny_llama, tiny_qwen3
from tests.empirics.tiny import unit_vectors as _vectors

EOS = [5, 11]


def _case(seed: int, layers: list[int], shared: int, lengths: list[int], scale: float = 3.0
          ) -> tuple[Any, dict[int, torch.Tensor], list[list[int]]]:
    lm = tiny_llama(seed, layers=4)
    vec = {k: v * scale for k, v in _vectors(64, layers, seed=seed + 1).items()}
    return lm, vec, _prompts(shared, lengths, seed=seed + 2)


CASES = [
    (0, [1, 2], 5, [3, 7, 7, 1, 12]),   # shared prefix, layers below the first steered one
    (1, [0], 0, [4, 4, 9]),             # no shared prefix, steering from layer 0
    (2, [3], 8, [1, 1, 2, 6, 6, 6]),     # only the last layer steered, tiny suffixes
    (3, [1, 3], 2, [10]),               # one prompt
]


@pytest.mark.parametrize(("seed", "layers", "shared", "lengths"), CASES)
def test_greedy_equals_hf_generate(seed: int, layers: list[int], shared: int,
                                   lengths: list[int]) -> None:
    lm, vec, prompts = _case(seed, layers, shared, lengths)
    coefs = [-2.0, 0.0, 0.7, 2.5]
    fast = steered_generate(lm, vec, coefs, prompts, max_new_tokens=12, eos_token_ids=EOS)
    ref = generate_loop(lm, vec, coefs, prompts, max_new_tokens=12, batch_size=1,
                        eos_token_ids=EOS)
    assert fast.tokens == ref.tokens
    assert fast.finish == ref.finish
    for a, b in zip(fast.logprobs, ref.logprobs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # The check can fail: the reference at a shifted coefficient gives other replies.
    shifted = generate_loop(lm, vec, [c + 0.5 for c in coefs], prompts, max_new_tokens=12,
                            batch_size=1, eos_token_ids=EOS)
    assert shifted.tokens != fast.tokens


def _equal_to_hf(lm: Any, vec: dict[int, torch.Tensor], coefs: list[float],
                 prompts: list[list[int]]) -> Any:
    """steered_generate's greedy replies, asserted equal to HF ``generate`` (tokens and
    log-probabilities, 12 new tokens, EOS ids ``EOS``)."""
    fast = steered_generate(lm, vec, coefs, prompts, max_new_tokens=12, eos_token_ids=EOS)
    ref = generate_loop(lm, vec, coefs, prompts, max_new_tokens=12, batch_size=1,
                        eos_token_ids=EOS)
    assert fast.tokens == ref.tokens
    for a, b in zip(fast.logprobs, ref.logprobs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    return fast


def test_blocked_unembedding_equals_hf_generate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vocabulary blocks of 16 over the tiny vocabulary of 97 (six full blocks and a remainder
    of one): the same replies and log-probabilities as HF ``generate``."""
    monkeypatch.setattr(readout, "UNEMBED_BLOCK", 16)
    lm, vec, prompts = _case(0, [1, 2], 5, [3, 7, 7, 1, 12])
    coefs = [-2.0, 0.0, 2.5]
    _equal_to_hf(lm, vec, coefs, prompts)


@pytest.mark.parametrize("block", [16, 97, 1024])
def test_streamed_greedy_equals_full_logits(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    """``streamed_greedy`` (vocabulary blocks, running max and log-sum-exp) against argmax and
    log_softmax of the full logits, with a tie across blocks that must go to the lower id."""
    monkeypatch.setattr(readout, "UNEMBED_BLOCK", block)
    lm = tiny_llama(0, layers=2)
    g = torch.Generator().manual_seed(0)
    top = torch.nn.functional.normalize(torch.randn(64, generator=g), dim=0) * 10
    norm_w: torch.Tensor = lm.final_norm.weight  # type: ignore[union-attr,assignment]
    head_w: torch.Tensor = lm.lm_head.weight  # type: ignore[union-attr,assignment]
    with torch.no_grad():
        norm_w.fill_(1.0)
        head_w[3] = top                                  # ids 3 and 90 always tie,
        head_w[90] = top                                 # in different blocks of 16
    h = torch.randn(40, 64, generator=g) * 3
    h[5:15] = top + 0.01 * torch.randn(10, 64, generator=g)  # where they are the maximum
    h[:5] = 0.0                                          # every logit 0: all tie, id 0 wins
    with torch.inference_mode():
        logits = lm.lm_head(lm.final_norm(h))
        tok, lp = streamed_greedy(head_w, lm.final_norm(h))
    assert torch.equal(tok, logits.argmax(dim=-1))
    want = torch.log_softmax(logits, dim=-1).gather(1, tok.unsqueeze(1)).squeeze(1)
    torch.testing.assert_close(lp, want, rtol=0, atol=1e-5)
    assert (tok[:5] == 0).all() and (tok[5:15] == 3).all()


@pytest.mark.parametrize(("heads", "kv_heads"), [(4, 2), (9, 3), (4, 4), (6, 1)])
def test_decode_attention_equals_sdpa(heads: int, kv_heads: int) -> None:
    """One query per row over strided views of a wider cache, masked alignment columns, grouped
    query heads (query head h reads key/value head h // group, as HF's repeat_kv)."""
    g = torch.Generator().manual_seed(heads * 10 + kv_heads)
    r, hd, width, n = 7, 16, 20, 13
    q = torch.randn(r, heads, hd, generator=g)
    keys = torch.randn(r, kv_heads, width, hd, generator=g)
    values = torch.randn(r, kv_heads, width, hd, generator=g)
    valid = torch.ones(r, n, dtype=torch.bool)
    for j in range(r):
        valid[j, : j % 5] = False  # left alignment of shorter prompts
    mask = torch.zeros(r, 1, 1, n).masked_fill_(~valid.view(r, 1, 1, n), float("-inf"))
    got = decode_attention(q, keys[:, :, :n], values[:, :, :n], mask, hd**-0.5)
    want = torch.nn.functional.scaled_dot_product_attention(
        q.unsqueeze(2), keys[:, :, :n], values[:, :, :n], attn_mask=valid.view(r, 1, 1, n),
        scale=hd**-0.5, enable_gqa=heads != kv_heads).reshape(r, heads * hd)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    half = decode_attention(q.bfloat16(), keys[:, :, :n].bfloat16(),
                                values[:, :, :n].bfloat16(), mask.bfloat16(), hd**-0.5)
    torch.testing.assert_close(half.float(), want, rtol=0, atol=0.05)  # bf16 caches (GPU)
    if kv_heads not in (1, heads):  # the group layout matters: interleaved heads are wrong
        wrong = q.view(r, heads // kv_heads, kv_heads, hd).transpose(1, 2).reshape(r, heads, hd)
        bad = decode_attention(wrong, keys[:, :, :n], values[:, :, :n], mask, hd**-0.5)
        assert not torch.allclose(bad, want, atol=1e-3)


def test_in_place_logsumexp_and_scratch_choice() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 300, generator=g) * 8
    logits[1, :250] = float("-inf")          # most of a row impossible
    logits[2, 7] = 60.0                       # one dominant token
    want = torch.logsumexp(logits, dim=-1)
    torch.testing.assert_close(logsumexp_(logits.clone()), want, rtol=0, atol=1e-5)
    u = torch.rand(6, generator=g)
    for temperature, top_p, uni in [(0.0, 1.0, None), (1.0, 1.0, u), (0.7, 0.9, u)]:
        tok_a, lp_a = _choose(logits, temperature, top_p, uni)
        scratch = logits.clone()
        tok_b, lp_b = _choose(scratch, temperature, top_p, uni, scratch=True)
        assert torch.equal(tok_a, tok_b)
        torch.testing.assert_close(lp_a, lp_b, rtol=0, atol=1e-5)
    # Without scratch=True the caller's logits are left as they were.
    before = logits.clone()
    _choose(logits, 0.0, 1.0, None)
    assert torch.equal(logits, before)


def test_batched_loop_and_small_chunks_agree() -> None:
    lm, vec, prompts = _case(0, [1, 2], 5, [3, 7, 7, 1, 12])
    coefs = [-1.0, 1.0]
    ref = generate_loop(lm, vec, coefs, prompts, max_new_tokens=10, batch_size=4, eos_token_ids=EOS)
    tiny_chunks = steered_generate(lm, vec, coefs, prompts, max_new_tokens=10, eos_token_ids=EOS,
                                   kv_bytes=1)  # one row per chunk
    assert tiny_chunks.tokens == ref.tokens


def test_eos_ends_rows_and_finished_rows_leave_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    lm, vec, prompts = _case(0, [1, 2], 5, [3, 7, 7, 1, 12, 4, 4, 9])
    sizes: list[int] = []
    step = decoding.ChunkDecoder._step

    def spy(self: Any, state: Any, *args: Any) -> torch.Tensor:
        sizes.append(int(state.positions.shape[0]))
        return step(self, state, *args)

    monkeypatch.setattr(decoding.ChunkDecoder, "_step", spy)
    # Many EOS ids: most rows end early.
    eos = list(range(0, 97, 3))
    out = steered_generate(lm, vec, [-2.0, 0.0, 2.0], prompts, max_new_tokens=16, eos_token_ids=eos)
    ended = [f == "eos" for f in out.finish]
    assert sum(ended) >= out.rows // 2
    for toks, f in zip(out.tokens, out.finish, strict=True):
        assert (toks[-1] in eos) == (f == "eos")
        assert all(t not in eos for t in toks[:-1])
    assert sizes[0] <= out.rows and min(sizes) < sizes[0]  # the batch shrank
    ref = generate_loop(lm, vec, [-2.0, 0.0, 2.0], prompts, max_new_tokens=16, batch_size=1,
                        eos_token_ids=eos)
    assert out.tokens == ref.tokens


def _slot_counts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(slots, rows) of every decoding step, recorded by a spy on the decoding step."""
    seen: list[tuple[int, int]] = []
    step = decoding.ChunkDecoder._step

    def spy(self: Any, state: Any, *args: Any) -> torch.Tensor:
        seen.append((int(state.slots.n), int(state.positions.shape[0])))
        return step(self, state, *args)

    monkeypatch.setattr(decoding.ChunkDecoder, "_step", spy)
    return seen


# Close coefficients and a weak vector: many rows of a prompt keep the same reply for a while.
SHARING = (0, [1, 2], 5, [3, 7, 7, 1, 12, 4])
CLOSE = [-0.4, -0.2, 0.0, 0.1, 0.3, 2.5]


def test_shared_layers_run_once_per_history_and_equal_hf(monkeypatch: pytest.MonkeyPatch) -> None:
    lm, vec, prompts = _case(*SHARING, scale=1.0)
    seen = _slot_counts(monkeypatch)
    fast = _equal_to_hf(lm, vec, CLOSE, prompts)
    # The claim was exercised: some steps shared, and histories also forked.
    assert any(n < rows for n, rows in seen)
    assert len({n for n, _ in seen}) > 1
    # Slots are exactly the distinct (prompt, reply so far) among the rows still decoding.
    distinct = [len({(int(pi), tuple(t[:k + 1])) for pi, t in zip(fast.prompt_index, fast.tokens,
                                                                   strict=True) if len(t) > k + 1})
                for k in range(11)]
    assert [n for n, _ in seen][:3] == distinct[:3]  # no row has finished yet in these steps


def test_sampled_rows_share_histories_as_per_row_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sampling (samples of a prompt draw the same uniforms at every coefficient): sharing the
    shared layers gives the same replies and log-probabilities as one slot per row."""
    lm, vec, prompts = _case(*SHARING, scale=1.0)
    kw: dict[str, Any] = {"max_new_tokens": 10, "samples": 3, "temperature": 0.7, "seed": 1,
                          "eos_token_ids": EOS}
    seen = _slot_counts(monkeypatch)
    shared = steered_generate(lm, vec, CLOSE, prompts, **kw)
    assert any(n < rows for n, rows in seen)
    monkeypatch.setattr(gen, "SHARE_HISTORIES", False)
    seen.clear()
    per_row = steered_generate(lm, vec, CLOSE, prompts, **kw)
    assert all(n == rows for n, rows in seen)
    assert shared.tokens == per_row.tokens
    for a, b in zip(shared.logprobs, per_row.logprobs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("mutation", ["wrong-parent-cache", "never-fork"])
def test_a_broken_fork_is_caught(monkeypatch: pytest.MonkeyPatch, mutation: str) -> None:
    """The equality above can fail: a fork that copies another slot's cache, or rows that
    keep sharing a slot after their tokens differ, give other replies."""
    lm, vec, prompts = _case(*SHARING, scale=1.0)
    ref = generate_loop(lm, vec, CLOSE, prompts, max_new_tokens=12, batch_size=1,
                        eos_token_ids=EOS)
    fork = Slots.fork

    def broken(self: Any, keep: list[int], tok: list[int]) -> torch.Tensor:
        if mutation == "never-fork":
            of = self.of.tolist()
            first: dict[int, int] = {}
            for k in keep:
                first.setdefault(of[k], tok[k])
            return fork(self, keep, [first[of[k]] if k in keep else t for k, t in enumerate(tok)])
        parents = fork(self, keep, tok)
        return torch.zeros_like(parents)

    monkeypatch.setattr(Slots, "fork", broken)
    fast = steered_generate(lm, vec, CLOSE, prompts, max_new_tokens=12, eos_token_ids=EOS)
    assert fast.tokens != ref.tokens


def test_seeded_sampling_is_deterministic_and_independent_of_chunking() -> None:
    lm, vec, prompts = _case(0, [1, 2], 5, [3, 7, 7, 1, 12])
    kw: dict[str, Any] = {"max_new_tokens": 10, "samples": 3, "temperature": 1.0, "seed": 3,
                          "eos_token_ids": EOS}
    a = steered_generate(lm, vec, [-1.0, 0.0, 1.0], prompts, **kw)
    b = steered_generate(lm, vec, [-1.0, 0.0, 1.0], prompts, kv_bytes=1, **kw)
    c = steered_generate(lm, vec, [-1.0, 0.0, 1.0], prompts, **{**kw, "seed": 4})
    assert a.tokens == b.tokens
    assert a.tokens != c.tokens
    assert len({tuple(a.tokens[a.row(1, 0, s)]) for s in range(3)}) > 1  # samples differ
    # A row's text does not depend on the other coefficients in the call.
    alone = steered_generate(lm, vec, [1.0], prompts, **kw)
    assert alone.tokens == a.tokens[a.row(2, 0, 0):]


def test_sampler_inverse_cdf_and_top_p() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2, 0.0]]))
    for u, want in [(0.1, 0), (0.49, 0), (0.51, 1), (0.79, 1), (0.81, 2), (0.999, 2)]:
        tok, lp = _choose(logits, 1.0, 1.0, torch.tensor([u]))
        assert int(tok) == want
        assert float(lp) == pytest.approx(float(logits[0, want]))
    # top_p=0.6 keeps {0, 1} (0.5 < 0.6 <= 0.8) and renormalises to 5/8, 3/8.
    for u, want in [(0.6, 0), (0.63, 1), (0.99, 1)]:
        tok, _ = _choose(logits, 1.0, 0.6, torch.tensor([u]))
        assert int(tok) == want
    tok, _ = _choose(logits, 0.0, 1.0, None)
    assert int(tok) == 0


def test_sampling_frequencies_match_the_model() -> None:
    lm, vec, prompts = _case(0, [1, 2], 0, [4])
    out = steered_generate(lm, vec, [0.7], prompts, max_new_tokens=1, samples=400,
                           temperature=1.0, seed=0, eos_token_ids=[])
    ref = generate_loop(lm, vec, [0.7], prompts, max_new_tokens=1, batch_size=1, eos_token_ids=[])
    greedy = ref.tokens[0][0]
    p_greedy = float(np.exp(ref.logprobs[0][0]))
    freq = np.mean([t[0] == greedy for t in out.tokens])
    assert abs(freq - p_greedy) < 4 * np.sqrt(p_greedy * (1 - p_greedy) / 400) + 1e-3


def test_bad_inputs_are_named() -> None:
    lm, vec, prompts = _case(0, [1, 2], 5, [3, 7])
    with pytest.raises(ValueError, match="samples=1"):
        steered_generate(lm, vec, [0.0], prompts, samples=2)
    with pytest.raises(ValueError, match="top_p"):
        steered_generate(lm, vec, [0.0], prompts, temperature=1.0, top_p=0.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        steered_generate(lm, vec, [0.0], prompts, max_new_tokens=0)
    with pytest.raises(ValueError, match="empty"):
        steered_generate(lm, vec, [0.0], [[]])


@pytest.mark.model
def test_embedded_model_greedy_equals_hf_generate(lm: Any) -> None:
    texts = ["How do I bake bread?", "Tell me how to pick a lock.", "Write a poem about the sea."]
    prompts = [lm.encode(lm.format_chat(t)) for t in texts]
    layers = list(range(12, 21))
    g = torch.Generator().manual_seed(0)
    vec = {li: torch.nn.functional.normalize(torch.randn(lm.hidden_size, generator=g), dim=0) * 4
           for li in layers}
    coefs = [-2.0, 0.0, 2.0]
    fast = steered_generate(lm, vec, coefs, prompts, max_new_tokens=16)
    ref = generate_loop(lm, vec, coefs, prompts, max_new_tokens=16, batch_size=1)
    assert fast.tokens == ref.tokens
    assert fast.texts == ref.texts
    assert len(set(map(tuple, fast.tokens))) > len(texts)  # steering changed some replies


def test_qwen3_greedy_equals_hf_generate() -> None:
    """Qwen3's adapter (q/k norms) in prefill and decoding, against HF ``generate``."""
    lm = tiny_qwen3(seed=4)
    vec = {k: v * 3.0 for k, v in _vectors(64, [1, 2], seed=5).items()}
    prompts = _prompts(5, [3, 7, 7, 1, 12], seed=6)
    _equal_to_hf(lm, vec, [-2.0, 0.0, 2.5], prompts)


def test_one_lower_pass_serves_the_sweep_and_generation() -> None:
    """A lower pass with keys/values (``sweep_lower_pass(keep_kv=True)``) gives generation the
    same replies as its own, and the sweep the same log-probs; one without them is refused."""
    from empirics.sweep import sweep, sweep_lower_pass

    lm, vec, prompts = _case(0, [1, 2], 5, [3, 7, 7, 1, 12])
    lower = sweep_lower_pass(lm, 1, prompts, keep_kv=True)
    assert lower is not None and lower.own_kv is not None
    coefs = [-2.0, 0.0, 2.5]
    own = steered_generate(lm, vec, coefs, prompts, max_new_tokens=8, eos_token_ids=EOS)
    shared = steered_generate(lm, vec, coefs, prompts, max_new_tokens=8, eos_token_ids=EOS,
                              lower=lower)
    assert shared.tokens == own.tokens
    cands = [[1, 2]] * len(prompts)
    np.testing.assert_allclose(sweep(lm, vec, coefs, prompts, cands, lower=lower).logprobs,
                               sweep(lm, vec, coefs, prompts, cands).logprobs, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="keys/values"):
        steered_generate(lm, vec, coefs, prompts, lower=sweep_lower_pass(lm, 1, prompts))


def test_chunk_rows_spreads_rows_evenly() -> None:
    assert gen.chunk_rows(704, 572 * 100, 100) == 352      # two chunks of 352, not 572 + 132
    assert gen.chunk_rows(704, 10**9, 100) == 704          # everything fits: one chunk
    assert gen.chunk_rows(5, 1, 100) == 1                  # a budget below one row: one per chunk
    for total in range(1, 60):
        for cap in range(1, 20):
            rows = gen.chunk_rows(total, cap * 7, 7)
            chunks = -(-total // rows)
            assert rows <= cap and chunks == -(-total // cap)  # as few chunks as the cap allows
            assert chunks * rows - total < chunks              # and they differ by < 1 row each


def test_kv_budget_on_cpu_is_the_constant() -> None:
    assert gen.kv_budget(tiny_llama(0, layers=2)) == gen.KV_BYTES


@contextmanager
def _benchmark(name: str) -> Iterator[Any]:
    """benchmarks/generate.py loaded from its file as module ``name`` (removed afterwards)."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "generate.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[name] = bench
    try:
        spec.loader.exec_module(bench)
        yield bench
    finally:
        del sys.modules[name]


def test_benchmark_runs_on_a_tiny_random_shape() -> None:
    """benchmarks/generate.py end to end on a tiny random Llama: its last line, with the fast
    path's greedy text equal to the HF loop's."""
    with _benchmark("bench_generate") as bench:
        line = bench.main(["--shape", "tiny", "--random-weights", "--quick", "--prompts", "6",
                           "--max-new-tokens", "5"])
    assert line.startswith("generate: vs_loop=") and "vs_repeng=n/a" in line
    assert line.endswith("same_greedy=true")
    assert float(line.split("limit_frac=")[1].split()[0]) > 0


def test_benchmark_limit_counts_shared_layers_once_per_history() -> None:
    """benchmarks/generate.py's necessary work: below and at the first steered layer a fed-back
    token costs once per distinct (prompt, reply so far), above it once per row."""
    with _benchmark("bench_generate_limit") as bench:
        shape = bench.Shape(d=8, inter=16, layers=6, heads=2, kv_heads=1, head_dim=4, vocab=11)
        prompts = [[1, 2, 3], [1, 2, 4, 5]]
        first = 2  # shared layers 0..2, upper layers 3..5

        def need(tokens: list[list[int]]) -> int:
            out = gen.Generation(np.array([-1.0, 1.0]), 2, 1, tokens,
                                 [np.zeros(len(t)) for t in tokens], [""] * 4, ["length"] * 4)
            return int(bench.necessary_flops(shape, prompts, first, 2, out))

        same = need([[7, 8, 9], [7, 7, 7], [7, 8, 9], [7, 7, 7]])    # coefficients agree
        forked = need([[7, 8, 9], [7, 7, 7], [7, 6, 9], [7, 7, 7]])  # prompt 0 forks at step 1
        # Prompt 0 at coefficient 1 feeds back [7, 6]: its second token is a new history (the
        # first, [7], is shared); the third token (9) is never fed back.
        assert forked - same == shape.tokens(3 + 1, 1, first + 1)
        literal = bench.necessary_flops(shape, prompts, first, 2, gen.Generation(
            np.array([-1.0, 1.0]), 2, 1, [[7, 8, 9], [7, 7, 7], [7, 8, 9], [7, 7, 7]],
            [np.zeros(3)] * 4, [""] * 4, ["length"] * 4), literal=True)
        assert literal != same
