"""Writes a run of the authors' protocol: ``report.json``, ``report.md``, ``fits.csv`` / ``fits.md``
(the fitted parameters with CIs), ``curves.csv`` (every plotted series) and the figures. Renders
what it is given; every file is written atomically."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from empirics.io import atomic_write_json, atomic_write_text, jsonable
from empirics.wolf.boundfit import PaperFit
from empirics.wolf.figures import write_figures
from empirics.wolf.results import BehaviorRun, CurveCI, WolfResults

FIT_COLUMNS = ("behavior", "panel", "measure", "formula", "range_lo", "range_hi", "param",
               "value", "stderr", "ci_lo", "ci_hi", "ci_method", "r_squared", "rms", "n_points",
               "n_prompts", "converged")
CURVE_COLUMNS = ("behavior", "panel", "series", "coefficient", "mean", "lo", "hi")


@dataclass(frozen=True)
class FitRow:
    behavior: str
    panel: str
    measure: str
    fit: PaperFit


def fit_rows(res: WolfResults) -> list[FitRow]:
    rows = []
    for run in res.behaviors:
        rows.append(FitRow(run.behavior, "behavior", "generated B", run.panel.tanh_fit))
        for sub in run.subjects:
            rows.append(FitRow(run.behavior, sub.subject, "P(correct) full vocabulary",
                               sub.fit_full))
            rows.append(FitRow(run.behavior, sub.subject, "P(correct) over A-D", sub.fit_options))
    return rows


def _num(x: float) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.6g}"


def fits_csv(res: WolfResults) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIT_COLUMNS)
    for r in fit_rows(res):
        f = r.fit
        for name in ("a", "b"):
            lo, hi = f.ci[name]
            w.writerow([r.behavior, r.panel, r.measure, f.formula, f.span[0], f.span[1], name,
                        _num(f.params[name]), _num(f.stderr[name]), _num(lo), _num(hi),
                        f.ci_method, _num(f.r_squared), _num(f.rms), f.n_points, f.n_prompts,
                        f.converged])
    return buf.getvalue()


def fits_markdown(res: WolfResults) -> str:
    lines = ["| behavior | panel | measure | formula | range | a [95% CI] | b [95% CI] | R² |",
             "|---|---|---|---|---|---|---|---|"]
    for r in fit_rows(res):
        f = r.fit
        cells = [f"{_num(f.params[k])} [{_num(f.ci[k][0])}, {_num(f.ci[k][1])}]" for k in "ab"]
        lines.append(f"| {r.behavior} | {r.panel} | {r.measure} | `{f.formula}` | "
                     f"[{f.span[0]:g}, {f.span[1]:g}] | {cells[0]} | {cells[1]} | "
                     f"{_num(f.r_squared)} |")
    return "\n".join(lines) + "\n"


def _curve_rows(w: Any, behavior: str, panel: str, series: str, grid: np.ndarray,
                c: CurveCI | np.ndarray) -> None:
    if isinstance(c, CurveCI):
        mean, lo, hi = c.mean, c.lo, c.hi
    else:
        mean, lo, hi = c, np.full(len(c), np.nan), np.full(len(c), np.nan)
    for x, m, a, b in zip(grid, mean, lo, hi, strict=True):
        w.writerow([behavior, panel, series, f"{x:g}", _num(m), _num(a), _num(b)])


def curves_csv(res: WolfResults) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CURVE_COLUMNS)
    for run in res.behaviors:
        p, b = run.panel, run.behavior
        for series, c in (("generated", p.generated), ("next_token", p.next_token),
                          ("theorem1_fit_free", p.theorem1_curve),
                          ("tanh_fit", p.tanh_fit.predict(p.grid))):
            _curve_rows(w, b, "behavior", series, p.grid, c)
        for s in run.subjects:
            for series, c in (("p_full", s.p_full), ("p_options", s.p_options),
                              ("accuracy", s.accuracy), ("theorem2_full_fit_free", s.theorem2_full),
                              ("theorem2_options_fit_free", s.theorem2_options),
                              ("fit_full", s.fit_full.predict(s.grid)),
                              ("fit_options", s.fit_options.predict(s.grid))):
                _curve_rows(w, b, s.subject, series, s.grid, c)
        _curve_rows(w, b, "recommendation", "utility", run.recommendation.grid,
                    run.recommendation.utility_curve)
    return buf.getvalue()


def markdown(res: WolfResults, figures: list[Path]) -> str:
    s = res.settings
    lines = [f"# Wolf et al. (2024) protocol — {res.model}", "",
             f"Model: {res.num_layers} layers, d = {res.hidden_size}; behavior prompt: "
             f"{res.family}.", f"Injection layers (the authors' rule, counted from the end): "
             f"−{res.layers_from_end[0]}…−{res.layers_from_end[-1]}.",
             f"Data: {res.data_source}.", ""]
    if res.substitutions:
        lines += ["**Substitutions** (the source lacks the authors' sets):", ""]
        lines += [f"- {x}" for x in res.substitutions] + [""]
    lines += [f"Grids: behavior {len(s.behavior_grid)} coefficients "
              f"({s.behavior_grid[0]:g}…{s.behavior_grid[-1]:g}), helpfulness "
              f"{len(s.helpfulness_grid)} ({s.helpfulness_grid[0]:g}…{s.helpfulness_grid[-1]:g})"
              + (" — --quick: coarser than the paper's" if s.quick else " (the paper's)") + ".",
              f"Sizes: {s.behavior_prompts} behavior prompts × {s.samples} samples, "
              f"{s.helpfulness_prompts} questions per subject, {s.pairs} contrast pairs, "
              f"{s.n_boot} bootstrap resamples, seed {s.seed}. Run time {res.seconds:.0f} s"
              + (f" ({res.load})" if res.load else "") + ".", ""]
    for run in res.behaviors:
        lines += _behavior_section(run)
    lines += ["## Fitted parameters", "", fits_markdown(res)]
    if res.cost is not None:
        c = res.cost
        lines += ["## Cost", "", f"Multiply-adds counted: helpfulness sweeps {c.macs_helpfulness:.3g}, "
                  f"generation {c.macs_generation:.3g} ({c.generated_tokens} tokens generated), "
                  f"next-token sweeps {c.macs_next_token:.3g}.", "",
                  "| stage | seconds |", "|---|---|"]
        lines += [f"| {name} | {sec:.1f} |" for name, sec in c.stage_seconds]
        lines += ["", c.gpu_estimate, ""]
    lines += ["## Figures", ""] + [f"![{p.name}]({p.name})" for p in figures]
    return "\n".join(lines) + "\n"


def _behavior_section(run: BehaviorRun) -> list[str]:
    rec, label = run.recommendation, ("P(agrees) − P(refuses)" if run.toward_agree
                                      else "P(refuses) − P(agrees)")
    lines = [f"## {run.behavior}", "",
             f"Steering layers {run.layers} ({run.vectors_note}; training separation "
             f"{run.separation:.3f}); vectors: `{run.vectors_path}`. B = {label}.", "",
             f"- gain slope at 0 (generated B, local quadratic |r| ≤ 3): {run.gain_slope.value:.4g} "
             f"[{run.gain_slope.lo:.4g}, {run.gain_slope.hi:.4g}]; tanh-fit slope "
             f"{run.tanh_slope:.4g}; fit-free Theorem 1 (next token) {run.panel.theorem1_slope:.4g} "
             f"({run.panel.margin_positive:.0%} of prompts with margin > 0)",
             f"- helpfulness curvature c2 (P(correct) over A–D, pooled subjects): "
             f"{run.loss_curvature.value:.4g} [{run.loss_curvature.lo:.4g}, "
             f"{run.loss_curvature.hi:.4g}]",
             f"- recommended r = {rec.r:g} (U = {rec.utility.value:.4g} [{rec.utility.lo:.4g}, "
             f"{rec.utility.hi:.4g}], κ = {rec.kappa:g})"
             + (": grid edge, the optimum may lie beyond" if rec.at_grid_edge else ""), "",
             "| claim | verdict | evidence | rule |", "|---|---|---|---|"]
    lines += [f"| {v.name} | **{v.label}** | {v.summary} | {v.rule} |" for v in run.verdicts]
    lines += ["", "Replies of the first prompt (sample 0):", ""]
    for r, text in run.panel.examples[:: max(1, len(run.panel.examples) // 5)]:
        lines.append(f"- r = {r:g}: {text.strip()[:160]!r}")
    return lines + [""]


def write(res: WolfResults, out: Path) -> list[Path]:
    """All outputs under ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    figures = write_figures(res, out)
    written = [atomic_write_json(out / "report.json", jsonable(res, skip={"fn"})),
               atomic_write_text(out / "fits.csv", fits_csv(res)),
               atomic_write_text(out / "fits.md", fits_markdown(res)),
               atomic_write_text(out / "curves.csv", curves_csv(res)),
               atomic_write_text(out / "report.md", markdown(res, figures))]
    return written + figures
