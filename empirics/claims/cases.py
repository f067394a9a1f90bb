"""The calibration cases: each rule on synthetic data with known truth, under the truth and
under mutations of its prediction (off by ×0.5, ×2, and where it matters the Theorem 2 form
without the path term, or a per-prompt shuffle).

A case's ``trial`` draws one synthetic data set and returns the rule's ``holds`` under the truth
followed by its ``holds`` under each mutation, in the order of ``mutations``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from empirics import formulas
from empirics.claims.generation import Finding, proxy_vs_behavior, sequence_curve
from empirics.claims.population import Population
from empirics.claims.random_forms import random_direction_form, spread_bound
from empirics.claims.regime import efficient_regime
from empirics.claims.response import curvature_2r, first_order_consistency
from empirics.claims.stats import Resampling
from empirics.claims.synthetic import (
    Prompts,
    cubic_ratio,
    helpfulness_prompts,
    two_outcome_prompts,
)
from empirics.claims.synthetic_random import random_world
from empirics.claims.synthetic_text import behavior_following, replies
from empirics.claims.theorem1 import DEPARTURE_THRESHOLD, departure, tanh_curve

Outcome = tuple[bool | None, ...]
SCALES = (0.5, 2.0)
TANH_RADIUS = 1.0     # the parameter-free tanh is judged on |r| ≤ 1 (calibrated there)


@dataclass(frozen=True)
class Setup:
    """Sizes of the synthetic data: the run's population and grid, logit noise, resamples,
    random directions and the generation stage's prompts × samples (the defaults are the sizes
    at which the rules meet their targets: docs/claims.md)."""

    population: Population
    n_boot: int = 1000
    noise: float = 0.0
    directions: int = 128
    gen_prompts: int = 32
    gen_samples: int = 8
    cubic: float = 1.0       # the cubic term × this (a stress test of the bands)

    @property
    def resampling(self) -> Resampling:
        return Resampling(self.n_boot)


@dataclass(frozen=True)
class Mutation:
    """A wrong prediction the rule must fail; ``target``: one of the issue's ×0.5 / ×2 (or the
    rule's counterpart of them), else an extra one reported beside them."""

    label: str
    target: bool = True


@dataclass(frozen=True)
class Case:
    """One rule on one kind of synthetic data."""

    rule: str
    data: str
    mutations: tuple[Mutation, ...]
    trial: Callable[[np.random.Generator], Outcome]


def _targets(*labels: str) -> tuple[Mutation, ...]:
    return tuple(Mutation(label) for label in labels)


def draw_behavior(setup: Setup, name: str, rng: np.random.Generator) -> Prompts:
    pop = setup.population.behavior(name)
    pr = two_outcome_prompts(pop, pop.B0.size, rng)
    return replace(pr, t=setup.cubic * pr.t)


def draw_helpfulness(setup: Setup, name: str, rng: np.random.Generator) -> Prompts:
    pop = setup.population.helpful(name)
    cubic = setup.cubic * cubic_ratio(setup.population.behaviors[0])
    return helpfulness_prompts(pop, pop.P0.size, rng, cubic)


def consistency_case(setup: Setup, name: str, behavior: bool) -> Case:
    def trial(rng: np.random.Generator) -> Outcome:
        pr = draw_behavior(setup, name, rng) if behavior else draw_helpfulness(setup, name, rng)
        curves = pr.readout(setup.population.grid, setup.noise, rng)
        c1 = pr.coefficients()[0]
        return tuple(first_order_consistency(name, curves, f * c1,
                                             resampling=setup.resampling).holds
                     for f in (1.0, *SCALES))
    return Case("first_order_consistency", name, _targets("×0.5", "×2"), trial)


def curvature_case(setup: Setup, name: str, behavior: bool) -> Case:
    def trial(rng: np.random.Generator) -> Outcome:
        pr = draw_behavior(setup, name, rng) if behavior else draw_helpfulness(setup, name, rng)
        curves = pr.readout(setup.population.grid, setup.noise, rng)
        c2 = pr.coefficients()[1]
        preds = [c2, 0.5 * c2, 2 * c2, pr.coefficients(w_factor=0.0)[1], rng.permutation(c2)]
        return tuple(curvature_2r(name, curves, p, resampling=setup.resampling).holds
                     for p in preds)
    extra = (Mutation("w dropped", False), Mutation("shuffled", False))
    return Case("curvature_2r", name, (*_targets("×0.5", "×2"), *extra), trial)


def departure_case(setup: Setup, name: str) -> Case:
    def trial(rng: np.random.Generator) -> Outcome:
        pr = draw_behavior(setup, name, rng)
        curves = pr.readout(setup.population.grid, setup.noise, rng)
        gl, w_gap = pr.g[:, 0], pr.w[:, 0] - pr.w[:, 1]    # g_a − g_b = 2γλ: γλ = g_a here
        out = []
        for f in (1.0, *SCALES):
            radius = formulas.departure_radius(curves.at_zero, gl, f * w_gap, DEPARTURE_THRESHOLD)
            out.append(departure(name, curves, gl, radius, np.sign(w_gap),
                                 resampling=setup.resampling).holds)
        return tuple(out)
    return Case("theorem1_departure", name, _targets("w ×0.5", "w ×2"), trial)


def curve_case(setup: Setup, name: str) -> Case:
    def trial(rng: np.random.Generator) -> Outcome:
        pr = draw_behavior(setup, name, rng)
        curves = pr.readout(setup.population.grid, setup.noise, rng)
        return tuple(tanh_curve(name, curves, f * pr.g[:, 0], TANH_RADIUS,
                                resampling=setup.resampling).holds for f in (1.0, *SCALES))
    return Case("theorem1_curve", name, _targets("γλ ×0.5", "γλ ×2"), trial)


def random_form_case(setup: Setup, name: str, law: str) -> Case:
    pop = setup.population

    def trial(rng: np.random.Generator) -> Outcome:
        world = random_world(pop.helpful(name), law, pop.helpful(name).P0.size, pop.grid, rng,
                             pop.random, k=setup.directions,
                             cubic=setup.cubic * cubic_ratio(pop.behaviors[0]))
        if law == "iid":
            pred = np.array([formulas.iid_c2(float(p[0]), formulas.alpha(p, 0), float(s))
                             for p, s in zip(world.p, world.s, strict=True)])
        else:
            assert world.U is not None and world.lam is not None
            pred = np.array([formulas.random_direction_c2(p, 0, u, float(lam)) or 0.0
                             for p, u, lam in zip(world.p, world.U, world.lam, strict=True)])
        return tuple(random_direction_form(name, law, world.sweeps, f * pred,
                                           resampling=setup.resampling).holds
                     for f in (1.0, *SCALES))
    return Case("theorem2_random_forms", f"{name} ({law}, k = {setup.directions})",
                _targets("×0.5", "×2"), trial)


def spread_case(setup: Setup, name: str, seed: int) -> Case:
    """Theorem 2′ on the population's own prompts (the bound is slow to evaluate, so it is
    computed once); each trial draws new random directions (i.i.d. Gaussian shifts, the bound's
    law, no path curvature). The mutation halves P₀ inside the bound (a false, tighter bound); a
    looser bound (e.g. s ×0.5) is still true, so it is no power test."""
    pop = setup.population
    helpful = pop.helpful(name)
    rows = np.arange(helpful.P0.size)
    first = random_world(helpful, "iid", rows.size, pop.grid, np.random.default_rng([seed, 99]),
                         pop.random, k=2, curved=False, rows=rows)
    bounds = []
    for factor in (1.0, 0.5):
        p = first.p.copy()
        p[:, 0] *= factor
        p /= p.sum(1, keepdims=True)
        bounds.append(np.stack([formulas.spread_bound(q, 0, float(s), pop.grid)
                                for q, s in zip(p, first.s, strict=True)]))

    def trial(rng: np.random.Generator) -> Outcome:
        world = random_world(helpful, "iid", rows.size, pop.grid, rng, pop.random,
                             k=setup.directions, curved=False, rows=rows, factor=first.factor)
        return tuple(spread_bound(name, world.sweeps, b).holds for b in bounds)
    return Case("theorem2_prime", f"{name} (iid, k = {setup.directions})", _targets("P₀ ×0.5"),
                trial)


def regime_case(setup: Setup, target: str, helpful: str) -> Case:
    """The efficient regime where it exists (the run's gain slope) and where it does not (the
    gain slope flipped to −0.5× and −2× its size: U falls from r = 0)."""
    def trial(rng: np.random.Generator) -> Outcome:
        pr = draw_behavior(setup, target, rng)
        h = draw_helpfulness(setup, helpful, rng).readout(setup.population.grid, setup.noise, rng)
        out = []
        for f in (1.0, -0.5, -2.0):
            curves = replace(pr, g=f * pr.g).readout(setup.population.grid, setup.noise, rng)
            out.append(efficient_regime(target, curves, h, 1.0,
                                        resampling=setup.resampling).holds)
        return tuple(out)
    return Case("efficient_regime", f"{target} + {helpful}",
                _targets("gain ×−0.5", "gain ×−2"), trial)


def sequence_case(setup: Setup) -> Case:
    def trial(rng: np.random.Generator) -> Outcome:
        rep = replies(rng, prompts=setup.gen_prompts, samples=setup.gen_samples)
        zero = int(np.flatnonzero(rep.coefficients == 0)[0])
        base = rep.predicted[:, [zero]]
        return tuple(sequence_curve("generated", rep.coefficients, rep.scores0,
                                    base + f * (rep.predicted - base), rep.measured,
                                    resampling=setup.resampling).holds
                     for f in (1.0, *SCALES))
    return Case("sequence_curve",
                f"{setup.gen_prompts} prompts × {setup.gen_samples} samples",
                _targets("×0.5", "×2"), trial)


_AGREES = {Finding.TOGETHER: True, Finding.UNDECIDED: None, Finding.PROXY_STILL: None}


def proxy_case(setup: Setup) -> Case:
    """Proxy vs behavior: a false alarm is any finding other than "together" (or undecided)
    when the behavior follows the proxy; power is finding "proxy only" when it stays flat."""
    def trial(rng: np.random.Generator) -> Outcome:
        out: list[bool | None] = []
        for transfer in (1.0, 0.0):
            proxy, behaved = behavior_following(rng, transfer, prompts=setup.gen_prompts,
                                                samples=setup.gen_samples)
            found = proxy_vs_behavior(np.array([-10.0, -5.0, 0.0, 5.0, 10.0]), proxy, behaved,
                                      resampling=setup.resampling).finding
            out.append(_AGREES.get(found, False) if transfer else
                       (False if found is Finding.PROXY_ONLY else None))
        return tuple(out)
    return Case("proxy_vs_behavior",
                f"{setup.gen_prompts} prompts × {setup.gen_samples} samples",
                _targets("behavior flat"), trial)


def default_cases(setup: Setup, seed: int = 0) -> list[Case]:
    """Every rule on the default run's prompt groups."""
    harm, bias = "harmfulness/harmful", "bias/stereoset_race"
    kh, kb = "harmfulness/knowledge", "bias/knowledge"
    return [
        consistency_case(setup, harm, True), consistency_case(setup, kh, False),
        curvature_case(setup, harm, True), curvature_case(setup, bias, True),
        curvature_case(setup, kh, False), curvature_case(setup, kb, False),
        departure_case(setup, harm), departure_case(setup, bias),
        curve_case(setup, harm), curve_case(setup, bias),
        random_form_case(setup, kh, "iid"), random_form_case(setup, kh, "geometry"),
        spread_case(setup, kh, seed), regime_case(setup, harm, kh),
        sequence_case(setup), proxy_case(setup),
    ]
