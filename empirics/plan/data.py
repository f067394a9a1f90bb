"""The planner's prompts: behavior prompts and contrast pairs per behavior, helpfulness
questions; from the project's data functions (the one place to switch the data source)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from empirics import contrast, data, tasks
from empirics.models import LoadedModel
from empirics.sources import resolve_source
from empirics.tasks import ScoredPrompt

PAIRS = 64  # contrast pairs per behavior (validate's default)


def plan_prompts(lm: LoadedModel, behavior: str, n: int, seed: int,
                 data_dir: str | None) -> tuple[list[ScoredPrompt], tuple[list[str], list[str]]]:
    """``(measurement prompts, (positive, negative) contrast prompts)`` of ``behavior``, from the
    project's data functions (the one place to switch the data source). Measurement prompts
    are disjoint from the contrast prompts (val/test splits; the other side of the StereoSet
    target split), as in ``validate``."""
    root = resolve_source(None, data_dir)  # embedded data unless a directory is given
    rng = np.random.default_rng(seed)

    def sample(items: Sequence[object], k: int) -> list[object]:
        if k >= len(items):
            return list(items)
        return [items[i] for i in sorted(rng.choice(len(items), size=k, replace=False).tolist())]

    if behavior == "harmfulness":
        harmful = data.harmful_instructions(root, "val") + data.harmful_instructions(root, "test")
        prompts = tasks.harmfulness_prompts(lm, [str(x) for x in sample(harmful, n)], "harmful")
        pairs = contrast.harmfulness_pairs(lm, root, n=PAIRS, seed=seed)
    elif behavior == "bias":
        _, measured = contrast.stereoset_split(root, seed=seed)
        prompts = tasks.bias_prompts(lm, sample(measured, n))
        pairs = contrast.bias_pairs(lm, root, n=PAIRS, seed=seed, split_seed=seed)
    else:
        raise ValueError(f"behavior {behavior!r} must be 'harmfulness' or 'bias'")
    return prompts, (list(pairs[0]), list(pairs[1]))


def plan_helpfulness(lm: LoadedModel, n: int, seed: int) -> list[ScoredPrompt]:
    """Helpfulness prompts: the package's knowledge questions (options hidden)."""
    qs = data.knowledge_questions()
    idx = sorted(np.random.default_rng(seed + 3).choice(len(qs), size=min(n, len(qs)),
                                                         replace=False).tolist())
    return tasks.helpfulness_prompts(lm, [qs[i] for i in idx], "knowledge")


