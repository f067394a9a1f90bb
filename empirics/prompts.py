"""Which data become which prompts: the measured prompts of each behavior and of helpfulness,
and the contrast pairs of the reading vectors. The one module that calls ``empirics.data`` /
``empirics.contrast`` for prompt construction; ``data_dir`` is the resolved
``empirics.sources.DataSource`` (embedded, directory or hub), whose provenance records every
file read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from empirics import contrast, data, tasks
from empirics.models import LoadedModel
from empirics.settings import Settings
from empirics.sources import DataSource
from empirics.tasks import ScoredPrompt

T = TypeVar("T")


def sample(items: Sequence[T], n: int, seed: int) -> list[T]:
    """A seeded subset of ``n`` items in their original order (all of them when ``n`` ≥ len)."""
    if n >= len(items):
        return list(items)
    idx = sorted(np.random.default_rng(seed).choice(len(items), size=n, replace=False).tolist())
    return [items[i] for i in idx]


def behavior_prompts(lm: LoadedModel, s: Settings, data_dir: DataSource) -> dict[str, list[ScoredPrompt]]:
    """Held-out measurement prompts per behavior, disjoint from the reading vectors' training
    prompts (several groups: e.g. harmful and harmless)."""
    out: dict[str, list[ScoredPrompt]] = {}
    if "harmfulness" in s.behaviors:
        # harmful_val + harmful_test are disjoint from harmful_train (reading vectors).
        harmful = data.harmful_instructions(data_dir, "val") + data.harmful_instructions(data_dir, "test")
        harmless = data.harmless_instructions(data_dir, "val")
        out["harmfulness"] = (
            tasks.harmfulness_prompts(lm, sample(harmful, s.counts.harmful, s.seed), "harmful",
                                      fmt=s.harm_format)
            + tasks.harmfulness_prompts(lm, sample(harmless, s.counts.harmless, s.seed + 1),
                                        "harmless", fmt=s.harm_format))
    if "bias" in s.behaviors:
        # Split by target: the bias vector never sees a measured target.
        _, measured = contrast.stereoset_split(data_dir, seed=s.seed)
        out["bias"] = tasks.bias_prompts(lm, sample(measured, s.counts.bias, s.seed + 2))
    return out


def helpfulness_prompts(lm: LoadedModel, s: Settings, data_dir: DataSource) -> list[ScoredPrompt]:
    """The helpfulness questions (knowledge, MMLU subjects or ARC-Easy)."""
    n = s.counts.helpfulness
    if s.helpfulness == "knowledge":
        qs = data.knowledge_questions()
        return tasks.helpfulness_prompts(lm, sample(qs, n, s.seed + 3), "knowledge")
    if s.helpfulness == "mmlu":
        prompts: list[ScoredPrompt] = []
        per = max(1, n // len(s.mmlu_subjects))
        for subject in s.mmlu_subjects:
            qs = data.mmlu(data_dir, [subject])
            shots = data.mmlu(data_dir, [subject], split="dev")[: s.few_shot] if s.few_shot else []
            prompts += tasks.helpfulness_prompts(lm, sample(qs, per, s.seed + 3), f"mmlu:{subject}",
                                                 fmt="letters", few_shot=shots)
        return prompts
    qs = data.arc(data_dir, "ARC-Easy", "Test")
    return tasks.helpfulness_prompts(lm, sample(qs, n, s.seed + 3), "arc", fmt="letters")


def contrast_pairs(lm: LoadedModel, behavior: str, s: Settings,
                   data_dir: DataSource) -> tuple[list[str], list[str]]:
    """Paired (positive = aligned, negative) prompts for the reading vector of ``behavior``."""
    n = s.contrast_pairs
    if behavior == "harmfulness":  # harmful_train vs harmless_train: disjoint from measurement
        pos, neg = contrast.harmfulness_pairs(lm, data_dir, n=n, seed=s.seed)
    else:
        pos, neg = contrast.bias_pairs(lm, data_dir, n=n, seed=s.seed)
    return list(pos), list(neg)
