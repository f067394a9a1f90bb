"""Every family through the drivers against references, on tiny random models (fp32 CPU): the
sweep vs the per-coefficient Hugging Face loop, Δ and Δ₂ by (nested) forward mode vs central
differences of the model itself, and the control-vector export read back. Generation per
family: tests/empirics/test_hooked_generate.py; the whole job: test_families_e2e.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from empirics.control_vector import ControlVector, export_gguf, import_gguf
from empirics.generate import steered_generate
from empirics.jvp import delta2_jvp, delta_jvp
from empirics.sweep import sweep, sweep_loop
from tests.empirics.tiny import FAMILIES, max_dp, tiny_family
from tests.empirics.tiny import prompts_with_prefix as _prompts
from tests.empirics.tiny import unit_vectors as _vectors

LAYERS = [1, 2]


def _case(family: str) -> tuple[object, dict[int, torch.Tensor], list[list[int]]]:
    lm = tiny_family(family)
    return lm, {k: 2.0 * v for k, v in _vectors(64, LAYERS, seed=1).items()}, _prompts(
        4, [3, 9, 6], seed=2)


@pytest.mark.parametrize("family", FAMILIES)
def test_sweep_equals_the_hf_loop(family: str) -> None:
    lm, vec, prompts = _case(family)
    cands = [[5, 6, 7]] * len(prompts)
    coefs = [-3.0, 0.0, 1.5]
    got = sweep(lm, vec, coefs, prompts, cands)  # type: ignore[arg-type]
    ref = sweep_loop(lm, vec, coefs, prompts, cands)  # type: ignore[arg-type]
    assert max_dp(got, ref) <= 1e-5
    other = sweep_loop(lm, vec, [c + 2.0 for c in coefs], prompts, cands)  # type: ignore[arg-type]
    assert max_dp(other, ref) > 1e-4  # the comparison can fail


@pytest.mark.parametrize("family", FAMILIES)
def test_delta_and_delta2_equal_central_differences(family: str) -> None:
    lm, vec, prompts = _case(family)
    h0, d1 = delta_jvp(lm, vec, prompts)  # type: ignore[arg-type]
    _, d1_fd = delta_jvp(lm, vec, prompts, method="fd")  # type: ignore[arg-type]
    _, _, d2 = delta2_jvp(lm, vec, prompts)  # type: ignore[arg-type]
    assert float((d1 - d1_fd).norm() / d1.norm()) <= 1e-3
    # Second differences lose 1/step² of fp32 rounding, and a step that crosses a change of
    # expert routing (MoE: piecewise in r) is no reference at all: per prompt, the better of
    # two steps must agree.
    errors = []
    for step in (5e-2, 1e-2):
        _, _, d2_fd = delta2_jvp(lm, vec, prompts, method="fd", fd_step=step)  # type: ignore[arg-type]
        errors.append((d2 - d2_fd).norm(dim=1) / d2.norm(dim=1))
    assert float(torch.stack(errors).min(0).values.max()) <= 5e-2
    assert float(d1.norm()) > 0 and float(d2.norm()) > 0 and h0.shape == d1.shape


@pytest.mark.parametrize("family", FAMILIES)
def test_control_vector_export_reads_back(family: str, tmp_path: Path) -> None:
    """The GGUF names the family (llama.cpp's model hint) and holds the steered layers."""
    _, vec, _ = _case(family)
    cv = ControlVector({li: v.numpy() for li, v in vec.items()}, model_hint=family)
    back = import_gguf(export_gguf(cv, tmp_path / "v.gguf"))
    assert sorted(back.directions) == LAYERS and back.model_hint == family
    for li in LAYERS:
        np.testing.assert_allclose(back.directions[li], vec[li].numpy(), atol=1e-6)


@pytest.mark.parametrize("family", ["llama", "qwen3", "gemma2", "phi3", "qwen2_moe"])
def test_bf16_sweep_and_generation_run(family: str) -> None:
    """The dtype path: bf16 weights on CPU (fast and generic paths) give finite results close to
    fp32's (bf16 rounding: ~1e-2 in p), and steered generation runs."""
    lm, vec, prompts = _case(family)
    cands = [[5, 6, 7]] * len(prompts)
    ref = sweep(lm, vec, [-2.0, 0.0, 2.0], prompts, cands)  # type: ignore[arg-type]
    lm.model.to(torch.bfloat16)  # type: ignore[attr-defined]
    got = sweep(lm, vec, [-2.0, 0.0, 2.0], prompts, cands)  # type: ignore[arg-type]
    assert np.all(np.isfinite(got.logprobs)) and max_dp(got, ref) <= 5e-2
    out = steered_generate(lm, vec, [0.0, 2.0], prompts, max_new_tokens=4)  # type: ignore[arg-type]
    assert all(len(t) >= 1 for t in out.tokens)


def test_gemma_takes_the_fast_path_and_its_embedding_scale_matters(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Gemma's adapter: the fast path equals the loop; without the √d embedding scale it does
    not (the mutation a missing scale would be)."""
    from empirics.engine import fast_path_reason
    from empirics.engine.families.gemma import GemmaFamily

    lm, vec, prompts = _case("gemma")
    assert fast_path_reason(lm) is None  # type: ignore[arg-type]
    cands = [[5, 6, 7]] * len(prompts)
    ref = sweep_loop(lm, vec, [-2.0, 0.0, 2.0], prompts, cands)  # type: ignore[arg-type]
    monkeypatch.setattr(GemmaFamily, "embed", lambda self, ids: torch.nn.functional.embedding(
        ids, self.embed_tokens.weight))
    bad = sweep(lm, vec, [-2.0, 0.0, 2.0], prompts, cands)  # type: ignore[arg-type]
    assert max_dp(bad, ref) > 1e-3


@pytest.mark.parametrize("family", ["granite", "llama"])
def test_unembedding_rows_give_the_models_logits(family: str) -> None:
    """⟨u_a, h⟩ is the model's logit (Granite divides its logits by ``logits_scaling``, so the
    theory's g = UΔ must too)."""
    lm, _, prompts = _case(family)
    ids = torch.tensor([prompts[0]])
    out = lm.model(input_ids=ids, output_hidden_states=True)  # type: ignore[attr-defined]
    h = out.hidden_states[-1][0, -1]   # the final-norm output at the last token
    rows = lm.unembedding_rows([5, 6, 7])  # type: ignore[attr-defined]
    torch.testing.assert_close(rows @ h, out.logits[0, -1, [5, 6, 7]], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("family", "adapter", "mutant"), [
    ("olmo2", "Olmo2Family", "queries"),        # q_norm over the whole projection dropped
    ("granite", "GraniteFamily", "finish"),     # the residual multiplier dropped
    ("granite", "GraniteFamily", "unembed"),    # logits_scaling dropped
])
def test_adapter_features_are_needed(family: str, adapter: str, mutant: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Each adapter feature the fast path relies on: without it the sweep leaves the loop."""
    import importlib

    from empirics.engine.families.llama import LlamaFamily

    cls = getattr(importlib.import_module(f"empirics.engine.families.{family}"), adapter)
    lm, vec, prompts = _case(family)
    cands = [[5, 6, 7]] * len(prompts)
    ref = sweep_loop(lm, vec, [-2.0, 0.0, 2.0], prompts, cands)  # type: ignore[arg-type]
    assert max_dp(sweep(lm, vec, [-2.0, 0.0, 2.0], prompts, cands), ref) <= 1e-5  # type: ignore[arg-type]
    monkeypatch.setattr(cls, mutant, getattr(LlamaFamily, mutant))
    assert max_dp(sweep(lm, vec, [-2.0, 0.0, 2.0], prompts, cands), ref) > 1e-4  # type: ignore[arg-type]


def test_phi3_fused_projection_slices_are_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys read from the values' rows of the fused ``qkv_proj``: the sweep leaves the loop."""
    from empirics.engine.families.phi3 import Phi3Family

    lm, vec, prompts = _case("phi3")
    cands = [[5, 6, 7]] * len(prompts)
    ref = sweep_loop(lm, vec, [-2.0, 0.0, 2.0], prompts, cands)  # type: ignore[arg-type]
    q, k = 4 * 16, 2 * 16
    monkeypatch.setattr(Phi3Family, "keys", lambda self, attn, x: self._part(
        attn, x, q + k, q + 2 * k).view(-1, self.kv_heads, self.head_dim))
    assert max_dp(sweep(lm, vec, [-2.0, 0.0, 2.0], prompts, cands), ref) > 1e-4  # type: ignore[arg-type]
