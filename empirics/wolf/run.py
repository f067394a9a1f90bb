"""One run of the authors' protocol on one model: data → RepE vectors → measurements through the
fast engines → fits and fit-free predictions → typed results (``empirics.wolf.results``)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from empirics.models import EMBEDDED_NAME, LoadedModel, load_model
from empirics.reading_vectors import ReadingVectors
from empirics.settings import model_slug, parse_layers
from empirics.sources import DataSource, resolve_source
from empirics.tasks import outcome_token_ids
from empirics.wolf import analysis, cost, items, measure, predict, templates, vectors
from empirics.wolf.options import WolfSettings
from empirics.wolf.protocol import MAX_NEW_TOKENS, layers_from_end
from empirics.wolf.results import (
    BehaviorPanel,
    BehaviorRun,
    Cost,
    Shapes,
    SubjectPanel,
    WolfResults,
)

# First tokens that stand for the keyword rule's two sides in the next-token measure (and the
# fit-free Theorem 1 prediction): a proxy, stated in the report.
AGREE_WORDS = ("Yes", "Sure")
REFUSE_WORDS = ("No", "I")


@dataclass(frozen=True)
class SharedVectors:
    """Reading vectors to use instead of the protocol's own (``--protocol both``): the default
    protocol's files, one per behavior."""

    files: tuple[tuple[str, Path], ...]

    def path_for(self, behavior: str) -> Path | None:
        return next((p for b, p in self.files if b == behavior), None)


@dataclass(frozen=True)
class Prepared:
    settings: WolfSettings
    source: DataSource
    behaviors: list[items.BehaviorItems]
    subjects: list[items.Subject]
    out: Path


class Timer:
    def __init__(self) -> None:
        self.stages: list[tuple[str, float]] = []

    def add(self, stage: str, since: float) -> None:
        self.stages.append((stage, time.time() - since))


def default_out(s: WolfSettings) -> Path:
    """Where the protocol's files go: ``--out`` (``--protocol both``: ``OUT/wolf2024`` beside
    ``OUT/ours``), default ``runs/<model-slug>/<protocol>``."""
    base = Path(s.out) if s.out else Path("runs") / model_slug(s.model or EMBEDDED_NAME) / s.protocol
    return base if s.protocol == "wolf2024" else base / "wolf2024"


def load(s: WolfSettings) -> LoadedModel:
    if s.threads:
        torch.set_num_threads(s.threads)
    return load_model(s.model, s.device, s.dtype)


def prepare(s: WolfSettings) -> Prepared:
    """Every check that needs no model: the data (with its substitutions) and the layer spec."""
    src = resolve_source(s.data, s.data_dir)
    chat = templates.model_family(s.model or EMBEDDED_NAME, "", s.kind).chat
    n = s.behavior_prompts
    loaded = [items.harmfulness_items(src, s.pairs, n, s.seed) if b == "harmfulness"
              else items.fairness_items(src, s.pairs, n, s.seed, chat) for b in s.behaviors]
    for b in loaded:
        if len(b.questions) < 2 or len(b.toward) < 2:
            raise ValueError(f"{b.behavior}: the data give {len(b.questions)} measured items and "
                             f"{len(b.toward)} contrast pairs; need at least 2 of each")
    subjects = items.subjects(src, s.subjects, s.helpfulness_prompts)
    for sub in subjects:
        if len(sub.questions) < 2:
            raise ValueError(f"subject {sub.name}: {len(sub.questions)} questions; need 2")
    if s.layers:
        parse_layers(s.layers, 10**6, False)  # syntax now; the range once the depth is known
    return Prepared(s, src, loaded, subjects, default_out(s))


def run(p: Prepared, lm: LoadedModel, shared: SharedVectors | None = None) -> WolfResults:
    s, t0 = p.settings, time.time()
    timer = Timer()
    family = templates.family_of(lm, s.kind)
    layers = parse_layers(s.layers, lm.num_layers, False) if s.layers else None
    runs = [_behavior(lm, family, b, p, layers, shared, timer) for b in p.behaviors]
    subs = sorted({x for b in p.behaviors for x in [b.substitution] if x}
                  | {x.substitution for x in p.subjects if x.substitution})
    res = WolfResults(
        model=lm.name, num_layers=lm.num_layers, hidden_size=lm.hidden_size,
        family=family.describe(), layers_from_end=list(layers_from_end(lm.num_layers)),
        data_source=f"{p.source.kind} ({p.source.provenance.location})",
        data_files=list(p.source.provenance.files), substitutions=subs, settings=s,
        behaviors=runs, seconds=time.time() - t0)
    res.cost = _cost(lm, runs, timer)
    return res


def _cost(lm: LoadedModel, runs: list[BehaviorRun], timer: Timer) -> Cost:
    shapes = [r.shapes for r in runs if r.shapes is not None]
    macs = np.array([cost.shapes_macs(lm, sh) for sh in shapes]).reshape(-1, 3).sum(0)
    return Cost(float(macs[0]), float(macs[1]), float(macs[2]),
                sum(sh.generated_tokens for sh in shapes), list(timer.stages),
                cost.llama13b_estimate(shapes))


def _vectors(lm: LoadedModel, b: items.BehaviorItems, p: Prepared, layers: list[int] | None,
             shared: SharedVectors | None) -> tuple[ReadingVectors, str, str, bool | None]:
    """The steering vectors, their file, how they were made, and the side they steer toward
    (``None``: the authors' convention, agreeing for chat models; ``False``: refusing, the
    default protocol's aligned direction)."""
    own = None if shared is None else shared.path_for(b.behavior)
    if own is not None:
        rv = ReadingVectors.load(own)
        return (rv, str(own), "shared with the default protocol (its reading vectors and "
                "layers; they steer toward refusing / disagreeing)", False)
    full = vectors.repe_vectors(lm, b, p.settings.seed)
    path = vectors.save_vectors(full, p.out, b.behavior)
    steer = vectors.steering_vectors(full, lm.num_layers, layers)
    return steer, str(path), "RepE PCA, all layers read, the authors' injection layers", None


def _behavior(lm: LoadedModel, family: templates.Family, b: items.BehaviorItems, p: Prepared,
              layers: list[int] | None, shared: SharedVectors | None, timer: Timer) -> BehaviorRun:
    s, t0 = p.settings, time.time()
    rv, path, note, toward = _vectors(lm, b, p, layers, shared)
    agree_side = family.chat if toward is None else toward
    timer.add(f"{b.behavior}: reading vectors", t0)
    print(f"[wolf2024] {b.behavior}: steering layers {sorted(rv.vectors)}", file=sys.stderr)
    ids = [templates.encode_text(lm, family, templates.behavior_prompt(lm, family, q))
           for q in b.questions]
    t1 = time.time()
    gen = measure.generated_behavior(lm, rv.vectors, s.behavior_grid, ids, b.behavior,
                                     family.chat, agree_side, s.samples, s.seed, s.progress)
    timer.add(f"{b.behavior}: generation", t1)
    cands = list(outcome_token_ids(lm, AGREE_WORDS + REFUSE_WORDS))
    positive = [agree_side] * len(AGREE_WORDS) + [not agree_side] * len(REFUSE_WORDS)
    t1 = time.time()
    nt_b, nt_lp = measure.next_token_behavior(lm, rv.vectors, s.behavior_grid, ids, cands,
                                              positive, s.progress)
    timer.add(f"{b.behavior}: next-token sweep", t1)
    t1 = time.time()
    helps = _subjects(lm, rv, p.subjects, s)
    timer.add(f"{b.behavior}: helpfulness sweep", t1)
    t1 = time.time()
    panel, subjects = _predict(lm, rv, ids, cands, positive, nt_lp, gen, nt_b, helps, p)
    timer.add(f"{b.behavior}: JVP and fits", t1)
    run = _assemble(b, rv, path, note, panel, subjects, helps, gen.scores, s, time.time() - t0)
    run.toward_agree = agree_side
    run.shapes = Shapes(min(rv.vectors), tuple(len(x) for x in ids),
                        tuple(len(x) for h_ids, _, _ in helps for x in h_ids),
                        len(s.behavior_grid), len(s.helpfulness_grid), s.samples,
                        MAX_NEW_TOKENS, gen.tokens)
    return run


def _subjects(lm: LoadedModel, rv: ReadingVectors, subjects: Sequence[items.Subject],
              s: WolfSettings) -> list[tuple[list[list[int]], list[int], measure.Helpfulness]]:
    """Every subject's questions in one sweep (better packing), split back per subject."""
    bare = templates.Family("bare", False)
    ids = [[templates.encode_text(lm, bare, templates.mmlu_prompt(q.question, q.options))
            for q in sub.questions] for sub in subjects]
    correct = [[q.correct for q in sub.questions] for sub in subjects]
    flat_ids = [x for group in ids for x in group]
    flat_correct = [c for group in correct for c in group]
    h = measure.helpfulness(lm, rv.vectors, s.helpfulness_grid, "all", flat_ids, flat_correct,
                            s.progress)
    out, start = [], 0
    for sub, group, corr in zip(subjects, ids, correct, strict=True):
        out.append((group, corr, h.take(start, start + len(group), sub.name)))
        start += len(group)
    return out


def _predict(lm: LoadedModel, rv: ReadingVectors, ids: list[list[int]], cands: list[int],
             positive: list[bool], nt_lp: np.ndarray, gen: measure.GeneratedBehavior,
             nt_b: np.ndarray, helps: Sequence[tuple[list[list[int]], list[int],
                                                     measure.Helpfulness]],
             p: Prepared) -> tuple[BehaviorPanel, list[SubjectPanel]]:
    s = p.settings
    all_ids = ids + [x for h_ids, _, _ in helps for x in h_ids]
    h0, delta = predict.deltas(lm, rv.vectors, all_ids)
    zero = int(np.argmin(np.abs(np.asarray(s.behavior_grid))))
    n = len(ids)
    t1 = predict.theorem1(lm, predict.behavior_prompts(ids, cands, positive, "behavior"),
                          h0[:n], delta[:n], nt_lp[zero], s.behavior_grid)
    grid = np.asarray(s.behavior_grid)
    panel = BehaviorPanel(
        grid, analysis.curve_ci(gen.scores, s.n_boot, s.seed), analysis.curve_ci(nt_b, s.n_boot, s.seed),
        analysis.tanh_fit(grid, gen.scores, s.n_boot, s.seed), t1.curve, t1.slope,
        float(np.mean(t1.gamma_lam > 0)), gen.examples)
    subjects, start = [], n
    for h_ids, correct, h in helps:
        stop = start + len(h_ids)
        pr = predict.letter_prompts(h_ids, h.letter_ids0, correct, h.subject)
        zero_h = int(np.argmin(np.abs(h.grid)))
        t2 = predict.theorem2_prime(lm, pr, h0[start:stop], delta[start:stop], h.letter_logprobs0,
                                    h.p_full[:, zero_h], h.p_options[:, zero_h], h.grid)
        subjects.append(SubjectPanel(
            h.subject, h.grid, analysis.curve_ci(h.p_full, s.n_boot, s.seed),
            analysis.curve_ci(h.p_options, s.n_boot, s.seed),
            analysis.curve_ci(h.accuracy, s.n_boot, s.seed),
            analysis.helpfulness_fit(h.grid, h.p_full, None, s.n_boot, s.seed),
            analysis.helpfulness_fit(h.grid, h.p_options, 4, s.n_boot, s.seed),
            t2.curve_full, t2.curve_options))
        start = stop
    return panel, subjects


def _assemble(b: items.BehaviorItems, rv: ReadingVectors, path: str, note: str,
              panel: BehaviorPanel, subjects: list[SubjectPanel],
              helps: Sequence[tuple[list[list[int]], list[int], measure.Helpfulness]],
              scores: np.ndarray, s: WolfSettings, seconds: float) -> BehaviorRun:
    h_grid = np.asarray(s.helpfulness_grid)
    pooled = np.concatenate([h.p_options for _, _, h in helps], axis=0)
    gain = analysis.local_coefficients(panel.grid, scores, s.n_boot, s.seed)
    loss = analysis.local_coefficients(h_grid, pooled, s.n_boot, s.seed)
    pooled_fit = analysis.helpfulness_fit(h_grid, pooled, 4, 0, s.seed)
    rec = analysis.recommend(panel.grid, scores, h_grid, pooled, s.kappa, s.n_boot, s.seed)
    verdicts = analysis.verdicts(panel.tanh_fit, panel.theorem1_slope, gain[0], pooled_fit,
                                 loss[1], analysis.efficient_regime(gain, loss, s.kappa))
    sep = float(np.mean([rv.separation.get(layer, np.nan) for layer in rv.vectors]))
    return BehaviorRun(b.behavior, sorted(rv.vectors), path, note, sep, b.substitution, panel,
                       subjects, analysis.curve_ci(pooled, s.n_boot, s.seed), gain[0],
                       analysis.tanh_slope(panel.tanh_fit), loss[1], rec, verdicts, seconds)
