"""The generation stage of the main job: steered replies at a few coefficients, judged, with the
sequence-level fit-free predictions from the samples at r_e = 0; returns ``GenerationResults``.

Defaults (``GenerationSettings``) are sized for ``validate --measure both`` on the embedded model
within 10 minutes on 2 CPU cores (see docs/performance.md): per behavior 12 prompts x 5
coefficients x 4 samples x 24 new tokens (temperature 1), one greedy reply per prompt and
coefficient, δ(y) by central difference for the 48 samples at r_e = 0. Finished parts are cached (resumable).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from empirics.judges import Judge, default_judge, judge_all
from empirics.measures import MeanCI
from empirics.sequence import (
    SequencePredictions,
    generation_measures,
    nan_bootstrap,
    sequence_deltas,
    sequence_predictions,
)


@dataclass(frozen=True)
class GenerationSettings:
    prompts: int = 12
    coefficients: int = 5          # points taken from the token grid, symmetric around 0
    samples: int = 4
    max_new_tokens: int = 24
    temperature: float = 1.0
    seed: int = 0
    n_boot: int = 1000
    # δ(y) by central difference (two batched inference forwards): cheaper than the forward-mode
    # JVP through eager attention; they agree to ~1e-3 relative (tests/empirics/test_sequence.py).
    delta_method: str = "fd"


QUICK_GENERATION = GenerationSettings(prompts=4, coefficients=3, samples=4, max_new_tokens=16,
                                      n_boot=200)


@dataclass(frozen=True)
class Example:
    coefficient: float
    prompt: str
    reply: str
    verdict: int


@dataclass(frozen=True)
class BehaviorGeneration:
    """One behavior's generated-text measures and sequence-level predictions."""

    behavior: str
    judge: str
    coefficients: np.ndarray
    b_gen: MeanCI                  # sampled replies, decided-reply B pooled over prompts
    undecided: np.ndarray          # (C,) rate over sampled replies
    b_greedy: MeanCI
    greedy_undecided: np.ndarray
    b_token: MeanCI | None         # next-token B at the same coefficients (None: not measured)
    predicted: SequencePredictions
    examples: list[Example]
    seconds: float


@dataclass(frozen=True)
class GenerationResults:
    settings: GenerationSettings
    behaviors: list[BehaviorGeneration] = field(default_factory=list)


def pick_coefficients(grid: Sequence[float], k: int) -> list[float]:
    """``k`` grid points spread over the grid, 0 included (the predictions' base point)."""
    g = sorted(float(x) for x in grid)
    if 0.0 not in g:
        g = sorted([*g, 0.0])
    if k >= len(g):
        return g
    targets = np.linspace(g[0], g[-1], k)
    arr = np.asarray(g)
    picked = {float(arr[np.argmin(np.abs(arr - t))]) for t in targets} | {0.0}
    return sorted(picked)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _flat(tokens: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    flat = np.array([x for t in tokens for x in t], dtype=np.int64)
    return {"lengths": lengths, "flat": flat}


def _unflat(d: dict[str, np.ndarray]) -> list[list[int]]:
    out, off = [], 0
    for n in d["lengths"].tolist():
        out.append(d["flat"][off:off + n].tolist())
        off += n
    return out


def run_behavior(lm: Any, behavior: str, vectors: dict[int, Any], prompt_texts: Sequence[str],
                 judge_texts: Sequence[str], grid: Sequence[float], gs: GenerationSettings,
                 cache: Any, vec_hash: str, token_b: Callable[[list[float]], MeanCI | None],
                 judge: Judge | None = None, progress: bool = False) -> BehaviorGeneration:
    """Generate (cached), judge, measure and predict for one behavior."""
    from empirics.generate import steered_generate

    t0 = time.time()
    judge = judge or default_judge(behavior)
    texts = list(prompt_texts)[: gs.prompts]
    asked = list(judge_texts)[: gs.prompts]
    ids = [lm.encode(t) for t in texts]
    coefs = pick_coefficients(grid, gs.coefficients)
    base = _hash({"ids": ids, "vec": vec_hash, "coefs": coefs, "gs": asdict(gs)})
    n, c, s = len(ids), len(coefs), gs.samples

    def cached(tag: str, fn: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        key = f"gen-{behavior}-{tag}-{base}"
        got = cache.get(key, count=False)
        if got is None:
            got = fn()
            cache.put(key, got, count=False)
        return got

    def gen_sampled() -> dict[str, np.ndarray]:
        return _flat(steered_generate(lm, vectors, coefs, ids, max_new_tokens=gs.max_new_tokens,
                                      samples=s, temperature=gs.temperature, seed=gs.seed,
                                      progress=progress).tokens)

    def gen_greedy() -> dict[str, np.ndarray]:
        return _flat(steered_generate(lm, vectors, coefs, ids, max_new_tokens=gs.max_new_tokens,
                                      progress=progress).tokens)

    sampled = _unflat(cached("sampled", gen_sampled))
    greedy = _unflat(cached("greedy", gen_greedy))
    decode = lm.tokenizer.decode
    s_text = [decode(t, skip_special_tokens=True) for t in sampled]
    g_text = [decode(t, skip_special_tokens=True) for t in greedy]
    row_prompt = np.tile(np.repeat(np.arange(n), s), c)
    verdicts = judge_all(judge, [asked[i] for i in row_prompt], s_text).reshape(c, n, s)
    g_verdicts = judge_all(judge, [asked[i] for i in np.tile(np.arange(n), c)],
                           g_text).reshape(c, n)
    m = generation_measures(coefs, verdicts, g_verdicts, n_boot=gs.n_boot, seed=gs.seed)
    zero = coefs.index(0.0)
    rows0 = list(range(zero * n * s, (zero + 1) * n * s))
    deltas = cached("deltas", lambda: {"delta": sequence_deltas(
        lm, vectors, [ids[i] for i in row_prompt[rows0]], [sampled[r] for r in rows0],
        method=gs.delta_method)})["delta"]
    pred = sequence_predictions(coefs, verdicts[zero], deltas.reshape(n, s), m.per_prompt,
                                n_boot=gs.n_boot, seed=gs.seed)
    assert m.b_greedy is not None and m.greedy_undecided is not None
    examples = [Example(coefs[ci], asked[0][-200:], g_text[ci * n], int(g_verdicts[ci, 0]))
                for ci in range(c)]
    return BehaviorGeneration(behavior, judge.name, np.asarray(coefs), m.b_gen, m.undecided,
                              m.b_greedy, m.greedy_undecided, token_b(coefs), pred, examples,
                              time.time() - t0)


def token_b_at(coefficients: Sequence[float], grid: Sequence[float],
               per_prompt_b: np.ndarray | None, n_boot: int, seed: int) -> MeanCI | None:
    """The next-token B ``(C_grid, N)`` of the sweep, pooled, at the chosen coefficients."""
    if per_prompt_b is None:
        return None
    g = [float(x) for x in grid]
    idx = [g.index(float(x)) for x in coefficients]
    return nan_bootstrap(np.asarray(per_prompt_b)[idx], n_boot=n_boot, seed=seed)


# --------------------------------------------------------------------------- rendering


def _ci(ci: MeanCI, j: int) -> str:
    return f"{ci.mean[j]:+.2f} [{ci.lo[j]:+.2f}, {ci.hi[j]:+.2f}]"


def markdown(res: GenerationResults) -> str:
    gs = res.settings
    lines = ["## Behavior of generated text", "",
             f"{gs.prompts} prompts x {gs.samples} samples (temperature {gs.temperature:g}) and one "
             f"greedy reply per coefficient, {gs.max_new_tokens} new tokens. B = P(aligned) - "
             "P(misaligned) over the decided replies, pooled over prompts (95% bootstrap CI over "
             "prompts); the undecided rate is beside it. Predicted: the importance-weighted curve "
             "from the samples at r_e = 0 alone (THEORY.md, Sequence level).", ""]
    for b in res.behaviors:
        p = b.predicted
        lines += [f"### {b.behavior} (judge: {b.judge}; {b.seconds:.0f} s)", "",
                  "| r_e | B_gen sampled | undecided | B greedy | undecided (greedy) | "
                  "next-token B | predicted (fit-free) |", "|---|---|---|---|---|---|---|"]
        for j, r in enumerate(b.coefficients):
            tok = _ci(b.b_token, j) if b.b_token is not None else "n/a"
            lines.append(f"| {r:g} | {_ci(b.b_gen, j)} | {b.undecided[j]:.2f} | "
                         f"{_ci(b.b_greedy, j)} | {b.greedy_undecided[j]:.2f} | {tok} | "
                         f"{_ci(p.curve, j)} |")
        meas = _ci(p.measured_slope, 0) if p.measured_slope is not None else "n/a"
        lines += ["", f"Slope dB/dr_e at 0: fit-free {_ci(p.slope, 0)} ({p.used} prompts with "
                  f">= 2 decided samples) vs measured (central difference of B_gen) {meas}.", "",
                  "Greedy replies to the first prompt:", ""]
        for ex in b.examples:
            reply = ex.reply.replace("\n", " ").replace("|", "/")[:160]
            lines.append(f"- r_e = {ex.coefficient:g} (verdict {ex.verdict:+d}): {reply}")
        lines.append("")
    return "\n".join(lines)


def to_json(res: GenerationResults) -> dict[str, Any]:
    out: dict[str, Any] = {"settings": asdict(res.settings), "behaviors": []}
    for b in res.behaviors:
        p = b.predicted
        out["behaviors"].append({
            "behavior": b.behavior, "judge": b.judge, "coefficients": b.coefficients.tolist(),
            "b_gen": b.b_gen.to_dict(), "undecided": b.undecided.tolist(),
            "b_greedy": b.b_greedy.to_dict(), "greedy_undecided": b.greedy_undecided.tolist(),
            "b_token": b.b_token.to_dict() if b.b_token is not None else None,
            "predicted_curve": p.curve.to_dict(), "predicted_slope": p.slope.to_dict(),
            "measured_slope": p.measured_slope.to_dict() if p.measured_slope else None,
            "prompts_predicted": p.used, "seconds": b.seconds,
            "examples": [asdict(e) for e in b.examples]})
    return out


def plot(res: GenerationResults, path: Path) -> None:
    """One panel per behavior: sampled / greedy / next-token B, the fit-free prediction, and
    the undecided rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from empirics.io import atomic_write

    k = max(1, len(res.behaviors))
    fig, axes = plt.subplots(1, k, figsize=(5.5 * k, 4), squeeze=False)
    for ax, b in zip(axes[0], res.behaviors, strict=False):
        r = b.coefficients
        series = [("B_gen (sampled)", b.b_gen, "C0"), ("B greedy", b.b_greedy, "C1"),
                  ("predicted from r=0 samples", b.predicted.curve, "C2")]
        if b.b_token is not None:
            series.append(("next-token B", b.b_token, "C3"))
        for label, ci, color in series:
            ax.plot(r, ci.mean, "o-", color=color, label=label)
            ax.fill_between(r, ci.lo, ci.hi, color=color, alpha=0.15)
        ax.bar(r, b.undecided, width=0.3 * (r[1] - r[0]) if r.size > 1 else 0.3, color="grey",
               alpha=0.4, label="undecided rate")
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("r_e")
        ax.set_ylabel("B")
        ax.set_title(f"{b.behavior}: generated text ({b.judge})")
        ax.legend(fontsize=7)
    fig.tight_layout()

    def write(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=110)

    atomic_write(path, write)
    plt.close(fig)


# --------------------------------------------------------------------------- the main job


def settings_from_namespace(a: Any, n_boot: int) -> GenerationSettings:
    """``GenerationSettings`` from validate's parsed ``--gen-*`` flags."""
    from dataclasses import replace

    base = QUICK_GENERATION if a.quick else GenerationSettings()
    gs = replace(base, seed=a.seed, n_boot=n_boot)
    for flag, name in (("gen_prompts", "prompts"), ("gen_samples", "samples"),
                       ("gen_tokens", "max_new_tokens"), ("gen_coefficients", "coefficients")):
        value = getattr(a, flag)
        if value is not None:
            if value < (2 if name in ("samples", "coefficients") else 1):
                raise ValueError(f"--{flag.replace('_', '-')} {value} is too small")
            gs = replace(gs, **{name: value})
    return gs


def generation_inputs(p: Any, behavior: str) -> tuple[list[str], list[str], list[Any]]:
    """(chat-formatted generation prompts, what the judge reads as the prompt, the yes/no
    prompts the next-token B is measured on), same items in the same order."""
    prompts = p.behavior_prompts[behavior]
    if behavior == "harmfulness":
        items = [q for q in prompts if q.group == "harmful"]
        # The authors' setting: the request itself, the reply judged refusing vs complying.
        texts = [p.lm.format_chat(q.meta["instruction"]) for q in items]
        asked = [q.meta["instruction"] for q in items]
    else:
        items = list(prompts)
        texts = [q.text for q in items]  # "Do you agree ...? Answer with Yes or No."
        asked = [q.meta.get("statement", q.text) for q in items]
    return texts, asked, items


def run_generation(p: Any, gs: GenerationSettings, report: dict[str, Any]) -> GenerationResults:
    """The generation stage for every behavior; writes generation.{json,md,png} and, when the
    token report exists, adds its section to report.md / report.json."""
    from empirics.cache import vectors_hash
    from empirics.io import atomic_write_json, atomic_write_text, jsonable
    from empirics.measures import behavior_measures
    from empirics.sweep import sweep

    s = p.settings
    res = GenerationResults(gs)
    for behavior in s.behaviors:
        vectors = p.vectors[behavior].vectors
        texts, asked, items = generation_inputs(p, behavior)
        items = items[: gs.prompts]
        print(f"Generating {behavior} replies ({len(items)} prompts, {gs.samples} samples, "
              f"{gs.max_new_tokens} tokens)", file=sys.stderr)

        def token_b(coefs: list[float], vectors: Any = vectors, items: list[Any] = items) -> Any:
            sw = sweep(p.lm, vectors, coefs, [list(q.input_ids) for q in items],
                       [list(q.candidate_ids) for q in items], batch_size=s.batch_size)
            b = behavior_measures(np.asarray(sw.logprobs), items)["B"].T  # (C, N)
            return token_b_at(coefs, coefs, b, gs.n_boot, gs.seed)

        res.behaviors.append(run_behavior(p.lm, behavior, vectors, texts, asked, s.grid, gs,
                                          p.cache, vectors_hash(vectors), token_b,
                                          progress=s.progress))
    p.out.mkdir(parents=True, exist_ok=True)
    section = markdown(res)
    data = to_json(res)
    atomic_write_json(p.out / "generation.json", jsonable(data))
    atomic_write_text(p.out / "generation.md", section)
    plot(res, p.out / "generation.png")
    if report:
        report["generation"] = jsonable(data)
        atomic_write_json(p.out / "report.json", report)
        md = p.out / "report.md"
        if md.is_file():
            atomic_write_text(md, md.read_text() + "\n" + section + "\n![generation](generation.png)\n")
    return res


