"""llama.cpp agreement (benchmarks/llamacpp_agreement.py) as a kept check.

The agreement tests run only where llama-cpp-python is importable (docs/llamacpp.md: how to build
it); the tiny families also need llama.cpp's converter (an unpacked llama-cpp-python sdist,
``$LLAMA_CPP_CONVERTER``). Each check is also run on a wrong exporter (layers shifted by one, sign
flipped, scale doubled), which it must reject. The transcription of llama.cpp's control-vector
loader is tested everywhere (it needs only ``gguf``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from empirics.control_vector import ControlVector, export_gguf

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None
needs_llama_cpp = pytest.mark.skipif(
    not HAS_LLAMA_CPP, reason="llama-cpp-python not installed (see docs/llamacpp.md)")


@pytest.fixture(scope="module")
def bench() -> Iterator[Any]:
    """benchmarks/llamacpp_agreement.py loaded from its file (removed afterwards)."""
    name = "bench_llamacpp_agreement"
    spec = importlib.util.spec_from_file_location(name, BENCH / "llamacpp_agreement.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def test_cvec_buffer_layout(bench: Any, tmp_path: Path) -> None:
    """llama.cpp's layout: layer l at [n_embd*(l-1), n_embd*l), gaps zero, times strength."""
    v2, v5 = np.arange(4, dtype=np.float32), -np.ones(4, np.float32)
    path = export_gguf(ControlVector({2: v2, 5: v5}), tmp_path / "v.gguf")
    data, n_embd = bench.cvec_buffer(path, 2.5)
    assert n_embd == 4 and data.dtype == np.float32 and data.shape == (20,)
    np.testing.assert_array_equal(data[4:8], 2.5 * v2)
    np.testing.assert_array_equal(data[16:20], 2.5 * v5)
    assert not data[:4].any() and not data[8:16].any()


def test_cvec_buffer_rejects_what_llama_cpp_rejects(bench: Any, tmp_path: Path) -> None:
    import gguf

    cases: list[tuple[str, np.ndarray, str]] = [
        ("direction.0", np.ones(4, np.float32), "zero"),
        ("direction.x", np.ones(4, np.float32), "unparsable"),
        ("direction.1", np.ones(4, np.float16), "non-F32"),
        ("direction.1", np.ones((2, 4), np.float32), "non-1D")]
    for i, (name, arr, match) in enumerate(cases):
        path = tmp_path / f"{i}.gguf"
        w = gguf.GGUFWriter(str(path), "controlvector")
        w.add_tensor(name, arr)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        with pytest.raises(ValueError, match=match):
            bench.cvec_buffer(path)


def _args(bench: Any, *extra: str) -> Any:
    return bench.parse_args(["--prompts", "2", "--r", "-4", "4", *extra])


def _mutated_export(kind: str) -> Callable[[ControlVector, Any], Path]:
    """An exporter with one mistake: every file it writes is wrong in the same way."""
    def export(cv: ControlVector, path: Any) -> Path:
        dirs = cv.directions
        if kind == "shift":
            dirs = {k + 1: v for k, v in dirs.items()}
        elif kind == "sign":
            dirs = {k: -v for k, v in dirs.items()}
        elif kind == "scale":
            dirs = {k: 2 * v for k, v in dirs.items()}
        return export_gguf(ControlVector(dirs, cv.model_hint, behavior=cv.behavior), path)
    return export


def _converter_or_skip(bench: Any) -> None:
    try:
        bench.tiny_gguf.find_converter()
    except FileNotFoundError as err:
        pytest.skip(str(err))


@needs_llama_cpp
@pytest.mark.slow
@pytest.mark.parametrize("family", ["llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3",
                                    "qwen3_moe", "gemma", "gemma2", "gemma3_text", "phi3",
                                    "olmo2", "granite", "gpt2", "gpt_neox"])
def test_tiny_family_agrees(bench: Any, family: str, tmp_path_factory: pytest.TempPathFactory
                            ) -> None:
    """f32 GGUF: the effects agree to 1e-3 nats, far closer than with the layers shifted."""
    _converter_or_skip(bench)
    env = bench.tiny_gguf.CONVERTER_PYTHON_ENV
    if family == "gpt_neox" and not os.environ.get(env):
        pytest.skip(f"llama.cpp's converter needs transformers < 5 for GPT-NeoX: set ${env} to a "
                    "Python that has it (docs/llamacpp.md)")
    got = bench.run_family(family, _args(bench), tmp_path_factory.mktemp(family))
    assert got["ok"], got
    assert got["corr_min"] > 0.9999 and got["mad_max"] < 1e-3 and got["noise_max"] < 1e-3
    assert got["shifted_corr_max"] < 0.97 and got["shifted_mad_min"] > 0.05


@needs_llama_cpp
@pytest.mark.parametrize("kind", ["shift", "sign", "scale"])
def test_tiny_check_rejects_a_wrong_exporter(bench: Any, kind: str, monkeypatch: pytest.MonkeyPatch,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    _converter_or_skip(bench)
    monkeypatch.setattr(bench, "export_gguf", _mutated_export(kind))
    got = bench.run_family("llama", _args(bench), tmp_path_factory.mktemp(f"llama-{kind}"))
    assert not got["ok"], got


@needs_llama_cpp
@pytest.mark.model
def test_embedded_agrees(bench: Any, tmp_path: Path) -> None:
    """Q4_1 vs our fp32 on its dequantized weights: above the stated threshold, and each row
    closer to ours than with the layers shifted by one either way."""
    got = bench.run_family("embedded", _args(bench, "--pairs", "16"), tmp_path)
    assert got["ok"], got
    assert got["corr_min"] >= bench.THRESHOLDS["embedded"]["corr"]
    assert got["closest_to_unshifted"] and got["same_tokens"]


@needs_llama_cpp
@pytest.mark.model
@pytest.mark.parametrize("kind", ["shift", "sign"])
def test_embedded_check_rejects_a_wrong_exporter(bench: Any, kind: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "export_gguf", _mutated_export(kind))
    got = bench.run_family("embedded", _args(bench, "--pairs", "16"), tmp_path)
    assert not got["ok"], got
