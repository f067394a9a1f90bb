"""Control-vector GGUF: round trip, format checks, and loading in repeng's reader."""

from __future__ import annotations

import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from empirics.control_vector import (
    ControlVector,
    directions_as_tensors,
    export_gguf,
    export_run_vectors,
    import_gguf,
)


def _cv(layers: list[int], d: int, seed: int = 0, coef: float | None = 2.5) -> ControlVector:
    rng = np.random.default_rng(seed)
    dirs = {k: rng.standard_normal(d).astype(np.float32) for k in layers}
    return ControlVector(dirs, "llama", coef, "harmfulness", "SmolLM2-135M-Instruct")


EXERCISED = {"n": 0}


@settings(max_examples=25, deadline=None)
@given(layers=st.sets(st.integers(1, 63), min_size=1, max_size=6), d=st.integers(1, 64),
       seed=st.integers(0, 2**16),
       coef=st.one_of(st.none(), st.floats(-20, 20, allow_nan=False, width=32)))
def test_round_trip(tmp_path_factory: pytest.TempPathFactory, layers: set[int], d: int,
                    seed: int, coef: float | None) -> None:
    path = tmp_path_factory.mktemp("cv") / "v.gguf"
    cv = _cv(sorted(layers), d, seed, coef)
    back = import_gguf(export_gguf(cv, path))
    assert sorted(back.directions) == sorted(cv.directions)
    for k, v in cv.directions.items():
        assert back.directions[k].dtype == np.float32 and np.array_equal(back.directions[k], v)
    assert (back.model_hint, back.behavior, back.model_name) == (
        "llama", "harmfulness", "SmolLM2-135M-Instruct")
    assert back.recommended_coefficient == (None if coef is None else pytest.approx(coef))
    EXERCISED["n"] += 1


def test_round_trip_was_exercised() -> None:
    assert EXERCISED["n"] >= 20


def test_format_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="direction.0"):
        export_gguf(_cv([0, 1], 4), tmp_path / "zero.gguf")
    with pytest.raises(ValueError, match="differ in length"):
        export_gguf(ControlVector({1: np.zeros(3, np.float32), 2: np.zeros(4, np.float32)}),
                    tmp_path / "ragged.gguf")
    with pytest.raises(ValueError, match="no directions"):
        export_gguf(ControlVector({}), tmp_path / "empty.gguf")
    assert not list(tmp_path.iterdir())  # nothing half-written
    import gguf

    w = gguf.GGUFWriter(str(tmp_path / "model.gguf"), "llama")  # a model file, not a vector
    w.add_tensor("direction.1", np.zeros(4, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ValueError, match="not a control vector"):
        import_gguf(tmp_path / "model.gguf")
    with pytest.raises(FileNotFoundError):
        import_gguf(tmp_path / "missing.gguf")


def _repeng_reader_transcribed(path: Path) -> tuple[str, dict[int, np.ndarray]]:
    """repeng 0.4.0 ``ControlVector.import_gguf`` (repeng/extract.py), transcribed: used when the
    repeng package is not installed, so the check runs everywhere."""
    import gguf

    reader = gguf.GGUFReader(path)
    archf = reader.get_field("general.architecture")
    arch = str(bytes(archf.parts[-1]), encoding="utf-8", errors="replace") if archf else ""
    if arch != "controlvector":
        raise ValueError(f"architecture {arch!r}")
    modelf = reader.get_field("controlvector.model_hint")
    if not modelf or not len(modelf.parts):
        raise ValueError(".gguf file missing controlvector.model_hint field")
    hint = str(bytes(modelf.parts[-1]), encoding="utf-8")
    directions = {int(t.name.split(".")[1]): t.data for t in reader.tensors
                  if t.name.startswith("direction.")}
    return hint, directions


def _real_repeng(monkeypatch: pytest.MonkeyPatch) -> Any:
    """repeng's ControlVector class; its package imports sklearn (for training only), stubbed
    here when missing because import_gguf does not use it."""
    import importlib.util

    if importlib.util.find_spec("repeng") is None:
        pytest.skip("repeng not installed (pip install repeng --no-deps); the transcribed "
                    "reader below still runs")
    if "repeng" not in sys.modules and importlib.util.find_spec("sklearn") is None:
        from importlib.machinery import ModuleSpec

        stub, dec = types.ModuleType("sklearn"), types.ModuleType("sklearn.decomposition")
        stub.__spec__ = ModuleSpec("sklearn", None)
        dec.__spec__ = ModuleSpec("sklearn.decomposition", None)
        dec.PCA = None  # type: ignore[attr-defined]
        stub.decomposition = dec  # type: ignore[attr-defined]
        # Only while repeng imports: transformers probes for sklearn later and must not see it.
        monkeypatch.setitem(sys.modules, "sklearn", stub)
        monkeypatch.setitem(sys.modules, "sklearn.decomposition", dec)
    if not hasattr(np, "float_"):  # repeng 0.4.0's annotations use np.float_ (gone in NumPy 2)
        monkeypatch.setattr(np, "float_", np.float64, raising=False)
    from repeng import ControlVector as RepengCV

    return RepengCV


@pytest.mark.parametrize("reader", ["repeng", "transcribed"])
def test_loads_in_repeng_reader(tmp_path: Path, reader: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    cv = _cv([3, 12, 20], 576, seed=1)
    path = export_gguf(cv, tmp_path / "v.gguf")
    if reader == "repeng":
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # repeng warns on a wrong architecture field
            got = _real_repeng(monkeypatch).import_gguf(str(path))
        hint, directions = got.model_type, got.directions
    else:
        hint, directions = _repeng_reader_transcribed(path)
    assert hint == "llama" and sorted(directions) == [3, 12, 20]
    for k, v in cv.directions.items():
        assert np.array_equal(np.asarray(directions[k]), v)


def test_export_run_vectors_and_steering_tensors(tmp_path: Path) -> None:
    import torch

    class _RV:
        model_name = "toy"
        vectors = {0: torch.ones(8), 5: torch.arange(8.0), 6: -torch.arange(8.0)}

    out = export_run_vectors({"harmfulness": _RV()},
                             {"harmfulness": {"recommended_coefficient": 3.0}}, tmp_path)
    info = out["harmfulness"]
    assert info["layers"] == [5, 6] and info["recommended_coefficient"] == 3.0  # layer 0 dropped
    assert "--control-vector-scaled" in info["llama_cli"] and info["llama_cli"].endswith(" 3.0")
    back = directions_as_tensors(import_gguf(info["path"]))
    assert torch.equal(back[5], _RV.vectors[5]) and torch.equal(back[6], _RV.vectors[6])
