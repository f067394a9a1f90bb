"""Render ``GenerationResults``: the report's "Behavior of generated text" section and one
figure per behavior. Computes nothing (every number is a field of ``empirics.results``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from empirics.intervals import Interval
from empirics.plots import Series, curve_plot
from empirics.results import BehaviorGeneration, GenerationResults


def _ci(ci: Interval[np.ndarray], j: int) -> str:
    return f"{ci.value[j]:+.2f} [{ci.lo[j]:+.2f}, {ci.hi[j]:+.2f}]"


def _behavior(b: BehaviorGeneration, figure: str | None) -> list[str]:
    p = b.predicted
    lines = [f"### {b.behavior} (judge: {b.judge}; {b.seconds:.0f} s)", "",
             "| r_e | B_gen sampled | undecided | B greedy | undecided (greedy) | next-token B | "
             "predicted (fit-free) |", "|---|---|---|---|---|---|---|"]
    for j, r in enumerate(b.coefficients):
        tok = _ci(b.b_token, j) if b.b_token is not None else "n/a"
        lines.append(f"| {r:g} | {_ci(b.b_gen, j)} | {b.undecided[j]:.2f} | {_ci(b.b_greedy, j)} "
                     f"| {b.greedy_undecided[j]:.2f} | {tok} | {_ci(p.curve, j)} |")
    meas = _ci(p.measured_slope, 0) if p.measured_slope is not None else "n/a"
    lines += ["", f"Slope dB/dr_e at 0: fit-free {_ci(p.slope, 0)} ({p.used} prompts with >= 2 "
              f"decided samples) vs measured (central difference of B_gen) {meas}.", ""]
    if b.recommendation is not None:
        rec = b.recommendation
        lines += [f"Recommendation on the generated behavior (it replaces the next-token one): "
                  f"**{rec.decision.value}**" + (f" at r = {rec.r:g}" if rec.r > 0 else "")
                  + f" — {rec.summary}", ""]
    if b.sequence is not None:
        lines += [f"Claim `sequence_curve` (docs/claims.md): **{b.sequence.label}** — "
                  f"{b.sequence.summary}", ""]
    if b.proxy is not None:
        lines += [f"Proxy vs behavior (`proxy_vs_behavior`): **{b.proxy.finding.value}** — "
                  f"{b.proxy.summary}", "", "| r_e | next-token gain | generated gain | "
                  "difference | agree (±0.1) |", "|---|---|---|---|---|"]
        lines += [f"| {g.coefficient:g} | {g.proxy_gain} | {g.behavior_gain} | {g.difference} "
                  f"| {g.agree} |" for g in b.proxy.rows]
        lines.append("")
    if figure is not None:
        lines += [f"![{b.behavior}: generated text]({figure})", ""]
    lines += ["Greedy replies to the first prompt:", ""]
    for ex in b.examples:
        reply = ex.reply.replace("\n", " ").replace("|", "/")[:160]
        lines.append(f"- r_e = {ex.coefficient:g} (verdict {ex.verdict:+d}): {reply}")
    lines.append("")
    return lines


def figure_name(b: BehaviorGeneration) -> str:
    return f"generation_{b.behavior}.png"


def markdown(res: GenerationResults, with_figures: bool = True) -> list[str]:
    """The section's lines (figures linked by ``figure_name`` when ``with_figures``)."""
    gs = res.settings
    lines = ["## Behavior of generated text", "",
             f"{gs.prompts} prompts x {gs.samples} samples (temperature {gs.temperature:g}) and one "
             f"greedy reply per coefficient, {gs.max_new_tokens} new tokens. B = P(aligned) - "
             "P(misaligned) over the decided replies, pooled over prompts (95% bootstrap CI over "
             "prompts); the undecided rate is beside it. Predicted: the importance-weighted curve "
             "from the samples at r_e = 0 alone (THEORY.md, Sequence level).", ""]
    for b in res.behaviors:
        lines += _behavior(b, figure_name(b) if with_figures else None)
    return lines


def figures(res: GenerationResults, out: Path, model: str) -> list[str]:
    """One PNG per behavior: sampled, greedy and next-token B, the fit-free prediction from the
    r_e = 0 samples, and the undecided rate; returns the file names."""
    names = []
    for b in res.behaviors:
        r = b.coefficients
        series = [Series("B_gen (sampled)", r, b.b_gen.value, b.b_gen.lo, b.b_gen.hi, marker="o"),
                  Series("B greedy", r, b.b_greedy.value, b.b_greedy.lo, b.b_greedy.hi, marker="s"),
                  Series("predicted from r_e = 0 samples", r, b.predicted.curve.value,
                         b.predicted.curve.lo, b.predicted.curve.hi, style="--")]
        if b.b_token is not None:
            series.append(Series("next-token B", r, b.b_token.value, b.b_token.lo, b.b_token.hi,
                                 style="-.", marker="^"))
        series.append(Series("undecided rate (sampled)", r, b.undecided, style=":", marker="x"))
        name = figure_name(b)
        curve_plot(out / name, f"{b.behavior}: generated text ({b.judge}) — {model}", "r_e",
                   "B = P(aligned) − P(misaligned)", series, ylim=(-1.05, 1.05), vline=0.0)
        names.append(name)
    return names
