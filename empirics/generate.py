"""Steered generation over a coefficient grid: rows are (coefficient, prompt, sample).

``steered_generate`` is the fast path; ``generate_loop`` the per-coefficient loop of Hugging Face
``generate`` with steering hooks that the tests and the benchmark compare it with.

Other families take the generic path (``generic_generate``), same results up to rounding.

Fast path (engine families; ``empirics.decoding`` runs one chunk of rows):

1. prefill: one lower pass over the prompts through the *history layers* (those below the first
   steered layer, and that layer itself: its vector is added to its output, so its own work does
   not depend on the coefficient), then the steered pass above them per (coefficient, prompt)
   (samples share the prefill), rows packed by length, no padding in any projection or MLP;
2. decoding: every active row adds one token per step; all rows of a chunk go through each
   projection as one GEMM; keys/values live in one buffer per layer, prompts right-aligned so
   every row writes the same column; attention masks the alignment columns;
3. the history layers run once per distinct token history, not once per row: rows of one prompt
   whose replies so far coincide share a *slot* of those layers' cache (``engine.histories``);
4. rows that finish (EOS, a stop string, ``max_new_tokens``) leave the batch;
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
from tqdm.auto import tqdm
from transformers import GenerationConfig

from empirics.decoding import PREFILL_TOKENS, ChunkDecoder, GenRow, Sampling
from empirics.engine import (
    LowerPass,
    PromptSet,
    SteeredPass,
    family_for,
    fast_path_reason,
    lower_pass,
)
from empirics.generic_generate import GENERIC_ROWS, generic_rows
from empirics.inputs import check_coefficients, check_prompt_ids
from empirics.models import LoadedModel, pad_id_of, pad_token_batch
from empirics.steering import steer, validate_vectors

# Key/value buffers of one chunk of rows stay under this many bytes (CPU; see kv_budget).
KV_BYTES = 3 << 30  # 3 GiB
# Share of a GPU's free memory the key/value buffers may take (the rest: activations, logits).
KV_GPU_SHARE = 0.5
# Run the history layers once per distinct token history (False: once per row; the tests compare).
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
    lower: LowerPass | None = None,
) -> Generation:
    """Replies to every tokenized prompt at every coefficient, ``samples`` each, with
    ``r * vectors[l]`` added to the output of each layer ``l`` at every position.

    ``temperature=0``: greedy. ``eos_token_ids``: ``None`` = the model's. ``stop``: strings that
    end a reply (cut from its text, kept in its tokens). ``kv_bytes``: key/value budget of one
    chunk of rows (``None``: ``kv_budget(lm)``). ``lower``: the lower pass of these prompts
    through the first steered layer with keys/values kept
    (``sweep.sweep_lower_pass(..., keep_kv=True)``, shared with their sweep).

    Families the engine cannot run (``fast_path_reason``) take the generic path
    (``generic_generate``: the model's own forward, hooks and cache; ``lower`` and ``kv_bytes``
    unused) with the same rows, sampling and stops.
    """
    coefs, ids = _check(lm, vectors, coefficients, prompts, max_new_tokens, samples, temperature,
                        top_p)
    reason = fast_path_reason(lm, max(len(p) for p in ids) + max_new_tokens)
    eos = eos_ids_of(lm) if eos_token_ids is None else [int(e) for e in eos_token_ids]
    sampling = Sampling(max_new_tokens, float(temperature), float(top_p), int(seed), tuple(stop),
                        tuple(eos))
    if reason is not None:
        return _generate_generic(lm, vectors, coefs, ids, sampling, samples)
    kv_bytes = kv_budget(lm) if kv_bytes is None else int(kv_bytes)
    with torch.inference_mode():
        family = family_for(lm)
        top = min(vectors) + 1
        if lower is None:
            lower = lower_pass(family, PromptSet.of(ids), top, budget=PREFILL_TOKENS,
                               keep_kv=True)
        elif lower.prompts.ids != ids or lower.top != top or lower.own_kv is None:
            raise ValueError(f"lower must be a lower pass of these prompts through layer "
                             f"{top - 1} with keys/values (sweep_lower_pass(..., keep_kv=True))")
        steered = SteeredPass.of(lower, vectors)
        rows = [GenRow(c, p, s) for c in range(coefs.size) for p in range(len(ids))
                for s in range(samples)]
        return _generate(lm, steered, coefs, rows, sampling, kv_bytes, samples, progress)


def _generate_generic(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], coefs: np.ndarray,
                      ids: list[list[int]], sampling: Sampling, samples: int) -> Generation:
    """Every row by the model's own forward, hooks and cache (``generic_generate``)."""
    rows = [GenRow(c, p, s) for c in range(coefs.size) for p in range(len(ids))
            for s in range(samples)]
    with torch.inference_mode():
        book = generic_rows(lm, vectors, coefs, ids, rows, sampling, lambda t: _decode(lm, t))
    logprobs = [np.asarray(lp, dtype=np.float64) for lp in book.logprobs]
    texts = [_text(lm, t, sampling.stop) for t in book.tokens]
    return Generation(coefs, len(ids), samples, book.tokens, logprobs, texts, book.finish,
                      {"max_new_tokens": sampling.max_new, "temperature": sampling.temperature,
                       "top_p": sampling.top_p, "seed": sampling.seed,
                       "rows_per_chunk": GENERIC_ROWS, "path": "generic"})


def _generate(lm: LoadedModel, steered: SteeredPass, coefs: np.ndarray, rows: list[GenRow],
              sampling: Sampling, kv_bytes: int, samples: int, progress: bool) -> Generation:
    """Every row, in chunks whose key/value buffers fit ``kv_bytes``."""
    family, ids = steered.family, steered.lower.prompts.ids
    width = max(len(x) for x in ids) + sampling.max_new
    per_row = 2 * lm.num_layers * family.kv_heads * family.head_dim * width * (
        torch.finfo(lm.dtype).bits // 8)
    per_chunk = chunk_rows(len(rows), kv_bytes, per_row)
    tokens: list[list[int]] = [[] for _ in rows]
    logprobs: list[np.ndarray] = [np.zeros(0)] * len(rows)
    finish = ["length"] * len(rows)
    bar = tqdm(total=len(rows), desc="generate", unit="row", disable=not progress)
    for start in range(0, len(rows), per_chunk):
        chunk = rows[start:start + per_chunk]
        book = ChunkDecoder(steered, coefs, chunk, sampling, lambda t: _decode(lm, t),
                            share_histories=SHARE_HISTORIES).run()
        for j in range(len(chunk)):
            tokens[start + j] = book.tokens[j]
            logprobs[start + j] = np.asarray(book.logprobs[j], dtype=np.float64)
            finish[start + j] = book.finish[j]
        bar.update(len(chunk))
    bar.close()
    texts = [_text(lm, t, sampling.stop) for t in tokens]
    return Generation(coefs, len(ids), samples, tokens, logprobs, texts, finish,
                      {"max_new_tokens": sampling.max_new, "temperature": sampling.temperature,
                       "top_p": sampling.top_p, "seed": sampling.seed, "rows_per_chunk": per_chunk})


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
    coefs, ids = _check(lm, vectors, coefficients, prompts, max_new_tokens, 1, 0.0, 1.0)
    eos = eos_ids_of(lm) if eos_token_ids is None else [int(e) for e in eos_token_ids]
    config = GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens,
                              eos_token_id=eos or None, pad_token_id=pad_id_of(lm.tokenizer),
                              output_scores=with_logprobs, return_dict_in_generate=True)
    n = len(ids)
    out = Generation(coefs, n, 1, [[] for _ in range(coefs.size * n)],
                     [np.zeros(0)] * (coefs.size * n), [], ["length"] * (coefs.size * n),
                     {"max_new_tokens": max_new_tokens, "temperature": 0.0, "top_p": 1.0,
                      "seed": 0})
    batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    bar = tqdm(total=coefs.size * len(batches), desc="generate (loop)", unit="batch",
               disable=not progress)
    with torch.inference_mode():
        for ci, c in enumerate(coefs):
            with steer(lm, vectors, float(c)):
                for batch in batches:
                    _loop_batch(lm, [ids[i] for i in batch], config, eos, out,
                                [out.row(ci, i) for i in batch])
                    bar.update(1)
    bar.close()
    out.texts = [_text(lm, t, ()) for t in out.tokens]
    return out


def _loop_batch(lm: LoadedModel, batch: list[list[int]], config: GenerationConfig,
                eos: list[int], out: Generation, rows: list[int]) -> None:
    """One left-padded batch through ``generate``; its replies into ``out``'s ``rows``."""
    tok, mask = pad_token_batch(batch, pad_id_of(lm.tokenizer), left=True)
    got = lm.model.generate(  # type: ignore[operator]
        input_ids=tok.to(lm.device), attention_mask=mask.to(lm.device), generation_config=config)
    seqs = got.sequences[:, tok.shape[1]:].cpu()
    lps = None
    if config.output_scores:
        lps = torch.log_softmax(torch.stack(got.scores, dim=1).float().cpu(), dim=-1)
    for j, r in enumerate(rows):
        reply: list[int] = []
        for t in seqs[j].tolist():
            reply.append(int(t))
            if t in eos:
                out.finish[r] = "eos"
                break
        out.tokens[r] = reply
        if lps is not None:
            out.logprobs[r] = np.array([float(lps[j, k, t]) for k, t in enumerate(reply)])
