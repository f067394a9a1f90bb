"""Row packing: prompts as a shared token prefix plus each prompt's own tokens, rows laid end to
end without padding, grouped into runs of equal length and chunked to a token budget.

Words used across the engine: the *prefix* is the token prefix every prompt of a set shares
(``prefix_len`` tokens); a prompt's *own* tokens are the rest; a *row* is one prompt at one
coefficient; a *run* is consecutive rows of equal length; a *chunk* is the rows of one packed
forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import torch


def common_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """Longest common token prefix, leaving every prompt at least one token of its own."""
    first = prompts[0]
    n = min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        m = 0
        while m < n and p[m] == first[m]:
            m += 1
        n = m
    return max(n, 0)


@dataclass(frozen=True)
class Row:
    """One packed row: prompt ``prompt`` at coefficient index ``coef`` (0 where there is none)."""

    prompt: int
    coef: int = 0


@dataclass
class Runs:
    """A packed batch: ``counts[g]`` rows of ``lengths[g]`` tokens each, runs in order."""

    lengths: list[int]
    counts: list[int]

    @property
    def tokens(self) -> int:
        return sum(s * r for s, r in zip(self.lengths, self.counts, strict=True))

    @property
    def rows(self) -> int:
        return sum(self.counts)

    def last_index(self) -> torch.Tensor:
        """Flat index of each row's last token, rows in order."""
        out: list[int] = []
        off = 0
        for s, r in zip(self.lengths, self.counts, strict=True):
            out.extend(off + s * (j + 1) - 1 for j in range(r))
            off += s * r
        return torch.tensor(out, dtype=torch.long)

    def row_lengths(self) -> torch.Tensor:
        return torch.repeat_interleave(torch.tensor(self.lengths, dtype=torch.long),
                                       torch.tensor(self.counts, dtype=torch.long))

    def positions(self, start: int) -> torch.Tensor:
        """Flat position of every token when each row's tokens sit at ``start, start + 1, ...``."""
        return torch.cat([torch.arange(start, start + s).repeat(r)
                          for s, r in zip(self.lengths, self.counts, strict=True)])


def pack_chunks(rows: Sequence[Row], length: Callable[[Row], int], budget: int) -> list[list[Row]]:
    """Consecutive rows grouped so that each chunk's tokens stay within ``budget`` (>= 1 row)."""
    out: list[list[Row]] = []
    cur: list[Row] = []
    used = 0
    for row in rows:
        n = length(row)
        if cur and used + n > budget:
            out.append(cur)
            cur, used = [], 0
        cur.append(row)
        used += n
    if cur:
        out.append(cur)
    return out


def runs_of(rows: Sequence[Row], length: Callable[[Row], int]) -> Runs:
    """Run-length groups of equal-length consecutive rows."""
    lengths: list[int] = []
    counts: list[int] = []
    for row in rows:
        n = length(row)
        if lengths and lengths[-1] == n:
            counts[-1] += 1
        else:
            lengths.append(n)
            counts.append(1)
    return Runs(lengths, counts)


def split_where_length_changes(rows: Sequence[Row],
                               length: Callable[[Row], int]) -> list[list[Row]]:
    """Consecutive rows of equal length as separate lists (rows sorted by length: one each)."""
    out: list[list[Row]] = []
    for row in rows:
        if out and length(out[-1][-1]) == length(row):
            out[-1].append(row)
        else:
            out.append([row])
    return out


@dataclass
class PromptSet:
    """Tokenized prompts split into the shared prefix and each prompt's own tokens."""

    ids: list[list[int]]
    prefix_len: int

    @classmethod
    def of(cls, prompts: Sequence[Sequence[int]], prefix_len: int | None = None) -> PromptSet:
        ids = [[int(t) for t in p] for p in prompts]
        p = common_prefix_length(ids) if prefix_len is None else int(prefix_len)
        if not 0 <= p <= min(len(x) for x in ids) - 1:
            raise ValueError(f"prefix_len {p} must leave every prompt one own token")
        if any(x[:p] != ids[0][:p] for x in ids):
            raise ValueError(f"the prompts do not share their first {p} tokens")
        return cls(ids, p)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def prefix(self) -> list[int]:
        return self.ids[0][: self.prefix_len]

    def own(self, prompt: int) -> list[int]:
        return self.ids[prompt][self.prefix_len:]

    def own_length(self, row: Row) -> int:
        """Own tokens of ``row``'s prompt (the packing length of a row)."""
        return len(self.ids[row.prompt]) - self.prefix_len

    @cached_property
    def order(self) -> list[int]:
        """Prompt indices sorted by own length (then index): equal lengths pack into runs."""
        return sorted(range(len(self.ids)), key=lambda i: (len(self.ids[i]), i))

    def own_ids(self, rows: Sequence[Row]) -> torch.Tensor:
        """The own tokens of ``rows`` laid end to end, ``(tokens,)``."""
        return torch.tensor([t for r in rows for t in self.own(r.prompt)], dtype=torch.long)
