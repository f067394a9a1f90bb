"""The planner's runner: per behavior, reading vectors for every layer, per-layer shifts, the
helpfulness prompts' lower pass, per-candidate terms and predictions; with ``verify``, real
sweeps of a verification set and the cost of planning against sweeping every candidate."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from empirics import measures
from empirics.models import LoadedModel
from empirics.plan.data import plan_helpfulness, plan_prompts
from empirics.plan.predictions import Prediction, predict, rank
from empirics.plan.response import help_inputs, unsteered_hidden
from empirics.plan.shifts import layer_shifts
from empirics.plan.terms import candidate_terms
from empirics.plan.verify import (
    Agreement,
    Measured,
    agreement,
    measure_candidate,
    verification_grid,
    verification_set,
)
from empirics.plan.windows import Candidate, candidates
from empirics.reading_vectors import reading_vectors
from empirics.sweep import sweep, sweep_cost
from empirics.tasks import ScoredPrompt

SWEEP_BATCH = 16  # rows per forward of the planner's ±h forwards and of the verification sweeps


@dataclass
class PlanSettings:
    behaviors: tuple[str, ...] = ("harmfulness", "bias")
    n_behavior: int = 16
    n_help: int = 16
    n_check: int = 0
    method: str = "pca"
    kappa: float = 1.0
    seed: int = 0
    verify: int = 0
    widths: tuple[int, ...] | None = None
    n_boot: int = 500
    batch_size: int = 8
    progress: bool = True
    data_dir: str | None = None
    curvature: str = "response"
    loss: str = "softmax"


@dataclass
class BehaviorPlan:
    behavior: str
    ranked: list[Prediction]
    vector_seconds: float          # reading vectors: one hidden-state pass (shared with sweeping)
    plan_seconds: float            # shifts (reverse mode) + per-candidate terms + scoring
    shift_seconds: float           # reverse-mode shifts of all layers + the r = 0 forwards
    terms_seconds: float           # per-candidate terms (±h forwards, JVP checks, estimates)
    response_seconds: float        # of which the ±h forwards
    n_behavior: int
    n_help: int
    vectors: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)  # layer -> v_l
    verified: list[Prediction] = field(default_factory=list)
    measured: list[Measured] = field(default_factory=list)
    agreement: Agreement | None = None
    sweep_seconds_per_candidate: float | None = None
    # Sweeping all candidates, extrapolated from the measured sweeps by their multiply-adds
    # (``sweep.sweep_cost``: depth and grid of every candidate), and the planning share of it.
    sweep_all_seconds: float | None = None
    cost_ratio: float | None = None
    # The earlier extrapolation, mean measured time × candidates (biased low when the verified
    # candidates are shallower sweeps than the average candidate), and its ratio.
    sweep_all_seconds_mean: float | None = None
    cost_ratio_mean: float | None = None
    sweep_cost_fit: float | None = None   # worst |measured/modelled − 1| over the verified sweeps
    # The same ratio in process CPU seconds (planning and the verified sweeps): on a shared
    # machine wall seconds depend on the other load at the moment, CPU seconds much less.
    plan_cpu_seconds: float | None = None
    cost_ratio_cpu: float | None = None

    @property
    def pick(self) -> Prediction:
        return self.ranked[0]


@dataclass
class PlanResult:
    model: str
    num_layers: int
    settings: PlanSettings
    candidates: list[Candidate]
    behaviors: list[BehaviorPlan]


def _bar(items: Sequence[Candidate], enabled: bool, desc: str) -> Sequence[Candidate]:
    if not enabled:
        return items
    return tqdm(items, desc=desc, unit="cand")  # type: ignore[no-any-return]


def plan_behavior(lm: LoadedModel, behavior: str, cands: Sequence[Candidate],
                  prompts: Sequence[ScoredPrompt], help_prompts: Sequence[ScoredPrompt],
                  pairs: tuple[list[str], list[str]], s: PlanSettings) -> BehaviorPlan:
    """Reading vectors for every layer (one pass), per-layer shifts, per-candidate predictions."""
    t0 = time.perf_counter()
    rv = reading_vectors(lm, pairs[0], pairs[1], list(range(lm.num_layers)), method=s.method,
                         seed=s.seed)
    t1, c1 = time.perf_counter(), time.process_time()
    vec = rv.vectors
    shifts_b = layer_shifts(lm, prompts, vec, batch_size=s.batch_size)
    lower = help_inputs(lm, help_prompts, batch_size=SWEEP_BATCH)
    help_h0 = unsteered_hidden(lm, vec, help_prompts, batch_size=SWEEP_BATCH, lower=lower)
    t2 = time.perf_counter()
    terms_time = response_time = 0.0
    preds = []
    for cand in _bar(cands, s.progress, f"plan {behavior}"):
        tj = time.perf_counter()
        terms = candidate_terms(lm, cand, vec, prompts, help_prompts, shifts_b, help_h0,
                                s.n_check, batch_size=SWEEP_BATCH, lower=lower)
        terms_time += time.perf_counter() - tj
        response_time += terms.response_seconds
        preds.append(predict(cand, terms, s.kappa, curvature=s.curvature, loss=s.loss,
                             n_boot=s.n_boot, seed=s.seed))
    t3, c3 = time.perf_counter(), time.process_time()
    return BehaviorPlan(behavior, rank(preds), t1 - t0, t3 - t1, t2 - t1, terms_time, response_time,
                        len(prompts), len(help_prompts), dict(vec), plan_cpu_seconds=c3 - c1)


def verify_behavior(lm: LoadedModel, bp: BehaviorPlan, vectors: Mapping[int, torch.Tensor],
                    prompts: Sequence[ScoredPrompt], help_prompts: Sequence[ScoredPrompt],
                    s: PlanSettings, n_candidates: int) -> None:
    """Real sweeps of the verification set; fills ``bp``'s measured fields in place."""
    chosen = verification_set(bp.ranked, s.verify)
    everything = list(prompts) + list(help_prompts)
    ids = [list(p.input_ids) for p in everything]
    # Modelled cost of sweeping each candidate of the plan on its own verification grid.
    work = {p.candidate: sweep_cost(lm, p.candidate.layers[0], len(verification_grid(p)[0]), ids)
            for p in bp.ranked}
    cands = [list(p.candidate_ids) for p in everything]
    nb = len(prompts)
    times, cpu = [], []
    for pred in _bar([p.candidate for p in chosen], s.progress, f"verify {bp.behavior}"):
        p = next(x for x in chosen if x.candidate == pred)
        grid, win_b, win_h = verification_grid(p)
        t0, c0 = time.perf_counter(), time.process_time()
        res = sweep(lm, {layer: vectors[layer] for layer in pred.layers}, grid.tolist(), ids,
                    cands, batch_size=SWEEP_BATCH)
        dt = time.perf_counter() - t0
        times.append(dt)
        cpu.append(time.process_time() - c0)
        kb = max(len(q.candidate_ids) for q in prompts)
        kh = max(len(q.candidate_ids) for q in help_prompts)
        b = measures.behavior(res.logprobs[:, :nb, :kb], prompts).B
        h = measures.helpfulness(res.logprobs[:, nb:, :kh], help_prompts).p_correct
        bp.measured.append(measure_candidate(pred, grid, b, h, s.kappa, win_b, win_h, dt,
                                             n_boot=s.n_boot, seed=s.seed))
        bp.verified.append(p)
    bp.agreement = agreement(bp.verified, bp.measured, seed=s.seed)
    _sweeping_cost(bp, times, cpu, work, n_candidates)


def _sweeping_cost(bp: BehaviorPlan, times: list[float], cpu: list[float],
                   work: dict[Candidate, float], n_candidates: int) -> None:
    """Sweeping every candidate, extrapolated from the verified sweeps' seconds per
    multiply-add (``sweep.sweep_cost``), and planning's share of it; into ``bp``."""
    bp.sweep_seconds_per_candidate = float(np.mean(times))
    done = np.array([work[p.candidate] for p in bp.verified])
    rate = float(np.sum(times)) / float(done.sum())          # seconds per multiply-add
    bp.sweep_cost_fit = float(np.max(np.abs(np.array(times) / (rate * done) - 1)))
    if n_candidates == len(work):
        bp.sweep_all_seconds = rate * float(sum(work.values()))
    else:  # candidates outside the ranking: their cost is unknown, fall back to the mean
        bp.sweep_all_seconds = bp.sweep_seconds_per_candidate * n_candidates
    bp.cost_ratio = bp.plan_seconds / bp.sweep_all_seconds
    bp.sweep_all_seconds_mean = bp.sweep_seconds_per_candidate * n_candidates
    bp.cost_ratio_mean = bp.plan_seconds / bp.sweep_all_seconds_mean
    if bp.plan_cpu_seconds is not None and n_candidates == len(work) and sum(cpu) > 0:
        bp.cost_ratio_cpu = bp.plan_cpu_seconds / (sum(cpu) / float(done.sum())
                                                   * float(sum(work.values())))


def run(lm: LoadedModel, s: PlanSettings) -> PlanResult:
    """Plan (and with ``s.verify`` verify) every behavior in ``s.behaviors``."""
    cands = candidates(lm.num_layers, s.widths)
    help_prompts = plan_helpfulness(lm, s.n_help, s.seed)
    out = []
    for behavior in s.behaviors:
        prompts, pairs = plan_prompts(lm, behavior, s.n_behavior, s.seed, s.data_dir)
        bp = plan_behavior(lm, behavior, cands, prompts, help_prompts, pairs, s)
        if s.verify:
            verify_behavior(lm, bp, bp.vectors, prompts, help_prompts, s, len(cands))
        out.append(bp)
    return PlanResult(lm.name, lm.num_layers, s, cands, out)
