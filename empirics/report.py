"""Turn the sweeps into the report: report.json, sweep.csv, report.md and the figures.

``run_and_report`` is what ``empirics.validate`` calls after preparation; the section builders
take plain arrays so they can be tested alone. The JSON schema is documented in docs/empirics.md.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from empirics.io import atomic_write_json, atomic_write_text
from empirics.measures import bootstrap_mean_ci, long_rows

# Half-width of the local polynomial fits: the default grid has half steps within ±3.
LOCAL_WINDOW = 3.0

if TYPE_CHECKING:
    from empirics.validate import DirectionRun, Prepared

# The group whose B the steering is meant to raise, per behavior.
TARGET_GROUP = {"harmfulness": "harmful", "bias": "stereoset_race"}
REPORT_VERSION = 1


def _finite(x: Any) -> Any:
    """JSON-safe: NaN/inf become None (report.json is written with allow_nan=False)."""
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, np.ndarray):
        return _finite(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def helpfulness_groups(run: DirectionRun) -> list[str]:
    return [g for g in run.groups if run.prompts[run.groups[g][0]].kind == "helpfulness"]


def pooled(run: DirectionRun, groups: Sequence[str], name: str) -> np.ndarray:
    """Measure ``name`` of several groups side by side, ``(C, ΣN)``."""
    return np.concatenate([run.measures[g][name] for g in groups], axis=1)


def group_summaries(run: DirectionRun, groups: Sequence[str], n_boot: int, seed: int
                    ) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for g in groups:
        out[g] = {"n": len(run.groups[g]),
                  **{m: bootstrap_mean_ci(v, n_boot, seed=seed).to_dict()
                     for m, v in run.measures[g].items()}}
    return out


def tradeoff_section(grid: np.ndarray, b: np.ndarray, h: np.ndarray, kappa: float, epsilon: float,
                     n_boot: int, seed: int) -> dict[str, Any]:
    """Gain G = B(r) − B(0), loss L = H(0) − H(r), utility U = G − κL from per-prompt values
    ``b`` (C, Nb) and ``h`` (C, Nh); the recommended r maximises mean U over r ≥ 0."""
    i0 = int(np.argmin(np.abs(grid)))
    gain = bootstrap_mean_ci(b - b[i0], n_boot, seed=seed)
    loss = bootstrap_mean_ci(h[i0] - h, n_boot, seed=seed + 1)
    utility = gain.mean - kappa * loss.mean
    nonneg = np.where(grid >= 0)[0]
    best = int(nonneg[np.argmax(utility[nonneg])]) if len(nonneg) else i0
    bmean = b.mean(-1)
    reach = [float(grid[i]) for i in nonneg if bmean[i] >= 1 - epsilon]
    positive = [float(grid[i]) for i in nonneg if grid[i] > 0 and utility[i] > 0]
    return {
        "coefficients": grid.tolist(),
        "gain": gain.to_dict(),
        "loss": loss.to_dict(),
        "utility": utility.tolist(),
        "kappa": kappa,
        "recommended_coefficient": float(grid[best]),
        "recommended_gain": float(gain.mean[best]),
        "recommended_loss": float(loss.mean[best]),
        "epsilon": epsilon,
        "min_coefficient_reaching_1_minus_epsilon": reach[0] if reach else None,
        "positive_utility_coefficients": positive,
    }


def csv_text(runs: dict[str, DirectionRun]) -> str:
    """sweep.csv: one row per direction × prompt × coefficient × measure."""
    buf = io.StringIO()
    fields = ["direction", "group", "item_id", "coefficient", "measure", "value"]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for name, run in runs.items():
        for g, measures in run.measures.items():
            rows = long_rows(np.asarray(run.result.coefficients), run.group_prompts(g), measures, name)
            for row in rows:
                v = row["value"]
                row["value"] = "" if not math.isfinite(float(v)) else repr(float(v))  # type: ignore[arg-type]
                w.writerow(row)
    return buf.getvalue()


def _ci_str(ci: dict[str, Any], i: int) -> str:
    return f"{ci['mean'][i]:+.3f} [{ci['lo'][i]:+.3f}, {ci['hi'][i]:+.3f}]"


def markdown(report: dict[str, Any]) -> str:
    """report.md: verdicts with evidence, recommended coefficient, tables."""
    m = report["model"]
    s = report["settings"]
    lines = [f"# Steering tradeoff report — {m['name']}", "",
             f"Layers {s['layers_resolved']}, method {s['method']}, {len(s['grid'])} coefficients "
             f"from {s['grid'][0]} to {s['grid'][-1]}, seed {s['seed']}; behaviors "
             f"{', '.join(s['behaviors'])}; helpfulness set `{s['helpfulness']}`.", "",
             "## Verdicts", ""]
    verdicts = report.get("verdicts") or []
    if verdicts:
        lines += ["| claim | verdict | evidence |", "|---|---|---|"]
        for v in verdicts:
            ev = str(v.get("summary") or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {v.get('name', '?')} | **{v.get('verdict', '?')}** | {ev} |")
    else:
        lines.append("(no verdicts computed)")
    lines += ["", "## Recommended coefficient", ""]
    for b, t in report["tradeoff"].items():
        if not isinstance(t, dict):
            continue
        reach = t["min_coefficient_reaching_1_minus_epsilon"]
        reach_s = "not reached on the grid" if reach is None else f"first reached at r_e = {reach:g}"
        lines.append(f"- **{b}**: r_e = {t['recommended_coefficient']:g} maximises U = G − κL "
                     f"(κ = {t['kappa']:g}): gain {t['recommended_gain']:+.3f} in B, loss "
                     f"{t['recommended_loss']:+.3f} in P(correct); mean B ≥ 1−ε "
                     f"(ε = {t['epsilon']:g}) {reach_s}.")
        if t.get("theory"):
            lines.append(f"  Theory (fit-free second-order): {t['theory']}")
    for b, sec in report["alignment"].items():
        grid = sec["coefficients"]
        groups = list(sec["groups"])
        lines += ["", f"## Alignment — {b} (B = P(S+) − P(S−) on the outcome tokens; mean [95% CI])",
                  "", "| r_e | " + " | ".join(groups) + " | mass P(outcomes) |",
                  "|---|" + "---|" * (len(groups) + 1)]
        for i, r in enumerate(grid):
            cells = [_ci_str(sec["groups"][g]["B"], i) for g in groups]
            mass = sec["groups"][groups[0]]["mass"]["mean"][i]
            lines.append(f"| {r:g} | " + " | ".join(cells) + f" | {mass:.3f} |")
    for b, sec in report["helpfulness"].items():
        grid = sec["coefficients"]
        pooled_s = sec["pooled"]
        lines += ["", f"## Helpfulness under {b} steering ({sec['set']}, n = {pooled_s['n']})", "",
                  "| r_e | P(correct) normalised | P(correct) full vocab | accuracy |",
                  "|---|---|---|---|"]
        for i, r in enumerate(grid):
            lines.append(f"| {r:g} | {_ci_str(pooled_s['p_correct'], i)} | "
                         f"{_ci_str(pooled_s['p_correct_full'], i)} | "
                         f"{pooled_s['accuracy']['mean'][i]:.3f} |")
    ctrl = report.get("control")
    if ctrl:
        lines += ["", "## Control: random unit direction (same layers, grid, measures)", "",
                  "| r_e | " + " | ".join(ctrl["groups"]) + " |",
                  "|---|" + "---|" * len(ctrl["groups"])]
        for i, r in enumerate(ctrl["coefficients"]):
            cells = []
            for g in ctrl["groups"].values():
                key = "B" if "B" in g else "p_correct"
                cells.append(f"{key} {g[key]['mean'][i]:+.3f}")
            lines.append(f"| {r:g} | " + " | ".join(cells) + " |")
    lr = report.get("linear_response") or {}
    if lr:
        lines += ["", "## Linear response (Proposition 1)", ""]
        for b, sec in lr.items():
            lines.append(f"- {b}: {sec.get('summary', '')}")
    cvs = report.get("control_vectors") or {}
    if cvs:
        lines += ["", "## Control vectors (repeng / llama.cpp GGUF)", ""]
        lines += [f"- {b}: `{c['llama_cli']}`" for b, c in cvs.items()]
    if report.get("data"):
        from empirics.sources import Provenance
        lines += ["", "## Data", "", Provenance.from_dict(report["data"]).markdown()]
    lines += ["", f"Files: report.json, sweep.csv, {', '.join(report.get('figures', []))}.", ""]
    return "\n".join(lines)


def run_and_report(p: Prepared) -> dict[str, Any]:
    """Sweep, measure, link to the theory, and write every output under ``p.out``."""
    from empirics.validate import _settings_dict, run_all

    t0 = time.time()
    s = p.settings
    runs = run_all(p)
    print(f"sweeps done ({time.time() - t0:.0f} s)", file=sys.stderr)
    grid = np.asarray(s.grid, dtype=float)
    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "model": {"name": p.lm.name, "num_layers": p.lm.num_layers,
                  "hidden_size": p.lm.hidden_size, "dtype": str(p.lm.dtype).replace("torch.", ""),
                  "device": str(p.lm.device)},
        "settings": {**_settings_dict(s), "layers_resolved": p.layers, "data_dir": p.data_dir.provenance.location,
                     "out": str(p.out), "run_hash": p.run_hash},
        "reading_vectors": {}, "alignment": {}, "helpfulness": {}, "tradeoff": {},
        "control": None, "linear_response": {}, "verdicts": [], "figures": [],
        "data": p.data_dir.provenance.as_dict(),
    }
    rv_dir = p.out / "reading_vectors"
    for b, rv in p.vectors.items():
        rv.save(rv_dir / b)
        report["reading_vectors"][b] = {"path": str(rv_dir / b), "method": rv.method,
                                        "separation": {str(k): v for k, v in rv.separation.items()},
                                        "data_hash": rv.data_hash}
    for b in s.behaviors:
        run = runs[b]
        bgroups = [g for g in run.groups if g not in helpfulness_groups(run)]
        hgroups = helpfulness_groups(run)
        report["alignment"][b] = {"coefficients": grid.tolist(), "target_group": TARGET_GROUP[b],
                                  "groups": group_summaries(run, bgroups, s.n_boot, s.seed)}
        pooled_h = {m: bootstrap_mean_ci(pooled(run, hgroups, m), s.n_boot, seed=s.seed).to_dict()
                    for m in run.measures[hgroups[0]]}
        report["helpfulness"][b] = {"coefficients": grid.tolist(), "set": s.helpfulness,
                                    "pooled": {"n": sum(len(run.groups[g]) for g in hgroups),
                                               **pooled_h},
                                    "groups": group_summaries(run, hgroups, s.n_boot, s.seed)}
        report["tradeoff"][b] = tradeoff_section(
            grid, run.measures[TARGET_GROUP[b]]["B"], pooled(run, hgroups, "p_correct"),
            s.kappa, s.epsilon, s.n_boot, s.seed)
    if "control" in runs:
        ctrl = runs["control"]
        report["control"] = {"coefficients": grid.tolist(),
                             "groups": group_summaries(ctrl, list(ctrl.groups), s.n_boot, s.seed)}
    t1 = time.time()
    theory = add_theory(report, p, runs)
    print(f"theory link, fits and verdicts done ({time.time() - t1:.0f} s)", file=sys.stderr)
    report["tradeoff"]["recommended_coefficient"] = report["tradeoff"][s.behaviors[0]][
        "recommended_coefficient"]
    report["figures"] = figures(report, p.out)
    from empirics.control_vector import export_run_vectors
    report["control_vectors"] = export_run_vectors(p.vectors, report["tradeoff"], rv_dir,
                                                   _model_type(p.lm))
    report["run"] = {"seconds": round(time.time() - t0, 1), "chunks_reused": p.cache.reused,
                     "chunks_computed": p.cache.computed}
    report = _finite(report)
    atomic_write_text(p.out / "sweep.csv", csv_text(runs))
    atomic_write_text(p.out / "estimates.csv", estimates_csv(theory))
    atomic_write_text(p.out / "report.md", markdown(report))
    atomic_write_json(p.out / "report.json", report)
    print(f"report written ({time.time() - t0:.0f} s)", file=sys.stderr)
    return report


def _curve(label: str, x: np.ndarray, y: np.ndarray, style: str = "--") -> dict[str, Any]:
    return {"label": label, "x": x.tolist(), "y": np.asarray(y, float).tolist(), "style": style}


def theory_subset(run: DirectionRun, target: str, k: int) -> dict[str, list[int]]:
    """Prompt indices (into ``run.prompts``) that get a JVP: the first ``k`` of the target group
    and of the pooled helpfulness groups (prompts were already sampled at random)."""
    hidx = [i for g in helpfulness_groups(run) for i in run.groups[g]]
    return {target: run.groups[target][:k], "helpfulness": hidx[:k]}


def _jvp_with_progress(p: Prepared, run: DirectionRun, order: list[int]) -> tuple[Any, Any]:
    """``theory_link.delta_jvp`` a few prompts at a time, under a tqdm bar (~1 s per prompt);
    cached beside the sweep chunks so a resumed run skips it."""
    import torch
    from tqdm.auto import tqdm

    from empirics.theory_link import delta_jvp
    from empirics.validate import digest, vectors_hash

    key = "jvp-" + digest({"ids": [list(run.prompts[i].input_ids) for i in order],
                           "vec": vectors_hash(run.vectors)})
    got = p.cache.get(key, count=False)
    if got is not None:
        print(f"  [{run.name}] Δ reused from cache", file=sys.stderr)
        return torch.from_numpy(got["h0"]), torch.from_numpy(got["delta"])
    hs, ds = [], []
    step = 4
    with tqdm(total=len(order), desc=f"JVP {run.name}", unit="prompt",
              disable=not p.settings.progress) as bar:
        for k in range(0, len(order), step):
            ids = [list(run.prompts[i].input_ids) for i in order[k:k + step]]
            h, d = delta_jvp(p.lm, run.vectors, ids)
            hs.append(h)
            ds.append(d)
            bar.update(len(ids))
    print(f"  [{run.name}] Δ by JVP for {len(order)} prompts", file=sys.stderr)
    h0, delta = torch.cat(hs), torch.cat(ds)
    p.cache.put(key, {"h0": h0.numpy(), "delta": delta.numpy()}, count=False)
    return h0, delta


def theory_for_direction(p: Prepared, run: DirectionRun, target: str) -> dict[str, Any]:
    """Δ by JVP, per-prompt estimates, fit-free predictions, fits and the remainder for one
    behavior direction. The JVP (the costly part) runs on ``--theory-prompts`` prompts per pool;
    fits use every prompt. Needs r = 0 on the grid (validate guarantees it)."""
    from empirics import fits, theory_link

    s = p.settings
    grid = np.asarray(run.result.coefficients, float)
    i0 = int(np.flatnonzero(grid == 0)[0])
    pools = theory_subset(run, target, s.theory_prompts)
    order = [i for idx in pools.values() for i in idx]
    h0, delta = _jvp_with_progress(p, run, order)
    row = {i: j for j, i in enumerate(order)}
    out: dict[str, Any] = {"estimates": {}, "predictions": {}, "fits": {}, "subset": pools}
    preds: dict[str, Any] = {}
    ests: dict[str, Any] = {}
    for name, idx in pools.items():
        rows = [row[i] for i in idx]
        prompts = [run.prompts[i] for i in idx]
        lp0 = np.asarray(run.result.logprobs)[i0, idx]
        e = theory_link.estimate_prompts(p.lm, prompts, h0[rows], delta[rows], unsteered_logprobs=lp0)
        ests[name] = e
        pr = theory_link.predicted_curves(e, grid, hidden_size=p.lm.hidden_size)
        preds[name] = pr
        out["predictions"][name] = pr.to_dict()
        out["estimates"][name] = _estimate_summary(e)
    b_per = run.measures[target]["B"].T            # fits take (N, C)
    h_per = pooled(run, helpfulness_groups(run), "p_correct").T
    small = float(min(LOCAL_WINDOW, np.max(np.abs(grid))))
    nb = min(s.n_boot, 200)  # nonlinear refits per resample are the slow part
    out["fits"]["alignment_tanh"] = fits.fit_tanh(grid, b_per, bootstrap=nb, seed=s.seed)
    out["fits"]["helpfulness_two"] = fits.fit_helpfulness_two(grid, h_per, bootstrap=nb, seed=s.seed)
    out["fits"]["helpfulness_four"] = fits.fit_helpfulness_four(grid, h_per, bootstrap=nb,
                                                                seed=s.seed)
    if len(np.unique(grid[np.abs(grid) <= small])) >= 3:
        out["fits"]["alignment_local_polynomial"] = fits.fit_local_polynomial(
            grid, b_per, small, bootstrap=s.n_boot, seed=s.seed)
        out["fits"]["helpfulness_local_polynomial"] = fits.fit_local_polynomial(
            grid, h_per, small, bootstrap=s.n_boot, seed=s.seed)
    if run.result.final_hidden is not None:
        near = np.unique(np.abs(grid[(grid != 0) & (np.abs(grid) <= small)]))
        out["remainder"] = theory_link.linear_response_remainder(
            h0.numpy(), delta.numpy(), np.asarray(run.result.final_hidden)[:, order], grid,
            exponent_max_abs_r=small if len(near) >= 2 else None)
    out["_objects"] = {"estimates": ests, "predictions": preds}
    return out


def _estimate_summary(estimates: Sequence[Any]) -> dict[str, Any]:
    """Medians/means of the per-prompt λ̂ σ̂ β̂ α̂ P0 B0 (per-prompt values: estimates.csv)."""
    def stat(attr: str) -> dict[str, Any] | None:
        vals = np.array([getattr(e, attr) for e in estimates if getattr(e, attr) is not None],
                        dtype=float)
        vals = vals[np.isfinite(vals)]
        if len(vals) == 0:
            return None
        return {"mean": float(vals.mean()), "median": float(np.median(vals)),
                "q10": float(np.quantile(vals, 0.1)), "q90": float(np.quantile(vals, 0.9)),
                "n": int(len(vals))}
    out = {k: stat(k) for k in ("lam_hat", "sigma_hat", "beta_hat", "alpha_hat", "P0", "B0",
                                "delta_norm", "s", "slope_linear")}
    pos = [e.margin_positive for e in estimates if e.margin_positive is not None]
    out["fraction_margin_positive"] = float(np.mean(pos)) if pos else None  # type: ignore[assignment]
    return out


ESTIMATE_FIELDS = ("lam_hat", "B0", "P0", "alpha_hat", "sigma_hat", "beta_hat", "delta_norm", "s",
                   "slope_linear")


def estimates_csv(theory: dict[str, Any]) -> str:
    """estimates.csv: one row per direction × JVP prompt with its λ̂ σ̂ β̂ α̂ P0 B0 ‖Δ‖."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["direction", "pool", "group", "item_id", *ESTIMATE_FIELDS])
    for b, t in theory.items():
        for pool, ests in t["_objects"]["estimates"].items():
            for e in ests:
                vals = [getattr(e, f) for f in ESTIMATE_FIELDS]
                w.writerow([b, pool, e.group, e.item_id,
                            *("" if v is None or not math.isfinite(float(v)) else repr(float(v))
                              for v in vals)])
    return buf.getvalue()


def add_theory(report: dict[str, Any], p: Prepared, runs: dict[str, DirectionRun]) -> dict[str, Any]:
    """Fit-free predictions, fits, the linear-response remainder and the verdicts; returns the
    per-behavior theory objects."""
    s = p.settings
    lin: dict[str, Any] = {}
    theory: dict[str, Any] = {}
    for b in s.behaviors:
        run = runs[b]
        with warnings.catch_warnings():  # ill-conditioned log-log fits on coarse grids are expected
            warnings.simplefilter("ignore", np.exceptions.RankWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            t = theory_for_direction(p, run, TARGET_GROUP[b])
        theory[b] = t
        grid = np.asarray(run.result.coefficients, float)
        al, hp = report["alignment"][b], report["helpfulness"][b]
        al["fit_free"] = t["predictions"][TARGET_GROUP[b]]
        al["estimates"] = t["estimates"][TARGET_GROUP[b]]
        hp["fit_free"] = t["predictions"]["helpfulness"]
        hp["estimates"] = t["estimates"]["helpfulness"]
        al["fits"] = {k: f.to_dict() for k, f in t["fits"].items() if k.startswith("alignment")}
        hp["fits"] = {k: f.to_dict() for k, f in t["fits"].items() if k.startswith("helpfulness")}
        fine = np.linspace(grid.min(), grid.max(), 201)
        nb, nh = (len(t["subset"][k]) for k in (TARGET_GROUP[b], "helpfulness"))
        pa = t["_objects"]["predictions"][TARGET_GROUP[b]].means
        ph = t["_objects"]["predictions"]["helpfulness"].means
        al["curves"] = [
            _curve("tanh fit (free a, b)", fine, t["fits"]["alignment_tanh"].predict(fine)),
            _curve(f"Thm 1 bound, fit-free (λ̂, B0; {nb} JVP prompts)", grid, pa["tanh_bound"],
                   "k--"),
            _curve("linear model softmax(z + rg)", grid, pa["linear_B"], "c:"),
        ]
        hp["curves"] = [
            _curve("fit 1/(1+a+ab²r²/2)", fine, t["fits"]["helpfulness_two"].predict(fine)),
            _curve(f"Thm 2 expected (random Δ), fit-free ({nh} JVP prompts)", grid,
                   ph["expected"], "k--"),
            _curve("Thm 2 expansion P0−αP0(λσβ)²r²", grid, ph["expansion"], "m:"),
        ]
        rem = t.get("remainder")
        if rem is not None:
            a = np.abs(grid)
            with warnings.catch_warnings():  # r = 0 row is all NaN by construction
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(np.where(a[:, None] > 0, rem.relative, np.nan), axis=1)
            lin[b] = {"coefficients": grid.tolist(), "remainder_median": med.tolist(),
                      "exponent_pooled": rem.exponent_pooled,
                      "exponent_median": float(np.nanmedian(rem.exponent)),
                      "linear_range_pooled": rem.linear_range_pooled,
                      "threshold": rem.threshold, "fit_max_abs_r": rem.fit_max_abs_r,
                      "summary": (f"remainder ∝ |r|^{rem.exponent_pooled:.2f} near 0 (2 expected); "
                                  f"relative remainder ≤ {rem.threshold:g} up to "
                                  f"|r_e| = {rem.linear_range_pooled:g}")}
    report["linear_response"] = lin
    report["verdicts"] = _verdicts(report, p, runs, theory)
    return theory


def _verdicts(report: dict[str, Any], p: Prepared, runs: dict[str, DirectionRun],
              theory: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdicts of ``empirics.verdicts`` per behavior (target-group B vs pooled helpfulness),
    in ``all_verdicts``' order; measured claims use every prompt, the per-prompt bound check the
    JVP subset. The recommended coefficient in ``tradeoff`` is the utility maximiser."""
    from empirics import verdicts as V

    s = p.settings
    out: list[dict[str, Any]] = []
    for b in s.behaviors:
        run, t = runs[b], theory[b]
        tgt = TARGET_GROUP[b]
        grid = np.asarray(run.result.coefficients, float)
        rem = t.get("remainder")
        objs = t["_objects"]["estimates"]
        bm = run.measures[tgt]["B"].T
        pm = pooled(run, helpfulness_groups(run), "p_correct").T
        # bounds_hold compares prompt by prompt, so it gets the rows that have estimates.
        sub = t["subset"]
        bsub = bm[[run.groups[tgt].index(i) for i in sub[tgt]]]
        hidx = [i for g in helpfulness_groups(run) for i in run.groups[g]]
        psub = pm[[hidx.index(i) for i in sub["helpfulness"]]]
        kw: dict[str, Any] = {"n_boot": s.n_boot, "seed": s.seed}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # Helpfulness changes by O(r²): on the narrowest window its curvature is lost in
            # the noise, so both helpfulness verdicts use the fits' window (|r| ≤ 3 by default).
            window = float(min(LOCAL_WINDOW, np.max(np.abs(grid))))
            vs = [V.alignment_rises_linearly(grid, bm, objs[tgt], **kw),
                  V.helpfulness_no_first_order(grid, pm, objs["helpfulness"],
                                               max_abs_r=window, **kw),
                  V.helpfulness_falls_quadratically(grid, pm, objs["helpfulness"],
                                                    max_abs_r=window,
                                                    hidden_size=p.lm.hidden_size, **kw),
                  V.bounds_hold(grid, bsub, psub, objs[tgt], objs["helpfulness"],
                                linear_range=rem.linear_range_pooled if rem is not None else None),
                  V.efficient_regime(grid, bm, pm, kappa=s.kappa, est_b=objs[tgt],
                                     est_h=objs["helpfulness"], **kw),
                  V.recommended_coefficient(grid, bm, pm, kappa=s.kappa, epsilon=s.epsilon, **kw)]
        trade = report["tradeoff"][b]
        for v in vs:
            d = v.to_dict()
            d["behavior"] = b
            d["claim"] = d["name"]
            d["name"] = f"{b}: {d['name']}"
            d["verdict"] = {True: "holds", False: "fails", None: "undecided"}[v.holds]
            if v.name == "recommended_coefficient":  # not a claim: say what to do
                r_u = d["evidence"].get("r_max_utility") or 0.0
                r_e = d["evidence"].get("r_max_alignment_within_epsilon") or 0.0
                d["verdict"] = (f"steer, r = {r_u:g}" if r_u > 0 else
                                f"steer within ε, r = {r_e:g}" if r_e > 0 else
                                "do not steer (r = 0)")
            out.append(d)
            ev = d["evidence"]
            if v.name == "recommended_coefficient":
                trade["recommended_coefficient"] = ev.get("r_max_utility")
                trade["recommended_within_epsilon_loss"] = ev.get("r_max_alignment_within_epsilon")
            elif v.name == "efficient_regime":
                trade["r_star_fit"] = ev.get("r_star_fit")
                trade["r_star_second_order_theory"] = ev.get("r_star_second_order_theory")
                trade["break_even_grid"] = ev.get("break_even_grid")
                trade["break_even_fit"] = ev.get("break_even_fit")
                if ev.get("r_star_second_order_theory") is not None:
                    trade["theory"] = (f"r* = {ev['r_star_second_order_theory']:.3g} "
                                       "(second order, fit-free estimates)")
    return out


def _ci_series(label: str, x: np.ndarray, ci: dict[str, Any], style: str = "-",
               marker: str | None = "o") -> Any:
    from empirics.plots import Series
    return Series(label, x, np.asarray(ci["mean"], float), np.asarray(ci["lo"], float),
                  np.asarray(ci["hi"], float), style, marker)


def figures(report: dict[str, Any], out: Path) -> list[str]:
    """Write the PNGs; returns their file names."""
    from empirics.plots import Series, curve_plot, tradeoff_plot
    names: list[str] = []
    ctrl = report.get("control")
    model = report["model"]["name"]
    for b, sec in report["alignment"].items():
        x = np.asarray(sec["coefficients"], float)
        series = [_ci_series(f"{g} (measured)", x, d["B"]) for g, d in sec["groups"].items()]
        if ctrl:
            for g in sec["groups"]:
                if g in ctrl["groups"]:
                    series.append(_ci_series(f"{g}: random direction", x, ctrl["groups"][g]["B"],
                                             ":", None))
        for c in sec.get("curves", []):
            series.append(Series(c["label"], np.asarray(c["x"], float), np.asarray(c["y"], float),
                                 style=c.get("style", "--")))
        name = f"alignment_{b}.png"
        curve_plot(out / name, f"{b}: behavior expectation vs r_e — {model}", "r_e",
                   "B = P(S+) − P(S−)", series, ylim=(-1.05, 1.05), vline=0.0)
        names.append(name)
    for b, sec in report["helpfulness"].items():
        x = np.asarray(sec["coefficients"], float)
        series = [_ci_series("P(correct), normalised over options", x, sec["pooled"]["p_correct"]),
                  _ci_series("P(correct), full vocabulary", x, sec["pooled"]["p_correct_full"]),
                  Series("accuracy", x, np.asarray(sec["pooled"]["accuracy"]["mean"]), style="-.")]
        if ctrl:
            for g, d in ctrl["groups"].items():
                if "p_correct" in d:
                    series.append(_ci_series(f"{g}: random direction", x, d["p_correct"], ":", None))
        for c in sec.get("curves", []):
            series.append(Series(c["label"], np.asarray(c["x"], float), np.asarray(c["y"], float),
                                 style=c.get("style", "--")))
        name = f"helpfulness_{b}.png"
        curve_plot(out / name, f"helpfulness ({sec['set']}) under {b} steering — {model}", "r_e",
                   "P(correct answer)", series, ylim=(-0.02, 1.02), vline=0.0)
        names.append(name)
    curves = []
    rec: list[tuple[str, float, float]] = []
    for b in report["alignment"]:
        sec = report["alignment"][b]
        tgt = sec["groups"][sec["target_group"]]["B"]["mean"]
        hm = report["helpfulness"][b]["pooled"]["p_correct"]["mean"]
        r = np.asarray(sec["coefficients"], float)
        curves.append((b, np.asarray(tgt), np.asarray(hm), r))
        r_rec = report["tradeoff"][b].get("recommended_coefficient")
        if r_rec is not None:
            i = int(np.argmin(np.abs(r - r_rec)))
            rec.append((f"{b}: {r_rec:g}", float(tgt[i]), float(hm[i])))
    name = "tradeoff.png"
    tradeoff_plot(out / name, f"alignment–helpfulness tradeoff — {model}", curves, rec)
    names.append(name)
    for b, lr in (report.get("linear_response") or {}).items():
        if not lr.get("coefficients"):
            continue
        x = np.asarray(lr["coefficients"], float)
        series = [Series("median over prompts of ‖h_r − h − rΔ‖ / ‖rΔ‖", x,
                         np.asarray(lr["remainder_median"], float), marker="o"),
                  Series(f"threshold {lr['threshold']:g}", x, np.full(len(x), lr["threshold"]),
                         style="k:")]
        name = f"linear_response_{b}.png"
        curve_plot(out / name, f"{b}: Proposition 1 remainder — {model}", "r_e",
                   "relative remainder", series, vline=0.0)
        names.append(name)
    return names


def _model_type(lm: Any) -> str:
    """The HF ``config.model_type`` (repeng's / llama.cpp's model hint), ``llama`` if unknown."""
    return str(getattr(getattr(getattr(lm, "model", None), "config", None), "model_type", "")
               or "llama")
