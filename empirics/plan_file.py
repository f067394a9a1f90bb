"""The plan file (``plan.json`` of ``python -m empirics.plan``) as typed data: the planner's
report writes its picks through ``PlanPick``, and ``validate --layers plan`` reads them with
``read_plan`` / ``plan_pick`` without importing the planner."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from empirics.results import PlanLink
from empirics.settings import model_slug


def window_name(layers: Sequence[int]) -> str:
    """``"12"`` for one layer, ``"12-20"`` for a window of consecutive layers."""
    lo, hi = layers[0], layers[-1]
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


@dataclass(frozen=True)
class PlanPick:
    """One behavior's pick: the steered layers, the predicted r* and its validity."""

    layers: tuple[int, ...]
    name: str
    r_star: float | None
    valid: bool | None
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "name": self.name, "r_star": self.r_star,
                "valid": self.valid, "note": self.note}

    @classmethod
    def from_json(cls, d: Any, where: str) -> PlanPick:
        if not isinstance(d, dict) or not isinstance(d.get("layers"), list) or not d["layers"]:
            raise ValueError(f"{where}: the pick has no list of layers")
        layers = tuple(int(x) for x in d["layers"])
        r_star = d.get("r_star")
        r = None if r_star is None else float(r_star)
        valid = d.get("valid")
        return cls(layers, str(d.get("name") or window_name(layers)),
                   r if r is None or math.isfinite(r) else None,
                   None if valid is None else bool(valid), str(d.get("note", "")))


@dataclass(frozen=True)
class PlannedBehavior:
    """A behavior's part of the plan: its pick and the candidates in rank order."""

    behavior: str
    pick: PlanPick
    ranked: tuple[str, ...]


@dataclass(frozen=True)
class PlanFile:
    """What ``read_plan`` finds in a plan file."""

    path: Path
    model: str
    num_layers: int
    candidates: tuple[str, ...]
    behaviors: dict[str, PlannedBehavior]


def read_plan(path: str | Path) -> PlanFile:
    """The plan at ``path`` (a ``plan.json`` or its folder); ``ValueError`` naming the problem
    when it is missing or malformed."""
    p = Path(path)
    if p.is_dir():
        p = p / "plan.json"
    if not p.is_file():
        raise ValueError(f"no plan at {p}; run `python -m empirics.plan` first")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"the plan at {p} is not JSON ({err})") from err
    if not isinstance(d, dict) or not isinstance(d.get("behaviors"), dict):
        raise ValueError(f"the plan at {p} has no behaviors")
    behaviors = {}
    for name, b in d["behaviors"].items():
        ranked = tuple(str(r.get("layers")) for r in b.get("ranked", []) if isinstance(r, dict))
        behaviors[name] = PlannedBehavior(name, PlanPick.from_json(b.get("pick"), f"{p} [{name}]"),
                                          ranked)
    return PlanFile(p, str(d.get("model", "")), int(d.get("num_layers", 0)),
                    tuple(str(c) for c in d.get("candidates", [])), behaviors)


def plan_pick(spec: str, model_name: str, behavior: str, num_layers: int) -> PlanLink:
    """The planner's pick for ``validate --layers plan`` (``plan`` reads
    ``runs/plan/<model-slug>/plan.json``; ``plan:PATH`` reads PATH, a plan.json or its folder),
    with the plan's path for the report's link."""
    path = Path(spec.split(":", 1)[1]) if ":" in spec else Path("runs") / "plan" / model_slug(model_name)
    try:
        plan = read_plan(path)
    except ValueError as err:
        raise ValueError(f"--layers {spec}: {err} (or give --layers plan:PATH)") from err
    if behavior not in plan.behaviors:
        raise ValueError(f"--layers {spec}: the plan at {plan.path} has no behavior {behavior!r} "
                         f"(has {sorted(plan.behaviors)})")
    pick = plan.behaviors[behavior].pick
    if (plan.num_layers or num_layers) != num_layers or max(pick.layers) >= num_layers:
        raise ValueError(f"--layers {spec}: the plan at {plan.path} is for a {plan.num_layers}-layer "
                         f"model, this one has {num_layers}")
    # Absolute: report.md lives in another folder, so a cwd-relative link would break.
    return PlanLink(str(plan.path.resolve()), behavior, pick.layers, pick.name, pick.r_star)


def pick_layers(spec: str, model_name: str, behavior: str, num_layers: int) -> list[int]:
    """Layers of the planner's pick (``plan_pick``)."""
    return list(plan_pick(spec, model_name, behavior, num_layers).layers)
