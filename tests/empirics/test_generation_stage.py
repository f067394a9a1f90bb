"""The generation stage on a tiny Llama with a character tokenizer: results, rendering, cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from empirics.cache import ChunkCache
from empirics.generation_stage import (
    GenerationResults,
    GenerationSettings,
    markdown,
    pick_coefficients,
    plot,
    run_behavior,
    to_json,
)
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
    md = markdown(res)
    assert "### toy (judge: parity" in md and "predicted (fit-free)" in md
    assert to_json(res)["behaviors"][0]["coefficients"] == [-2.0, 0.0, 2.0]
    plot(res, tmp_path / "generation.png")
    assert (tmp_path / "generation.png").read_bytes()[:4] == b"\x89PNG"


def test_validate_measure_flags() -> None:
    import pytest

    from empirics.validate import generation_args

    m, gs = generation_args(["--measure", "both", "--gen-prompts", "6", "--gen-tokens", "8"], 100)
    assert m == "both"
    assert (gs.prompts, gs.max_new_tokens, gs.samples, gs.n_boot) == (6, 8, 4, 100)
    assert generation_args([], 100)[0] == "token"
    _, q = generation_args(["--quick", "--measure", "generation"], 100)
    assert q.prompts == 4 and q.coefficients == 3
    with pytest.raises(ValueError, match="gen-samples"):
        generation_args(["--gen-samples", "1"], 100)
    with pytest.raises(SystemExit):
        generation_args(["--measure", "sometimes"], 100)
