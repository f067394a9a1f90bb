"""Every ``theory`` object that ``empirics/formulas.py`` uses (read from its source) has a proof
target (``proofs.registry.TARGETS``) or a simulation check that declares it (``simulate.CHECKS``);
and a numeric function whose output is perturbed makes one of its declared checks fail (so a
declaration is not a label on a check that never looks at it)."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import theory
from proofs.registry import TARGETS
from theory import simulate

REPO = Path(__file__).resolve().parents[2]
#: Used objects that state nothing: names of symbols, and the result type of the optimum.
NOT_CLAIMS = {("tradeoff", "Tradeoff"): "the result type of r*, U*, break-even"}


def used_objects() -> set[tuple[str, str]]:
    """(module, attribute) of every ``theory`` object formulas.py reads (its import aliases)."""
    tree = ast.parse((REPO / "empirics" / "formulas.py").read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "theory":
            for name in node.names:
                aliases[name.asname or name.name] = name.name
    found = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            found.add((aliases[node.value.id], node.attr))
    return found


def covering_checks(module: str, attr: str) -> list[str]:
    return [c.name for c in simulate.CHECKS if f"{module}.{attr}" in c.covers]


def test_formulas_uses_theory_through_its_modules() -> None:
    used = used_objects()
    assert len(used) > 30
    assert ("helpfulness", "theorem2_prime") in used and ("alignment", "linear_gain") in used


def missing() -> list[str]:
    """Used objects with no proof target and no declaring check."""
    targets = {(t.module, t.attr) for t in TARGETS}
    return sorted(
        f"{m}.{a}" for m, a in used_objects()
        if m != "symbols" and (m, a) not in NOT_CLAIMS and (m, a) not in targets
        and not covering_checks(m, a))


def test_every_object_formulas_uses_is_proved_or_checked() -> None:
    assert missing() == [], f"no proof target and no simulation check: {missing()}"


def test_the_coverage_test_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """An object no check declares and no target concludes is reported."""
    monkeypatch.setattr(simulate, "CHECKS", tuple(
        dataclasses.replace(c, covers=tuple(x for x in c.covers if x != "helpfulness.alpha"))
        for c in simulate.CHECKS))
    assert missing() == ["helpfulness.alpha"]


def _perturb(x: Any) -> Any:
    """A slightly wrong value of the same type (numbers moved by 0.1% + 1e-3, booleans flipped)."""
    if isinstance(x, (bool, np.bool_)):
        return not x
    if isinstance(x, np.ndarray):
        return ~x if x.dtype == bool else x * 1.001 + 1e-3
    if isinstance(x, (int, float, np.floating)):
        return x * 1.001 + 1e-3
    if isinstance(x, tuple):
        return tuple(_perturb(e) for e in x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        changes = {f.name: _perturb(getattr(x, f.name)) for f in dataclasses.fields(x)
                   if isinstance(getattr(x, f.name), (float, np.ndarray, np.floating))}
        return dataclasses.replace(x, **changes)
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x * 1.001 + 1e-3
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return x


def _numeric_used() -> list[tuple[str, str]]:
    out = []
    for m, a in sorted(used_objects()):
        obj = getattr(getattr(theory, m), a, None)
        if m != "symbols" and callable(obj) and not isinstance(obj, type):
            out.append((m, a))
    return out


@pytest.mark.parametrize(("module", "attr"), _numeric_used())
def test_a_perturbed_numeric_function_fails_its_checks(module: str, attr: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    names = covering_checks(module, attr)
    assert names, f"{module}.{attr} is declared by no check"
    mod = getattr(theory, module)
    original: Callable[..., Any] = getattr(mod, attr)
    monkeypatch.setattr(mod, attr, lambda *args, **kwargs: _perturb(original(*args, **kwargs)))
    rep = simulate.verify_all(seed=3, n=60, names=names)
    assert not rep.passed, f"perturbing {module}.{attr} went unnoticed by {names}"
