"""Report figures (PNG, matplotlib Agg): measured curves with CI bands, fits and theory bounds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from empirics.io import atomic_write


@dataclass
class Series:
    """One line on a plot; ``lo``/``hi`` draw a CI band, ``style`` a matplotlib format string."""

    label: str
    x: np.ndarray
    y: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    style: str = "-"
    marker: str | None = None


def _save(fig: object, path: Path) -> Path:
    def write(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]

    return atomic_write(path, write)


def curve_plot(path: str | Path, title: str, xlabel: str, ylabel: str, series: Sequence[Series],
               ylim: tuple[float, float] | None = None, logy: bool = False,
               vline: float | None = None) -> Path:
    """Draw ``series`` on one axis and write ``path`` atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for s in series:
        x = np.asarray(s.x, dtype=float)
        y = np.asarray(s.y, dtype=float)
        line = ax.plot(x, y, s.style, marker=s.marker, markersize=3.5, label=s.label, lw=1.6)[0]
        if s.lo is not None and s.hi is not None:
            ax.fill_between(x, np.asarray(s.lo, float), np.asarray(s.hi, float),
                            color=line.get_color(), alpha=0.18, lw=0)
    if vline is not None:
        ax.axvline(vline, color="gray", lw=0.8, ls=":")
    ax.axhline(0, color="gray", lw=0.5)
    if logy:
        ax.set_yscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    out = _save(fig, Path(path))
    plt.close(fig)
    return out


def tradeoff_plot(path: str | Path, title: str, curves: Sequence[tuple[str, np.ndarray, np.ndarray,
                                                                        np.ndarray]],
                  recommended: Sequence[tuple[str, float, float]] = ()) -> Path:
    """Helpfulness (y) against alignment (x), one point per coefficient, coloured by r_e.

    ``curves``: (label, alignment, helpfulness, coefficients); ``recommended``: (label, x, y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    sc = None
    for label, a, h, r in curves:
        ax.plot(a, h, "-", lw=1, alpha=0.6, label=label)
        sc = ax.scatter(a, h, c=r, cmap="coolwarm", s=18, zorder=3)
    if sc is not None:
        fig.colorbar(sc, ax=ax, label="r_e")
    for label, x, y in recommended:
        ax.plot(x, y, "*", markersize=13, markeredgecolor="k", label=f"recommended r_e ({label})")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("alignment: mean B (aligned = +1)")
    ax.set_ylabel("helpfulness: mean P(correct)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    out = _save(fig, Path(path))
    plt.close(fig)
    return out


def agreement_plot(path: str | Path, title: str,
                   panels: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> Path:
    """One panel per (label, predicted, measured): a point per prompt and the line y = x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4.2), squeeze=False)
    for ax, (label, predicted, measured) in zip(axes[0], panels, strict=True):
        ax.scatter(predicted, measured, s=14, alpha=0.8)
        both = np.concatenate([predicted, measured])
        lo, hi = float(both.min()), float(both.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = predicted")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("predicted (fit-free)")
        ax.set_ylabel("measured")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    out = _save(fig, Path(path))
    plt.close(fig)
    return out
