"""Checks of the drivers' inputs (coefficient grids, tokenized prompts, candidate tokens): each
bad input raises ``ValueError`` naming the argument and what is allowed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from empirics.models import LoadedModel
from empirics.steering import validate_vectors


def check_coefficients(coefficients: Sequence[float]) -> np.ndarray:
    """The coefficient grid as a float64 array: non-empty and finite."""
    coefs = np.asarray(list(coefficients), dtype=np.float64)
    if coefs.ndim != 1 or coefs.size == 0:
        raise ValueError("coefficients is empty: give at least one coefficient")
    if not np.isfinite(coefs).all():
        raise ValueError(f"coefficients contain NaN or inf: {coefs.tolist()}")
    return coefs


def check_prompt_ids(lm: LoadedModel, prompts: Sequence[Sequence[int]]) -> list[list[int]]:
    """Tokenized prompts as lists of ints: at least one, none empty, every id in the embedding."""
    if len(prompts) == 0:
        raise ValueError("prompts is empty: give at least one tokenized prompt")
    n_embed = int(lm.model.get_input_embeddings().weight.shape[0])  # type: ignore[operator]
    ids = [[int(t) for t in p] for p in prompts]
    for i, p in enumerate(ids):
        if not p:
            raise ValueError(f"prompts[{i}] is empty")
        if min(p) < 0 or max(p) >= n_embed:
            raise ValueError(f"prompts[{i}] has a token id outside [0, {n_embed})")
    return ids


def check_candidates(lm: LoadedModel, candidates: Sequence[Sequence[int]],
                     n_prompts: int) -> list[list[int]]:
    """One non-empty list of in-vocabulary token ids per prompt."""
    if len(candidates) != n_prompts:
        raise ValueError(f"candidates has {len(candidates)} entries for {n_prompts} prompts")
    vocab = int(lm.lm_head.weight.shape[0])  # type: ignore[union-attr,index]
    cands = [[int(t) for t in c] for c in candidates]
    for i, c in enumerate(cands):
        if not c:
            raise ValueError(f"candidates[{i}] is empty: give at least one candidate token id")
        bad = [t for t in c if not 0 <= t < vocab]
        if bad:
            raise ValueError(f"candidates[{i}] has token ids {bad} outside the vocabulary [0, {vocab})")
    return cands


def check_sweep(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                coefficients: Sequence[float], prompts: Sequence[Sequence[int]],
                candidates: Sequence[Sequence[int]],
                batch_size: int) -> tuple[np.ndarray, list[list[int]], list[list[int]]]:
    """Validated copies of a sweep's inputs (the grid sorted ascending and unique)."""
    validate_vectors(lm, vectors)
    coefs = check_coefficients(coefficients)
    if coefs.size > 1 and not (np.diff(coefs) > 0).all():
        raise ValueError(f"coefficients must be sorted ascending and unique, got {coefs.tolist()}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    ids = check_prompt_ids(lm, prompts)
    return coefs, ids, check_candidates(lm, candidates, len(ids))
