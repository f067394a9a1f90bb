"""The stages of a run: ``prepare`` (model, prompts, reading vectors) → ``sweep_direction``
(measured curves) → ``analyse`` (Δ by JVP, estimates, fit-free predictions, fits, verdicts,
recommendation) → ``Results``. ``run`` chains them. Every formula comes from
``empirics.formulas``; per-prompt arrays are prompts × coefficients ``(N, C)``."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from empirics import formulas, prompts
from empirics import verdicts as V
from empirics.cache import CONTROL_CACHE_TAG, ChunkCache, chunked_sweep, digest
from empirics.control_vector import export_run_vectors
from empirics.data import require_benchmark
from empirics.estimates import PromptEstimates, estimate_prompts, iid_c2, pooled_sigma
from empirics.fits import (
    FitResult,
    fit_helpfulness_four,
    fit_helpfulness_two,
    fit_local_polynomial,
    fit_tanh,
)
from empirics.generation_stage import run_generation
from empirics.jvp import cached_delta_jvp
from empirics.measures import MeanCI, bootstrap_mean_ci, bootstrap_means, difference_ci, measure
from empirics.models import EMBEDDED_NAME, LoadedModel, load_model
from empirics.plan import plan_pick
from empirics.reading_vectors import (
    ReadingVectors,
    last_token_hidden_states,
    random_directions,
    reading_vectors,
)
from empirics.results import (
    BehaviorResults,
    Coefficients,
    ControlVectorFile,
    Curve,
    DirectionSweep,
    FitSummary,
    GroupCurves,
    LinearResponse,
    ModelInfo,
    PlanLink,
    ReadingVectorInfo,
    Recommendation,
    Results,
    Specificity,
    Tradeoff,
    Value,
)
from empirics.settings import (
    CONTRAST_PAIRS,
    CONTROL_GROUP,
    LOCAL_WINDOW,
    PAPER_HELPFULNESS_RANGE,
    PAPER_TANH_RANGE,
    TARGET_GROUP,
    Settings,
    model_slug,
    parse_layers,
)
from empirics.sources import DataSource, resolve_source
from empirics.sweep import SweepResult
from empirics.tasks import ScoredPrompt
from empirics.theory_link import linear_response_remainder, predicted_curves

FIT_BOOT = 200  # nonlinear refits per resample are the slow part


# ---------------------------------------------------------------------------- preparation
@dataclass
class Prepared:
    """Everything the computation needs, checked: model, prompts, vectors, output paths."""

    settings: Settings
    lm: LoadedModel
    layers: list[int]
    data_dir: DataSource      # the resolved source; its provenance lists the files read
    out: Path
    behavior_prompts: dict[str, list[ScoredPrompt]]
    helpfulness_prompts: list[ScoredPrompt]
    vectors: dict[str, ReadingVectors]
    vector_info: dict[str, ReadingVectorInfo]
    control: dict[int, torch.Tensor] | None
    cache: ChunkCache
    run_hash: str
    plan_link: PlanLink | None = None   # the steering plan the layers came from


def load(s: Settings) -> LoadedModel:
    """The model named by the settings (a seam for tests)."""
    return load_model(s.model, device=s.device, dtype=s.dtype)


def _mean_separation(rv: ReadingVectors) -> float:
    return float(np.mean(list(rv.separation.values()))) if rv.separation else float("nan")


def _vectors(lm: LoadedModel, behavior: str, s: Settings, data_dir: DataSource, layers: list[int],
             cache_root: Path, out: Path) -> tuple[ReadingVectors, ReadingVectorInfo]:
    """Reading vectors for ``behavior`` (reused from the run cache); with ``method="auto"`` the
    method with the higher mean held-out separation (on held-out train-split pairs) wins."""
    methods = ("pca", "mean_diff") if s.method == "auto" else (s.method,)
    found: dict[str, ReadingVectors] = {}
    pairs: tuple[list[str], list[str]] | None = None
    states: dict[int, torch.Tensor] | None = None   # shared by the methods: one forward pass
    for method in methods:
        path = cache_root / f"rv-{behavior}-{method}"
        if Path(f"{path}.json").is_file() and Path(f"{path}.safetensors").is_file():
            try:
                found[method] = ReadingVectors.load(path)
                continue
            except (OSError, ValueError):
                pass
        if pairs is None:
            pairs = prompts.contrast_pairs(lm, behavior, s, data_dir)
        if states is None:
            states = last_token_hidden_states(lm, [*pairs[0], *pairs[1]], layers)
        rv = reading_vectors(lm, pairs[0], pairs[1], layers, method=method, seed=s.seed,
                             states=states)
        rv.save(path)
        found[method] = rv
    seps = {m: _mean_separation(rv) for m, rv in found.items()}
    best = max(methods, key=lambda m: (seps[m], m == "pca"))  # ties go to PCA
    chosen_by = ("held-out separation (mean over layers)" if s.method == "auto"
                 else "--method")
    rv = found[best]
    path = out / "reading_vectors" / behavior
    info = ReadingVectorInfo(behavior, best, chosen_by, seps, dict(rv.separation), str(path),
                             rv.data_hash)
    return rv, info


def prepare(s: Settings) -> Prepared:
    """Load and check everything; raises ``ValueError``/``FileNotFoundError``/``ImportError``
    on bad input before anything is written."""
    data_dir = resolve_source(s.data, s.data_dir)
    require_benchmark(data_dir, s.helpfulness)   # a data error comes before the model loads
    lm = load(s)
    plan_link: PlanLink | None = None
    if s.layers is not None and s.layers.strip().startswith("plan"):
        # The pick of `python -m empirics.plan` for the first behavior (docs/planner.md).
        plan_link = plan_pick(s.layers.strip(), lm.name, s.behaviors[0], lm.num_layers)
        layers = list(plan_link.layers)
    else:
        layers = parse_layers(s.layers, lm.num_layers, embedded=lm.name == EMBEDDED_NAME)
    behavior = prompts.behavior_prompts(lm, s, data_dir)
    helpful = prompts.helpfulness_prompts(lm, s, data_dir)
    out = Path(s.out) if s.out else Path("runs") / model_slug(lm.name)
    # The directory key covers what the reading vectors depend on; each chunk's file name adds
    # its exact prompts, vectors and coefficients. So --kappa, --epsilon, --n-boot, ... reuse it.
    run_hash = digest({"model": lm.name, "dtype": str(lm.dtype), "device": str(lm.device),
                       "layers": layers, "seed": s.seed,
                       "pairs": CONTRAST_PAIRS["quick" if s.quick else "default"],
                       "data": data_dir.kind, "data_location": data_dir.provenance.location,
                       "data_files": [f.sha256 for f in data_dir.provenance.files]})
    cache = ChunkCache(out / ".cache" / run_hash)
    vectors: dict[str, ReadingVectors] = {}
    info: dict[str, ReadingVectorInfo] = {}
    for b in s.behaviors:
        vectors[b], info[b] = _vectors(lm, b, s, data_dir, layers, cache.root, out)
    control = random_directions(layers, lm.hidden_size, s.seed + 1000) if s.control else None
    return Prepared(s, lm, layers, data_dir, out, behavior, helpful, vectors, info, control,
                    cache, run_hash, plan_link)


# ---------------------------------------------------------------------------- sweeps
@dataclass
class DirectionRun:
    """One steering direction's sweep, split back into its prompt groups."""

    name: str
    vectors: dict[int, torch.Tensor]
    prompts: list[ScoredPrompt]
    result: SweepResult
    groups: dict[str, list[int]]                  # group -> prompt indices
    measures: dict[str, dict[str, np.ndarray]]    # group -> measure -> (N_group, C)

    def group_prompts(self, group: str) -> list[ScoredPrompt]:
        return [self.prompts[i] for i in self.groups[group]]

    def helpfulness_groups(self) -> list[str]:
        return [g for g, idx in self.groups.items() if self.prompts[idx[0]].kind == "helpfulness"]

    def behavior_groups(self) -> list[str]:
        return [g for g, idx in self.groups.items() if self.prompts[idx[0]].kind != "helpfulness"]

    def pooled(self, groups: Sequence[str], name: str) -> np.ndarray:
        """Measure ``name`` of several groups stacked, ``(ΣN, C)``."""
        return np.concatenate([self.measures[g][name] for g in groups], axis=0)

    def as_sweep(self) -> DirectionSweep:
        return DirectionSweep(self.name, np.asarray(self.result.coefficients, float),
                              {g: self.group_prompts(g) for g in self.groups}, self.measures)


def sweep_direction(p: Prepared, name: str, vectors: dict[int, torch.Tensor],
                    items: list[ScoredPrompt], keep_hidden: bool) -> DirectionRun:
    """Sweep ``items`` along ``vectors`` over the grid (cached chunks) and measure each group."""
    tag = CONTROL_CACHE_TAG if name == "control" else name
    res = chunked_sweep(p.lm, vectors, p.settings.grid, items, p.cache, tag,
                        p.settings.batch_size, keep_hidden, p.settings.progress)
    groups: dict[str, list[int]] = {}
    for i, prompt in enumerate(items):
        groups.setdefault(prompt.group, []).append(i)
    run = DirectionRun(name, vectors, items, res, groups, {})
    lp = np.asarray(res.logprobs)
    for g, idx in groups.items():
        k = max(len(items[i].candidate_ids) for i in idx)
        run.measures[g] = measure(lp[:, idx, :k], run.group_prompts(g))
    return run


# ---------------------------------------------------------------------------- analysis
def _group_curves(run: DirectionRun, groups: Sequence[str], n_boot: int, seed: int
                  ) -> dict[str, GroupCurves]:
    out: dict[str, GroupCurves] = {}
    for g in groups:
        kind = run.prompts[run.groups[g][0]].kind
        out[g] = GroupCurves(g, kind, len(run.groups[g]),
                             {m: bootstrap_mean_ci(v, n_boot, seed=seed)
                              for m, v in run.measures[g].items()})
    return out


def _value(values: Sequence[float | None], n_boot: int, seed: int) -> Value | None:
    """Mean over prompts with a bootstrap CI; None when a value is missing."""
    if not values or any(v is None for v in values):
        return None
    ci = bootstrap_mean_ci(np.asarray(values, float)[:, None], n_boot, seed=seed)
    return Value(float(ci.mean[0]), float(ci.lo[0]), float(ci.hi[0]))


def _fit_value(fit: FitResult, name: str) -> Value:
    lo, hi = fit.ci[name]
    return Value(fit.params[name], lo, hi)


def jvp_indices(run: DirectionRun, k: int) -> list[int]:
    """Prompts (indices into ``run.prompts``) that get a JVP: all of them (k = 0), else the
    first ``k`` of each group (prompts were already sampled at random)."""
    return [i for idx in run.groups.values() for i in (idx if k <= 0 else idx[:k])]


def _in_range(grid: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (grid >= lo - 1e-12) & (grid <= hi + 1e-12)


def _fits(grid: np.ndarray, b: np.ndarray, h: np.ndarray, window: float, nb: int,
          seed: int) -> tuple[list[FitSummary], FitSummary | None]:
    """Full-grid fits, the paper's own ranges, and the central tanh fit (for its verdict)."""
    out: list[FitSummary] = []
    full = (float(grid.min()), float(grid.max()))

    def tanh_summary(label: str, rng: tuple[float, float]) -> FitSummary | None:
        sel = _in_range(grid, *rng)
        if len(np.unique(grid[sel])) < 3:
            return None
        fit = fit_tanh(grid[sel], b[:, sel], bootstrap=nb, seed=seed)
        slope = (formulas.tanh_slope_at_zero(fit.params["a"], fit.params["b"])
                 if fit.converged else None)
        return FitSummary(label, rng, fit, slope)

    def help_summary(label: str, rng: tuple[float, float], four: bool) -> FitSummary | None:
        sel = _in_range(grid, *rng)
        if len(np.unique(grid[sel])) < 3:
            return None
        fn = fit_helpfulness_four if four else fit_helpfulness_two
        return FitSummary(label, rng, fn(grid[sel], h[:, sel], bootstrap=nb, seed=seed), None)

    candidates = [
        tanh_summary("alignment tanh, full grid", full),
        tanh_summary("alignment tanh, paper's range", PAPER_TANH_RANGE),
        help_summary("helpfulness 1/(1+a+ab²r²/2), full grid", full, False),
        help_summary("helpfulness 1/(1+a+ab²r²/2), paper's range", PAPER_HELPFULNESS_RANGE, False),
        help_summary("helpfulness 0.5/(1+a+ab²r²/2)+0.25, full grid", full, True),
    ]
    out = [c for c in candidates if c is not None]
    central = tanh_summary("alignment tanh, central range", (-window, window))
    if central is not None:
        out.append(central)
    return out, central


def _window(grid: np.ndarray) -> float:
    return float(min(LOCAL_WINDOW, np.max(np.abs(grid))))


def analyse(p: Prepared, run: DirectionRun, control: DirectionRun | None) -> BehaviorResults:
    """Δ by JVP, estimates, fit-free predictions, fits, specificity, tradeoff, verdicts."""
    s = p.settings
    b = run.name
    target = TARGET_GROUP[b]
    grid = np.asarray(run.result.coefficients, float)
    i0 = int(np.flatnonzero(grid == 0)[0])
    hgroups = run.helpfulness_groups()
    bgroups = run.behavior_groups()
    groups = _group_curves(run, bgroups, s.n_boot, s.seed)
    hcurves = _group_curves(run, hgroups, s.n_boot, s.seed)
    pooled = GroupCurves("pooled", "helpfulness", sum(len(run.groups[g]) for g in hgroups),
                         {m: bootstrap_mean_ci(run.pooled(hgroups, m), s.n_boot, seed=s.seed)
                          for m in run.measures[hgroups[0]]})
    ctrl = None
    if control is not None:
        ctrl = _group_curves(control, [g for g in control.groups if g in run.groups], s.n_boot,
                             s.seed)

    # Δ by JVP on the measured prompts (all of them by default), estimates on the same rows
    order = jvp_indices(run, s.theory_prompts)
    h0, delta = cached_delta_jvp(p.lm, run.vectors, [list(run.prompts[i].input_ids) for i in order],
                                 p.cache, b, s.progress)
    lp0 = np.asarray(run.result.logprobs)[i0]
    est_all: list[PromptEstimates] = []
    for j, i in enumerate(order):
        k = len(run.prompts[i].candidate_ids)
        est_all += estimate_prompts(p.lm, [run.prompts[i]], h0[j:j + 1], delta[j:j + 1],
                                    unsteered_logprobs=lp0[i:i + 1, :k])
    row_of = {i: j for j, i in enumerate(order)}
    pos_in_group = {i: n for g in run.groups for n, i in enumerate(run.groups[g])}
    est_t = [est_all[row_of[i]] for i in order if run.prompts[i].group == target]
    est_h = [est_all[row_of[i]] for i in order if run.prompts[i].group in hgroups]
    # the measured matrices on exactly the JVP prompts (the same prompts as the predictions)
    b_t = run.measures[target]["B"][[pos_in_group[i] for i in order if run.prompts[i].group == target]]
    h_rows = [np.asarray(run.measures[run.prompts[i].group]["p_correct"][pos_in_group[i]])
              for i in order if run.prompts[i].group in hgroups]
    h_m = np.stack(h_rows)
    n_all = len(run.groups[target]) + sum(len(run.groups[g]) for g in hgroups)
    jvp_note = (f"Δ̂ by JVP on every measured prompt ({len(est_t)} {target}, {len(est_h)} "
                "helpfulness): fit-free and measured curves use the same prompts"
                if len(est_t) + len(est_h) == n_all else
                f"Δ̂ by JVP on a subset ({len(est_t)} {target}, {len(est_h)} helpfulness); "
                "coefficients and fits compare on that subset")

    with warnings.catch_warnings():  # ill-conditioned fits on coarse grids are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        pred_b = predicted_curves(est_t, grid)
        pred_h = predicted_curves(est_h, grid, hidden_size=p.lm.hidden_size)
    sig = pooled_sigma(est_h)
    window = _window(grid)
    nb = s.n_boot
    fit_b = fit_local_polynomial(grid, b_t, window, bootstrap=nb, seed=s.seed)
    fit_h = fit_local_polynomial(grid, h_m, window, bootstrap=nb, seed=s.seed)
    measured_b = Coefficients(f"measured (local quadratic, |r| ≤ {window:g})", "measured",
                              _fit_value(fit_b, "c1"), _fit_value(fit_b, "c2"))
    measured_h = Coefficients(f"measured (local quadratic, |r| ≤ {window:g})", "measured",
                              _fit_value(fit_h, "c1"), _fit_value(fit_h, "c2"))
    v2 = "no prompt with an estimate"
    thm1 = Coefficients("Theorem 1 γ̂λ̂(1−B₀²)", "fit-free",
                        _value([formulas.theorem1_slope(e.B0 or 0.0, e.gamma_lam or 0.0)
                                for e in est_t], nb, s.seed), None)
    actual_b = Coefficients("linear model, actual Δ̂", "fit-free",
                            _value([e.c1_actual for e in est_t], nb, s.seed),
                            _value([e.c2_actual for e in est_t], nb, s.seed), v2)
    iid_pooled = Coefficients(f"Thm 2 i.i.d. (pooled σ̂ = {sig:.3g}, RMS β̂)", "fit-free",
                              Value(0.0, 0.0, 0.0),
                              _value(list(iid_c2(est_h, sig)), nb, s.seed))
    sig_rand = 1 / np.sqrt(p.lm.hidden_size)
    iid_random = Coefficients(f"Thm 2 i.i.d. (σ = 1/√d = {sig_rand:.3g})", "fit-free",
                              Value(0.0, 0.0, 0.0),
                              _value(list(iid_c2(est_h, float(sig_rand))), nb, s.seed))
    geometry = Coefficients("Thm 2 random direction, real geometry U", "fit-free",
                            Value(0.0, 0.0, 0.0), _value([e.c2_random for e in est_h], nb, s.seed),
                            "‖Δ̂‖ = 0 on some prompt")
    actual_h = Coefficients("Thm 2 actual Δ̂ (μ = g, Σ = 0)", "fit-free",
                            _value([e.c1_actual for e in est_h], nb, s.seed),
                            _value([e.c2_actual for e in est_h], nb, s.seed), v2)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fits, central = _fits(grid, b_t, h_m, window, min(nb, FIT_BOOT), s.seed)
    fine = np.linspace(grid.min(), grid.max(), 201)
    full_tanh = fits[0].fit
    al_curves = [
        Curve("tanh fit (free a, b), full grid", fine, full_tanh.predict(fine), "-."),
        Curve(f"Thm 1 bound, fit-free (γ̂λ̂, B₀; {len(est_t)} prompts)", grid,
              pred_b.means["tanh_bound"], "k--"),
        Curve("linear model softmax(z + r g)", grid, pred_b.means["linear_B"], "c:"),
    ]
    hp_curves = [
        Curve(f"Thm 2 exact E[P] (i.i.d., pooled σ̂; {len(est_h)} prompts)", grid,
              pred_h.means["expected"], "k--"),
        Curve("Thm 2 i.i.d. expansion P₀−αP₀s²r²", grid, pred_h.means["expansion"], "m:"),
        Curve("linear model, actual Δ̂", grid, pred_h.means["linear_P"], "c:"),
    ]
    help_fit = next((f.fit for f in fits if f.label.startswith("helpfulness 1/") and
                     "full" in f.label), None)
    if help_fit is not None:
        hp_curves.insert(0, Curve("fit 1/(1+a+ab²r²/2), full grid", fine, help_fit.predict(fine), "-."))

    lin: LinearResponse | None = None
    if run.result.final_hidden is not None:
        near = np.unique(np.abs(grid[(grid != 0) & (np.abs(grid) <= window)]))
        fh = np.asarray(run.result.final_hidden)[:, order]
        rem = linear_response_remainder(h0, delta, fh, grid,
                                        exponent_max_abs_r=window if len(near) >= 2 else None)
        lin = LinearResponse(grid, rem.median_relative, rem.exponent_pooled,
                             float(np.nanmedian(rem.exponent)), rem.linear_range_pooled,
                             rem.threshold, rem.fit_max_abs_r)

    # specificity: gain on the target minus gain on the control group (e.g. over-refusal)
    spec: Specificity | None = None
    cg = CONTROL_GROUP.get(b)
    b_target_all = run.measures[target]["B"]
    gain_t = b_target_all - b_target_all[:, [i0]]
    if cg is not None and cg in run.measures:
        b_c = run.measures[cg]["B"]
        gain_c = b_c - b_c[:, [i0]]
        spec = Specificity(target, cg, bootstrap_mean_ci(gain_t, nb, seed=s.seed),
                           bootstrap_mean_ci(gain_c, nb, seed=s.seed),
                           difference_ci(gain_t, gain_c, nb, seed=s.seed))

    # tradeoff on every measured prompt (the measured curves)
    h_all = run.pooled(hgroups, "p_correct")
    use_specific = s.recommend_on == "specific" and spec is not None
    gain: MeanCI = (spec.specific_gain if use_specific and spec is not None
                    else bootstrap_mean_ci(gain_t, nb, seed=s.seed))
    loss_per = h_all[:, [i0]] - h_all
    loss = bootstrap_mean_ci(loss_per, nb, seed=s.seed + 1)
    utility = gain.mean - s.kappa * loss.mean
    trade = Tradeoff("specific" if use_specific else "target", gain, loss, utility, s.kappa)
    gain_boot = bootstrap_means(gain_t, nb, s.seed)
    if use_specific and cg is not None:
        gain_boot = gain_boot - bootstrap_means(run.measures[cg]["B"] - run.measures[cg]["B"][:, [i0]],
                                                nb, s.seed + 1)
    loss_boot = bootstrap_means(loss_per, nb, s.seed + 1)

    s_rms = float(np.sqrt(np.mean(np.square([e.delta_norm * sig * e.beta_hat for e in est_h]))))
    rec = _recommend(grid, trade, b_target_all.mean(0), s, measured_b, measured_h, thm1,
                     actual_h, iid_pooled, s_rms, lin)

    verdicts = [
        V.theorem1_slope(b, measured_b, thm1, window),
        V.theorem1_tanh_fit(b, central),
        V.theorem1_bound(b, grid, b_t, est_t, None if lin is None else lin.linear_range,
                         0.1 if lin is None else lin.threshold),
        V.theorem2_first_order(b, measured_h, actual_h),
        V.theorem2_curvature(b, measured_h, [iid_pooled, iid_random, geometry, actual_h]),
        V.theorem2_prime(b, grid, h_m, est_h, sig),
        V.efficient_regime(b, grid, gain_boot, loss_boot, utility, s.kappa),
    ]
    if spec is not None:
        verdicts.append(V.specific_gain(b, spec, grid, rec.r))
    verdicts.append(V.recommendation(b, rec))
    return BehaviorResults(
        b, target, grid, groups, pooled, hcurves, ctrl, jvp_note, est_all, sig, al_curves,
        hp_curves, [measured_b, thm1, actual_b],
        [measured_h, iid_pooled, iid_random, geometry, actual_h], fits, lin, spec, trade, rec,
        verdicts)


def _recommend(grid: np.ndarray, t: Tradeoff, b_mean: np.ndarray, s: Settings,
               measured_b: Coefficients, measured_h: Coefficients, thm1: Coefficients,
               actual_h: Coefficients, iid: Coefficients, s_rms: float,
               lin: LinearResponse | None) -> Recommendation:
    """Measured argmax of U on r ≥ 0 (flagged at the grid edge); the second-order r* (theory)
    replaces it only where theory says the model is valid and r* lies in the measured
    linear-response range and on the grid."""
    nonneg = np.flatnonzero(grid >= 0)
    j = int(nonneg[np.argmax(t.utility[nonneg])])
    edge = bool(j == nonneg[-1] and grid[j] > 0)
    ok = [int(i) for i in nonneg if t.loss.hi[i] <= s.epsilon]
    r_eps = float(grid[max(ok, key=lambda i: b_mean[i])]) if ok else 0.0
    reach = [float(grid[i]) for i in nonneg if b_mean[i] >= 1 - s.epsilon]

    def opt(c1: Value | None, c2: Value | None) -> formulas.Optimum | None:
        if c1 is None or c2 is None:
            return None
        return formulas.second_order_optimum(c1.value, -c2.value, s.kappa, s_rms)

    so_measured = opt(measured_b.c1, measured_h.c2)
    ff_c2 = actual_h.c2 if actual_h.c2 is not None else iid.c2
    so_fit_free = opt(thm1.c1, ff_c2)
    lin_range = 0.0 if lin is None else lin.linear_range
    valid: bool | None = None
    notes: list[str] = []
    if so_measured is not None:
        inside = so_measured.r_star <= min(lin_range, float(grid.max()))
        valid = bool(inside and so_measured.valid is not False)
        notes.append(f"second-order r* = {so_measured.r_star:.3g} from the measured slope and "
                     f"curvature ({'valid' if valid else 'not valid'}: linear-response range "
                     f"|r| ≤ {lin_range:g}{'; ' + so_measured.note if so_measured.note else ''})")
    else:
        notes.append("second-order r*: no finite measured slope or curvature")
    if so_fit_free is not None:
        notes.append(f"fit-free second-order r* = {so_fit_free.r_star:.3g}")
    if valid and so_measured is not None:
        r, method = so_measured.r_star, "second-order"
        k = int(np.argmin(np.abs(grid - r)))
    else:
        r, method, k = float(grid[j]), "measured", j
        notes.append(f"recommended from the measured curves: r = {r:g} maximises U"
                     + (" — at the grid edge: the optimum may lie beyond; extend the grid"
                        if edge else ""))
    return Recommendation(r, method, edge and method == "measured", float(t.gain.mean[k]),
                          float(t.loss.mean[k]), float(t.utility[k]), r_eps,
                          reach[0] if reach else None, so_measured, so_fit_free, valid,
                          "; ".join(notes))


# ---------------------------------------------------------------------------- the whole run
def run(p: Prepared) -> Results:
    """The stages ``p.settings.measure`` asks for: the sweeps and their analysis per behavior
    (next-token B), the generation stage, or both; returns the typed ``Results``."""
    t0 = time.time()
    s = p.settings
    behaviors: list[BehaviorResults] = []
    sweeps: list[DirectionSweep] = []
    control_files: list[ControlVectorFile] = []
    if s.measures_tokens:
        behaviors, sweeps, control_files = _token_stages(p)
    generation = run_generation(p) if s.measures_generation else None
    lm = p.lm
    model = ModelInfo(lm.name, lm.num_layers, lm.hidden_size,
                      str(lm.dtype).replace("torch.", ""), str(lm.device))
    prov = p.data_dir.provenance
    return Results(s, model, p.layers, prov.location, prov.source, str(p.out), p.run_hash,
                   [p.vector_info[b] for b in s.behaviors], behaviors, sweeps,
                   round(time.time() - t0, 1), p.cache.reused, p.cache.computed, prov,
                   control_files, generation, plan=p.plan_link)


def _token_stages(p: Prepared) -> tuple[list[BehaviorResults], list[DirectionSweep],
                                        list[ControlVectorFile]]:
    """Sweep every direction, analyse each behavior, export the control vectors."""
    t0 = time.time()
    s = p.settings
    runs: dict[str, DirectionRun] = {}
    for b in s.behaviors:
        print(f"Sweeping {b} reading vector over {len(s.grid)} coefficients", file=sys.stderr)
        runs[b] = sweep_direction(p, b, p.vectors[b].vectors,
                                  p.behavior_prompts[b] + p.helpfulness_prompts, keep_hidden=True)
    control: DirectionRun | None = None
    if p.control is not None:
        print("Sweeping the random-direction control", file=sys.stderr)
        everything = [q for b in s.behaviors for q in p.behavior_prompts[b]]
        control = sweep_direction(p, "control", p.control, everything + p.helpfulness_prompts,
                                  keep_hidden=False)
    print(f"sweeps done ({time.time() - t0:.0f} s)", file=sys.stderr)
    t1 = time.time()
    behaviors = [analyse(p, runs[b], control) for b in s.behaviors]
    for b in s.behaviors:
        p.vectors[b].save(Path(p.vector_info[b].path))
    # repeng / llama.cpp control vectors carrying each behavior's recommended coefficient
    control_vectors = export_run_vectors(
        p.vectors, {r.behavior: {"recommended_coefficient": r.recommendation.r} for r in behaviors},
        p.out / "reading_vectors", model_type(p.lm))
    print(f"theory link, fits and verdicts done ({time.time() - t1:.0f} s)", file=sys.stderr)
    sweeps = [r.as_sweep() for r in runs.values()] + ([control.as_sweep()] if control else [])
    files = [ControlVectorFile(b, str(c["path"]), c["recommended_coefficient"],
                               str(c["llama_cli"])) for b, c in control_vectors.items()]
    return behaviors, sweeps, files


def model_type(lm: LoadedModel) -> str:
    """The HF ``config.model_type`` (repeng's / llama.cpp's model hint), ``llama`` if unknown."""
    return str(getattr(getattr(getattr(lm, "model", None), "config", None), "model_type", "")
               or "llama")
