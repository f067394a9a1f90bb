"""The generation stage on a tiny Llama with a character tokenizer: results, rendering, cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from empirics import generation_report
from empirics.cache import ChunkCache
from empirics.claims import Finding
from empirics.generation_stage import (
    GenerationInput,
    NextTokenB,
    generation_claims,
    pick_coefficients,
    run_behavior,
    token_b_at,
)
from empirics.io import jsonable
from empirics.results import GenerationResults
from empirics.settings import GenerationSettings
from tests.empirics.test_sweep import _vectors, tiny_llama


class CharTokenizer:
    pad_token_id = 0
    eos_token_id = 96
    chat_template = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": [1 + ord(ch) % 90 for ch in text]}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(ord("a") + i % 26) for i in ids if i != 96)


class ParityJudge:
    name = "parity"

    def __call__(self, prompt: str, reply: str) -> int:
        if not reply:
            return 0
        return 1 if (ord(reply[0]) % 2 == 0) else -1


def test_pick_coefficients() -> None:
    grid = [float(x) for x in range(-10, 11)]
    assert pick_coefficients(grid, 5) == [-10.0, -5.0, 0.0, 5.0, 10.0]
    assert pick_coefficients(grid, 3) == [-10.0, 0.0, 10.0]
    assert pick_coefficients([-1.0, 1.0], 5) == [-1.0, 0.0, 1.0]


def test_run_behavior_renders_and_resumes(tmp_path: Path) -> None:
    lm = tiny_llama(0, layers=4)
    lm.tokenizer = CharTokenizer()
    vec = {k: v * 3 for k, v in _vectors(64, [1, 2], seed=1).items()}
    texts = ["hello there", "how are you", "tell me more"]
    gs = GenerationSettings(prompts=3, coefficients=3, samples=4, max_new_tokens=4, n_boot=50)
    cache = ChunkCache(tmp_path / "cache")
    grid = [-2.0, -1.0, 0.0, 1.0, 2.0]
    token_b = NextTokenB(np.asarray(grid), np.tile(np.tanh(np.asarray(grid)), (3, 1)))
    job = GenerationInput("toy", vec, texts, texts, token_b)
    a = run_behavior(lm, job, grid, gs, cache, judge=ParityJudge())
    assert a.coefficients.tolist() == [-2.0, 0.0, 2.0]
    # the token stage's B, read at the generation coefficients
    assert a.b_token is not None
    np.testing.assert_allclose(a.b_token.value, np.tanh([-2.0, 0.0, 2.0]))
    assert a.b_gen.value.shape == (3,) and a.predicted.curve.value.shape == (3,)
    assert np.all((a.undecided >= 0) & (a.undecided <= 1))
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(files) == 3  # sampled, greedy, deltas
    b = run_behavior(lm, job, grid, gs, cache, judge=ParityJudge())
    np.testing.assert_array_equal(a.b_gen.value, b.b_gen.value)
    np.testing.assert_array_equal(a.predicted.deltas, b.predicted.deltas)
    res = GenerationResults(gs, [a])
    md = "\n".join(generation_report.markdown(res))
    assert "### toy (judge: parity" in md and "predicted (fit-free)" in md
    assert "(generation_toy.png)" in md
    # the claims on generated text are run and rendered (3 prompts: sequence_curve is not
    # informative, and says so)
    assert a.sequence is not None and a.sequence.name == "sequence_curve"
    assert a.proxy is not None and "Proxy vs behavior" in md and "sequence_curve" in md
    assert jsonable(res)["behaviors"][0]["proxy"]["finding"] == a.proxy.finding
    assert jsonable(res)["behaviors"][0]["coefficients"] == [-2.0, 0.0, 2.0]
    assert generation_report.figures(res, tmp_path, "tiny") == ["generation_toy.png"]
    assert (tmp_path / "generation_toy.png").read_bytes()[:4] == b"\x89PNG"
    # the section renders what it is given
    from dataclasses import replace
    res2 = GenerationResults(gs, [replace(a, judge="renamed-judge")])
    assert "judge: renamed-judge" in "\n".join(generation_report.markdown(res2))


def test_generation_claims_either_way() -> None:
    """sequence_curve holds when B_gen moves as predicted and fails at twice the change;
    proxy_vs_behavior finds the behavior following the proxy, or not moving with it."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    coefs = [-2.0, 0.0, 2.0]
    n = 12
    slopes = rng.uniform(0.05, 0.2, n)
    pred = np.outer([-2.0, 0.0, 2.0], slopes)                    # (C, N) changes from r = 0
    scores0 = np.tile([1, -1, 1, -1], (n, 1))                    # both classes at r = 0
    gs = GenerationSettings(n_boot=200)
    token_b = NextTokenB(np.asarray(coefs), pred.T)
    job = GenerationInput("toy", {}, [""] * n, [""] * n, token_b)
    fake: Any = SimpleNamespace(per_prompt_curve=pred)
    seq, proxy = generation_claims(job, coefs, scores0, fake, pred, gs)
    assert seq.holds is True and proxy is not None and proxy.finding is Finding.TOGETHER
    seq2, flat = generation_claims(job, coefs, scores0, fake, 2 * pred, gs)
    assert seq2.holds is False
    still = np.zeros_like(pred) + 0.01 * rng.normal(size=pred.shape)
    _, flat = generation_claims(job, coefs, scores0, fake, still, gs)
    assert flat is not None and flat.finding is Finding.PROXY_ONLY
    none_job = GenerationInput("toy", {}, [""] * n, [""] * n, None)
    assert generation_claims(none_job, coefs, scores0, fake, pred, gs)[1] is None


def test_token_b_at_needs_the_coefficients() -> None:
    tb = NextTokenB(np.array([-1.0, 0.0, 1.0]), np.array([[0.1, 0.2, 0.3], [0.3, 0.4, 0.5]]))
    ci = token_b_at([-1.0, 1.0], tb, n_boot=20, seed=0)
    assert ci is not None and ci.n == 2
    np.testing.assert_allclose(ci.value, [0.2, 0.4])
    assert token_b_at([0.0], None, 20, 0) is None
    with pytest.raises(ValueError, match="token grid"):
        token_b_at([0.5], tb, 20, 0)


def test_validate_measure_flags() -> None:
    from empirics.validate import settings_from_args

    s = settings_from_args(["--measure", "both", "--gen-prompts", "6", "--gen-tokens", "8",
                            "--n-boot", "100", "--seed", "3"])
    assert s.measure == "both" and s.measures_tokens and s.measures_generation
    gs = s.generation
    assert (gs.prompts, gs.max_new_tokens, gs.samples, gs.n_boot, gs.seed) == (6, 8, 4, 100, 3)
    default = settings_from_args([])
    assert default.measure == "token" and not default.measures_generation
    q = settings_from_args(["--quick", "--measure", "generation"])
    assert q.generation.prompts == 4 and q.generation.coefficients == 3 and not q.measures_tokens
    with pytest.raises(ValueError, match="gen-samples"):
        settings_from_args(["--gen-samples", "1"])
    with pytest.raises(SystemExit):
        settings_from_args(["--measure", "sometimes"])
