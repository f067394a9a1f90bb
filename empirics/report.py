"""The output layer: render ``Results`` to report.json, report.md, sweep.csv, estimates.csv and
the PNG figures, and write the reading vectors and their control-vector GGUFs.

Computes nothing: every number is a field of ``empirics.results``; this module only formats,
serialises, draws and writes them. The JSON schema is documented in docs/empirics.md.
"""

from __future__ import annotations

import csv
import enum
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from empirics import generation_report
from empirics.claims import ClaimVerdict, Decision, Kind, Recommendation
from empirics.control_vector import export_run_vectors
from empirics.estimates import CSV_FIELDS
from empirics.intervals import Interval
from empirics.io import atomic_write_json, atomic_write_text
from empirics.io import jsonable as io_jsonable
from empirics.plots import Series, agreement_plot, curve_plot, tradeoff_plot
from empirics.results import BehaviorResults, Coefficients, ControlVectorFile, Results

REPORT_VERSION = 3  # 3: verdicts from empirics.claims (kind, statistic, band), the claims recommendation
# not JSON: callables, big arrays, per-prompt rows (in the CSVs), the vectors (their own files)
SKIP_FIELDS = {"fn", "U", "estimates", "sweeps", "exports"}


def _enum_value(k: enum.Enum) -> object:
    return k.value


def _interval(iv: Interval[Any]) -> dict[str, object]:
    """report.json v2's forms: a curve (C,) with ``mean``, level and prompt count; a number
    with ``value``."""
    if isinstance(iv.value, np.ndarray):
        return {"mean": iv.value, "lo": iv.lo, "hi": iv.hi, "level": iv.level, "n": iv.n}
    return {"value": iv.value, "lo": iv.lo, "hi": iv.hi}


def jsonable(x: Any) -> Any:
    """``io.jsonable`` without the fields that are not JSON (``SKIP_FIELDS``)."""
    return io_jsonable(x, skip=SKIP_FIELDS, render={Interval: _interval, enum.Enum: _enum_value})


def to_json(results: Results, control_vectors: list[ControlVectorFile] | None = None
            ) -> dict[str, Any]:
    """report.json's content (``control_vectors``: the GGUFs ``write`` wrote)."""
    out = jsonable(results)
    out["control_vectors"] = jsonable(control_vectors or [])
    out["report_version"] = REPORT_VERSION
    out["verdicts"] = [{"behavior": b.behavior, "label": v.label, **jsonable(v)}
                       for b in results.behaviors for v in b.verdicts]
    return dict(out)


# ---------------------------------------------------------------------------- CSV
def sweep_csv(results: Results) -> str:
    """sweep.csv: one row per direction × prompt × coefficient × measure."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["direction", "group", "item_id", "coefficient", "measure", "value"])
    for sw in results.sweeps:
        for group in sw.groups:
            for name, v in group.measures.named():
                for c, r in enumerate(sw.grid):
                    for i, prompt in enumerate(group.prompts):
                        x = float(v[i, c])
                        w.writerow([sw.name, prompt.group, prompt.item_id, float(r), name,
                                    repr(x) if math.isfinite(x) else ""])
    return buf.getvalue()


def estimates_csv(results: Results) -> str:
    """estimates.csv: one row per direction × JVP prompt with its estimates."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["direction", "kind", "group", "item_id", *CSV_FIELDS])
    for b in results.behaviors:
        for e in b.estimates:
            vals = [getattr(e, f) for f in CSV_FIELDS]
            w.writerow([b.behavior, e.kind, e.group, e.item_id,
                        *("" if v is None or not math.isfinite(float(v)) else repr(float(v))
                          for v in vals)])
    return buf.getvalue()


# ---------------------------------------------------------------------------- markdown
def _ci(c: Interval[np.ndarray], i: int) -> str:
    return f"{c.value[i]:+.3f} [{c.lo[i]:+.3f}, {c.hi[i]:+.3f}]"


def _val(v: Interval[float] | None) -> str:
    if v is None:
        return "—"
    if not (math.isfinite(v.lo) and math.isfinite(v.hi)):
        return f"{v.value:.4g}"
    return f"{v.value:.4g} [{v.lo:.4g}, {v.hi:.4g}]"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def agreement_text(v: ClaimVerdict) -> str:
    """The per-prompt agreement in words ("" where the rule does not pair prompts)."""
    a = v.agreement
    if a is None:
        return ""
    return (f"scale {a.scale}, correlation {a.correlation}, ratio of means {a.ratio_of_means}, "
            f"{a.within_band:.0%} of {a.n} prompts within the band")


def evidence_text(v: ClaimVerdict) -> str:
    """The decision statistic with its band, then the numbers shown beside it."""
    band = "" if v.band is None else f" (band {v.band})"
    return "; ".join([f"statistic {v.statistic}{band}",
                      *(f"{n.label}: {n.value}" for n in v.numbers)])


def console_line(behavior: str, v: ClaimVerdict) -> str:
    """One verdict on one line for the console summary."""
    label = v.label.upper() if v.holds is not None else v.label
    return f"  - {behavior}: {v.name} [{v.subject}]: {label} ({v.summary[:110]})"


def recommendation_line(behavior: str, kappa: float, rec: Recommendation) -> str:
    """The console's line: the decision, the measured argmax and Theorem 2R's r*."""
    so = rec.second_order
    r_star = "" if so is None else (
        f"; Theorem 2R r* = {so.r_star:.3g}, inside its validity radius: "
        f"{'yes' if rec.second_order_inside_radius else 'no'}")
    what = f"steer at r = {rec.r:g}" if rec.decision is Decision.STEER else "do not steer"
    return (f"Recommendation ({behavior}, κ={kappa:g}, {rec.source} B): {what} (measured argmax "
            f"of U r = {rec.measured_argmax:g}{r_star})")


def recommendation_md(rec: Recommendation, kappa: float, epsilon: float) -> list[str]:
    """The recommendation's lines in report.md (the rule: docs/claims.md)."""
    so = rec.second_order
    eps = "none" if rec.within_epsilon is None else f"r = {rec.within_epsilon:g}"
    lines = [f"- decision: **{rec.decision.value}**" + (f" at r = {rec.r:g}" if rec.r > 0 else "")
             + f" ({rec.source} B)", f"- {rec.summary}",
             f"- measured argmax of U = G − κL (κ = {kappa:g}) on r ≥ 0: r = "
             f"{rec.measured_argmax:g}; most gain with loss (upper 95%) ≤ ε = {epsilon:g}: {eps}",
             "- Theorem 2R's fit-free second-order r*: " + (
                 "not available (no Δ̂₂)" if so is None else
                 f"{so.r_star:.3g} ({so.note}); inside its validity radius: "
                 f"{'yes' if rec.second_order_inside_radius else 'no'}")]
    for ext in rec.extensions:
        lines.append(f"- grid extended: {ext.reason}")
    if rec.stopped_because:
        lines.append(f"- the optimum is on the largest coefficient; stopped: {rec.stopped_because}")
    return lines


def verdict_table(results: Results, kind: Kind) -> list[str]:
    """One table of the verdicts of ``kind``: consistency checks and claims are kept apart."""
    lines = ["| behavior | rule | subject | verdict | prediction vs measurement | per-prompt "
             "agreement | summary | how it is decided |", "|---|---|---|---|---|---|---|---|"]
    for b in results.behaviors:
        for v in (v for v in b.verdicts if v.kind is kind):
            lines.append(f"| {b.behavior} | {v.name} | {_cell(v.subject)} | **{v.label}** | "
                         f"{_cell(evidence_text(v))} | "
                         f"{_cell(agreement_text(v))} | {_cell(v.summary)} | "
                         f"{_cell(v.rule)} |")
    return lines


def _coef_table(rows: list[Coefficients]) -> list[str]:
    lines = ["| form | source | c1 (r_e) | c2 (r_e²) | note |", "|---|---|---|---|---|"]
    for c in rows:
        note = c.note if (c.c1 is None or c.c2 is None) else ""
        lines.append(f"| {_cell(c.label)} | {c.source} | {_val(c.c1)} | {_val(c.c2)} | "
                     f"{_cell(note)} |")
    return lines


def _behavior_md(b: BehaviorResults, s_kappa: float, epsilon: float) -> list[str]:
    lines = ["", f"## {b.behavior}", "", f"_{b.jvp_note}._", "",
             "### Recommendation", "", *recommendation_md(b.recommendation, s_kappa, epsilon),
             "", "### Alignment coefficients at r_e = 0", "", *_coef_table(b.alignment_coefficients),
             "", "### Helpfulness coefficients at r_e = 0 (Theorem 2 in three forms)", "",
             *_coef_table(b.helpfulness_coefficients), "", "### Fits", "",
             "| fit | range | parameters | slope at 0 | R² |", "|---|---|---|---|---|"]
    for f in b.fits:
        params = ", ".join(f"{k} = {v:.4g}" for k, v in f.fit.params.items())
        slope = "—" if f.slope_at_zero is None else f"{f.slope_at_zero:.4g}"
        lines.append(f"| {f.label} | [{f.grid_range[0]:g}, {f.grid_range[1]:g}] | {params} | "
                     f"{slope} | {f.fit.r_squared:.4f} |")
    groups = list(b.groups)
    lines += ["", "### Alignment (B = P(S+) − P(S−); mean [95% CI])", "",
              "| r_e | " + " | ".join(groups) + " |" + (" specific gain |" if b.specificity else ""),
              "|---|" + "---|" * (len(groups) + (1 if b.specificity else 0))]
    for i, r in enumerate(b.grid):
        cells = [_ci(b.groups[g].curves.B, i) for g in groups]
        if b.specificity:
            cells.append(_ci(b.specificity.specific_gain, i))
        lines.append(f"| {r:g} | " + " | ".join(cells) + " |")
    h = b.helpfulness.curves
    lines += ["", f"### Helpfulness (n = {b.helpfulness.n})", "",
              "| r_e | P(correct) normalised | full vocab | accuracy | U = G − κL |",
              "|---|---|---|---|---|"]
    for i, r in enumerate(b.grid):
        lines.append(f"| {r:g} | {_ci(h.p_correct, i)} | {_ci(h.p_correct_full, i)} | "
                     f"{h.accuracy.value[i]:.3f} | {b.tradeoff.utility[i]:+.4f} |")
    if b.linear_response is not None:
        lr = b.linear_response
        lines += ["", f"Linear response (Proposition 1): remainder ∝ |r|^{lr.exponent_pooled:.2f} "
                  f"near 0 (2 expected); relative remainder ≤ {lr.threshold:g} up to "
                  f"|r_e| = {lr.linear_range:g}."]
    return lines


def markdown(results: Results, figures: list[str],
             control_vectors: list[ControlVectorFile] | None = None) -> str:
    """report.md: verdicts with rules, recommendation, coefficient tables, curves."""
    s = results.settings
    rv = "; ".join(f"{v.behavior}: {v.method} (by {v.chosen_by}; mean held-out separation "
                   + ", ".join(f"{m} {x:.3f}" for m, x in v.mean_separation.items()) + ")"
                   for v in results.reading_vectors)
    lines = [f"# Steering tradeoff report — {results.model.name}", "",
             f"Layers {results.layers}, {len(s.grid)} coefficients from {s.grid[0]:g} to "
             f"{s.grid[-1]:g}, seed {s.seed}; behaviors {', '.join(s.behaviors)}; helpfulness "
             f"set `{s.helpfulness}`; data: {results.data_source} ({results.data_dir}).", "",
             f"Reading vectors: {rv}.", ""]
    if results.plan is not None:  # the layers were the steering planner's pick
        pl = results.plan
        r_star = "" if pl.r_star is None else f", planner's r* = {pl.r_star:.4g}"
        lines += [f"Layers from the steering plan [{pl.path}]({pl.path}): {pl.behavior} pick "
                  f"{pl.name}{r_star} (docs/planner.md).", ""]
    if results.behaviors:
        lines += ["## Consistency checks (the implementation, not the theory)", "",
                  *verdict_table(results, Kind.CONSISTENCY), "",
                  "## Claims (the theory against the model; rules and calibration: "
                  "docs/claims.md)", "", *verdict_table(results, Kind.CLAIM)]
    for b in results.behaviors:
        lines += _behavior_md(b, s.kappa, s.epsilon)
    if results.generation is not None:
        lines += ["", *generation_report.markdown(results.generation)]
    if control_vectors:
        lines += ["", "## Control vectors (repeng / llama.cpp GGUF)", ""]
        lines += [f"- {c.behavior}: `{c.llama_cli}`" for c in control_vectors]
    if results.provenance is not None:
        lines += ["", "## Data", "", results.provenance.markdown()]
    files = "report.json, sweep.csv, estimates.csv" if results.behaviors else "report.json"
    lines += ["", f"Files: {files}, {', '.join(figures)}.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- figures
def _series(label: str, x: np.ndarray, c: Interval[np.ndarray], style: str = "-",
            marker: str | None = "o") -> Series:
    return Series(label, x, c.value, c.lo, c.hi, style, marker)


def figures(results: Results, out: Path) -> list[str]:
    """Write the PNGs; returns their file names."""
    names: list[str] = []
    model = results.model.name
    for b in results.behaviors:
        x = b.grid
        series = [_series(f"{g} (measured)", x, gc.curves.B) for g, gc in b.groups.items()]
        series += [Series(c.label, c.grid, c.y, style=c.style) for c in b.alignment_curves]
        name = f"alignment_{b.behavior}.png"
        curve_plot(out / name, f"{b.behavior}: B vs r_e — {model}\n{b.jvp_note}", "r_e",
                   "B = P(S+) − P(S−)", series, ylim=(-1.05, 1.05), vline=0.0)
        names.append(name)
        h = b.helpfulness.curves
        series = [_series("P(correct), normalised over options", x, h.p_correct),
                  _series("P(correct), full vocabulary", x, h.p_correct_full),
                  Series("accuracy", x, h.accuracy.value, style="-.")]
        series += [Series(c.label, c.grid, c.y, style=c.style) for c in b.helpfulness_curves]
        name = f"helpfulness_{b.behavior}.png"
        curve_plot(out / name, f"helpfulness under {b.behavior} steering — {model}", "r_e",
                   "P(correct answer)", series, ylim=(-0.02, 1.02), vline=0.0)
        names.append(name)
        if b.linear_response is not None:
            lr = b.linear_response
            series = [Series("median over prompts of ‖h_r − h − rΔ‖ / ‖rΔ‖", lr.grid,
                             lr.median_relative, marker="o"),
                      Series(f"threshold {lr.threshold:g}", lr.grid,
                             np.full(len(lr.grid), lr.threshold), style="k:")]
            name = f"linear_response_{b.behavior}.png"
            curve_plot(out / name, f"{b.behavior}: Proposition 1 remainder — {model}", "r_e",
                       "relative remainder", series, vline=0.0)
            names.append(name)
        if b.claim_points:
            name = f"claims_{b.behavior}.png"
            agreement_plot(out / name, f"{b.behavior}: per prompt, prediction vs measurement "
                           f"— {model}", [(p.label, p.predicted, p.measured)
                                          for p in b.claim_points])
            names.append(name)
    curves = []
    rec = []
    for b in results.behaviors:
        tgt = b.groups[b.target_group].curves.B.value
        hm = b.helpfulness.curves.p_correct.value
        curves.append((b.behavior, tgt, hm, b.grid))
        if b.specificity is not None:
            base = b.specificity.target_gain.value - tgt  # = −B_target(0) at every r
            curves.append((f"{b.behavior}: specific (target − control gain) − B₀",
                           b.specificity.specific_gain.value - base, hm, b.grid))
        i = int(np.argmin(np.abs(b.grid - b.recommendation.r)))
        rec.append((f"{b.behavior}: {b.recommendation.r:g}", float(tgt[i]), float(hm[i])))
    if curves:
        tradeoff_plot(out / "tradeoff.png", f"alignment–helpfulness tradeoff — {model}", curves,
                      rec)
        names.append("tradeoff.png")
    if results.generation is not None:
        names += generation_report.figures(results.generation, out, model)
    return names


def vector_files(results: Results, out: Path) -> list[ControlVectorFile]:
    """Write each behavior's reading vectors (safetensors + json) and its repeng / llama.cpp
    control-vector GGUF carrying the recommended coefficient; returns the GGUFs written."""
    for e in results.exports:
        e.vectors.save(Path(e.path))
    files = []
    for e in results.exports:
        written = export_run_vectors({e.behavior: e.vectors},
                                     {e.behavior: {"recommended_coefficient":
                                                   e.recommended_coefficient}},
                                     out / "reading_vectors", e.model_type)
        files += [ControlVectorFile(b, str(c["path"]), c["recommended_coefficient"],
                                    str(c["llama_cli"])) for b, c in written.items()]
    return files


def write(results: Results, out: Path) -> dict[str, Any]:
    """Write every output under ``out``; returns the report.json content."""
    out.mkdir(parents=True, exist_ok=True)
    control_vectors = vector_files(results, out)
    names = figures(results, out)
    report = to_json(results, control_vectors)
    report["figures"] = names
    if results.behaviors:  # the next-token stages ran (not --measure generation alone)
        atomic_write_text(out / "sweep.csv", sweep_csv(results))
        atomic_write_text(out / "estimates.csv", estimates_csv(results))
    atomic_write_text(out / "report.md", markdown(results, names, control_vectors))
    atomic_write_json(out / "report.json", report)
    return report
