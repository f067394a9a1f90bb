"""Readouts of final states: the final norm, the unembedding, candidates' log-probabilities,
and the decoding steps' streamed and blocked unembeddings (which never hold more than a block
of the vocabulary per row at once)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from empirics.engine.family import Family

# Vocabulary rows per block of the decoding steps' unembedding: each block's logits stay in
# cache while written (352 rows x 49152 on 2 CPU cores: ~250 instead of ~300 ms a step).
UNEMBED_BLOCK = 1024


def normed_and_logits(family: Family, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The final norm of states ``h`` ``(rows, d)`` and their logits ``(rows, vocab)``."""
    normed = family.final_norm(h)
    return normed, family.unembed(normed)


def candidate_logprobs(logits: torch.Tensor,
                       candidates: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Full-vocabulary float32 log-softmax of each row, its candidates' values as float64."""
    logp = torch.log_softmax(logits.float(), dim=-1).cpu()
    return [logp[j, list(c)].double().numpy() for j, c in enumerate(candidates)]


def logits_into(family: Family, normed: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Logits of ``normed`` ``(rows, d)`` written into ``out[:rows]`` (a buffer reused every
    decoding step), vocabulary block by block (``UNEMBED_BLOCK``); the family's own unembedding
    when it is not a plain product."""
    w = family.plain_unembedding
    if w is None:
        return family.unembed(normed)
    buf = out[: normed.shape[0]]
    for s in range(0, w.shape[0], UNEMBED_BLOCK):
        torch.mm(normed, w[s:s + UNEMBED_BLOCK].t(), out=buf[:, s:s + UNEMBED_BLOCK])
    return buf


def streamed_greedy(weight: torch.Tensor, normed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy token of final-normed states ``(rows, d)`` under logits ``normed @ weightᵀ`` and
    its log-probability, vocabulary block by block as ``(block, rows)`` products that stay in
    cache: a running maximum (ties to the lowest id, as ``argmax``) and a rescaled sum of
    exponentials give the log-sum-exp; no ``(rows, vocab)`` logits are written."""
    w = weight
    h_t = normed.t().contiguous()
    r = h_t.shape[1]
    buf = torch.empty(min(UNEMBED_BLOCK, w.shape[0]), r, dtype=w.dtype, device=w.device)
    best = torch.full((r,), float("-inf"), device=w.device)
    shift = torch.zeros(r, device=w.device)  # finite stand-in for best while it is -inf
    total = torch.zeros(r, device=w.device)  # sum of exp(logit - shift) so far
    tok = torch.zeros(r, dtype=torch.long, device=w.device)
    for s in range(0, w.shape[0], UNEMBED_BLOCK):
        block = torch.mm(w[s:s + UNEMBED_BLOCK], h_t, out=buf[:min(UNEMBED_BLOCK, w.shape[0] - s)])
        block = block.float()  # a no-op for fp32; half precision sums in fp32
        bmax, barg = block.max(dim=0)  # the first maximum within the block
        tok = torch.where(bmax > best, barg + s, tok)
        best = torch.maximum(best, bmax)
        new = torch.where(torch.isfinite(best), best, shift)
        total = torch.where(total > 0, total * torch.exp(shift - new), total)
        total.add_(block.sub_(new).exp_().sum(dim=0))
        shift = new
    return tok, best - (shift + total.log())


def logsumexp_(x: torch.Tensor) -> torch.Tensor:
    """``logsumexp(x, dim=-1)`` computed in place (``x`` is overwritten): no full-size
    temporary, which at (rows, vocab) costs a fresh allocation and its page faults every
    decoding step."""
    mx = x.amax(dim=-1, keepdim=True)
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    return mx.squeeze(-1) + x.sub_(mx).exp_().sum(dim=-1).log_()


def choose(logits: torch.Tensor, temperature: float, top_p: float,
           uniforms: torch.Tensor | None, *, scratch: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Next token per row and its log-probability at temperature 1: greedy (``temperature``
    0; ties to the lowest id) or drawn by inverse CDF from ``uniforms`` (one per row) within the
    top-p nucleus. ``scratch=True``: the caller gives up ``logits``, which is then overwritten."""
    logits = logits.float()
    if temperature == 0:
        tok = logits.argmax(dim=-1)
    else:
        assert uniforms is not None
        probs = torch.softmax(logits / temperature, dim=-1)
        if top_p < 1:
            sp, order = probs.sort(dim=-1, descending=True)
            keep = (sp.cumsum(dim=-1) - sp) < top_p  # smallest prefix with mass >= top_p
            sp = sp * keep
            cdf = sp.cumsum(dim=-1)
            pick = torch.searchsorted(cdf, (uniforms * cdf[:, -1]).unsqueeze(1)).squeeze(1)
            tok = order.gather(1, pick.clamp(max=probs.shape[1] - 1).unsqueeze(1)).squeeze(1)
        else:
            cdf = probs.cumsum(dim=-1)
            pick = torch.searchsorted(cdf, (uniforms * cdf[:, -1]).unsqueeze(1)).squeeze(1)
            tok = pick.clamp(max=probs.shape[1] - 1)
            # A zero-probability token can only be hit by rounding at a cdf step: step back.
            zero = probs.gather(1, tok.unsqueeze(1)).squeeze(1) == 0
            if zero.any():
                tok = torch.where(zero, probs.argmax(dim=-1), tok)
    chosen = logits.gather(1, tok.unsqueeze(1)).squeeze(1)
    return tok, chosen - (logsumexp_(logits) if scratch else torch.logsumexp(logits, dim=-1))
