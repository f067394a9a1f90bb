"""Real steering of Llama-architecture models, measured against the theory.

The public API of every ``empirics`` module is re-exported here, lazily (PEP 562): ``import
empirics`` stays cheap (no torch / transformers until a name is used), ``python -m
empirics.validate`` does not import itself twice, and a module that fails to import only breaks
the names that live in it (the error names the module).
"""

from __future__ import annotations

import importlib
from typing import Any

# At most ~20 names: the pipeline's entry points and the types it hands over. Everything else
# is importable from its module (docs/architecture.md lists them).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "models": ("LoadedModel", "load_model"),
    "steering": ("steer",),
    "reading_vectors": ("ReadingVectors", "reading_vectors"),
    "sweep": ("SweepResult", "sweep"),
    "tasks": ("ScoredPrompt",),
    "settings": ("Settings",),
    "prepared": ("prepare",),
    "pipeline": ("run",),
    "results": ("Results", "BehaviorResults"),
    "report": ("write",),
    "jvp": ("delta_jvp",),
    "estimates": ("PromptEstimates", "estimate_prompts"),
    "fits": ("FitResult",),
    "validate": ("main",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'empirics' has no attribute {name!r}")
    try:
        mod = importlib.import_module(f"empirics.{module}")
    except ImportError as err:
        raise ImportError(f"empirics.{name} lives in empirics.{module}, which failed to import: "
                          f"{err}") from err
    value = getattr(mod, name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
