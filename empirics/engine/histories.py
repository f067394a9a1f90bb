"""Token histories shared by rows of one decoding chunk.

The layers below the steering (and the first steered layer, whose work does not depend on the
coefficient) give the same states to rows whose prompt and reply so far coincide (neighbouring
coefficients, or samples that drew the same tokens). Such rows share a *slot* of those layers'
cache; when their next tokens differ the slot forks, the new slot copying its parent's cache.
"""

from __future__ import annotations

import torch


def first_rows(slot_of: torch.Tensor) -> torch.Tensor:
    """For each slot ``0..max``, the first cache row that maps to it."""
    n = int(slot_of.max()) + 1
    first = torch.full((n,), slot_of.numel(), dtype=torch.long)
    return first.scatter_reduce_(0, slot_of, torch.arange(slot_of.numel()), "amin")


class Slots:
    """Slots of the history layers' cache: ``of[k]`` is cache row ``k``'s slot; slots ``0..n-1``
    are in use, each with the token ``tok`` it feeds next, its position and its valid columns."""

    def __init__(self, n: int, of: torch.Tensor, valid: torch.Tensor, pos: torch.Tensor) -> None:
        cap = of.numel()
        self.n, self.of = n, of
        self.tok = torch.zeros(cap, dtype=torch.long)
        self.valid = torch.zeros(cap, valid.shape[1], dtype=torch.bool)
        self.valid[:n] = valid
        self.pos = torch.zeros(cap, dtype=torch.long)
        self.pos[:n] = pos

    def fork(self, keep: list[int], tok: list[int]) -> torch.Tensor:
        """Assign this step's tokens of the kept cache rows ``keep``: a slot carries the token of
        its first kept row; rows of it with another token move to a new slot (one per distinct
        token). Returns the new slots' parents (their cache to copy), new slots last in order."""
        of = self.of.tolist()
        carried: dict[int, int] = {}
        new: dict[tuple[int, int], int] = {}
        parents: list[int] = []
        for k in keep:
            s, t = of[k], tok[k]
            if carried.setdefault(s, t) == t:
                continue
            ns = new.get((s, t))
            if ns is None:
                ns = new[(s, t)] = self.n + len(parents)
                parents.append(s)
            of[k] = ns
        n = self.n + len(parents)
        # Every slot keeps a cache row of its own, so the cache rows bound the slots.
        assert n <= self.of.numel(), (n, self.of.numel())
        for s, t in carried.items():
            self.tok[s] = t
        for (_, t), ns in new.items():
            self.tok[ns] = t
        parent_idx = torch.tensor(parents, dtype=torch.long)
        if parents:
            self.valid[self.n:n] = self.valid[parent_idx]
            self.pos[self.n:n] = self.pos[parent_idx]
            self.of = torch.tensor(of, dtype=torch.long)
        self.n = n
        return parent_idx

    def compact(self, sel: torch.Tensor) -> torch.Tensor:
        """Keep cache rows ``sel`` only; their slots move to the front, renumbered in order.
        Returns, for each new slot index up to ``len(sel)``, the old slot to copy from (slots
        past the live ones repeat the first: capacity for later forks)."""
        of = self.of[sel]
        live = torch.unique(of)  # sorted
        remap = torch.full((self.tok.numel(),), -1, dtype=torch.long)
        remap[live] = torch.arange(live.numel())
        cap = sel.numel()
        src = torch.cat([live, live[:1].expand(cap - live.numel())])
        self.of = remap[of]
        self.n = live.numel()
        self.tok, self.valid, self.pos = self.tok[src], self.valid[src], self.pos[src]
        return src
