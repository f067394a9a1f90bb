"""The main job end to end on model families the engine has no adapter for, or a different one:
``validate --measure both`` on tiny random Qwen3 and Gemma-3 checkpoints saved with the embedded
tokenizer; and the clear errors for a folder that holds no model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from empirics import validate
from empirics.models import check_checkpoint_dir
from tests.empirics.tiny import tiny_gguf_module


@pytest.mark.model
@pytest.mark.parametrize("family", ["qwen3", "gemma3_text"])
def test_measure_both_on_a_tiny_family(family: str, tmp_path: Path) -> None:
    folder = tiny_gguf_module().save_model(family, tmp_path, seed=0)
    out = tmp_path / "run"
    args = ["--model", str(folder), "--quick", "--layers", "1-4", "--no-progress",
            "--random-directions", "0", "--gen-prompts", "2", "--gen-samples", "2", "--gen-tokens", "4",
            "--n-boot", "20", "--measure", "both", "--out", str(out)]
    assert validate.main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert {b["behavior"] for b in report["behaviors"]} == {"harmfulness", "bias"}
    assert {b["behavior"] for b in report["generation"]["behaviors"]} == {"harmfulness", "bias"}
    assert report["verdicts"] and (out / "sweep.csv").is_file()


def test_folder_without_a_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no config.json"):
        check_checkpoint_dir(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="no weights"):
        check_checkpoint_dir(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="no tokenizer files"):
        check_checkpoint_dir(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{}")
    check_checkpoint_dir(tmp_path)


def test_validate_exits_2_on_a_folder_without_a_model(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert validate.main(["--model", str(tmp_path), "--quick", "--out", str(tmp_path / "o")]) == 2
    assert "no config.json" in capsys.readouterr().err
