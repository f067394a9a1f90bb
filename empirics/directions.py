"""One steering direction swept over the grid (``cache.chunked_sweep``) and measured per
prompt group: ``sweep_direction → DirectionRun``. Per-group measures are prompts ×
coefficients ``(N, C)``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from empirics.cache import chunked_sweep
from empirics.measures import BehaviorMeasures, HelpfulnessMeasures, measure
from empirics.prepared import Prepared
from empirics.results import DirectionSweep, GroupSweep
from empirics.sweep import SweepResult, with_unsteered
from empirics.tasks import ScoredPrompt


@dataclass(frozen=True)
class DirectionRun:
    """One direction's sweep, split back into its prompt groups."""

    name: str
    vectors: dict[int, torch.Tensor]
    prompts: list[ScoredPrompt]
    result: SweepResult
    sweep: DirectionSweep              # groups in prompt order, with their measures
    rows: dict[str, list[int]]         # group -> its prompts' indices into ``prompts``

    @property
    def grid(self) -> np.ndarray:
        return self.sweep.grid

    def group(self, name: str) -> GroupSweep:
        for g in self.sweep.groups:
            if g.name == name:
                return g
        raise ValueError(f"direction {self.name} has no prompt group {name!r}")

    def behavior(self, group: str) -> BehaviorMeasures[np.ndarray]:
        m = self.group(group).measures
        if not isinstance(m, BehaviorMeasures):
            raise ValueError(f"group {group!r} holds helpfulness prompts, not behavior prompts")
        return m

    def helpfulness(self, group: str) -> HelpfulnessMeasures[np.ndarray]:
        m = self.group(group).measures
        if not isinstance(m, HelpfulnessMeasures):
            raise ValueError(f"group {group!r} holds behavior prompts, not helpfulness prompts")
        return m

    def behavior_groups(self) -> list[str]:
        return [g.name for g in self.sweep.groups if isinstance(g.measures, BehaviorMeasures)]

    def helpfulness_groups(self) -> list[str]:
        return [g.name for g in self.sweep.groups if isinstance(g.measures, HelpfulnessMeasures)]

    def pooled_helpfulness(self) -> HelpfulnessMeasures[np.ndarray]:
        """Every helpfulness group's measures stacked, ``(ΣN, C)``."""
        parts = [self.helpfulness(g) for g in self.helpfulness_groups()]
        return HelpfulnessMeasures(*(np.concatenate([getattr(p, name) for p in parts], axis=0)
                                     for name, _ in parts[0].named()))

    def place(self, i: int) -> tuple[str, int]:
        """Group and row within the group of ``prompts[i]``."""
        group = self.prompts[i].group
        return group, self.rows[group].index(i)


def sweep_direction(p: Prepared, name: str, vectors: dict[int, torch.Tensor],
                    items: list[ScoredPrompt], keep_hidden: bool,
                    grid: Sequence[float] | None = None,
                    unsteered: SweepResult | None = None) -> DirectionRun:
    """Sweep ``items`` along ``vectors`` over ``grid`` (default the run's; cached chunks) and
    measure each group. ``unsteered``: another direction's sweep of the same ``items`` whose
    r = 0 row (the unsteered model, whatever the direction) is taken instead of sweeping r = 0."""
    s = p.settings
    coefs = [float(c) for c in (s.grid if grid is None else grid)]
    share = unsteered is not None and 0.0 in coefs and len(coefs) > 1
    swept = [c for c in coefs if c != 0.0] if share else coefs
    res = chunked_sweep(p.lm, vectors, swept, items, p.cache, name, s.batch_size, keep_hidden,
                        s.progress)
    if share:
        assert unsteered is not None
        res = with_unsteered(res, coefs, unsteered)
    rows: dict[str, list[int]] = {}
    for i, prompt in enumerate(items):
        rows.setdefault(prompt.group, []).append(i)
    lp = np.asarray(res.logprobs)
    groups = []
    for g, idx in rows.items():
        k = max(len(items[i].candidate_ids) for i in idx)
        group_prompts = [items[i] for i in idx]
        groups.append(GroupSweep(g, group_prompts, measure(lp[:, idx, :k], group_prompts)))
    sweep = DirectionSweep(name, np.asarray(res.coefficients, float), groups)
    return DirectionRun(name, vectors, items, res, sweep, rows)
