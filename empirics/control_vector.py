"""Reading vectors as repeng / llama.cpp control-vector GGUF files, and back.

The format (repeng ``ControlVector.export_gguf``, llama.cpp ``common_control_vector_load_one``):
``general.architecture = "controlvector"``, ``controlvector.model_hint`` (the model type, e.g.
``llama``), ``controlvector.layer_count``, and one 1-D float32 tensor ``direction.{layer}`` per
layer. Layer numbering is the same in all three projects: our layer ``l`` is the output of decoder
layer ``l`` (0-based); llama.cpp adds ``direction.l`` to that block's output (``l_out``) at every
position and rejects ``direction.0``; repeng reads ``hidden_states[l + 1]`` and hooks
``model.layers[l]``. Each adds ``strength * direction``, as ``steer`` adds ``r_e * v_l`` with
unit ``v_l``, so ``llama-cli --control-vector-scaled vec.gguf r`` steers by our ``r_e = r``.
Our extra metadata (``steering_tradeoffs.*``: recommended coefficient, behavior) is ignored by
both readers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from empirics.io import atomic_write

ARCH = "controlvector"
KEY_MODEL_HINT = f"{ARCH}.model_hint"
KEY_LAYER_COUNT = f"{ARCH}.layer_count"
KEY_COEFFICIENT = "steering_tradeoffs.recommended_coefficient"
KEY_BEHAVIOR = "steering_tradeoffs.behavior"
KEY_MODEL_NAME = "steering_tradeoffs.model_name"


@dataclass
class ControlVector:
    """Per-layer directions plus what a user needs to apply them."""

    directions: dict[int, np.ndarray]          # layer -> (d,) float32
    model_hint: str = "llama"                  # model type (repeng's model_type)
    recommended_coefficient: float | None = None
    behavior: str = ""
    model_name: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


def _as_array(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):  # torch tensor
        v = v.detach().float().cpu().numpy()
    return np.ascontiguousarray(np.asarray(v, dtype=np.float32))


def control_vector_from_reading_vectors(rv: Any, recommended_coefficient: float | None = None,
                                        behavior: str = "", model_hint: str = "llama"
                                        ) -> ControlVector:
    """A :class:`ControlVector` from ``empirics.reading_vectors.ReadingVectors``."""
    return ControlVector({int(k): _as_array(v) for k, v in rv.vectors.items()}, model_hint,
                         recommended_coefficient, behavior, str(getattr(rv, "model_name", "")))


def _check(directions: Mapping[int, np.ndarray]) -> None:
    if not directions:
        raise ValueError("control vector has no directions")
    sizes = {int(v.size) for v in directions.values()}
    if len(sizes) != 1:
        raise ValueError(f"directions differ in length: {sorted(sizes)}")
    for layer, v in directions.items():
        if int(layer) < 1:
            raise ValueError(
                f"layer {layer}: llama.cpp rejects direction.0 (and negative layers); "
                "steer layers >= 1 (our layer l = output of decoder layer l)")
        if v.ndim != 1 or not np.all(np.isfinite(v)):
            raise ValueError(f"layer {layer}: direction must be a finite 1-D vector")


def export_gguf(cv: ControlVector, path: str | Path) -> Path:
    """Write ``cv`` as a control-vector GGUF (atomically); returns the path."""
    import gguf

    directions = {int(k): _as_array(v) for k, v in cv.directions.items()}
    _check(directions)

    def write(tmp: Path) -> None:
        writer = gguf.GGUFWriter(str(tmp), ARCH)
        writer.add_string(KEY_MODEL_HINT, cv.model_hint)
        writer.add_uint32(KEY_LAYER_COUNT, len(directions))
        if cv.recommended_coefficient is not None:
            writer.add_float32(KEY_COEFFICIENT, float(cv.recommended_coefficient))
        if cv.behavior:
            writer.add_string(KEY_BEHAVIOR, cv.behavior)
        if cv.model_name:
            writer.add_string(KEY_MODEL_NAME, cv.model_name)
        for layer in sorted(directions):
            writer.add_tensor(f"direction.{layer}", directions[layer])
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    return atomic_write(path, write)


def _field_value(reader: Any, key: str) -> Any:
    f = reader.get_field(key)
    if f is None or not len(f.parts):
        return None
    part = f.parts[f.data[0]] if getattr(f, "data", None) else f.parts[-1]
    if f.types and f.types[0].name == "STRING":
        return bytes(part).decode("utf-8")
    return part.tolist()[0]


def import_gguf(path: str | Path) -> ControlVector:
    """Read a control-vector GGUF (ours, repeng's or llama.cpp's generator's)."""
    import gguf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"control vector file {path} not found")
    reader = gguf.GGUFReader(str(path))
    arch = _field_value(reader, "general.architecture")
    if arch != ARCH:
        raise ValueError(f"{path}: general.architecture is {arch!r}, not {ARCH!r}: "
                         "not a control vector")
    directions: dict[int, np.ndarray] = {}
    for tensor in reader.tensors:
        if not tensor.name.startswith("direction."):
            continue
        try:
            layer = int(tensor.name.split(".", 1)[1])
        except ValueError as err:
            raise ValueError(f"{path}: bad direction tensor name {tensor.name!r}") from err
        directions[layer] = np.array(tensor.data, dtype=np.float32).reshape(-1)
    _check(directions)
    coef = _field_value(reader, KEY_COEFFICIENT)
    return ControlVector(directions, str(_field_value(reader, KEY_MODEL_HINT) or ""),
                         None if coef is None else float(coef),
                         str(_field_value(reader, KEY_BEHAVIOR) or ""),
                         str(_field_value(reader, KEY_MODEL_NAME) or ""))


def export_run_vectors(vectors: Mapping[str, Any], tradeoff: Mapping[str, Any], folder: Path,
                       model_hint: str = "llama") -> dict[str, dict[str, Any]]:
    """``folder/<behavior>.gguf`` for each behavior's reading vectors, with its recommended
    coefficient (from the report's tradeoff section); returns path and coefficient per behavior."""
    out: dict[str, dict[str, Any]] = {}
    for behavior, rv in vectors.items():
        sec = tradeoff.get(behavior)
        coef = sec.get("recommended_coefficient") if isinstance(sec, Mapping) else None
        usable = {k: v for k, v in rv.vectors.items() if int(k) >= 1}  # llama.cpp: no layer 0
        if not usable:
            continue
        cv = control_vector_from_reading_vectors(rv, None if coef is None else float(coef),
                                                 behavior, model_hint)
        cv.directions = {int(k): _as_array(v) for k, v in usable.items()}
        path = export_gguf(cv, Path(folder) / f"{behavior}.gguf")
        out[behavior] = {"path": str(path), "recommended_coefficient": cv.recommended_coefficient,
                         "layers": sorted(cv.directions),
                         "llama_cli": f"llama-cli -m MODEL.gguf --control-vector-scaled {path} "
                                      f"{cv.recommended_coefficient if coef is not None else 1}"}
    return out


def directions_as_tensors(cv: ControlVector) -> dict[int, Any]:
    """``cv``'s directions as float32 torch tensors, ready for ``empirics.steering.steer``."""
    import torch

    return {k: torch.from_numpy(v.copy()) for k, v in sorted(cv.directions.items())}
