"""Atomic file writes: a killed run never leaves a half-written result."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    # allow_nan=False: a NaN in a report is a bug to surface, not a value to write.
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


def jsonable(x: Any, skip: Collection[str] = (),
             render: Mapping[type, Callable[[Any], object]] | None = None) -> Any:
    """Dataclasses (less the fields in ``skip``), numpy and floats → JSON-safe Python (NaN/inf →
    None): what ``json.dumps(..., allow_nan=False)`` takes. ``render``: a type's own form
    (checked first, by ``isinstance``)."""
    for kind, fn in (render or {}).items():
        if isinstance(x, kind):
            return jsonable(fn(x), skip, render)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: jsonable(getattr(x, f.name), skip, render) for f in dataclasses.fields(x)
                if f.name not in skip}
    if isinstance(x, dict):
        return {str(k): jsonable(v, skip, render) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v, skip, render) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist(), skip, render)
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    return x
