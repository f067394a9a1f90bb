"""The protocol's measurements on one set of steering vectors, through the fast engines.

* behavior of generated text: ``empirics.generate.steered_generate`` (all coefficients of the
  grid in the batch), 32 new tokens sampled at temperature 1, each reply scored by the authors'
  keyword rule (``empirics.wolf.keywords``); per prompt the mean over its samples;
* next-token behavior of the same prompts on agree/refuse first tokens (``empirics.sweep``), the
  quantity the fit-free Theorem 1 prediction is about;
* helpfulness from first-token logits (``empirics.sweep``): P(correct letter) over the full
  vocabulary, renormalised over A–D, and accuracy (argmax over A–D). A letter's probability is
  the largest over its token forms ``A``, ``▁A``, ``ĠA`` (``experiments/utils.py``,
  ``get_answer_probs``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from empirics import formulas
from empirics.generate import steered_generate
from empirics.models import LoadedModel
from empirics.sweep import sweep
from empirics.wolf import keywords
from empirics.wolf.protocol import MAX_NEW_TOKENS, TEMPERATURE

LETTERS = ("A", "B", "C", "D")
LETTER_FORMS = ("{}", "▁{}", "Ġ{}")


@dataclass
class GeneratedBehavior:
    """Per prompt × coefficient mean keyword score over ``samples`` replies, ``(N, C)``."""

    grid: np.ndarray
    scores: np.ndarray
    samples: int
    examples: list[tuple[float, str]]   # (coefficient, reply) of prompt 0, sample 0
    tokens: int                         # generated tokens in all


@dataclass
class Helpfulness:
    """Per prompt × coefficient ``(N, C)``: P(correct) full vocabulary, over A–D, accuracy."""

    subject: str
    grid: np.ndarray
    p_full: np.ndarray
    p_options: np.ndarray
    accuracy: np.ndarray
    letter_logprobs0: np.ndarray        # (N, 4) log P(letter) at r = 0 (max over its forms)
    letter_ids0: np.ndarray             # (N, 4) the form attaining it

    def take(self, start: int, stop: int, subject: str) -> Helpfulness:
        """Prompts ``start:stop`` as their own subject (one sweep serves every subject)."""
        rows = slice(start, stop)
        return Helpfulness(subject, self.grid, self.p_full[rows], self.p_options[rows],
                           self.accuracy[rows], self.letter_logprobs0[rows],
                           self.letter_ids0[rows])


def generated_behavior(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], grid: Sequence[float],
                       prompts: Sequence[Sequence[int]], behavior: str, chat: bool,
                       toward_agree: bool, samples: int, seed: int,
                       progress: bool) -> GeneratedBehavior:
    gen = steered_generate(lm, vectors, list(grid), prompts, max_new_tokens=MAX_NEW_TOKENS,
                           samples=samples, temperature=TEMPERATURE, seed=seed, progress=progress)
    scores = keywords.behavior_scores(gen.texts, behavior, chat, toward_agree).astype(float)
    per = scores.reshape(len(grid), len(prompts), samples).mean(axis=2).T
    examples = [(float(r), gen.texts[gen.row(c, 0, 0)]) for c, r in enumerate(grid)]
    return GeneratedBehavior(np.asarray(grid, float), per, samples, examples,
                             int(sum(len(t) for t in gen.tokens)))


def next_token_behavior(lm: LoadedModel, vectors: Mapping[int, torch.Tensor],
                        grid: Sequence[float], prompts: Sequence[Sequence[int]],
                        candidates: Sequence[int], positive: Sequence[bool],
                        progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(B (N, C), log-probs at every coefficient (C, N, K))``: B = P(S+) − P(S−) normalised
    over the candidate tokens (``theory.alignment.behavior``)."""
    res = sweep(lm, vectors, list(grid), prompts, [list(candidates)] * len(prompts),
                progress=progress)
    b = formulas.behavior_values(res.logprobs, np.asarray(positive, dtype=bool))
    return b.T, res.logprobs


def letter_forms(lm: LoadedModel) -> list[list[int]]:
    """Token ids of each letter's forms that the vocabulary has (at least one per letter)."""
    tok = lm.tokenizer
    unk = getattr(tok, "unk_token_id", None)
    out: list[list[int]] = []
    for letter in LETTERS:
        ids: list[int] = []
        for form in LETTER_FORMS:
            tid = tok.convert_tokens_to_ids(form.format(letter))  # type: ignore[attr-defined]
            if isinstance(tid, int) and tid != unk and tid not in ids:
                ids.append(tid)
        if not ids:
            raise ValueError(f"the tokenizer of {lm.name} has no token for the letter {letter!r}")
        out.append(ids)
    flat = [t for ids in out for t in ids]
    if len(set(flat)) != len(flat):
        raise ValueError(f"the tokenizer of {lm.name} maps two letters to one token")
    return out


def helpfulness(lm: LoadedModel, vectors: Mapping[int, torch.Tensor], grid: Sequence[float],
                subject: str, prompts: Sequence[Sequence[int]], correct: Sequence[int],
                progress: bool) -> Helpfulness:
    forms = letter_forms(lm)
    flat = [t for ids in forms for t in ids]
    res = sweep(lm, vectors, list(grid), prompts, [flat] * len(prompts), progress=progress)
    lp = res.logprobs                                            # (C, N, K)
    zero = int(np.argmin(np.abs(np.asarray(grid, float))))      # r = 0 (the grid holds it)
    starts = np.cumsum([0] + [len(f) for f in forms])
    per_letter = np.stack([lp[..., starts[j]:starts[j + 1]].max(-1) for j in range(4)], -1)
    best_form = np.stack([np.asarray(forms[j])[lp[zero, :, starts[j]:starts[j + 1]].argmax(-1)]
                          for j in range(4)], -1)
    p = np.exp(per_letter)                                       # (C, N, 4)
    c = np.asarray(correct, dtype=int)
    rows = np.arange(len(prompts))
    p_full = p[:, rows, c].T
    p_options = (p[:, rows, c] / p.sum(-1)).T
    accuracy = (p.argmax(-1) == c[None]).astype(float).T
    return Helpfulness(subject, np.asarray(grid, float), p_full, p_options, accuracy,
                       per_letter[zero], best_form)
