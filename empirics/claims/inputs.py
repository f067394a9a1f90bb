"""Typed, checked inputs of the rules: measured curves on a grid of coefficients.

``Curves``: prompts × coefficients ``(N, C)`` of one readout (B or P(correct)) along one
direction. ``DirectionSweeps``: the same for ``k`` seeded random directions, ``(k, N, C)``: the
i.i.d. and random-direction forms of Theorem 2 speak about their average. Bad input raises
``ValueError`` naming the problem and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def checked_grid(grid: np.ndarray) -> np.ndarray:
    """A finite, strictly increasing 1-D grid that contains 0."""
    g = np.asarray(grid, dtype=float)
    if g.ndim != 1 or g.size < 3:
        raise ValueError(f"grid must be 1-D with at least 3 coefficients, got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("grid contains NaN or inf: give finite coefficients")
    if not np.all(np.diff(g) > 0):
        raise ValueError("grid must be strictly increasing: sort it and drop duplicates")
    if not np.any(g == 0):
        raise ValueError("grid lacks r = 0: the unsteered point every rule is anchored at")
    return g


def index_of(grid: np.ndarray, r: float) -> int | None:
    """Index of coefficient ``r`` on ``grid`` (exact up to 1e-9), None when absent."""
    hit = np.flatnonzero(np.abs(grid - r) <= 1e-9 * max(1.0, abs(r)))
    return int(hit[0]) if hit.size else None


def zero_index(grid: np.ndarray) -> int:
    """Index of r = 0 on a grid that holds it (``checked_grid`` guarantees it)."""
    i = index_of(grid, 0.0)
    if i is None:
        raise ValueError("grid lacks r = 0: the unsteered point every rule is anchored at")
    return i


def per_prompt(name: str, values: np.ndarray, n: int) -> np.ndarray:
    """A finite per-prompt vector ``(n,)``."""
    v = np.asarray(values, dtype=float)
    if v.shape != (n,):
        raise ValueError(f"{name} has shape {v.shape}, expected ({n},): one value per prompt")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains NaN or inf: drop those prompts from every input")
    return v


@dataclass(frozen=True)
class Curves:
    """One readout per prompt and coefficient, ``values`` ``(N, C)`` on ``grid`` ``(C,)``."""

    grid: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        g = checked_grid(self.grid)
        v = np.asarray(self.values, dtype=float)
        if v.ndim != 2 or v.shape[1] != g.size or v.shape[0] < 2:
            raise ValueError(f"values must be (prompts ≥ 2, {g.size}) for a grid of {g.size}, "
                             f"got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError("values contain NaN or inf: drop those prompts")
        object.__setattr__(self, "grid", g)
        object.__setattr__(self, "values", v)

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    @property
    def at_zero(self) -> np.ndarray:
        """``(N,)`` values at r = 0."""
        return self.values[:, zero_index(self.grid)]


@dataclass(frozen=True)
class DirectionSweeps:
    """``values`` ``(k, N, C)``: ``k`` random directions × prompts × coefficients."""

    grid: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        g = checked_grid(self.grid)
        v = np.asarray(self.values, dtype=float)
        if v.ndim != 3 or v.shape[2] != g.size or v.shape[1] < 2:
            raise ValueError(f"values must be (directions, prompts ≥ 2, {g.size}), got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError("values contain NaN or inf: drop those prompts")
        object.__setattr__(self, "grid", g)
        object.__setattr__(self, "values", v)

    @property
    def k(self) -> int:
        return int(self.values.shape[0])

    @property
    def n(self) -> int:
        return int(self.values.shape[1])

    def direction(self, j: int) -> Curves:
        return Curves(self.grid, self.values[j])
