"""Model-family adapters, one module per family; each module names its adapter ``FAMILY``.

Adding a family is adding one module here: ``adapters`` finds every module of this package,
so nothing else changes. Models of no listed family take the generic hook path.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from empirics.engine.family import Family
from empirics.models import LoadedModel


@cache
def adapters() -> tuple[type[Family], ...]:
    """Every adapter class of this package, by module name."""
    found: list[type[Family]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        adapter = getattr(module, "FAMILY", None)
        if isinstance(adapter, type) and issubclass(adapter, Family):
            found.append(adapter)
    return tuple(found)


def _adapter_of(model_type: object) -> type[Family] | None:
    for adapter in adapters():
        if model_type in adapter.model_types:
            return adapter
    return None


def fast_path_reason(lm: LoadedModel, max_len: int = 0) -> str | None:
    """``None`` when an adapter computes ``lm`` exactly for prompts of up to ``max_len`` tokens,
    else why the engine cannot run it (the drivers then take the generic hook path)."""
    model_type = getattr(getattr(lm.model, "config", None), "model_type", None)
    adapter = _adapter_of(model_type)
    if adapter is None:
        known = sorted(t for a in adapters() for t in a.model_types)
        return f"model_type {model_type!r} is not one of {known}"
    reason = adapter.unsupported(lm, max_len)
    if reason is not None:
        return reason
    # Weights offloaded by accelerate live on "meta" and only appear inside the module's own
    # forward hooks, which calling submodules directly would bypass.
    if any(p.device.type == "meta" for p in lm.model.parameters()):
        return "some weights are offloaded (meta device)"
    return None


def family_for(lm: LoadedModel, max_len: int = 0) -> Family:
    """The adapter of ``lm``'s family; ``ValueError`` naming why when the engine cannot run it."""
    reason = fast_path_reason(lm, max_len)
    if reason is not None:
        raise ValueError(f"the engine cannot run {lm.name}: {reason}")
    model_type = getattr(lm.model.config, "model_type", None)
    adapter = _adapter_of(model_type)
    assert adapter is not None
    return adapter(lm)
