"""The generic path of steered generation: families without an engine adapter
(``engine.fast_path_reason`` is not ``None``) run through the model's own forward with steering
hooks and its own key/value cache.

Rows (coefficient, prompt, sample) go in batches of ``GENERIC_ROWS``: prompts left-padded, an
attention mask and position ids counted from each row's first real token (as Hugging Face
``generate`` does), one coefficient per row (``steering.steer`` with a ``(batch,)`` tensor), then
one token per row and step through the cache. Finished rows stay in the batch until all are done
(their further tokens are not recorded). Token choice is ``readout.choose`` with the fast path's
per-row uniforms (``decoding.row_seed``), so both paths draw the same replies up to rounding.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from empirics.decoding import GenRow, RowBook, Sampling, row_uniforms
from empirics.engine.readout import choose
from empirics.models import LoadedModel, pad_id_of, pad_token_batch
from empirics.steering import steer

# Rows per batch of the generic path.
GENERIC_ROWS = 32


def generic_rows(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], coefs: np.ndarray,
                 ids: Sequence[Sequence[int]], rows: Sequence[GenRow], sampling: Sampling,
                 decode: Callable[[list[int]], str]) -> RowBook:
    """Replies of ``rows`` by the model's own forward and cache, ``GENERIC_ROWS`` at a time."""
    book = RowBook(len(rows), sampling, decode)
    uniforms = row_uniforms(rows, sampling)
    for start in range(0, len(rows), GENERIC_ROWS):
        chunk = list(range(start, min(start + GENERIC_ROWS, len(rows))))
        coef = torch.tensor(coefs[[rows[j].coef for j in chunk]], dtype=torch.float32)
        u = uniforms[chunk] if uniforms is not None else None
        with steer(lm, vectors, coef):
            _batch(lm, [list(ids[rows[j].prompt]) for j in chunk], chunk, sampling, u, book)
    return book


def cache_argument(lm: LoadedModel) -> str:
    """The forward's key/value cache argument (and output field): ``cache`` in recent
    transformers, ``past_key_values`` before."""
    params = inspect.signature(lm.model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _batch(lm: LoadedModel, prompts: list[list[int]], chunk: list[int], sampling: Sampling,
           uniforms: torch.Tensor | None, book: RowBook) -> None:
    """One left-padded batch of rows (steering hooks already on) into ``book``'s rows ``chunk``."""
    dev = lm.device
    tok, mask = pad_token_batch(prompts, pad_id_of(lm.tokenizer), left=True)
    tok, mask = tok.to(dev), mask.to(dev)
    cache_arg = cache_argument(lm)
    cache = None
    for step in range(sampling.max_new):
        pos = (mask.cumsum(dim=-1) - 1).clamp(min=0)
        if cache is not None:
            pos = pos[:, -1:]
        out = lm.model(input_ids=tok, attention_mask=mask,  # type: ignore[operator]
                       position_ids=pos, use_cache=True, **{cache_arg: cache})
        cache = getattr(out, cache_arg)
        u = uniforms[:, step] if uniforms is not None else None
        chosen, lp = choose(out.logits[:, -1].float().cpu(), sampling.temperature,
                            sampling.top_p, u)
        for k, j in enumerate(chunk):
            if not book.done[j]:
                book.add(j, int(chosen[k]), float(lp[k]))
        if all(book.done[j] for j in chunk):
            return
        tok = chosen.to(dev).unsqueeze(1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
