"""Scored prompts: a formatted prompt plus the outcome tokens it is measured on.

A behavior prompt scores each candidate +1 (S+) or -1 (S-); a helpfulness prompt names the
index of the correct candidate. Builders from the data sets live here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ScoredPrompt:
    text: str                      # fully formatted prompt (chat template applied)
    input_ids: tuple[int, ...]     # its tokens
    candidate_ids: tuple[int, ...] # outcome tokens scored at the last position
    group: str                     # e.g. "harmful", "harmless", "stereoset_race", "knowledge", "mmlu:international_law"
    item_id: str                   # stable id within the group
    scores: tuple[int, ...] | None = None   # behavior: +1 / -1 per candidate
    correct: int | None = None              # helpfulness: index into candidate_ids
    meta: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> str:
        return "behavior" if self.scores is not None else "helpfulness"
