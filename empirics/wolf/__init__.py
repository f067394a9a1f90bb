"""Wolf et al. (2024)'s experiments with one flag: ``python -m empirics.validate --protocol
wolf2024`` (or ``both``). The authors' protocol (dorin133/REPE_alignment_helpfulness_tradeoff):
RepE vectors at their layers counted from the end, keyword-scored sampled replies, MMLU
first-token helpfulness, their grids and lmfit fits, beside this project's fit-free predictions.
docs/reproduction.md cites the file of their repository behind each choice.

Public names are loaded lazily (PEP 562): importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, tuple[str, ...]] = {
    "cli": ("main",),
    "options": ("PROTOCOLS", "WolfSettings", "parse_options", "split_protocol"),
    "protocol": ("behavior_grid", "helpfulness_grid", "injection_layers", "layers_from_end"),
    "keywords": ("behavior_score", "refuses"),
    "templates": ("Family", "model_family"),
    "boundfit": ("PaperFit", "lmfit_leastsq"),
    "results": ("WolfResults",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'empirics.wolf' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"empirics.wolf.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
