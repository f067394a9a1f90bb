"""Figures in the paper's layout: Fig. 4-style behavior panels (one per behavior) and Fig. 5-style
helpfulness panels (one per MMLU subject; full vocabulary above, A–D below), each with the
measured points and 95% CIs, the paper's fitted curve on its range, and the fit-free prediction."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from empirics.io import atomic_write  # noqa: E402
from empirics.wolf.boundfit import PaperFit  # noqa: E402
from empirics.wolf.results import BehaviorRun, CurveCI, WolfResults  # noqa: E402

DPI = 90


def _points(ax: plt.Axes, grid: np.ndarray, c: CurveCI, label: str, color: str) -> None:
    err = np.stack([c.mean - c.lo, c.hi - c.mean])
    ax.errorbar(grid, c.mean, yerr=err, fmt="o", ms=2.5, lw=0.6, color=color, label=label)


def _fit(ax: plt.Axes, fit: PaperFit, color: str) -> None:
    if fit.converged:
        x = np.linspace(fit.span[0], fit.span[1], 200)
        ax.plot(x, fit.predict(x), color=color, lw=1.6,
                label=f"paper fit on [{fit.span[0]:g}, {fit.span[1]:g}] (R²={fit.r_squared:.2f})")


def _y_label(run: BehaviorRun) -> str:
    return "P(agrees) − P(refuses)" if run.toward_agree else "P(refuses) − P(agrees)"


def behavior_figure(res: WolfResults, path: Path) -> Path:
    n = len(res.behaviors)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.8), squeeze=False)
    for ax, run in zip(axes[0], res.behaviors, strict=True):
        p = run.panel
        _points(ax, p.grid, p.generated, "generated text (keyword rule)", "tab:blue")
        _fit(ax, p.tanh_fit, "tab:orange")
        ax.plot(p.grid, p.next_token.mean, ":", color="tab:gray", lw=1.2,
                label="next token (agree vs refuse tokens)")
        ax.plot(p.grid, p.theorem1_curve, "--", color="tab:green", lw=1.4,
                label="Theorem 1, fit-free (γ̂λ̂, B₀)")
        ax.set_title(f"{run.behavior} — layers {run.layers[0]}–{run.layers[-1]}")
        ax.set_xlabel("$r_e$")
        ax.set_ylabel(_y_label(run))
        ax.set_ylim(-1.05, 1.05)
        ax.legend(fontsize=6.5, loc="best")
    fig.suptitle(f"Behavior (Fig. 4 layout) — {res.model}", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    plt.close(fig)
    return path


def helpfulness_figure(res: WolfResults, run: BehaviorRun, path: Path) -> Path:
    n = len(run.subjects)
    fig, axes = plt.subplots(2, n, figsize=(4.3 * n, 6.4), squeeze=False)
    for j, sub in enumerate(run.subjects):
        top, bottom = axes[0][j], axes[1][j]
        _points(top, sub.grid, sub.p_full, "P(correct), full vocabulary", "tab:blue")
        _fit(top, sub.fit_full, "tab:orange")
        top.plot(sub.grid, sub.theorem2_full, "--", color="tab:green", lw=1.4,
                 label="Theorem 2′ form, fit-free (P₀, s)")
        _points(bottom, sub.grid, sub.p_options, "P(correct) over A–D", "tab:purple")
        _fit(bottom, sub.fit_options, "tab:orange")
        bottom.plot(sub.grid, sub.theorem2_options, "--", color="tab:green", lw=1.4,
                    label="Theorem 2′ form on A–D, fit-free")
        bottom.plot(sub.grid, sub.accuracy.mean, color="tab:gray", lw=0.8, label="accuracy")
        top.set_title(sub.subject, fontsize=9)
        for ax in (top, bottom):
            ax.set_xlabel("$r_e$")
            ax.legend(fontsize=6, loc="best")
        top.set_ylabel("P(correct)")
        bottom.set_ylabel("P(correct | A–D)")
    fig.suptitle(f"Helpfulness under {run.behavior} steering (Fig. 5 layout) — {res.model}",
                 fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    plt.close(fig)
    return path


def write_figures(res: WolfResults, out: Path) -> list[Path]:
    paths = [behavior_figure(res, out / "fig4_behavior.png")]
    paths += [helpfulness_figure(res, run, out / f"fig5_helpfulness_{run.behavior}.png")
              for run in res.behaviors]
    return paths
