"""Per-layer logit shifts of the behavior prompts by reverse mode.

Proposition 1 makes Δ additive over the steered layers, Δ_W = Σ_{l∈W} J_{L←l} v_l, so every
candidate's shifts g_a = ⟨u_a, Δ_W⟩ are sums of per-layer shifts G[l, a] = ∂z_a/∂r_l: one forward
and K backward passes per prompt give them for all layers at once (through the Hugging Face
forward with steering hooks: any family).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from empirics.models import LoadedModel, pad_id_of, pad_token_batch
from empirics.plan.windows import Candidate
from empirics.steering import steer
from empirics.tasks import ScoredPrompt


@dataclass
class LayerShifts:
    """Per prompt: candidate logits ``z`` (K,) at r = 0 and per-layer shifts ``G`` (L, K) with
    ``G[l, a] = ∂z_a/∂r_l`` for steering layer l alone along its reading vector."""

    layers: tuple[int, ...]
    z: list[np.ndarray]
    G: list[np.ndarray]

    def window(self, i: int, cand: Candidate) -> np.ndarray:
        """Logit shifts of prompt ``i`` for candidate ``cand`` (Proposition 1: Δ is additive)."""
        idx = [self.layers.index(layer) for layer in cand.layers]
        return self.G[i][idx].sum(axis=0)


@contextmanager
def _frozen_parameters(model: torch.nn.Module) -> Iterator[None]:
    """Parameters temporarily out of autograd (only the steering coefficients need gradients)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def layer_shifts(lm: LoadedModel, prompts: Sequence[ScoredPrompt],
                 vectors: Mapping[int, torch.Tensor], *, batch_size: int = 8) -> LayerShifts:
    """Per-layer logit shifts of every prompt by reverse mode: one forward with a zero
    coefficient per (row, layer) and one backward per candidate position."""
    if not prompts:
        raise ValueError("prompts is empty")
    layers = tuple(sorted(int(k) for k in vectors))
    zs: list[np.ndarray] = [np.empty(0)] * len(prompts)
    gs: list[np.ndarray] = [np.empty(0)] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].input_ids))
    with _frozen_parameters(lm.model), torch.enable_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            zn, grads = _batch_shifts(lm, [prompts[i] for i in rows], vectors, layers)
            for j, i in enumerate(rows):
                k = len(prompts[i].candidate_ids)
                zs[i] = zn[j, :k]
                gs[i] = grads[j, :, :k]
    return LayerShifts(layers, zs, gs)


def _final_states(lm: LoadedModel, batch: Sequence[ScoredPrompt],
                  coefficients: Mapping[int, torch.Tensor],
                  vectors: Mapping[int, torch.Tensor]) -> torch.Tensor:
    """Final-norm output at each prompt's last token ``(n, d)``, layer ``l`` steered by
    ``coefficients[l]`` (one per row) along ``vectors[l]``."""
    base = getattr(lm.model, "base_model", lm.model)
    seqs = [list(p.input_ids) for p in batch]
    ids, mask = pad_token_batch(seqs, pad_id_of(lm.tokenizer))
    captured: list[torch.Tensor] = []

    def grab(_m: torch.nn.Module, _i: object, out: object) -> None:
        captured.append(out[0] if isinstance(out, tuple) else out)  # type: ignore[arg-type]

    with ExitStack() as stack:
        for layer, c in coefficients.items():
            stack.enter_context(steer(lm, {layer: vectors[layer]}, c))
        handle = lm.final_norm.register_forward_hook(grab)
        stack.callback(handle.remove)
        base(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device), use_cache=False)
    last = torch.tensor([len(s) - 1 for s in seqs], device=lm.device)
    return captured[-1][torch.arange(len(seqs), device=lm.device), last]


def _batch_shifts(lm: LoadedModel, batch: Sequence[ScoredPrompt],
                  vectors: Mapping[int, torch.Tensor],
                  layers: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Candidate logits ``(n, K)`` and their gradients in each layer's coefficient ``(n, L, K)``
    of one padded batch (``K`` the most candidates of a prompt; padding zero)."""
    n = len(batch)
    coefs = {layer: torch.zeros(n, dtype=lm.dtype, device=lm.device, requires_grad=True)
             for layer in layers}
    h = _final_states(lm, batch, coefs, vectors)
    k_max = max(len(p.candidate_ids) for p in batch)
    cand = torch.zeros((n, k_max), dtype=torch.long)
    valid = torch.zeros((n, k_max), dtype=lm.dtype)
    for j, p in enumerate(batch):
        cand[j, :len(p.candidate_ids)] = torch.as_tensor(p.candidate_ids)
        valid[j, :len(p.candidate_ids)] = 1
    cand, valid = cand.to(lm.device), valid.to(lm.device)
    weight = lm.lm_head.weight
    assert isinstance(weight, torch.Tensor)
    z = torch.einsum("nkd,nd->nk", weight[cand], h)
    bias = getattr(lm.lm_head, "bias", None)
    if bias is not None:
        z = z + bias[cand]
    grads = np.zeros((n, len(layers), k_max))
    for a in range(k_max):
        out = (z[:, a] * valid[:, a]).sum()
        gr = torch.autograd.grad(out, list(coefs.values()), retain_graph=a < k_max - 1)
        grads[:, :, a] = torch.stack(gr, dim=1).detach().double().cpu().numpy()
    return z.detach().double().cpu().numpy(), grads
