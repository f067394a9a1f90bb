"""The packed JVP (Δ for many prompts per forward) equals one JVP per prompt through the Hugging
Face model, on tiny random Llamas over a search space of prompts and steered layers, and on the
embedded model; a broken fast path (the shared prefix left unsteered) is caught."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from empirics.engine import common_prefix_length
from empirics.jvp import delta2_jvp, delta_jvp, packed_jvp
from empirics.sweep import sweep
from tests.empirics.tiny import prompts_with_prefix as _prompts
from tests.empirics.tiny import tiny_gpt2, tiny_llama, tiny_qwen3
from tests.empirics.tiny import unit_vectors as _vectors

TINY = tiny_llama(layers=4)
# Per example: which parts of the fast path it ran (shared prefix, layers below the steering,
# several prompts per chunk of different lengths).
EXERCISED = {"n": 0, "prefix": 0, "lower": 0, "mixed": 0}


def _max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).norm(dim=1) / b.norm(dim=1).clamp_min(1e-12)).max())


# Explicit examples that run every part of the fast path at once (a shared prefix, layers below
# the steering, prompts of several lengths), so the tally below does not rest on what the
# random search happens to draw (it drew layer 0 in 28 of 30 examples once).
@settings(max_examples=30, deadline=None)
@given(shared=st.integers(0, 6), lengths=st.lists(st.integers(1, 9), min_size=1, max_size=7),
       layers=st.sets(st.integers(0, 3), min_size=1, max_size=3), seed=st.integers(0, 2**16))
@example(shared=3, lengths=[2, 5, 5, 1], layers={1, 2}, seed=11)
@example(shared=5, lengths=[1, 9], layers={3}, seed=12)
@example(shared=1, lengths=[4, 2, 7], layers={1}, seed=13)
@example(shared=6, lengths=[3, 3, 8, 1, 2], layers={2, 3}, seed=14)
@example(shared=2, lengths=[6, 1], layers={1, 3}, seed=15)
@example(shared=2, lengths=[8, 3, 5, 2, 5], layers={0, 1, 2}, seed=27149)  # h off 1.4e-5 at 2 threads
def test_packed_equals_per_prompt_reference(shared: int, lengths: list[int], layers: set[int],
                                            seed: int) -> None:
    vecs = _vectors(64, sorted(layers), seed=seed)
    ids = _prompts(shared, lengths, seed=seed + 1)
    h_ref, d_ref = delta_jvp(TINY, vecs, ids, method="reference")
    h, d = delta_jvp(TINY, vecs, ids)
    assert h.shape == d.shape == (len(ids), 64)
    # h is the final norm's output (row norm 8 here): rounding, relative to the row's norm, was
    # at most 4.7e-6 over 300 random examples at 2 threads (1.4e-5 in an element near 3, which
    # an absolute 1e-5 once failed on); a shifted RoPE position gives ~0.9.
    assert _max_rel(h, h_ref) < 2e-5
    assert _max_rel(d, d_ref) < 1e-4
    EXERCISED["n"] += 1
    EXERCISED["prefix"] += common_prefix_length(ids) > 0
    EXERCISED["lower"] += min(layers) > 0
    EXERCISED["mixed"] += len(set(lengths)) > 1


def test_packed_reference_was_exercised() -> None:
    assert EXERCISED["n"] >= 25, EXERCISED
    assert min(EXERCISED["prefix"], EXERCISED["lower"], EXERCISED["mixed"]) >= 5, EXERCISED


def _packed_delta(lm: object, vecs: dict[int, torch.Tensor], ids: list[list[int]],
                  budget: int) -> tuple[torch.Tensor, torch.Tensor]:
    from empirics.jvp import final_state_readout

    got = packed_jvp(lm, vecs, ids, final_state_readout(lm), last_only=True, budget=budget)  # type: ignore[arg-type]
    return torch.stack(got.values), torch.stack(got.first)


def test_chunks_split_by_budget() -> None:
    """Many chunks (a budget of 8 tokens) give the same Δ as one."""
    vecs = _vectors(64, [1, 2])
    ids = _prompts(3, [4, 6, 2, 6, 5, 3])
    h1, d1 = _packed_delta(TINY, vecs, ids, budget=8)
    h2, d2 = _packed_delta(TINY, vecs, ids, budget=10_000)
    # Other GEMM shapes round differently in fp32 (measured up to 2.5e-6 on |h| ~ 1 with 2 threads).
    torch.testing.assert_close(d1, d2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(h1, h2, rtol=1e-4, atol=1e-5)


def test_unsteered_prefix_mutation_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fast path that runs the shared prefix at r = 0 without tangent (forgetting that the
    steering moves the prefix's keys/values too) differs from the reference."""
    from empirics.engine.steered import SteeredPass

    vecs = _vectors(64, [1, 2])
    ids = _prompts(5, [3, 4, 4])
    _, d_ref = delta_jvp(TINY, vecs, ids, method="reference")
    honest = SteeredPass.prefix_cache
    monkeypatch.setattr(SteeredPass, "prefix_cache",
                        lambda self, c: honest(self, torch.zeros_like(c.detach())))
    _, d_bad = delta_jvp(TINY, vecs, ids)
    assert _max_rel(d_bad, d_ref) > 1e-2


def test_shifted_position_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The property test's tolerance on h catches a fast path whose rotary positions are off by
    one after the third token (a shift of every position would not be: RoPE is relative)."""
    import empirics.engine.families.llama as llama

    vecs = _vectors(64, [0, 1, 2], seed=27149)
    ids = _prompts(2, [8, 3, 5, 2, 5], seed=27150)
    h_ref, _ = delta_jvp(TINY, vecs, ids, method="reference")
    honest = llama.rope_tables
    monkeypatch.setattr(llama, "rope_tables",
                        lambda rot, pos, like: honest(rot, pos + (pos > 2).long(), like))
    h_bad, _ = delta_jvp(TINY, vecs, ids)
    assert _max_rel(h_bad, h_ref) > 2e-5


@settings(max_examples=12, deadline=None)
@given(shared=st.integers(0, 6), lengths=st.lists(st.integers(1, 9), min_size=1, max_size=5),
       layers=st.sets(st.integers(0, 3), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_delta2_packed_equals_nested_reference(shared: int, lengths: list[int], layers: set[int],
                                               seed: int) -> None:
    """Δ₂ by packed nested forward mode equals nested ``torch.func.jvp`` per prompt through the
    Hugging Face model; its Δ and h0 equal the first-order path's."""
    vecs = _vectors(64, sorted(layers), seed=seed)
    ids = _prompts(shared, lengths, seed=seed + 1)
    h_ref, d_ref, d2_ref = delta2_jvp(TINY, vecs, ids, method="reference")
    h, d, d2 = delta2_jvp(TINY, vecs, ids)
    assert _max_rel(d2, d2_ref) < 1e-4
    assert _max_rel(d, d_ref) < 1e-4
    h1, d1 = delta_jvp(TINY, vecs, ids)
    torch.testing.assert_close(d, d1, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h, h1, rtol=0, atol=1e-5)


def test_delta2_equals_second_differences_of_the_sweep() -> None:
    """Δ and Δ₂ equal central first and second differences of the sweep's final hidden states
    (float64 model; the sweep stores float32, whose rounding over step² limits the check to a
    few per cent at step 0.1); a sign error in Δ₂ would not."""
    lm = tiny_llama(layers=4)
    lm.model.double()
    vecs = {k: v.double() for k, v in _vectors(64, [1, 2]).items()}
    ids = _prompts(4, [3, 5, 2, 6])
    step = 0.1
    res = sweep(lm, vecs, [-step, 0.0, step], ids, [[1]] * len(ids), keep_hidden=True)
    assert res.final_hidden is not None
    lo, mid, hi = (torch.tensor(x, dtype=torch.float64) for x in res.final_hidden)
    h, d, d2 = delta2_jvp(lm, vecs, ids)
    assert _max_rel(d.double(), (hi - lo) / (2 * step)) < 1e-3
    fd2 = (hi - 2 * mid + lo) / step**2
    assert _max_rel(d2.double(), fd2) < 0.05
    assert _max_rel(-d2.double(), fd2) > 1.0


def test_cached_delta2_reuses_its_file(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cached_delta2_jvp`` returns ``delta2_jvp``'s arrays and, on a second call, the cached
    file (nothing recomputed); Δ's own cache entry is separate."""
    from pathlib import Path

    from empirics import jvp
    from empirics.cache import ChunkCache

    cache = ChunkCache(Path(str(tmp_path)))
    vecs = _vectors(64, [1, 2])
    ids = _prompts(3, [2, 4, 5])
    h, d, d2 = jvp.cached_delta2_jvp(TINY, vecs, ids, cache, "t", False)
    want = delta2_jvp(TINY, vecs, ids)
    for got, ref in zip((h, d, d2), want, strict=True):
        np.testing.assert_allclose(got, ref.numpy(), rtol=0, atol=1e-6)
    def recompute(*_args: object, **_kw: object) -> None:
        raise RuntimeError("recomputed")

    monkeypatch.setattr(jvp, "_derivatives", recompute)
    again = jvp.cached_delta2_jvp(TINY, vecs, ids, cache, "t", False)
    assert all(np.array_equal(a, b) for a, b in zip(again, (h, d, d2), strict=True))
    with pytest.raises(RuntimeError, match="recomputed"):
        jvp.cached_delta_jvp(TINY, vecs, ids, cache, "t", False)


def test_cached_jvp_reuses_the_sweeps_lower_pass(tmp_path: object,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """After a sweep of a larger prompt set (cache.lower_passes), Δ and Δ₂ of a subset run no
    prompt below the steering again and equal a computation from scratch: the subset, whose
    prompts share more tokens than the set, is split at the sweep's prefix."""
    from pathlib import Path

    from empirics import jvp
    from empirics.cache import ChunkCache, chunked_sweep
    from empirics.engine import lower as lower_mod
    from empirics.tasks import ScoredPrompt

    vecs = _vectors(64, [2, 3])
    ids = _prompts(3, [4, 5, 4, 6, 3], seed=4)
    ids[3][:5] = ids[4][:5] = ids[0][:5]   # the subset below shares 5 tokens, the set 3
    items = [ScoredPrompt(f"q{i}", tuple(x), (1, 2), "knowledge", f"q{i}", correct=0)
             for i, x in enumerate(ids)]
    cache = ChunkCache(Path(str(tmp_path)))
    chunked_sweep(TINY, vecs, [-1.0, 0.0, 1.0], items, cache, "b", 16, False, False)
    assert len(cache.lower_passes) == 1
    subset = [ids[0], ids[3], ids[4]]
    fresh = delta2_jvp(TINY, vecs, subset)
    runs: list[int] = []
    honest = lower_mod._run_own
    monkeypatch.setattr(lower_mod, "_run_own", lambda out, chunk, *a: (runs.append(len(chunk)),
                                                                       honest(out, chunk, *a)))
    got = jvp.cached_delta2_jvp(TINY, vecs, subset, cache, "t", False)
    assert runs == []
    for a, b in zip(got, fresh, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=0, atol=1e-5)
    jvp.cached_delta_jvp(TINY, vecs, subset, ChunkCache(Path(str(tmp_path)) / "other"), "u", False)
    assert runs, "without the sweep's pass the prompts run below the steering"


def test_qwen3_delta_and_delta2_equal_reference() -> None:
    lm = tiny_qwen3()
    vecs = _vectors(64, [1, 2])
    ids = _prompts(4, [3, 6, 2])
    h_ref, d_ref, d2_ref = delta2_jvp(lm, vecs, ids, method="reference")
    h, d, d2 = delta2_jvp(lm, vecs, ids)
    assert _max_rel(d, d_ref) < 1e-4 and _max_rel(d2, d2_ref) < 1e-4


def test_generic_architecture_takes_the_reference_path() -> None:
    lm = tiny_gpt2()
    vecs = _vectors(64, [1, 2])
    ids = _prompts(2, [3, 5])
    h, d = delta_jvp(lm, vecs, ids)
    h_ref, d_ref = delta_jvp(lm, vecs, ids, method="reference")
    assert torch.equal(d, d_ref) and torch.equal(h, h_ref)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"method": "exact"}, "method 'exact'"),
    ({"fd_step": 0.0}, "fd_step"),
    ({"input_ids": []}, "input_ids is empty"),
    ({"input_ids": [[1, 2], []]}, r"input_ids\[1\] is empty"),
])
def test_bad_input(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"input_ids": [[1, 2, 3]], **kwargs}
    ids = args.pop("input_ids")
    with pytest.raises(ValueError, match=match):
        delta_jvp(TINY, _vectors(64, [1]), ids, **args)  # type: ignore[arg-type]


@pytest.mark.model
def test_packed_equals_reference_on_embedded_model(lm) -> None:  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(3)
    vecs = {layer: torch.nn.functional.normalize(torch.randn(lm.hidden_size, generator=g), dim=0)
            for layer in (12, 16, 20)}
    texts = ["How do I pick a lock?", "What is the capital of France? Answer:",
             "Is it fine to lie to a friend to spare their feelings? Answer yes or no."]
    ids = [lm.encode(lm.format_chat(t)) for t in texts]
    assert common_prefix_length(ids) > 0   # the chat template's shared head
    h_ref, d_ref = delta_jvp(lm, vecs, ids, method="reference")
    h, d = delta_jvp(lm, vecs, ids)
    # fp32, different kernels (packed GEMMs, math SDPA vs eager): measured ~4e-6 relative.
    assert _max_rel(d, d_ref) < 1e-4
    np.testing.assert_allclose(h.numpy(), h_ref.numpy(), rtol=0, atol=1e-4 * float(h_ref.abs().max()))
    # Along two directions at once (one shared primal): the same Δ up to fp32 rounding.
    from empirics.jvp import final_state_readout, packed_jvp_along
    other = {layer: -v for layer, v in vecs.items()}
    both = packed_jvp_along(lm, [vecs, other], ids, final_state_readout(lm), last_only=True,
                            budget=4096)
    assert _max_rel(torch.stack(both[0].first), d) < 1e-5
    assert _max_rel(-torch.stack(both[1].first), d) < 1e-5


@pytest.mark.parametrize("make", [tiny_llama, tiny_qwen3], ids=["llama", "qwen3"])
def test_delta_along_several_directions_equals_one_at_a_time(make) -> None:  # type: ignore[no-untyped-def]
    """Δ along three directions in one pass (one shared primal) equals each direction's own
    packed JVP, direction by direction; a swapped direction is caught; directions of other
    layers are refused."""
    from empirics.engine import packed_first_along
    from empirics.jvp import final_state_readout, packed_jvp_along

    lm = make()
    dirs = [_vectors(64, [1, 2], seed=s) for s in (1, 2, 3)]
    ids = _prompts(3, [2, 5, 5, 7], seed=5)
    got = packed_jvp_along(lm, dirs, ids, final_state_readout(lm), last_only=True, budget=9)
    assert len(got) == 3
    for g, v in zip(got, dirs, strict=True):
        h, d = delta_jvp(lm, v, ids)   # other chunks (budget): products of other row counts
        assert _max_rel(torch.stack(g.values), h) < 1e-5
        assert _max_rel(torch.stack(g.first), d) < 1e-5
    swapped = torch.stack(got[1].first)
    assert (swapped - delta_jvp(lm, dirs[0], ids)[1]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="same layers"):
        packed_jvp_along(lm, [dirs[0], _vectors(64, [1, 3])], ids, final_state_readout(lm),
                         last_only=True, budget=9)
    with pytest.raises(ValueError, match="empty"):
        packed_first_along(None, [], final_state_readout(lm), output=None, budget=9)  # type: ignore[arg-type]


def test_cached_deltas_of_several_directions(tmp_path: object,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``cached_delta_jvps`` equals ``delta_jvp`` per direction, computes only the directions
    it has not cached (together), and a second call recomputes nothing."""
    from pathlib import Path

    from empirics import jvp
    from empirics.cache import ChunkCache

    cache = ChunkCache(Path(str(tmp_path)))
    dirs = [_vectors(64, [2, 3], seed=s) for s in (4, 5, 6)]
    ids = _prompts(3, [4, 2, 6], seed=6)
    first = jvp.cached_delta_jvps(TINY, dirs[:1], ids, cache, ["a"], False)
    along = jvp._along
    computed: list[int] = []
    monkeypatch.setattr(jvp, "_along", lambda lm, ds, *a: (computed.append(len(ds)),
                                                           along(lm, ds, *a))[1])
    got = jvp.cached_delta_jvps(TINY, dirs, ids, cache, ["a", "b", "c"], False)
    assert computed == [2]
    assert np.array_equal(got[0][1], first[0][1])
    for (h, d), v in zip(got, dirs, strict=True):
        want_h, want_d = delta_jvp(TINY, v, ids)
        np.testing.assert_allclose(h, want_h.numpy(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(d, want_d.numpy(), rtol=0, atol=1e-6)
    again = jvp.cached_delta_jvps(TINY, dirs, ids, cache, ["a", "b", "c"], False)
    assert computed == [2]
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(again, got, strict=True))
    with pytest.raises(ValueError, match="one tag each"):
        jvp.cached_delta_jvps(TINY, dirs, ids, cache, ["a"], False)
    with pytest.raises(ValueError, match="input_ids is empty"):
        jvp.cached_delta_jvps(TINY, dirs, [], cache, ["a", "b", "c"], False)
