"""The generation stage on a tiny Llama with a character tokenizer: results, rendering, cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from empirics import generation_report
from empirics.cache import ChunkCache
from empirics.generation_stage import pick_coefficients, run_behavior
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
    texts = ["hello there", "how are you", "tell me more", "ok"]
    gs = GenerationSettings(prompts=3, coefficients=3, samples=4, max_new_tokens=4, n_boot=50)
    cache = ChunkCache(tmp_path / "cache")
    calls: list[list[float]] = []

    def token_b(coefs: list[float]) -> Any:
        calls.append(coefs)
        return None

    kw: dict[str, Any] = {"judge": ParityJudge()}
    a = run_behavior(lm, "toy", vec, texts, texts, [-2.0, -1.0, 0.0, 1.0, 2.0], gs, cache, "v",
                     token_b, **kw)
    assert calls == [[-2.0, 0.0, 2.0]]
    assert a.coefficients.tolist() == [-2.0, 0.0, 2.0]
    assert a.b_gen.mean.shape == (3,) and a.predicted.curve.mean.shape == (3,)
    assert np.all((a.undecided >= 0) & (a.undecided <= 1))
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(files) == 3  # sampled, greedy, deltas
    b = run_behavior(lm, "toy", vec, texts, texts, [-2.0, -1.0, 0.0, 1.0, 2.0], gs, cache, "v",
                     token_b, **kw)
    np.testing.assert_array_equal(a.b_gen.mean, b.b_gen.mean)
    np.testing.assert_array_equal(a.predicted.deltas, b.predicted.deltas)
    res = GenerationResults(gs, [a])
    md = "\n".join(generation_report.markdown(res))
    assert "### toy (judge: parity" in md and "predicted (fit-free)" in md
    assert "(generation_toy.png)" in md
    assert jsonable(res)["behaviors"][0]["coefficients"] == [-2.0, 0.0, 2.0]
    assert generation_report.figures(res, tmp_path, "tiny") == ["generation_toy.png"]
    assert (tmp_path / "generation_toy.png").read_bytes()[:4] == b"\x89PNG"
    # the section renders what it is given
    from dataclasses import replace
    res2 = GenerationResults(gs, [replace(a, judge="renamed-judge")])
    assert "judge: renamed-judge" in "\n".join(generation_report.markdown(res2))


def test_validate_measure_flags() -> None:
    import pytest

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
