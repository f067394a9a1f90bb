"""Steered generation for any causal LM: the model's own forward with steering hooks and its own
key/value cache, one token per row and step (``generate.steered_generate`` takes this path for
families the engine has no adapter for).

It draws tokens exactly as the fast path does (``engine.readout.choose`` on the same per-row
uniforms, seeded by prompt and sample only: common random numbers across coefficients) and
records them in the same ``decoding.RowBook``, so on a family with an adapter both paths give
the same replies (a test compares them) and on any family greedy replies equal Hugging Face
``generate`` with the same hooks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from empirics.decoding import GenRow, RowBook, Sampling, row_uniforms
from empirics.engine.readout import choose
from empirics.models import LoadedModel, pad_id_of, pad_token_batch
from empirics.steering import steer

#: Rows decoded together (one padded batch through the model per step).
ROWS_PER_BATCH = 64


def _cache_arg(model: object) -> str:
    """The forward's key/value-cache argument: ``cache`` in transformers 5 (where
    ``past_key_values`` is deprecated), ``past_key_values`` before."""
    forward = getattr(model, "forward", None)
    params = inspect.signature(forward).parameters if forward is not None else {}
    return "cache" if "cache" in params else "past_key_values"


def _record(book: RowBook, tok: torch.Tensor, lp: torch.Tensor) -> bool:
    """This step's tokens of the rows still going; True when every row has finished."""
    for j, (t, p) in enumerate(zip(tok.tolist(), lp.tolist(), strict=True)):
        if not book.done[j]:
            book.add(j, int(t), float(p))
    return all(book.done)


def _decode_batch(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], coefs: np.ndarray,
                  ids: Sequence[Sequence[int]], rows: Sequence[GenRow], sampling: Sampling,
                  decode: Callable[[list[int]], str]) -> RowBook:
    """One batch of rows: left-padded prefill, then one token per row and step."""
    book = RowBook(len(rows), sampling, decode)
    uniforms = row_uniforms(rows, sampling)
    tok, mask = pad_token_batch([ids[r.prompt] for r in rows], pad_id_of(lm.tokenizer), left=True)
    dev = lm.device
    tok, mask = tok.to(dev), mask.to(dev)
    coef = torch.tensor([float(coefs[r.coef]) for r in rows], dtype=torch.float32)
    arg = _cache_arg(lm.model)
    with steer(lm, vectors, coef):
        out = lm.model(input_ids=tok, attention_mask=mask,  # type: ignore[operator]
                       position_ids=(mask.cumsum(1) - 1).clamp(min=0), use_cache=True)
        for step in range(sampling.max_new):
            u = None if uniforms is None else uniforms[:, step]
            nxt, lp = choose(out.logits[:, -1].float(), sampling.temperature, sampling.top_p, u)
            if _record(book, nxt.cpu(), lp.cpu()) or step == sampling.max_new - 1:
                break
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
            cache = {arg: getattr(out, arg)}   # the model's own cache object, passed back
            out = lm.model(input_ids=nxt.unsqueeze(1).to(dev),  # type: ignore[operator]
                           attention_mask=mask, position_ids=(mask.sum(1, keepdim=True) - 1),
                           use_cache=True, **cache)
    return book


def hooked_generate(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], coefs: np.ndarray,
                    ids: Sequence[Sequence[int]], rows: Sequence[GenRow], sampling: Sampling,
                    decode: Callable[[list[int]], str], progress: bool = False
                    ) -> tuple[list[list[int]], list[np.ndarray], list[str]]:
    """Tokens, per-token log-probabilities (temperature 1) and finish reasons of every row, in
    batches of ``ROWS_PER_BATCH`` rows."""
    tokens: list[list[int]] = []
    logprobs: list[np.ndarray] = []
    finish: list[str] = []
    bar = tqdm(total=len(rows), desc="generate (hooks)", unit="row", disable=not progress)
    with torch.inference_mode():
        for start in range(0, len(rows), ROWS_PER_BATCH):
            chunk = rows[start:start + ROWS_PER_BATCH]
            book = _decode_batch(lm, vectors, coefs, ids, chunk, sampling, decode)
            tokens += book.tokens
            logprobs += [np.asarray(lp, dtype=np.float64) for lp in book.logprobs]
            finish += book.finish
            bar.update(len(chunk))
    bar.close()
    return tokens, logprobs, finish
