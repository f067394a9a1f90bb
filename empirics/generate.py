"""Steered generation over a coefficient grid: rows are (coefficient, prompt, sample).

``steered_generate`` is the fast path; ``generate_loop`` the per-coefficient loop of Hugging Face
``generate`` with steering hooks that the tests and the benchmark compare it with.

Fast path (Llama-like models, ``empirics.forward``):

1. prefill as in ``empirics.sweep``: the prompts' shared token prefix runs once through the
   *shared layers* (those below the first steered layer, and that layer itself: its vector is
   added to its output, so its own work does not depend on the coefficient) and once per
   coefficient above them; each prompt's own tokens likewise (samples share the prefill); rows are
   packed by length, no padding in any projection or MLP;
2. decoding: every active row adds one token per step; all rows of a chunk go through each
   projection as one GEMM (the decoding steps are large, which is what a per-coefficient loop
   lacks); keys/values live in one buffer per layer, prompts right-aligned so every row writes
   the same column; attention masks the alignment columns;
3. the shared layers run once per distinct token history, not once per row: rows of one prompt
   whose replies so far coincide (neighbouring coefficients, samples that drew the same tokens)
   share a *slot* of those layers' cache; a slot whose rows pick different tokens forks, the new
   slot copying its parent's cache (on the benchmark's greedy grid about half the fed-back tokens
   are such repeats);
4. rows that finish (EOS, a stop string, ``max_new_tokens``) leave the batch: their cache rows are
   dropped once a quarter of the chunk's rows has finished (copying the cache every step would
   cost more than the finished rows' arithmetic);
5. chunks of rows are sized so their key/value buffers stay under ``kv_bytes``: ``KV_BYTES`` on
   CPU; on CUDA half of the free memory of the device holding the most layers (``kv_budget``).

Sampling draws each row's uniforms from a generator seeded by ``(seed, prompt, sample)`` only, so
the text of a row does not depend on chunking or batch composition, and the same sample at
different coefficients uses the same random numbers (common random numbers: less noise in
differences between coefficients). Greedy decoding is ``temperature=0``; ties go to the lowest
token id (``torch.argmax``), as in ``generate``; a near-tie can still flip between the two paths
when their fp32 rounding differs (different GEMM shapes), which the tests count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from empirics.forward import (
    KV,
    LlamaStack,
    PerDevice,
    Runs,
    _mlp,
    _rotate,
    common_prefix_length,
    manual_support,
)
from empirics.models import LoadedModel, pad_id_of, pad_token_batch
from empirics.steering import steer, validate_vectors
from empirics.sweep import check_coefficients, check_prompt_ids

# Key/value buffers of one chunk of rows stay under this many bytes (CPU; see kv_budget).
KV_BYTES = 3 << 30  # 3 GiB
# Share of a GPU's free memory the key/value buffers may take (the rest: activations, logits).
KV_GPU_SHARE = 0.5
# Drop finished rows from the cache once this fraction of the chunk's rows has finished.
COMPACT_FRACTION = 0.25
# Tokens per packed prefill forward.
PREFILL_TOKENS = 4096
# Vocabulary rows per block of the decoding steps' unembedding: each block's logits stay in
# cache while written (352 rows x 49152 on 2 CPU cores: ~250 instead of ~300 ms a step).
UNEMBED_BLOCK = 1024
# Run the shared layers once per distinct token history (False: once per row; the tests compare).
SHARE_HISTORIES = True


@dataclass
class Generation:
    """Generated replies; row ``i`` is ``(coef_index[i], prompt_index[i], sample_index[i])``,
    rows ordered by coefficient, then prompt, then sample.

    ``tokens[i]``: generated ids (the EOS id included when it ended the row); ``logprobs[i]``:
    per-token log-probability under the steered model at temperature 1 (the model's own
    distribution, whatever ``temperature``/``top_p`` drew the token); ``finish[i]``: ``"eos"``,
    ``"stop"`` or ``"length"``; ``texts[i]``: the decoded reply without special tokens, cut before
    a stop string.
    """

    coefficients: np.ndarray
    n_prompts: int
    samples: int
    tokens: list[list[int]]
    logprobs: list[np.ndarray]
    texts: list[str]
    finish: list[str]
    settings: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.tokens)

    def row(self, coef: int, prompt: int, sample: int = 0) -> int:
        """Index of row (coefficient index, prompt index, sample index)."""
        return (coef * self.n_prompts + prompt) * self.samples + sample

    @property
    def coef_index(self) -> np.ndarray:
        return np.repeat(np.arange(self.coefficients.size), self.n_prompts * self.samples)

    @property
    def prompt_index(self) -> np.ndarray:
        return np.tile(np.repeat(np.arange(self.n_prompts), self.samples), self.coefficients.size)

    @property
    def sample_index(self) -> np.ndarray:
        return np.tile(np.arange(self.samples), self.coefficients.size * self.n_prompts)

    def sequence_logprob(self) -> np.ndarray:
        """``log P_r(y | q)`` of each row's reply under its own coefficient, ``(rows,)``."""
        return np.array([float(np.sum(lp)) for lp in self.logprobs])


# --------------------------------------------------------------------------- validation


def _check(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], coefficients: Sequence[float],
           prompts: Sequence[Sequence[int]], max_new_tokens: int, samples: int,
           temperature: float, top_p: float) -> tuple[np.ndarray, list[list[int]]]:
    validate_vectors(lm, vectors)
    coefs = check_coefficients(coefficients)
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an integer >= 1, got {samples!r}")
    if not (np.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature!r}")
    if temperature == 0 and samples > 1:
        raise ValueError("greedy decoding (temperature=0) gives one reply per prompt: use samples=1")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    return coefs, check_prompt_ids(lm, prompts)


def eos_ids_of(lm: LoadedModel) -> list[int]:
    """The model's end-of-sequence ids (generation config, else tokenizer); may be empty."""
    eos: Any = getattr(getattr(lm.model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = getattr(lm.tokenizer, "eos_token_id", None)
    if eos is None:
        return []
    return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])]


def _row_seed(seed: int, prompt: int, sample: int) -> int:
    # Independent of the coefficient on purpose (common random numbers across coefficients).
    return (int(seed) * 1_000_003 + prompt * 10_007 + sample) % (2**63 - 1)


# --------------------------------------------------------------------------- token choice


def _logsumexp_(x: torch.Tensor) -> torch.Tensor:
    """``logsumexp(x, dim=-1)`` computed in place (``x`` is overwritten): no full-size temporary,
    which at (rows, vocab) costs a fresh allocation and its page faults every decoding step."""
    mx = x.amax(dim=-1, keepdim=True)
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    return mx.squeeze(-1) + x.sub_(mx).exp_().sum(dim=-1).log_()


def _choose(logits: torch.Tensor, temperature: float, top_p: float,
            uniforms: torch.Tensor | None, *, scratch: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Next token per row and its log-probability at temperature 1. ``scratch=True``: the
    caller gives up ``logits``, which is then overwritten (the decoding loop's buffer)."""
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
    return tok, chosen - (_logsumexp_(logits) if scratch else torch.logsumexp(logits, dim=-1))


class _Rows:
    """Book-keeping for the rows of one chunk: generated tokens, stop checks."""

    def __init__(self, lm: LoadedModel, n: int, eos: Sequence[int], stop: Sequence[str],
                 max_new_tokens: int) -> None:
        self.lm = lm
        self.tokens: list[list[int]] = [[] for _ in range(n)]
        self.logprobs: list[list[float]] = [[] for _ in range(n)]
        self.finish: list[str] = ["length"] * n
        self.eos = set(int(e) for e in eos)
        self.stop = list(stop)
        self.max_new = max_new_tokens
        self.done = [False] * n

    def add(self, row: int, tok: int, lp: float) -> bool:
        """Record one token; ``True`` when the row is finished."""
        self.tokens[row].append(tok)
        self.logprobs[row].append(lp)
        if tok in self.eos:
            self.finish[row] = "eos"
        elif self.stop and any(s in _decode(self.lm, self.tokens[row]) for s in self.stop):
            self.finish[row] = "stop"
        elif len(self.tokens[row]) < self.max_new:
            return False
        self.done[row] = True
        return True


def _decode(lm: LoadedModel, tokens: Sequence[int]) -> str:
    if lm.tokenizer is None:
        return ""
    return str(lm.tokenizer.decode(list(tokens), skip_special_tokens=True))  # type: ignore[attr-defined]


def _text(lm: LoadedModel, tokens: Sequence[int], stop: Sequence[str]) -> str:
    text = _decode(lm, tokens)
    cut = [text.index(s) for s in stop if s in text]
    return text[: min(cut)] if cut else text


# --------------------------------------------------------------------------- public API


def steered_generate(
    lm: LoadedModel,
    vectors: Mapping[int, torch.Tensor],
    coefficients: Sequence[float],
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int = 32,
    samples: int = 1,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    stop: Sequence[str] = (),
    eos_token_ids: Sequence[int] | None = None,
    kv_bytes: int | None = None,
    progress: bool = False,
) -> Generation:
    """Replies to every tokenized prompt at every coefficient, ``samples`` each, with
    ``r * vectors[l]`` added to the output of each layer ``l`` at every position.

    ``temperature=0``: greedy. ``eos_token_ids``: ``None`` = the model's. ``stop``: strings that
    end a reply (cut from its text, kept in its tokens). ``kv_bytes``: key/value budget of one
    chunk of rows (``None``: ``kv_budget(lm)``).
    """
    coefs, ids = _check(lm, vectors, coefficients, prompts, max_new_tokens, samples, temperature,
                        top_p)
    reason = manual_support(lm, max(len(p) for p in ids) + max_new_tokens)
    if reason is not None:
        raise ValueError(f"steered_generate runs Llama-like models only ({reason}); use "
                         f"generate_loop for other architectures")
    eos = eos_ids_of(lm) if eos_token_ids is None else [int(e) for e in eos_token_ids]
    kv_bytes = kv_budget(lm) if kv_bytes is None else int(kv_bytes)
    with torch.inference_mode():
        return _FastGen(lm, vectors, coefs, ids, max_new_tokens, samples, temperature, top_p,
                        seed, stop, eos, kv_bytes, progress).run()


class _FastGen:
    def __init__(self, lm: LoadedModel, vectors: Mapping[int, torch.Tensor], coefs: np.ndarray,
                 ids: list[list[int]], max_new: int, samples: int, temperature: float,
                 top_p: float, seed: int, stop: Sequence[str], eos: list[int], kv_bytes: int,
                 progress: bool) -> None:
        self.lm, self.coefs, self.ids = lm, coefs, ids
        self.max_new, self.samples, self.temperature, self.top_p = max_new, samples, temperature, top_p
        self.seed, self.stop, self.eos, self.kv_bytes, self.progress = seed, stop, eos, kv_bytes, progress
        self.stack = LlamaStack(lm)
        self.first = min(vectors)
        # Layers whose work does not depend on the coefficient (run once per token history).
        self.shared = self.first + 1
        self.upper = range(self.shared, lm.num_layers)
        self.vecs = {li: PerDevice(v.detach().float().cpu()) for li, v in vectors.items()}
        self.dev = lm.device
        self.dtype = lm.dtype

    # ---- prefill

    def _add_first(self, h: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        """``h + coef * vectors[first]`` per row of ``h`` (the first steered layer's output;
        same op order and dtype as ``steering.steer``'s hook)."""
        v = self.vecs[self.first].on(h.device, h.dtype)
        return h + coef.to(h.device, h.dtype).unsqueeze(1) * v

    def _lower(self) -> None:
        """Shared prefix and each prompt's own tokens through the shared layers: once."""
        st, shared, ids = self.stack, range(self.shared), self.ids
        p = self.p = common_prefix_length(ids)
        self.suffix = [x[p:] for x in ids]
        self.lower_prefix = KV()
        self.h_prefix = None
        if p:
            self.h_prefix = st.run(st.embed(torch.tensor(ids[0][:p])), Runs([p], [1]), 0, shared,
                                   keep_kv=self.lower_prefix)
        self.lower_h: dict[int, torch.Tensor] = {}
        self.lower_kv: dict[int, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        for length, members in _by_length(range(len(ids)), lambda i: len(self.suffix[i])):
            for group in _split(members, max(1, PREFILL_TOKENS // length)):
                h = st.embed(torch.tensor([t for i in group for t in self.suffix[i]]))
                kv = KV()
                h = st.run(h, Runs([length], [len(group)]), p, shared,
                           prefix=self.lower_prefix if p else None,
                           prefix_index=torch.zeros(len(group), dtype=torch.long), keep_kv=kv)
                for j, i in enumerate(group):
                    self.lower_h[i] = h[j * length:(j + 1) * length]
                    self.lower_kv[i] = ([kv.keys[li][j] for li in shared],
                                        [kv.values[li][j] for li in shared])

    def _steered_prefix(self, coef_idx: list[int]) -> dict[int, int]:
        """Shared prefix above the shared layers, once per coefficient in ``coef_idx``."""
        self.prefix_kv = KV()
        local = {c: j for j, c in enumerate(coef_idx)}
        if self.p and self.upper:
            assert self.h_prefix is not None
            coef = torch.tensor(self.coefs[coef_idx], dtype=torch.float32)
            h = self._add_first(self.h_prefix.repeat(len(coef_idx), 1),
                                coef.repeat_interleave(self.p))
            self.stack.run(h, Runs([self.p], [len(coef_idx)]), 0, self.upper, vectors=self.vecs,
                           coef_rows=coef, keep_kv=self.prefix_kv, kv_only_last=True)
        return local

    def _steered(self, pairs: list[tuple[int, int]], local: dict[int, int]) -> tuple[
            dict[tuple[int, int], tuple[list[torch.Tensor], list[torch.Tensor]]], dict[tuple[int, int], torch.Tensor]]:
        """Each (coefficient, prompt)'s own tokens above the shared layers: KV + logits."""
        st = self.stack
        kvs: dict[tuple[int, int], tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        logits: dict[tuple[int, int], torch.Tensor] = {}
        for length, members in _by_length(pairs, lambda cp: len(self.suffix[cp[1]])):
            for group in _split(members, max(1, PREFILL_TOKENS // length)):
                coef = torch.tensor(self.coefs[[c for c, _ in group]], dtype=torch.float32)
                h = self._add_first(torch.cat([self.lower_h[pi] for _, pi in group]),
                                    coef.repeat_interleave(length))
                kv = KV()
                if self.upper:
                    h = st.run(h, Runs([length], [len(group)]), self.p, self.upper,
                               prefix=self.prefix_kv if self.p else None,
                               prefix_index=torch.tensor([local[c] for c, _ in group],
                                                         dtype=torch.long),
                               vectors=self.vecs, coef_rows=coef, keep_kv=kv)
                last = h.view(len(group), length, -1)[:, -1]
                out = self._logits(last)
                for j, cp in enumerate(group):
                    kvs[cp] = ([kv.keys[li][j] for li in self.upper],
                               [kv.values[li][j] for li in self.upper])
                    logits[cp] = out[j]
        return kvs, logits

    def _logits(self, h: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of final states ``h`` (rows, d); into ``out[:rows]`` when given (a buffer
        reused every decoding step), vocabulary block by block (see ``UNEMBED_BLOCK``)."""
        head: Any = self.lm.lm_head
        normed = _final_normed(self.lm, h)
        if out is None or getattr(head, "bias", None) is not None:
            return head(normed)  # type: ignore[no-any-return]
        buf = out[: normed.shape[0]]
        w = head.weight
        for s in range(0, w.shape[0], UNEMBED_BLOCK):
            torch.mm(normed, w[s:s + UNEMBED_BLOCK].t(), out=buf[:, s:s + UNEMBED_BLOCK])
        return buf

    def _greedy(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy token of final states ``h`` (rows, d) and its log-probability, vocabulary
        block by block as ``(block, rows)`` products that stay in cache: a running maximum (ties
        to the lowest id, as ``argmax``) and a rescaled sum of exponentials give the
        log-sum-exp; no ``(rows, vocab)`` logits are written."""
        head: Any = self.lm.lm_head
        w = head.weight
        h_t = _final_normed(self.lm, h).t().contiguous()
        r = h_t.shape[1]
        buf = torch.empty(min(UNEMBED_BLOCK, w.shape[0]), r, dtype=w.dtype, device=w.device)
        best = torch.full((r,), float("-inf"), device=w.device)
        shift = torch.zeros(r, device=w.device)  # finite stand-in for best while it is -inf
        total = torch.zeros(r, device=w.device)  # sum of exp(logit - shift) so far
        tok = torch.zeros(r, dtype=torch.long, device=w.device)
        for s in range(0, w.shape[0], UNEMBED_BLOCK):
            block = torch.mm(w[s:s + UNEMBED_BLOCK], h_t,
                             out=buf[:min(UNEMBED_BLOCK, w.shape[0] - s)])
            block = block.float()  # a no-op for fp32; half precision sums in fp32
            bmax, barg = block.max(dim=0)  # the first maximum within the block
            tok = torch.where(bmax > best, barg + s, tok)
            best = torch.maximum(best, bmax)
            new = torch.where(torch.isfinite(best), best, shift)
            total = torch.where(total > 0, total * torch.exp(shift - new), total)
            total.add_(block.sub_(new).exp_().sum(dim=0))
            shift = new
        return tok, best - (shift + total.log())

    # ---- driver

    def _per_row_bytes(self) -> int:
        st = self.stack
        width = max(len(x) for x in self.ids) + self.max_new
        return 2 * self.lm.num_layers * st.kv_heads * st.head_dim * width * (
            torch.finfo(self.dtype).bits // 8)

    def run(self) -> Generation:
        n, c_n, s_n = len(self.ids), self.coefs.size, self.samples
        total = c_n * n * s_n
        self._lower()
        per_chunk = chunk_rows(total, self.kv_bytes, self._per_row_bytes())
        tokens: list[list[int]] = [[] for _ in range(total)]
        logprobs: list[np.ndarray] = [np.zeros(0)] * total
        finish = ["length"] * total
        order = list(range(total))  # rows in (coef, prompt, sample) order
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=total, desc="generate", unit="row")
        for start in range(0, total, per_chunk):
            chunk = order[start:start + per_chunk]
            rows = self._chunk(chunk)
            for j, r in enumerate(chunk):
                tokens[r] = rows.tokens[j]
                logprobs[r] = np.asarray(rows.logprobs[j], dtype=np.float64)
                finish[r] = rows.finish[j]
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        texts = [_text(self.lm, t, self.stop) for t in tokens]
        return Generation(self.coefs, n, s_n, tokens, logprobs, texts, finish,
                          {"max_new_tokens": self.max_new, "temperature": self.temperature,
                           "top_p": self.top_p, "seed": self.seed, "rows_per_chunk": per_chunk})

    def _chunk(self, chunk: list[int]) -> _Rows:
        n, s_n, lm, st = len(self.ids), self.samples, self.lm, self.stack
        cps = [(r // (n * s_n), (r // s_n) % n, r % s_n) for r in chunk]
        coef_idx = sorted({c for c, _, _ in cps})
        local = self._steered_prefix(coef_idx)
        pairs = sorted({(c, pi) for c, pi, _ in cps})
        kvs, first_logits = self._steered(pairs, local)
        rows = _Rows(lm, len(chunk), self.eos, self.stop, self.max_new)
        big = max(len(x) for x in (self.ids[pi] for _, pi, _ in cps))
        width = big + self.max_new
        n_rows = len(chunk)
        # Slots of the shared layers' cache: at first one per prompt (one per row without
        # sharing). Every slot always holds at least one cache row (a fork moves rows to a new
        # slot, the parent keeps the first), so n_rows slots always suffice.
        slot_prompt = (sorted({pi for _, pi, _ in cps}) if SHARE_HISTORIES
                       else [pi for _, pi, _ in cps])
        slot_of_prompt = {pi: s for s, pi in enumerate(slot_prompt)}
        slot_of = torch.tensor([slot_of_prompt[pi] if SHARE_HISTORIES else j
                                for j, (_, pi, _) in enumerate(cps)], dtype=torch.long)
        keys = [torch.empty(n_rows, st.kv_heads, width, st.head_dim, dtype=self.dtype,
                            device=lm.layer_device(li)) for li in range(lm.num_layers)]
        values = [torch.empty_like(k) for k in keys]
        # Columns a row never writes (its left alignment) must hold finite numbers: a masked
        # score or value that is NaN would still poison the softmax. Every other column is
        # written before it is read, so only the alignment block is zeroed.
        pad = big - min(len(self.ids[pi]) for _, pi, _ in cps)
        for buf in (*keys, *values):
            buf[:, :, :pad].zero_()
        p = self.p
        for s, pi in enumerate(slot_prompt):
            start = big - len(self.ids[pi])
            lk, lv = self.lower_kv[pi]
            for li in range(self.shared):
                if p:
                    keys[li][s, :, start:start + p] = self.lower_prefix.keys[li][0]
                    values[li][s, :, start:start + p] = self.lower_prefix.values[li][0]
                keys[li][s, :, start + p:big] = lk[li]
                values[li][s, :, start + p:big] = lv[li]
        for j, (c, pi, _) in enumerate(cps):
            start = big - len(self.ids[pi])
            sk, sv = kvs[(c, pi)]
            for k, li in enumerate(self.upper):
                if p:
                    keys[li][j, :, start:start + p] = self.prefix_kv.keys[li][local[c]]
                    values[li][j, :, start:start + p] = self.prefix_kv.values[li][local[c]]
                keys[li][j, :, start + p:big] = sk[k]
                values[li][j, :, start + p:big] = sv[k]
        del kvs
        valid = torch.zeros(n_rows, width, dtype=torch.bool)
        for j, (_, pi, _) in enumerate(cps):
            valid[j, big - len(self.ids[pi]):] = True
        pos = torch.tensor([len(self.ids[pi]) for _, pi, _ in cps], dtype=torch.long)
        first_rows = _first_rows(slot_of)
        slots = _Slots(len(slot_prompt), slot_of, valid.index_select(0, first_rows),
                       pos.index_select(0, first_rows))
        coef_rows = torch.tensor(self.coefs[[c for c, _, _ in cps]], dtype=torch.float32)
        uniforms = None
        if self.temperature > 0:
            uniforms = torch.stack([
                torch.rand(self.max_new, generator=torch.Generator().manual_seed(
                    _row_seed(self.seed, pi, si)), dtype=torch.float32)
                for _, pi, si in cps])
        logits = torch.stack([first_logits[(c, pi)] for c, pi, _ in cps])
        # Greedy steps stream the vocabulary (``_greedy``); sampling needs each step's logits,
        # into one buffer (rows only shrink).
        stream = self.temperature == 0 and getattr(lm.lm_head, "bias", None) is None
        logits_buf = None if stream else torch.empty_like(logits)
        chosen: tuple[torch.Tensor, torch.Tensor] | None = None
        alive = torch.arange(n_rows)  # chunk row of each cache row
        stale = 0  # finished rows still in the cache
        for step in range(self.max_new):
            if chosen is None:
                u = uniforms[alive, step] if uniforms is not None else None
                tok, lp = _choose(logits, self.temperature, self.top_p, u, scratch=True)
            else:
                tok, lp = chosen
            keep: list[int] = []
            tok_l, lp_l = tok.tolist(), lp.tolist()
            for k, j in enumerate(alive.tolist()):
                if rows.done[j]:
                    continue
                if not rows.add(j, tok_l[k], lp_l[k]):
                    keep.append(k)
                else:
                    stale += 1
            if not keep or step == self.max_new - 1:
                break
            col = big + step
            if stale >= COMPACT_FRACTION * alive.numel():
                sel = torch.tensor(keep, dtype=torch.long)
                alive = alive[sel]
                for li in self.upper:
                    keys[li] = keys[li].index_select(0, sel.to(keys[li].device))
                    values[li] = values[li].index_select(0, sel.to(values[li].device))
                live = slots.compact(sel)
                for li in range(self.shared):
                    keys[li] = keys[li].index_select(0, live.to(keys[li].device))
                    values[li] = values[li].index_select(0, live.to(values[li].device))
                valid, pos, coef_rows = valid[sel], pos[sel], coef_rows[sel]
                tok_l = [tok_l[k] for k in keep]
                keep = list(range(len(keep)))
                stale = 0
            parents = slots.fork(keep, tok_l)
            if parents.numel():
                new = slice(slots.n - parents.numel(), slots.n)
                for li in range(self.shared):
                    idx = parents.to(keys[li].device)
                    keys[li][new, :, :col] = keys[li][idx, :, :col]
                    values[li][new, :, :col] = values[li][idx, :, :col]
            valid[:, col] = True
            slots.valid[:slots.n, col] = True
            h = self._decode_step(slots, pos, keys, values, col, valid, coef_rows)
            if stream:
                chosen = self._greedy(h)
            else:
                logits = self._logits(h, logits_buf)
            pos = pos + 1
            slots.pos += 1
        return rows

    def _decode_step(self, slots: _Slots, pos: torch.Tensor,
                     keys: list[torch.Tensor], values: list[torch.Tensor], col: int,
                     valid: torch.Tensor, coef_rows: torch.Tensor) -> torch.Tensor:
        """One token per slot through the shared layers, then one per row through the others;
        keys/values written at column ``col``. Returns the rows' final states."""
        n = slots.n
        h = self._layers(self.stack.embed(slots.tok[:n]), slots.pos[:n], keys, values, col,
                         slots.valid[:n], range(self.shared), coef_rows)
        h = h.index_select(0, slots.of.to(h.device))
        h = self._add_first(h, coef_rows)
        return self._layers(h, pos, keys, values, col, valid, self.upper, coef_rows)

    def _layers(self, h: torch.Tensor, pos: torch.Tensor, keys: list[torch.Tensor],
                values: list[torch.Tensor], col: int, valid: torch.Tensor, layers: range,
                coef_rows: torch.Tensor) -> torch.Tensor:
        """One token for each of the ``h.shape[0]`` leading cache rows through ``layers``
        (steering added after the layers in ``vectors`` other than the first)."""
        st, lm = self.stack, self.lm
        hd, nh, nkv = st.head_dim, st.heads, st.kv_heads
        r = h.shape[0]
        per_dev: dict[torch.device, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        for li in layers:
            dev = lm.layer_device(li)
            h = h.to(dev)
            if dev not in per_dev:
                cos, sin = st.rope(pos, h)
                mask = torch.zeros(r, 1, 1, col + 1, dtype=h.dtype, device=dev).masked_fill_(
                    ~valid[:, :col + 1].to(dev).view(r, 1, 1, col + 1), float("-inf"))
                per_dev[dev] = (cos, sin, mask, coef_rows.to(dev, h.dtype).unsqueeze(1))
            cos, sin, mask, coef = per_dev[dev]
            layer: Any = lm.layers[li]
            attn = layer.self_attn
            k_all, v_all = keys[li][:r], values[li][:r]
            x = layer.input_layernorm(h)
            q = _rotate(attn.q_proj(x).view(r, nh, hd), cos, sin)
            k_all[:, :, col] = _rotate(attn.k_proj(x).view(r, nkv, hd), cos, sin)
            v_all[:, :, col] = attn.v_proj(x).view(r, nkv, hd)
            o = decode_attention(q, k_all[:, :, :col + 1], v_all[:, :, :col + 1], mask, st.scaling)
            h = h + attn.o_proj(o)
            h = h + _mlp(layer.mlp, layer.post_attention_layernorm(h))
            if li in self.vecs and li != self.first:
                h = h + coef * self.vecs[li].on(dev, h.dtype)
        return h


def _final_normed(lm: LoadedModel, h: torch.Tensor) -> torch.Tensor:
    """Final norm of states ``h``, on the unembedding's device."""
    h = h.to(lm.final_norm.weight.device)  # type: ignore[union-attr,arg-type]
    return lm.final_norm(h).to(lm.lm_head.weight.device)  # type: ignore[no-any-return,union-attr,arg-type]


def decode_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                     mask: torch.Tensor, scaling: float) -> torch.Tensor:
    """Attention of one query per row, ``q`` ``(rows, heads, head_dim)``, over ``keys``/
    ``values`` ``(rows, kv_heads, n, head_dim)`` (strided views of the cache) with additive
    ``mask`` ``(rows, 1, 1, n)``; returns ``(rows, heads * head_dim)``. Batched products per
    (row, key/value head) with that head's query group as rows: on CPU ~25% faster than
    ``scaled_dot_product_attention``'s kernel for a single query (12 vs 17 ms at 704 rows)."""
    r, nh, hd = q.shape
    nkv = keys.shape[1]
    scores = torch.matmul(q.view(r, nkv, nh // nkv, hd), keys.transpose(-1, -2))
    scores.mul_(scaling).add_(mask)
    # Softmax in fp32 as HF's eager attention (half-precision caches on GPU).
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(values.dtype)
    return torch.matmul(weights, values).reshape(r, nh * hd)


def _first_rows(slot_of: torch.Tensor) -> torch.Tensor:
    """For each slot ``0..max``, the first cache row that maps to it."""
    n = int(slot_of.max()) + 1
    first = torch.full((n,), slot_of.numel(), dtype=torch.long)
    return first.scatter_reduce_(0, slot_of, torch.arange(slot_of.numel()), "amin")


class _Slots:
    """Slots of the shared layers' cache: ``of[k]`` is cache row ``k``'s slot; slots ``0..n-1``
    are in use, each with the token ``tok`` it feeds next, its position and its valid columns."""

    def __init__(self, n: int, of: torch.Tensor, valid: torch.Tensor, pos: torch.Tensor) -> None:
        cap = of.numel()
        self.n, self.of = n, of
        self.tok = torch.zeros(cap, dtype=torch.long)
        self.valid = torch.zeros(cap, valid.shape[1], dtype=torch.bool)
        self.valid[:n] = valid
        self.pos = torch.zeros(cap, dtype=torch.long)
        self.pos[:n] = pos

    def fork(self, keep: list[int], tok: list[int]) -> torch.Tensor:
        """Assign this step's tokens of the kept cache rows ``keep``: a slot carries the token of
        its first kept row; rows of it with another token move to a new slot (one per distinct
        token). Returns the new slots' parents (their cache to copy), new slots last in order."""
        of = self.of.tolist()
        carried: dict[int, int] = {}
        new: dict[tuple[int, int], int] = {}
        parents: list[int] = []
        for k in keep:
            s, t = of[k], tok[k]
            if carried.setdefault(s, t) == t:
                continue
            ns = new.get((s, t))
            if ns is None:
                ns = new[(s, t)] = self.n + len(parents)
                parents.append(s)
            of[k] = ns
        n = self.n + len(parents)
        # Every slot keeps a cache row of its own, so the cache rows bound the slots.
        assert n <= self.of.numel(), (n, self.of.numel())
        for s, t in carried.items():
            self.tok[s] = t
        for (_, t), ns in new.items():
            self.tok[ns] = t
        parent_idx = torch.tensor(parents, dtype=torch.long)
        if parents:
            self.valid[self.n:n] = self.valid[parent_idx]
            self.pos[self.n:n] = self.pos[parent_idx]
            self.of = torch.tensor(of, dtype=torch.long)
        self.n = n
        return parent_idx

    def compact(self, sel: torch.Tensor) -> torch.Tensor:
        """Keep cache rows ``sel`` only; their slots move to the front, renumbered in order.
        Returns, for each new slot index up to ``len(sel)``, the old slot to copy from (slots
        past the live ones repeat the first: capacity for later forks)."""
        of = self.of[sel]
        live = torch.unique(of)  # sorted
        remap = torch.full((self.tok.numel(),), -1, dtype=torch.long)
        remap[live] = torch.arange(live.numel())
        cap = sel.numel()
        src = torch.cat([live, live[:1].expand(cap - live.numel())])
        self.of = remap[of]
        self.n = live.numel()
        self.tok, self.valid, self.pos = self.tok[src], self.valid[src], self.pos[src]
        return src


def kv_budget(lm: LoadedModel) -> int:
    """Bytes of key/value buffers per chunk of rows: ``KV_BYTES`` on CPU; on CUDA
    ``KV_GPU_SHARE`` of the free memory of the device holding the most layers, scaled to all
    layers (each layer's buffer lives on that layer's device), never below ``KV_BYTES``."""
    devices = [lm.layer_device(li) for li in range(lm.num_layers)]
    cuda = [d for d in devices if d.type == "cuda"]
    if not cuda:
        return KV_BYTES
    budget = float("inf")
    for dev in set(cuda):
        free, _ = torch.cuda.mem_get_info(dev)
        budget = min(budget, KV_GPU_SHARE * free * len(devices) / devices.count(dev))
    return max(KV_BYTES, int(budget))


def chunk_rows(total: int, kv_bytes: int, per_row_bytes: int) -> int:
    """Rows per chunk: as many as ``kv_bytes`` holds, spread evenly over the chunks needed
    (704 rows under a 572-row cap run as 352 + 352, not 572 + 132: small decoding steps waste
    the GEMMs, which is the per-coefficient loop's problem)."""
    cap = max(1, kv_bytes // max(1, per_row_bytes))
    chunks = -(-total // cap)
    return max(1, -(-total // chunks))


def _by_length(items: Any, length: Any) -> list[tuple[int, list[Any]]]:
    groups: dict[int, list[Any]] = {}
    for it in items:
        groups.setdefault(int(length(it)), []).append(it)
    return sorted(groups.items())


def _split(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# --------------------------------------------------------------------------- reference loop


def generate_loop(
    lm: LoadedModel,
    vectors: Mapping[int, torch.Tensor],
    coefficients: Sequence[float],
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int = 32,
    batch_size: int = 16,
    eos_token_ids: Sequence[int] | None = None,
    with_logprobs: bool = True,
    progress: bool = False,
) -> Generation:
    """Greedy replies by Hugging Face ``generate`` with steering hooks, once per coefficient, in
    left-padded batches of ``batch_size`` prompts (``batch_size=1``: no padding at all)."""
    from transformers import GenerationConfig

    coefs, ids = _check(lm, vectors, coefficients, prompts, max_new_tokens, 1, 0.0, 1.0)
    eos = eos_ids_of(lm) if eos_token_ids is None else [int(e) for e in eos_token_ids]
    pad = pad_id_of(lm.tokenizer)
    config = GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens,
                              eos_token_id=eos or None, pad_token_id=pad,
                              output_scores=with_logprobs, return_dict_in_generate=True)
    n = len(ids)
    tokens: list[list[int]] = [[] for _ in range(coefs.size * n)]
    logprobs: list[np.ndarray] = [np.zeros(0)] * (coefs.size * n)
    finish = ["length"] * (coefs.size * n)
    dev = lm.device
    batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=coefs.size * len(batches), desc="generate (loop)", unit="batch")
    with torch.inference_mode():
        for ci, c in enumerate(coefs):
            with steer(lm, vectors, float(c)):
                for batch in batches:
                    tok, mask = pad_token_batch([ids[i] for i in batch], pad, left=True)
                    out = lm.model.generate(  # type: ignore[operator]
                        input_ids=tok.to(dev), attention_mask=mask.to(dev),
                        generation_config=config)
                    seqs = out.sequences[:, tok.shape[1]:].cpu()
                    lps = None
                    if with_logprobs:
                        lps = torch.log_softmax(torch.stack(out.scores, dim=1).float().cpu(), dim=-1)
                    for j, i in enumerate(batch):
                        row: list[int] = []
                        for t in seqs[j].tolist():
                            row.append(int(t))
                            if t in eos:
                                finish[ci * n + i] = "eos"
                                break
                        tokens[ci * n + i] = row
                        if lps is not None:
                            logprobs[ci * n + i] = np.array(
                                [float(lps[j, k, t]) for k, t in enumerate(row)])
                    if bar is not None:
                        bar.update(1)
    if bar is not None:
        bar.close()
    texts = [_text(lm, t, ()) for t in tokens]
    return Generation(coefs, n, 1, tokens, logprobs, texts, finish,
                      {"max_new_tokens": max_new_tokens, "temperature": 0.0, "top_p": 1.0,
                       "seed": 0})
