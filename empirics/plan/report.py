"""Render a steering plan: ranked tables (json, csv, markdown) and a plot of predicted efficiency
across depth; the verification beside the predictions; the machine-readable summary lines."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import matplotlib

from empirics.io import atomic_write_json, atomic_write_text
from empirics.plan.predictions import Interval, Prediction
from empirics.plan.runner import BehaviorPlan, PlanResult
from empirics.plan.verify import Measured
from empirics.plan_file import PlanPick
from empirics.report import jsonable as to_jsonable

COLUMNS = ("behavior", "rank", "layers", "first", "last", "width", "gain_slope", "gain_slope_lo",
           "gain_slope_hi", "help_slope", "curvature", "curvature_lo", "curvature_hi",
           "curvature_random", "curvature_random_lo", "curvature_random_hi",
           "curvature_response", "curvature_response_lo", "curvature_response_hi",
           "curvature_form", "s", "lam", "step", "gain_scale", "efficiency", "r_star",
           "r_star_valid", "r_star_second_order", "valid", "utility", "utility_lo", "utility_hi",
           "utility_response", "utility_random", "utility_actual", "utility_softmax", "loss_form", "jvp_check",
           "verified", "measured_gain_slope", "measured_curvature", "measured_r_star",
           "measured_utility", "measured_utility_lo", "measured_utility_hi")


def _iv(prefix: str, x: Interval) -> dict[str, float]:
    return {prefix: x.value, f"{prefix}_lo": x.lo, f"{prefix}_hi": x.hi}


def prediction_row(behavior: str, p: Prediction, m: Measured | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "behavior": behavior, "rank": p.rank, "layers": p.candidate.name,
        "first": p.candidate.layers[0], "last": p.candidate.layers[-1], "width": p.candidate.width,
        **_iv("gain_slope", p.gain_slope), "help_slope": p.help_slope.value,
        **_iv("curvature", p.curvature), **_iv("curvature_random", p.curvature_random),
        **_iv("curvature_response", p.curvature_response),
        "curvature_form": p.curvature_form, "s": p.s, "lam": p.lam, "step": p.step,
        "gain_scale": p.gain_scale, "efficiency": p.efficiency, "r_star": p.r_star,
        "r_star_valid": p.r_star_valid, "r_star_second_order": p.r_star_second_order,
        "valid": p.valid, **_iv("utility", p.utility),
        "utility_response": p.utilities.response, "utility_random": p.utilities.random,
        "utility_actual": p.utilities.actual, "utility_softmax": p.utility_softmax,
        "loss_form": p.loss_form,
        "jvp_check": p.jvp_check, "verified": m is not None,
    }
    row.update({"measured_gain_slope": m.gain_slope.value if m else None,
                "measured_curvature": m.curvature.value if m else None,
                "measured_r_star": m.r_star if m else None,
                "measured_utility": m.utility.value if m else None,
                "measured_utility_lo": m.utility.lo if m else None,
                "measured_utility_hi": m.utility.hi if m else None})
    return row


def rows(result: PlanResult) -> list[dict[str, Any]]:
    out = []
    for bp in result.behaviors:
        meas = {m.candidate: m for m in bp.measured}
        out += [prediction_row(bp.behavior, p, meas.get(p.candidate)) for p in bp.ranked]
    return out


def summary_line(bp: BehaviorPlan) -> str:
    """``plan: spearman_u=<r> pick_vs_best=<r> cost_ratio=<r> behavior=<name>``."""
    a = bp.agreement

    def f(x: float | None) -> str:
        return "nan" if x is None or not math.isfinite(x) else f"{x:.3f}"

    return (f"plan: spearman_u={f(a.spearman_u.value if a else None)} "
            f"pick_vs_best={f(a.pick_vs_best if a else None)} "
            f"cost_ratio={f(bp.cost_ratio)} behavior={bp.behavior}")


def to_dict(result: PlanResult) -> dict[str, Any]:
    s = result.settings
    out: dict[str, Any] = {
        "model": result.model, "num_layers": result.num_layers,
        "settings": {k: v for k, v in s.__dict__.items() if k != "progress"},
        "candidates": [c.name for c in result.candidates], "behaviors": {},
    }
    for bp in result.behaviors:
        d: dict[str, Any] = {
            "pick": PlanPick(bp.pick.candidate.layers, bp.pick.candidate.name, bp.pick.r_star,
                             bp.pick.valid, bp.pick.note).to_json(),
            "ranked": [prediction_row(bp.behavior, p, None) for p in bp.ranked],
            "timing": {"reading_vectors_s": bp.vector_seconds, "planning_s": bp.plan_seconds,
                       "shifts_s": bp.shift_seconds, "terms_s": bp.terms_seconds,
                       "response_forwards_s": bp.response_seconds,
                       "sweep_s_per_candidate": bp.sweep_seconds_per_candidate,
                       "sweep_all_s_extrapolated": bp.sweep_all_seconds,
                       "cost_ratio": bp.cost_ratio,
                       "sweep_all_s_mean_extrapolated": bp.sweep_all_seconds_mean,
                       "cost_ratio_mean": bp.cost_ratio_mean,
                       "sweep_cost_model_worst_error": bp.sweep_cost_fit,
                       "planning_cpu_s": bp.plan_cpu_seconds, "cost_ratio_cpu": bp.cost_ratio_cpu},
            "n_behavior_prompts": bp.n_behavior, "n_helpfulness_prompts": bp.n_help,
        }
        if bp.agreement is not None:
            d["agreement"] = bp.agreement.__dict__
            d["measured"] = [{"layers": m.candidate.name, "coefficients": m.coefficients,
                              "B": m.B, "P": m.P, "U": m.U, "gain_slope": m.gain_slope,
                              "help_slope": m.help_slope, "curvature": m.curvature,
                              "r_star": m.r_star, "utility": m.utility, "at_edge": m.at_edge,
                              "sweep_s": m.sweep_seconds} for m in bp.measured]
        out["behaviors"][bp.behavior] = d
    return to_jsonable(out)  # type: ignore[no-any-return]


def _g(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return "–" if not math.isfinite(x) else f"{x:.3g}"
    return str(x)


def _ivs(x: Interval) -> str:
    return f"{_g(x.value)} [{_g(x.lo)}, {_g(x.hi)}]"


def markdown(result: PlanResult) -> str:
    s = result.settings
    lines = [f"# Steering plan: {result.model}", "",
             f"{len(result.candidates)} candidates over {result.num_layers} layers; κ = {s.kappa:g}; "
             f"{s.n_behavior} behavior and {s.n_help} helpfulness prompts per behavior "
             f"(forwards at r = ±h per candidate for ‖Δ‖ and the second-order response; "
             f"{s.n_check} per kind with a JVP check). Predictions are fit-free (Theorem 1 slope; "
             "Theorem 2 with the actual Δ, plus the second-order response, and with a random "
             "direction; Corollary r* within validity s·r* ≤ 0.5); the ranking uses the "
             f"`{s.curvature}` curvature and the `{s.loss}` loss. 95% bootstrap CIs over "
             "prompts.", ""]
    for bp in result.behaviors:
        lines += _ranking(bp)
        if bp.agreement is not None:
            lines += _verification(bp, len(result.candidates))
        lines.append("")
    lines += ["```"] + [summary_line(bp) for bp in result.behaviors if bp.agreement] + ["```", ""]
    return "\n".join(lines)


def _ranking(bp: BehaviorPlan) -> list[str]:
    p = bp.pick
    lines = [f"## {bp.behavior}", "",
             f"**Pick: layers {p.candidate.name}, r = {_g(p.r_star)}** "
             f"(predicted U = {_ivs(p.utility)}; {p.note}).", "",
             "| rank | layers | gain slope | help c1 | ℓ₂ (actual Δ + response) | ℓ₂ (actual Δ) "
             "| ℓ₂ (random dir.) | efficiency | r* | valid | U* | FD step h |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for q in bp.ranked:
        lines.append(f"| {q.rank} | {q.candidate.name} | {_ivs(q.gain_slope)} | "
                     f"{_g(q.help_slope.value)} | {_ivs(q.curvature_response)} | "
                     f"{_ivs(q.curvature)} | {_ivs(q.curvature_random)} | "
                     f"{_g(q.efficiency)} | {_g(q.r_star)} | {_g(q.valid)} | "
                     f"{_ivs(q.utility)} | {_g(q.step)} |")
    return lines + ["", f"Timing: reading vectors {bp.vector_seconds:.1f} s (one hidden-state "
                    f"pass, needed by sweeps too); planning {bp.plan_seconds:.1f} s (shifts "
                    f"{bp.shift_seconds:.1f} s, per-candidate terms {bp.terms_seconds:.1f} s of "
                    f"which ±h forwards {bp.response_seconds:.1f} s)."]


def _verification(bp: BehaviorPlan, n_candidates: int) -> list[str]:
    a = bp.agreement
    assert a is not None
    lines = ["", "### Verification against sweeps", "",
             "| rank | layers | pred. slope | meas. slope | pred. ℓ₂ (resp.) | ℓ₂ (actual) "
             "| ℓ₂ (random) | meas. ℓ₂ | pred. r* | meas. r* | pred. U* | meas. U* |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for q, m in zip(bp.verified, bp.measured, strict=True):
        edge = " (grid edge)" if m.at_edge else ""
        lines.append(f"| {q.rank} | {q.candidate.name} | {_g(q.gain_slope.value)} | "
                     f"{_ivs(m.gain_slope)} | {_g(q.curvature_response.value)} | "
                     f"{_g(q.curvature.value)} | {_g(q.curvature_random.value)} | "
                     f"{_ivs(m.curvature)} "
                     f"| {_g(q.r_star)} | {_g(m.r_star)}{edge} | {_g(q.utility.value)} | "
                     f"{_ivs(m.utility)} |")
    return lines + [
        "", f"- Spearman(pred. U*, meas. U*) = {_ivs(a.spearman_u)} (bootstrap over "
        "candidates); by curvature form: response "
        f"{_g(a.spearman_u_forms.response)}, random {_g(a.spearman_u_forms.random)}, "
        f"actual {_g(a.spearman_u_forms.actual)}; softmax loss {_g(a.spearman_u_softmax)}",
        f"- Spearman(pred. slope, meas. slope) = {_ivs(a.spearman_slope)}",
        f"- pick {a.pick}: measured U* {_g(a.pick_utility)}; best measured {a.best}: "
        f"{_g(a.best_utility)}; ratio {_g(a.pick_vs_best)}",
        f"- median predicted/measured: slope {_g(a.slope_ratio)}, curvature "
        f"{_g(a.curvature_ratio)} (response {_g(a.curvature_ratios.response)}, "
        f"random {_g(a.curvature_ratios.random)}, actual {_g(a.curvature_ratios.actual)})",
        f"- sweeping one candidate {_g(bp.sweep_seconds_per_candidate)} s (mean of the "
        f"verified); all {n_candidates} extrapolated by each candidate's multiply-adds (depth, "
        f"grid; worst error on the verified sweeps {_g(bp.sweep_cost_fit)}) "
        f"{_g(bp.sweep_all_seconds)} s; planning/sweeping-all = {_g(bp.cost_ratio)} (mean time × "
        f"{n_candidates}: {_g(bp.sweep_all_seconds_mean)} s, {_g(bp.cost_ratio_mean)}); in "
        f"process CPU seconds (less sensitive to other load on the machine) "
        f"{_g(bp.cost_ratio_cpu)}"]


def csv_text(result: PlanResult) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in rows(result):
        w.writerow({k: ("" if v is None else v) for k, v in to_jsonable(r).items()})
    return buf.getvalue()


def plot(result: PlanResult, path: Path) -> None:
    """Predicted efficiency (g²/ℓ₂ = 4κU*) across depth: one panel per behavior, one series per
    window width, x = window centre; verified candidates ringed."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after choosing the non-interactive backend

    fig, axes = plt.subplots(1, len(result.behaviors), figsize=(5.5 * len(result.behaviors), 4),
                             squeeze=False)
    for ax, bp in zip(axes[0], result.behaviors, strict=True):
        widths = sorted({p.candidate.width for p in bp.ranked})
        for w in widths:
            ps = sorted((p for p in bp.ranked if p.candidate.width == w), key=lambda p: p.candidate.centre)
            ax.plot([p.candidate.centre for p in ps],
                    [p.efficiency if math.isfinite(p.efficiency) else float("nan") for p in ps],
                    marker="o", label=f"width {w}")
        ver = {m.candidate for m in bp.measured}
        vx = [p.candidate.centre for p in bp.ranked if p.candidate in ver]
        vy = [p.efficiency for p in bp.ranked if p.candidate in ver]
        if vx:
            ax.scatter(vx, vy, s=120, facecolors="none", edgecolors="k", label="verified")
        ax.set_yscale("symlog", linthresh=1e-4)
        ax.set_xlabel("window centre (layer)")
        ax.set_ylabel("predicted efficiency (g1+κc1)²/ℓ₂")
        ax.set_title(f"{bp.behavior}: pick {bp.pick.candidate.name}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def write(result: PlanResult, out: Path) -> list[Path]:
    """``plan.json``, ``plan.csv``, ``plan.md``, ``plan_efficiency.png`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "plan.json", out / "plan.csv", out / "plan.md", out / "plan_efficiency.png"]
    atomic_write_json(paths[0], to_dict(result))
    atomic_write_text(paths[1], csv_text(result))
    atomic_write_text(paths[2], markdown(result))
    plot(result, paths[3])
    return paths
