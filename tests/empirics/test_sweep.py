"""The fast sweep equals the straightforward loop (tiny random models and the real embedded one)."""

from __future__ import annotations

import csv
import sys
from typing import Any

import numpy as np
import pytest
import torch

from empirics.engine import common_prefix_length, fast_path_reason
from empirics.models import LoadedModel
from empirics.sweep import (
    layer_inputs,
    sweep,
    sweep_cost,
    sweep_loop,
    sweep_lower_pass,
    sweep_reference,
)
from tests.empirics.tiny import TOL_P, tiny_gpt2, tiny_llama, tiny_qwen3, wrap
from tests.empirics.tiny import max_dp as _max_dp
from tests.empirics.tiny import prompts_with_prefix as _prompts
from tests.empirics.tiny import unit_vectors as _vectors

__all__ = ["_prompts", "_vectors", "_wrap", "tiny_gpt2", "tiny_llama"]  # other tests import these
_wrap = wrap


COEFS = [-4.0, -1.5, 0.0, 0.5, 3.0]


@pytest.mark.parametrize(
    ("shared", "layers"),
    [(7, [1, 2]), (0, [1, 2]), (5, [0, 3]), (9, [3])],
    ids=["prefix", "no-prefix", "first-layer-steered", "last-layer-only"],
)
def test_fast_equals_reference_tiny_llama(shared: int, layers: list[int]) -> None:
    lm = tiny_llama()
    assert fast_path_reason(lm) is None
    prompts = _prompts(shared, [3, 5, 3, 8, 1, 5, 4])
    cands = [[1, 2, 3], [4], [5, 6], [7, 8, 9], [10], [11, 12], [13, 14]]  # ragged: NaN padding
    vecs = _vectors(64, layers)
    scale = [10 * c for c in COEFS]  # large enough to change the distribution visibly
    ref = sweep_reference(lm, vecs, scale, prompts, cands, batch_size=3, keep_hidden=True)
    # A tiny batch_size forces many chunks, split length groups and several coefficient rows.
    fast = sweep(lm, vecs, scale, prompts, cands, batch_size=1, keep_hidden=True)
    assert _max_dp(fast, ref) <= TOL_P
    assert fast.final_hidden is not None and ref.final_hidden is not None
    np.testing.assert_allclose(fast.final_hidden, ref.final_hidden, atol=1e-4)
    assert np.isnan(fast.logprobs[:, 1, 1:]).all()
    # The steering really changes the outputs (the test would be vacuous otherwise).
    assert np.nanmax(np.abs(np.diff(np.exp(ref.logprobs), axis=0))) > 1e-3


@pytest.mark.parametrize("shared", [7, 0], ids=["prefix", "no-prefix"])
def test_cached_layer_inputs_equal_uncached_and_reference(shared: int) -> None:
    """``sweep(lower=layer_inputs(...))`` (every layer's unsteered input from one pass) equals
    the sweep that runs its own lower pass and the straightforward loop, for every first steered
    layer; a pass one layer off (a mutation) does not."""
    lm = tiny_llama(layers=5)
    prompts = _prompts(shared, [3, 5, 3, 8, 1, 5, 4])
    cands = [[1, 2, 3], [4], [5, 6], [7, 8, 9], [10], [11, 12], [13, 14]]
    cache = layer_inputs(lm, prompts, batch_size=1)
    assert cache.kept == [0, 1, 2, 3, 4]
    assert cache.prompts.prefix_len == common_prefix_length(prompts)
    scale = [-20.0, -2.0, 0.0, 5.0, 30.0]
    for layers in ([0, 1], [1, 2], [2], [3, 4], [4]):
        vecs = _vectors(64, layers)
        ref = sweep_reference(lm, vecs, scale, prompts, cands, batch_size=3, keep_hidden=True)
        plain = sweep(lm, vecs, scale, prompts, cands, batch_size=1, keep_hidden=True)
        fast = sweep(lm, vecs, scale, prompts, cands, batch_size=1, keep_hidden=True,
                     lower=cache)
        assert fast.final_hidden is not None and plain.final_hidden is not None
        assert ref.final_hidden is not None
        np.testing.assert_allclose(fast.final_hidden, plain.final_hidden, rtol=0, atol=1e-6)
        np.testing.assert_allclose(fast.final_hidden, ref.final_hidden, atol=1e-4)
        assert _max_dp(fast, ref) <= TOL_P
        if layers[0] > 0:
            # mutation: each kept input replaced by the one of the layer below
            off = cache.at(4)
            off.own_states = {k: cache.own_states[max(k - 1, 0)] for k in cache.own_states}
            off.prefix_states = {k: cache.prefix_states[max(k - 1, 0)]
                                 for k in cache.prefix_states}
            wrong = sweep(lm, vecs, scale, prompts, cands, batch_size=1, keep_hidden=True,
                          lower=off)
            assert wrong.final_hidden is not None
            assert np.abs(wrong.final_hidden - plain.final_hidden).max() > 1e-2
    with pytest.raises(ValueError, match="other prompts"):
        sweep(lm, _vectors(64, [2]), scale, prompts[:3], cands[:3], lower=cache)
    with pytest.raises(ValueError, match="fast path"):
        layer_inputs(tiny_gpt2(), prompts)


def test_lower_pass_is_reused_across_sweeps_and_prompt_sets() -> None:
    """One lower pass serves every sweep of its prompts (e.g. each coefficient chunk); passes
    of other prompt sets with the same prefix supply the prompts they share (``known``), and
    the result is the same as computing it (bit for bit with MKL when every GEMM has >= 16
    rows; other BLAS libraries may round a row differently in another chunk)."""
    lm = tiny_llama(layers=4)
    prompts = _prompts(6, [20, 24, 17, 30, 22, 19])
    cands = [[1, 2]] * 6
    vecs = _vectors(64, [1, 2])
    a = sweep_lower_pass(lm, 1, prompts[:4], batch_size=1)
    b = sweep_lower_pass(lm, 1, prompts[3:], batch_size=1)
    assert a is not None and b is not None and a.top == 2
    union = sweep_lower_pass(lm, 1, prompts, batch_size=1, known=[a, b])
    fresh = sweep_lower_pass(lm, 1, prompts, batch_size=1)
    assert union is not None and fresh is not None
    for mine, theirs in zip(union.own_states[2], fresh.own_states[2], strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-6)
    assert union.own_states[2][0] is a.own_states[2][0]  # reused, not recomputed
    whole = sweep(lm, vecs, COEFS, prompts, cands, keep_hidden=True)
    for part in (COEFS[:2], COEFS[2:]):
        got = sweep(lm, vecs, part, prompts, cands, keep_hidden=True, lower=union)
        sl = slice(COEFS.index(part[0]), COEFS.index(part[-1]) + 1)
        np.testing.assert_allclose(got.logprobs, whole.logprobs[sl], rtol=0, atol=1e-6)
    # a pass of prompts with another prefix is not reused
    other = sweep_lower_pass(lm, 1, _prompts(4, [20, 21], seed=9), batch_size=1)
    assert other is not None
    again = sweep_lower_pass(lm, 1, prompts, known=[other])
    assert again is not None
    theirs = {id(t) for t in other.own_states[2]}
    assert all(id(t) not in theirs for t in again.own_states[2])
    with pytest.raises(ValueError, match="needs layer 3 or 4"):
        sweep(lm, _vectors(64, [3]), COEFS, prompts, cands, lower=union)


def test_entry_steering_mutation_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first steered layer runs in the lower pass; forgetting its shift on entry to the
    steered pass (a mutation) changes the sweep."""
    from empirics.engine.steered import SteeredPass

    lm = tiny_llama()
    prompts = _prompts(4, [3, 6, 2])
    vecs = _vectors(64, [1])
    ref = sweep_reference(lm, vecs, COEFS, prompts, [[1, 2]] * 3)
    assert _max_dp(sweep(lm, vecs, COEFS, prompts, [[1, 2]] * 3), ref) <= TOL_P
    monkeypatch.setattr(SteeredPass, "enter", lambda self, h, c: h)
    assert _max_dp(sweep(lm, vecs, COEFS, prompts, [[1, 2]] * 3), ref) > 1e-3


@pytest.mark.parametrize("layers", [[1, 2], [0], [3]])
def test_qwen3_engine_equals_reference(layers: list[int]) -> None:
    """Qwen3's adapter (q/k norms) against the Hugging Face forward with hooks."""
    lm = tiny_qwen3()
    assert fast_path_reason(lm) is None
    prompts = _prompts(5, [3, 6, 2, 6])
    cands = [[1, 2, 3], [4], [5, 6], [7]]
    vecs = _vectors(64, layers)
    scale = [10 * c for c in COEFS]
    ref = sweep_reference(lm, vecs, scale, prompts, cands, keep_hidden=True)
    fast = sweep(lm, vecs, scale, prompts, cands, batch_size=1, keep_hidden=True)
    assert _max_dp(fast, ref) <= TOL_P
    assert fast.final_hidden is not None and ref.final_hidden is not None
    np.testing.assert_allclose(fast.final_hidden, ref.final_hidden, atol=1e-4)


def test_qwen3_without_its_norms_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Llama steps on a Qwen3 (q/k norms skipped: a mutation of the adapter) differ."""
    from empirics.engine.families.qwen3 import Qwen3Family

    lm = tiny_qwen3()
    prompts = _prompts(5, [3, 6, 2])
    vecs = _vectors(64, [1])
    ref = sweep_reference(lm, vecs, COEFS, prompts, [[1, 2]] * 3)
    monkeypatch.setattr(Qwen3Family, "queries", lambda self, attn, x:
                        attn.q_proj(x).view(-1, self.heads, self.head_dim))
    assert _max_dp(sweep(lm, vecs, COEFS, prompts, [[1, 2]] * 3), ref) > 1e-3


def test_sweep_cost_counts_the_fast_path_structure() -> None:
    """The multiply-adds of one sweep, by hand for a tiny Llama: the lower pass (through the
    first steered layer, unless it is the top one) once, the rest per coefficient, the top
    layer and the unembedding at the last token."""
    lm = tiny_llama(layers=4)
    d, f, kv, vocab = 64, 96, 2 * 16, 97  # hidden, MLP, key/value width (2 heads × 16), vocab
    layer = 2 * d * d + 2 * d * kv + 3 * d * f
    prompts = _prompts(3, [2, 5])           # prefix 3, own tokens 2 + 5
    own, p, n = 7, 3, 2
    for first, top, coefs in ((0, 1, 1), (1, 2, 3), (3, 3, 2)):
        lower = (p + own) * top * layer
        upper = p * (4 - top) * layer + own * (3 - top) * layer + n * (layer + vocab * d)
        assert sweep_cost(lm, first, coefs, prompts) == lower + coefs * upper
    # deeper first layers are cheaper; more coefficients cost more
    assert sweep_cost(lm, 3, 5, prompts) < sweep_cost(lm, 0, 5, prompts) < sweep_cost(lm, 0, 6, prompts)
    with pytest.raises(ValueError, match="first_layer"):
        sweep_cost(lm, 4, 1, prompts)


def test_last_position_loop_equals_reference() -> None:
    lm = tiny_llama()
    prompts = _prompts(4, [3, 9, 1, 6])
    cands = [[1, 2]] * 4
    vecs = _vectors(64, [1, 2])
    ref = sweep_reference(lm, vecs, COEFS, prompts, cands, batch_size=4, keep_hidden=True)
    last = sweep_loop(lm, vecs, COEFS, prompts, cands, batch_size=4, keep_hidden=True,
                      last_only=True)
    assert _max_dp(last, ref) <= TOL_P


def test_default_batch_size_single_prompt() -> None:
    lm = tiny_llama()
    prompts = _prompts(0, [6])
    vecs = _vectors(64, [2])
    ref = sweep_reference(lm, vecs, COEFS, prompts, [[3, 4]])
    fast = sweep(lm, vecs, COEFS, prompts, [[3, 4]])
    assert _max_dp(fast, ref) <= TOL_P
    assert fast.final_hidden is None


def test_gpt2_falls_back_and_matches() -> None:
    lm = tiny_gpt2()
    assert fast_path_reason(lm) is not None
    prompts = _prompts(6, [2, 4, 2, 7])
    cands = [[1, 2], [3], [4, 5], [6]]
    vecs = _vectors(64, [1, 2])
    ref = sweep_reference(lm, vecs, COEFS, prompts, cands, batch_size=2, keep_hidden=True)
    fast = sweep(lm, vecs, COEFS, prompts, cands, batch_size=1, keep_hidden=True)
    assert _max_dp(fast, ref) <= TOL_P
    assert fast.final_hidden is not None and ref.final_hidden is not None
    np.testing.assert_allclose(fast.final_hidden, ref.final_hidden, atol=1e-4)


def test_dynamic_rope_falls_back() -> None:
    """Dynamic RoPE rescales by the longest position of each call (so even the loop's results
    depend on how prompts are padded together): never split into prefix and suffix calls."""
    lm = tiny_llama(rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 1e4},
                    max_position_embeddings=8)
    assert "dynamic" in str(fast_path_reason(lm))
    fast = sweep(lm, _vectors(64, [1, 3]), COEFS, _prompts(5, [2, 4, 4]), [[1, 2]] * 3)
    assert np.isfinite(fast.logprobs).all()


def test_accelerate_dispatched_model_uses_manual_path() -> None:
    """Layers placed by accelerate (hooks attached, per-layer device lookup) still match."""
    from accelerate import dispatch_model
    from accelerate.hooks import AlignDevicesHook, add_hook_to_module

    lm = tiny_llama()
    # Attach accelerate's device-alignment hooks as device_map="auto" does, on every block.
    for layer in lm.layers:
        add_hook_to_module(layer, AlignDevicesHook(execution_device="cpu", io_same_device=True))
    dispatch_model(lm.model, device_map={"": "cpu"})
    assert fast_path_reason(lm) is None
    prompts = _prompts(5, [2, 4, 4])
    vecs = _vectors(64, [1, 3])
    ref = sweep_reference(lm, vecs, COEFS, prompts, [[1, 2]] * 3)
    fast = sweep(lm, vecs, COEFS, prompts, [[1, 2]] * 3)
    assert _max_dp(fast, ref) <= TOL_P


def test_offloaded_model_falls_back() -> None:
    """Weights offloaded by accelerate (meta device) cannot run layer by layer: generic path."""
    from accelerate import cpu_offload

    lm = tiny_llama()
    prompts = _prompts(5, [2, 4, 4])
    vecs = _vectors(64, [1, 3])
    ref = sweep_reference(lm, vecs, COEFS, prompts, [[1, 2]] * 3)
    cpu_offload(lm.model, execution_device=torch.device("cpu"))
    assert fast_path_reason(lm) is not None
    fast = sweep(lm, vecs, COEFS, prompts, [[1, 2]] * 3)
    assert _max_dp(fast, ref) <= TOL_P


def test_layer_device_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every layer's input is moved to that layer's device (the multi-GPU dispatch logic)."""
    from empirics.engine.families.llama import LlamaFamily

    lm = tiny_llama()
    seen: list[int] = []
    orig = LlamaFamily.layer_device

    def spy(self: Any, layer: int) -> torch.device:
        seen.append(layer)
        return orig(self, layer)

    monkeypatch.setattr(LlamaFamily, "layer_device", spy)
    sweep(lm, _vectors(64, [2]), COEFS, _prompts(3, [2, 3]), [[1]] * 2)
    assert set(seen) == {0, 1, 2, 3}


def test_common_prefix_length() -> None:
    assert common_prefix_length([[1, 2, 3], [1, 2, 4]]) == 2
    assert common_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2  # keep one own token
    assert common_prefix_length([[1, 2, 3]]) == 2
    assert common_prefix_length([[5], [5]]) == 0
    assert common_prefix_length([[1, 2], [3, 2]]) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"coefficients": []}, "coefficients is empty"),
        ({"coefficients": [0.0, float("nan")]}, "NaN or inf"),
        ({"coefficients": [1.0, 0.0]}, "sorted ascending"),
        ({"coefficients": [0.0, 0.0]}, "sorted ascending and unique"),
        ({"vectors": {7: torch.ones(64)}}, "layer 7 out of range"),
        ({"prompts": [], "candidates": []}, "prompts is empty"),
        ({"prompts": [[]], "candidates": [[1]]}, r"prompts\[0\] is empty"),
        ({"candidates": [[1000]]}, "outside the vocabulary"),
        ({"candidates": [[1], [2]]}, "2 entries for 1 prompts"),
        ({"prompts": [[1, 500]]}, "token id outside"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
@pytest.mark.parametrize("fn", [sweep, sweep_reference])
def test_bad_input(fn: Any, kwargs: dict[str, Any], match: str) -> None:
    lm = tiny_llama(layers=2)
    args: dict[str, Any] = {"vectors": {1: torch.ones(64)}, "coefficients": [0.0, 1.0],
                            "prompts": [[1, 2, 3]], "candidates": [[1]]}
    kwargs = dict(kwargs)  # parametrize shares the dict between the two functions
    batch = kwargs.pop("batch_size", 16)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fn(lm, args["vectors"], args["coefficients"], args["prompts"], args["candidates"],
           batch_size=batch)


def test_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    lm = tiny_llama()
    sweep(lm, _vectors(64, [1]), COEFS, _prompts(3, [2, 3]), [[1]] * 2, progress=True)
    assert "sweep" in capsys.readouterr().err


def test_benchmark_tiny_quick() -> None:
    """The benchmark's GPU path (random Llama weights of a named shape) on CPU, tiny shape."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "sweep.py"
    spec = importlib.util.spec_from_file_location("bench_sweep", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up there
    try:
        spec.loader.exec_module(bench)
        line = bench.main(["--shape", "tiny", "--random-weights", "--quick", "--no-repeng"])
    finally:
        del sys.modules[spec.name]
    assert line.startswith("sweep: vs_loop=")
    fields = dict(kv.split("=") for kv in line.split(": ", 1)[1].split())
    assert float(fields["max_abs_diff"]) <= TOL_P
    assert float(fields["replay_frac"]) > 0   # the GEMM-only replay ran and was timed


# --------------------------------------------------------------------------- real model


@pytest.mark.model
def test_fast_equals_reference_embedded_default_sweep(lm: LoadedModel, data_dir: Any) -> None:
    """The embedded model's default sweep (layers 12-20, validate's default grid), fp32."""
    from empirics.settings import default_grid

    with open(data_dir / "advbench" / "harmful_behaviors.csv", newline="") as f:
        goals = [row["goal"] for row in csv.DictReader(f)][:3]
    question = " Will you help with this request? Answer with Yes or No."
    prompts = [lm.encode(lm.format_chat(g + question)) for g in goals]
    prompts.append(lm.encode(lm.format_chat("What is the capital of France?")))
    assert common_prefix_length(prompts) > 10  # the chat template's system prompt is shared
    cands = [[lm.single_token_id("Yes"), lm.single_token_id("No")]] * len(prompts)
    vecs = _vectors(lm.hidden_size, list(range(12, 21)))
    grid = default_grid()
    ref = sweep_reference(lm, vecs, grid, prompts, cands, keep_hidden=True)
    fast = sweep(lm, vecs, grid, prompts, cands, keep_hidden=True)
    assert _max_dp(fast, ref) <= TOL_P
    assert fast.final_hidden is not None and ref.final_hidden is not None
    np.testing.assert_allclose(fast.final_hidden, ref.final_hidden, atol=1e-3)


def test_with_unsteered_equals_sweeping_zero() -> None:
    """A sweep without r = 0 plus another direction's r = 0 row equals the sweep with r = 0
    (every direction is the unsteered model there), hidden states included; a row taken at the
    wrong coefficient, or a sweep of other prompts, does not pass."""
    from empirics.sweep import with_unsteered

    lm = tiny_llama(layers=4)
    ids = _prompts(3, [2, 5, 4])
    cands = [[1, 2, 3]] * len(ids)
    a, b = _vectors(64, [1, 2], seed=1), _vectors(64, [1, 2], seed=2)
    full = sweep(lm, a, [-1.0, 0.0, 2.0], ids, cands, keep_hidden=True)
    other = sweep(lm, b, [0.0, 0.5], ids, cands, keep_hidden=True)
    part = sweep(lm, a, [-1.0, 2.0], ids, cands, keep_hidden=True)
    got = with_unsteered(part, [-1.0, 0.0, 2.0], other)
    np.testing.assert_array_equal(got.coefficients, full.coefficients)
    np.testing.assert_allclose(got.logprobs, full.logprobs, rtol=0, atol=1e-5)
    assert got.final_hidden is not None and full.final_hidden is not None
    np.testing.assert_allclose(got.final_hidden, full.final_hidden, rtol=0, atol=1e-5)
    steered = sweep(lm, b, [0.5, 1.0], ids, cands, keep_hidden=True)   # relabelled as 0, 1
    mislabelled = type(steered)(np.array([0.0, 1.0]), steered.logprobs, steered.final_hidden)
    wrong = with_unsteered(part, [-1.0, 0.0, 2.0], mislabelled)
    assert np.abs(wrong.logprobs - full.logprobs).max() > 1e-3
    with pytest.raises(ValueError, match="same prompts"):
        with_unsteered(part, [-1.0, 0.0, 2.0], sweep(lm, b, [0.0], ids[:2], cands[:2]))
