"""The fast path of steered generation for one chunk of rows (``generate.steered_generate``).

Prefill through the engine (the lower pass of the prompts is shared by every chunk), then one
token per row and step: the history layers (below the steering, and the first steered layer)
once per distinct token history (``engine.histories.Slots``), the layers above per row.
Finished rows leave the cache once a quarter of the chunk has finished (copying the cache every
step would cost more than the finished rows' arithmetic).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from empirics.engine import (
    DecodeAttention,
    KVCache,
    Output,
    Row,
    SteeredPass,
    normed_and_logits,
    pack_chunks,
    run_layers,
)
from empirics.engine.histories import Slots, first_rows
from empirics.engine.readout import choose, logits_into, streamed_greedy

# Drop finished rows from the cache once this fraction of the chunk's rows has finished.
COMPACT_FRACTION = 0.25
# Tokens per packed prefill forward.
PREFILL_TOKENS = 4096


@dataclass(frozen=True)
class Sampling:
    """How replies are drawn and when they end."""

    max_new: int
    temperature: float
    top_p: float
    seed: int
    stop: tuple[str, ...]
    eos: tuple[int, ...]


@dataclass(frozen=True)
class GenRow:
    """One generated sequence: coefficient index, prompt index, sample index."""

    coef: int
    prompt: int
    sample: int


def row_seed(seed: int, prompt: int, sample: int) -> int:
    # Independent of the coefficient on purpose (common random numbers across coefficients).
    return (int(seed) * 1_000_003 + prompt * 10_007 + sample) % (2**63 - 1)


def row_uniforms(rows: Sequence[GenRow], sampling: Sampling) -> torch.Tensor | None:
    """``(rows, max_new)`` uniforms of each row's draws, seeded by prompt and sample only
    (``row_seed``); None when greedy. Both generation paths draw from these."""
    if sampling.temperature == 0:
        return None
    return torch.stack([torch.rand(sampling.max_new, dtype=torch.float32,
                                   generator=torch.Generator().manual_seed(
                                       row_seed(sampling.seed, r.prompt, r.sample)))
                        for r in rows])


class RowBook:
    """The generated tokens of one chunk's rows and their stop checks."""

    def __init__(self, n: int, sampling: Sampling, decode: Callable[[list[int]], str]) -> None:
        self.tokens: list[list[int]] = [[] for _ in range(n)]
        self.logprobs: list[list[float]] = [[] for _ in range(n)]
        self.finish: list[str] = ["length"] * n
        self.done = [False] * n
        self.sampling, self.decode = sampling, decode

    def add(self, row: int, tok: int, lp: float) -> bool:
        """Record one token; ``True`` when the row is finished."""
        self.tokens[row].append(tok)
        self.logprobs[row].append(lp)
        s = self.sampling
        if tok in s.eos:
            self.finish[row] = "eos"
        elif s.stop and any(x in self.decode(self.tokens[row]) for x in s.stop):
            self.finish[row] = "stop"
        elif len(self.tokens[row]) < s.max_new:
            return False
        self.done[row] = True
        return True


@dataclass
class Prefill:
    """A chunk's caches after its prompts: the history layers' per slot, the others' per row."""

    history: KVCache
    upper: KVCache
    slots: Slots
    valid: torch.Tensor        # (rows, width) columns each row attends to
    positions: torch.Tensor    # (rows,) position of each row's next token
    logits: torch.Tensor       # (rows, vocab) of the first new token
    width: int                 # prompt columns (right-aligned); new tokens from here


class ChunkDecoder:
    """Generates the replies of ``rows`` (one chunk) along ``steered``."""

    def __init__(self, steered: SteeredPass, coefficients: np.ndarray, rows: Sequence[GenRow],
                 sampling: Sampling, decode: Callable[[list[int]], str],
                 share_histories: bool = True) -> None:
        self.steered, self.family = steered, steered.family
        self.coefs, self.rows, self.sampling, self.decode = coefficients, list(rows), sampling, decode
        self.share = share_histories
        self.ids = steered.lower.prompts.ids
        self.coef_rows = torch.tensor(coefficients[[r.coef for r in self.rows]], dtype=torch.float32)

    # ---- prefill

    def _prefill_rows(self) -> tuple[dict[tuple[int, int], KVCache], dict[tuple[int, int], torch.Tensor],
                                     KVCache | None, dict[int, int]]:
        """The prompts above the lower pass, once per (coefficient, prompt): their keys/values,
        first logits, the prefix cache per coefficient and each coefficient's cache row."""
        steered, prompts = self.steered, self.steered.lower.prompts
        coef_idx = sorted({r.coef for r in self.rows})
        local = {c: j for j, c in enumerate(coef_idx)}
        prefix = steered.prefix_cache(torch.tensor(self.coefs[coef_idx], dtype=torch.float32))
        pairs = sorted({(r.coef, r.prompt) for r in self.rows}, key=lambda cp: (len(self.ids[cp[1]]), cp))
        kv: dict[tuple[int, int], KVCache] = {}
        logits: dict[tuple[int, int], torch.Tensor] = {}
        for chunk in pack_chunks([Row(p, c) for c, p in pairs], prompts.own_length, PREFILL_TOKENS):
            coef = torch.tensor(self.coefs[[r.coef for r in chunk]], dtype=torch.float32)
            index = torch.tensor([local[r.coef] for r in chunk], dtype=torch.long)
            h, attention = steered.rows(chunk, coef, prefix, index, Output.ALL, keep_kv=True)
            assert h is not None
            _, last = normed_and_logits(self.family, h.index_select(0, attention.query_rows(h.device)))
            for j, (row, cache) in enumerate(zip(chunk, attention.row_kv(steered.layers), strict=True)):
                kv[(row.coef, row.prompt)] = cache
                logits[(row.coef, row.prompt)] = last[j]
        return kv, logits, prefix, local

    def _allocate(self, n_rows: int, width: int, pad: int) -> tuple[KVCache, KVCache]:
        fam = self.family
        device_of = {li: fam.layer_device(li) for li in range(fam.lm.num_layers)}
        top = self.steered.lower.top
        caches = tuple(KVCache.allocate(layers, n_rows, fam.kv_heads, width, fam.head_dim,
                                        fam.lm.dtype, device_of)
                       for layers in (range(top), self.steered.layers))
        for cache in caches:
            cache.zero_columns(pad)
        return caches[0], caches[1]

    def prefill(self) -> Prefill:
        """Caches of the chunk's rows, right-aligned at ``width`` prompt columns."""
        lower, prompts = self.steered.lower, self.steered.lower.prompts
        kv, first_logits, prefix, local = self._prefill_rows()
        lengths = [len(self.ids[r.prompt]) for r in self.rows]
        big, n_rows = max(lengths), len(self.rows)
        history, upper = self._allocate(n_rows, big + self.sampling.max_new, big - min(lengths))
        slot_prompt = (sorted({r.prompt for r in self.rows}) if self.share
                       else [r.prompt for r in self.rows])
        slot_of_prompt = {pi: s for s, pi in enumerate(slot_prompt)}
        slot_of = torch.tensor([slot_of_prompt[r.prompt] if self.share else j
                                for j, r in enumerate(self.rows)], dtype=torch.long)
        p = prompts.prefix_len
        for s, pi in enumerate(slot_prompt):
            own = lower.own_kv[pi] if lower.own_kv is not None else KVCache()
            _place(history, s, big - len(self.ids[pi]), p, lower.prefix_kv, 0, own)
        for j, r in enumerate(self.rows):
            _place(upper, j, big - lengths[j], p, prefix, local[r.coef], kv[(r.coef, r.prompt)])
        valid = torch.zeros(n_rows, big + self.sampling.max_new, dtype=torch.bool)
        for j, n in enumerate(lengths):
            valid[j, big - n:] = True
        pos = torch.tensor(lengths, dtype=torch.long)
        firsts = first_rows(slot_of)
        slots = Slots(len(slot_prompt), slot_of, valid.index_select(0, firsts),
                      pos.index_select(0, firsts))
        logits = torch.stack([first_logits[(r.coef, r.prompt)] for r in self.rows])
        return Prefill(history, upper, slots, valid, pos, logits, big)

    # ---- decoding

    def _step(self, state: Prefill, col: int, coef_rows: torch.Tensor) -> torch.Tensor:
        """One token per slot through the history layers, then one per row through the others;
        keys/values written at column ``col``. Returns the rows' final states."""
        fam, slots, steered = self.family, state.slots, self.steered
        n = slots.n
        below = run_layers(fam, fam.embed(slots.tok[:n]), range(steered.lower.top),
                           DecodeAttention(fam, state.history, col, slots.valid[:n]),
                           slots.pos[:n])
        assert below is not None
        h = steered.enter(below.index_select(0, slots.of.to(below.device)), coef_rows)
        out = run_layers(fam, h, steered.layers, DecodeAttention(fam, state.upper, col, state.valid),
                         state.positions, steering=steered.steering(coef_rows))
        assert out is not None
        return out

    def run(self) -> RowBook:
        state = self.prefill()
        book = RowBook(len(self.rows), self.sampling, self.decode)
        s = self.sampling
        uniforms = row_uniforms(self.rows, s)
        weight = self.family.plain_unembedding
        stream = s.temperature == 0 and weight is not None
        buffer = None if stream else torch.empty_like(state.logits)
        loop = _Loop(self, state, book, uniforms)
        for step in range(s.max_new):
            keep = loop.record(step)
            if not keep or step == s.max_new - 1:
                break
            h = loop.advance(state.width + step, keep)
            normed = self.family.final_norm(h)
            if stream:
                assert weight is not None
                loop.chosen = streamed_greedy(weight, normed)
            else:
                assert buffer is not None
                loop.logits = logits_into(self.family, normed, buffer)
        return book


class _Loop:
    """The decoding loop's moving parts: alive rows, their coefficients, the last choice."""

    def __init__(self, decoder: ChunkDecoder, state: Prefill, book: RowBook,
                 uniforms: torch.Tensor | None) -> None:
        self.decoder, self.state, self.book, self.uniforms = decoder, state, book, uniforms
        self.alive = torch.arange(len(decoder.rows))  # chunk row of each cache row
        self.coef_rows = decoder.coef_rows
        self.logits = state.logits
        self.chosen: tuple[torch.Tensor, torch.Tensor] | None = None
        self.stale = 0  # finished rows still in the cache
        self.tokens: list[int] = []

    def record(self, step: int) -> list[int]:
        """This step's tokens into the book; the cache rows that go on."""
        s = self.decoder.sampling
        if self.chosen is None:
            u = self.uniforms[self.alive, step] if self.uniforms is not None else None
            tok, lp = choose(self.logits, s.temperature, s.top_p, u, scratch=True)
        else:
            tok, lp = self.chosen
        keep: list[int] = []
        self.tokens, lps = tok.tolist(), lp.tolist()
        for k, j in enumerate(self.alive.tolist()):
            if self.book.done[j]:
                continue
            if not self.book.add(j, self.tokens[k], lps[k]):
                keep.append(k)
            else:
                self.stale += 1
        return keep

    def advance(self, col: int, keep: list[int]) -> torch.Tensor:
        """Compact finished rows away when due, fork slots whose rows chose differently, and
        run one decoding step writing column ``col``."""
        state = self.state
        if self.stale >= COMPACT_FRACTION * self.alive.numel():
            sel = torch.tensor(keep, dtype=torch.long)
            self.alive, self.coef_rows = self.alive[sel], self.coef_rows[sel]
            state.upper.select_rows(sel)
            state.history.select_rows(state.slots.compact(sel))
            state.valid, state.positions = state.valid[sel], state.positions[sel]
            self.tokens = [self.tokens[k] for k in keep]
            keep = list(range(len(keep)))
            self.stale = 0
        parents = state.slots.fork(keep, self.tokens)
        if parents.numel():
            n = state.slots.n
            state.history.copy_rows(slice(n - parents.numel(), n), parents, col)
        state.valid[:, col] = True
        state.slots.valid[:state.slots.n, col] = True
        h = self.decoder._step(state, col, self.coef_rows)
        state.positions = state.positions + 1
        state.slots.pos += 1
        return h


def _place(cache: KVCache, row: int, start: int, prefix_len: int, prefix: KVCache | None,
           prefix_row: int, own: KVCache) -> None:
    """Row ``row`` of ``cache`` from column ``start``: the prefix's keys/values (its row
    ``prefix_row``), then the prompt's own."""
    for layer in cache.keys:
        keys, values = cache.keys[layer], cache.values[layer]
        if prefix_len:
            assert prefix is not None
            keys[row, :, start:start + prefix_len] = prefix.keys[layer][prefix_row]
            values[row, :, start:start + prefix_len] = prefix.values[layer][prefix_row]
        keys[row, :, start + prefix_len:start + prefix_len + own.keys[layer].shape[1]] = own.keys[layer]
        values[row, :, start + prefix_len:start + prefix_len + own.values[layer].shape[1]] = own.values[layer]
