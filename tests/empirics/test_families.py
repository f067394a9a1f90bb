"""The family matrix: every driver on a tiny random model of each family against the Hugging
Face reference (fp32, CPU). Engine families (llama, mistral, qwen2, qwen3) take the fast path,
the others the generic hook path; docs/families.md tabulates what this module covers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from empirics.control_vector import control_vector_from_reading_vectors, export_gguf, import_gguf
from empirics.engine import fast_path_reason
from empirics.engine.families.gemma import GemmaFamily
from empirics.engine.families.gemma2 import Gemma2Family
from empirics.engine.families.gemma3 import Gemma3Family
from empirics.engine.families.gpt_neox import GPTNeoXFamily
from empirics.engine.families.granite import GraniteFamily
from empirics.engine.families.llama import LlamaFamily, rotate
from empirics.engine.families.olmo2 import Olmo2Family
from empirics.engine.families.phi3 import Phi3Family
from empirics.engine.family import Family, Projected, Rope
from empirics.generate import generate_loop, steered_generate
from empirics.jvp import delta2_jvp, delta_jvp
from empirics.reading_vectors import reading_vectors
from empirics.sweep import sweep, sweep_reference
from tests.empirics.families import FAMILIES, tiny_family
from tests.empirics.tiny import TOL_P, max_dp, prompts_with_prefix, unit_vectors

ENGINE = {"llama", "mistral", "qwen2", "qwen3", "gemma", "granite", "olmo2", "phi3", "mixtral",
          "qwen2_moe", "qwen3_moe", "gemma2", "gemma3_text", "gpt_neox"}
MOE = {"mixtral", "qwen2_moe", "qwen3_moe"}
COEFS = [-3.0, 0.0, 1.5, 4.0]
EOS = [5, 11]
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _case(model_type: str) -> tuple[object, dict[int, torch.Tensor], list[list[int]]]:
    lm = tiny_family(model_type)
    vec = {k: v * 3.0 for k, v in unit_vectors(64, [1, 2], seed=3).items()}
    return lm, vec, prompts_with_prefix(4, [3, 9, 1, 6], seed=4)


@pytest.mark.parametrize("model_type", list(FAMILIES))
def test_path_is_the_expected_one(model_type: str) -> None:
    lm = tiny_family(model_type)
    assert (fast_path_reason(lm, 64) is None) == (model_type in ENGINE)  # type: ignore[arg-type]


@pytest.mark.parametrize("model_type", list(FAMILIES))
def test_sweep_equals_hooked_hf_forward(model_type: str) -> None:
    lm, vec, prompts = _case(model_type)
    cands = [[1, 2, 7]] * len(prompts)
    got = sweep(lm, vec, COEFS, prompts, cands)  # type: ignore[arg-type]
    ref = sweep_reference(lm, vec, COEFS, prompts, cands, batch_size=1)  # type: ignore[arg-type]
    assert max_dp(got, ref) <= TOL_P
    # The check can fail: steering moves the probabilities by far more than the tolerance.
    shifted = sweep_reference(lm, vec, [c + 0.5 for c in COEFS], prompts, cands)  # type: ignore[arg-type]
    assert max_dp(got, shifted) > 10 * TOL_P


@pytest.mark.parametrize("model_type", list(FAMILIES))
def test_delta_by_jvp_equals_central_difference(model_type: str) -> None:
    lm, vec, prompts = _case(model_type)
    vec = {k: v / 3.0 for k, v in vec.items()}
    h, d = delta_jvp(lm, vec, prompts)  # type: ignore[arg-type]
    h_fd, d_fd = delta_jvp(lm, vec, prompts, method="fd", fd_step=1e-2)  # type: ignore[arg-type]
    torch.testing.assert_close(h, h_fd, atol=1e-4, rtol=1e-4)
    rel = float(((d - d_fd).norm(dim=1) / d_fd.norm(dim=1).clamp_min(1e-12)).max())
    assert rel < 1e-2, rel  # the difference's O(step²) error and fp32 rounding


@pytest.mark.parametrize("model_type", list(FAMILIES))
def test_delta2_equals_second_differences_of_the_sweep(model_type: str) -> None:
    """Δ₂ by nested JVP against second differences of the sweep's final states, in float64
    (the sweep stores float32: a few per cent at step 0.1); a sign error would not pass."""
    lm, vec, prompts = _case(model_type)
    model = lm.model  # type: ignore[attr-defined]
    if callable(getattr(model, "set_experts_implementation", None)):
        model.set_experts_implementation("eager")  # grouped products are float32 only
    model.double()
    # Mixtures of experts: small vectors, so no token changes its experts within ±step.
    scale = 1 / 3 if model_type in MOE else 1.0
    vec = {k: (v * scale).double() for k, v in vec.items()}
    step = 0.1
    res = sweep(lm, vec, [-step, 0.0, step], prompts, [[1]] * len(prompts),  # type: ignore[arg-type]
                keep_hidden=True)
    assert res.final_hidden is not None
    lo, mid, hi = (torch.tensor(x, dtype=torch.float64) for x in res.final_hidden)
    _, _, d2 = delta2_jvp(lm, vec, prompts)  # type: ignore[arg-type]
    fd2 = (hi - 2 * mid + lo) / step**2
    assert _rel(d2.double(), fd2) < 0.05
    assert _rel(-d2.double(), fd2) > 1.0


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).norm(dim=1) / b.norm(dim=1).clamp_min(1e-12)).max())


@pytest.mark.parametrize("model_type", list(FAMILIES))
def test_greedy_generation_equals_hf_generate(model_type: str) -> None:
    lm, vec, prompts = _case(model_type)
    got = steered_generate(lm, vec, COEFS, prompts, max_new_tokens=8,  # type: ignore[arg-type]
                           eos_token_ids=EOS)
    ref = generate_loop(lm, vec, COEFS, prompts, max_new_tokens=8, batch_size=1,  # type: ignore[arg-type]
                        eos_token_ids=EOS)
    assert got.tokens == ref.tokens and got.finish == ref.finish
    assert len({tuple(t) for t in got.tokens}) > len(prompts)  # steering changed some replies


@pytest.mark.parametrize("model_type", list(FAMILIES))
def test_reading_vectors_and_control_vector_export(model_type: str, tmp_path: Path) -> None:
    lm = tiny_family(model_type)
    positive = [f"yes {w} indeed" for w in ("cats", "dogs", "trees", "rivers", "stones", "clouds")]
    negative = [f"no {w} never" for w in ("cats", "dogs", "trees", "rivers", "stones", "clouds")]
    rv = reading_vectors(lm, positive, negative, [1, 3], holdout_fraction=0.0)
    assert sorted(rv.vectors) == [1, 3]
    for v in rv.vectors.values():
        assert v.shape == (64,) and abs(float(v.norm()) - 1) < 1e-5
    cv = control_vector_from_reading_vectors(rv, 2.0, "bias", model_hint=model_type)
    back = import_gguf(export_gguf(cv, tmp_path / "cv.gguf"))
    assert sorted(back.directions) == sorted(cv.directions)
    for k, v in cv.directions.items():
        np.testing.assert_array_equal(back.directions[k], v)


def test_composite_layer_norm_is_exact_under_nested_forward_ad() -> None:
    """PyTorch's fused layer norm gets the second forward derivative wrong (~20%); the
    composite one the reference path swaps in (``hooked.forward_mode``) does not."""
    from torch.func import jvp

    from empirics.hooked import composite_layer_norm

    torch.manual_seed(0)
    norm = torch.nn.LayerNorm(8).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    x0, v = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    one = torch.ones((), dtype=torch.float64)

    def second(f: object) -> torch.Tensor:
        g = lambda r: f(x0 + r * v)  # type: ignore[operator]  # noqa: E731
        return jvp(lambda r: jvp(g, (r,), (one,))[1], (0 * one,), (one,))[1]

    s = 1e-3
    fd = (norm(x0 + s * v) - 2 * norm(x0) + norm(x0 - s * v)) / s**2
    exact = second(lambda x: composite_layer_norm(x, norm))
    assert float((exact - fd).norm() / fd.norm()) < 1e-5
    torch.testing.assert_close(composite_layer_norm(x0, norm), norm(x0))


def _without_embedding_scale(self: object, ids: torch.Tensor) -> torch.Tensor:
    weight = self.embed_tokens.weight  # type: ignore[attr-defined]
    return torch.nn.functional.embedding(ids.to(weight.device), weight)


PHI3_PROJECT = Phi3Family.project
GEMMA2_SPEC = Gemma2Family.attention_spec
NEOX_FINISH = GPTNeoXFamily.finish


def _sequential_residual(self: Any, *args: Any) -> Any:
    self.parallel = False
    return NEOX_FINISH(self, *args)


def _rotary_on_the_other_half(self: Any, layer: int, x: Any, rope: Any, rows: Any) -> Any:
    """The rotary embedding on the last ``rotary_ndims`` dimensions of each head, not the first."""
    def turn(t: torch.Tensor, r: Any) -> torch.Tensor:
        w = t.shape[-1] - r.cos.shape[-1]
        return torch.cat([t[..., :w], rotate(t[..., w:], r)], dim=-1)

    qkv = self.lm.layers[layer].attention.query_key_value(x).view(-1, self.heads, 3 * self.head_dim)
    q, k, v = qkv.chunk(3, dim=-1)
    if rows is not None:
        q = q.index_select(0, rows)
        rope_q = Rope(rope.cos.index_select(0, rows), rope.sin.index_select(0, rows))
    else:
        rope_q = rope
    return Projected(turn(q, rope_q), turn(k, rope), v)


def _no_window(self: object, layer: int) -> object:
    return dataclasses.replace(GEMMA2_SPEC(self, layer), window=None)  # type: ignore[arg-type]


def _no_softcap(self: object, layer: int) -> object:
    return dataclasses.replace(GEMMA2_SPEC(self, layer), softcap=None)  # type: ignore[arg-type]


def _keys_values_swapped(self: object, *args: object) -> object:
    got = PHI3_PROJECT(self, *args)  # type: ignore[arg-type]
    return type(got)(got.queries, got.values, got.keys)


@pytest.mark.parametrize(("model_type", "method", "mutant"), [
    ("gemma", "embed", _without_embedding_scale),
    ("granite", "embed", LlamaFamily.embed),
    ("granite", "finish", LlamaFamily.finish),
    ("granite", "unembed", LlamaFamily.unembed),
    ("olmo2", "queries", LlamaFamily.queries),   # no q norm
    ("olmo2", "keys", LlamaFamily.keys),         # no k norm
    ("olmo2", "finish", LlamaFamily.finish),     # the Llama placement of the norms
    ("phi3", "project", _keys_values_swapped),   # the fused projection split wrongly
    ("gemma2", "attention_spec", _no_window),
    ("gemma2", "attention_spec", _no_softcap),
    ("gemma2", "unembed", LlamaFamily.unembed),  # no final soft-cap
    ("gemma2", "finish", LlamaFamily.finish),    # no norm sandwich
    ("gemma3_text", "queries", LlamaFamily.queries),  # no q norm
    ("gemma3_text", "keys", LlamaFamily.keys),        # no k norm
    ("gemma3_text", "rope_key", Family.rope_key),     # one rotary table for every layer
    ("gpt_neox", "finish", _sequential_residual),
    ("gpt_neox", "project", _rotary_on_the_other_half),
])
def test_an_adapter_without_its_feature_is_caught(model_type: str, method: str, mutant: object,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Each adapter feature matters: the sweep against the HF reference fails without it."""
    lm, vec, prompts = _case(model_type)
    cands = [[1, 2, 7]] * len(prompts)
    ref = sweep_reference(lm, vec, COEFS, prompts, cands, batch_size=1)  # type: ignore[arg-type]
    adapter = {"gemma": GemmaFamily, "granite": GraniteFamily, "olmo2": Olmo2Family,
               "phi3": Phi3Family, "gemma2": Gemma2Family,
               "gemma3_text": Gemma3Family, "gpt_neox": GPTNeoXFamily}[model_type]
    assert max_dp(sweep(lm, vec, COEFS, prompts, cands), ref) <= TOL_P  # type: ignore[arg-type]
    monkeypatch.setattr(adapter, method, mutant)
    assert max_dp(sweep(lm, vec, COEFS, prompts, cands), ref) > 100 * TOL_P  # type: ignore[arg-type]


@pytest.mark.parametrize("model_type", sorted(MOE))
def test_moe_derivatives_need_eager_experts(model_type: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the MoE adapter's ``forward_mode`` (eager experts) forward mode fails on the
    grouped products; with it Δ equals the reference path's."""
    from empirics.engine.families.moe import MoeFamily

    lm, vec, prompts = _case(model_type)
    _, d = delta_jvp(lm, vec, prompts)  # type: ignore[arg-type]
    _, d_ref = delta_jvp(lm, vec, prompts, method="reference")  # type: ignore[arg-type]
    torch.testing.assert_close(d, d_ref, atol=1e-4, rtol=1e-4)
    monkeypatch.setattr(MoeFamily, "forward_mode", Family.forward_mode)
    with pytest.raises(NotImplementedError, match="forward AD"):
        delta_jvp(lm, vec, prompts)  # type: ignore[arg-type]


def test_an_unrecognised_layout_falls_back_to_the_generic_path() -> None:
    """Gemma with an embedding that does not scale itself (older transformers scaled in the
    model's forward): the adapter declines, naming why, and the drivers still equal HF."""
    lm, vec, prompts = _case("gemma")
    base = lm.model.model  # type: ignore[attr-defined]
    plain = torch.nn.Embedding(97, 64)
    plain.weight = base.embed_tokens.weight
    base.embed_tokens = plain
    reason = fast_path_reason(lm, 64)  # type: ignore[arg-type]
    assert reason is not None and "embed_scale" in reason
    cands = [[1, 2, 7]] * len(prompts)
    got = sweep(lm, vec, COEFS, prompts, cands)  # type: ignore[arg-type]
    assert max_dp(got, sweep_reference(lm, vec, COEFS, prompts, cands)) <= TOL_P  # type: ignore[arg-type]


@pytest.mark.parametrize("model_type", ["granite", "llama"])
def test_unembedding_rows_give_the_models_logits(model_type: str) -> None:
    """⟨u_a, h⟩ is the model's logit: Granite divides its logits by ``logits_scaling``, so the
    theory's g = UΔ must too (without the division Granite's g is 4× too large)."""
    lm, _, prompts = _case(model_type)
    out = lm.model(input_ids=torch.tensor([prompts[0]]),  # type: ignore[attr-defined]
                   output_hidden_states=True)
    h = out.hidden_states[-1][0, -1]   # the final-norm output at the last token
    rows = lm.unembedding_rows([5, 6, 7])  # type: ignore[attr-defined]
    torch.testing.assert_close(rows @ h, out.logits[0, -1, [5, 6, 7]], atol=1e-4, rtol=1e-4)
