"""The typed results of one run of the authors' protocol (what the report renders)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from empirics.sources import FileRecord
from empirics.wolf.boundfit import PaperFit
from empirics.wolf.options import WolfSettings


@dataclass(frozen=True)
class CurveCI:
    """Prompt mean per coefficient with a seeded percentile-bootstrap 95% CI."""

    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n: int


@dataclass(frozen=True)
class Estimate:
    """A scalar with its 95% CI (NaN when not available)."""

    value: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Verdict:
    name: str
    holds: bool | None
    label: str
    summary: str
    rule: str


@dataclass
class BehaviorPanel:
    """Fig. 4-style panel: B of generated text (the authors' measure) with its tanh fit, the
    next-token B of agree/refuse first tokens and Theorem 1's fit-free curve."""

    grid: np.ndarray
    generated: CurveCI
    next_token: CurveCI
    tanh_fit: PaperFit
    theorem1_curve: np.ndarray
    theorem1_slope: float
    margin_positive: float             # fraction of prompts with γ̂λ̂ > 0
    examples: list[tuple[float, str]]


@dataclass
class SubjectPanel:
    """Fig. 5-style panel of one MMLU subject."""

    subject: str
    grid: np.ndarray
    p_full: CurveCI
    p_options: CurveCI
    accuracy: CurveCI
    fit_full: PaperFit
    fit_options: PaperFit
    theorem2_full: np.ndarray
    theorem2_options: np.ndarray


@dataclass
class Recommendation:
    """argmax over r ≥ 0 of U = G − κL (G: generated B gain, L: loss of P(correct) over A–D,
    pooled subjects, interpolated onto the behavior grid)."""

    r: float
    at_grid_edge: bool
    utility: Estimate
    grid: np.ndarray
    utility_curve: np.ndarray
    kappa: float


@dataclass(frozen=True)
class Shapes:
    """The sizes of one behavior's measurements (for the cost count)."""

    first_layer: int
    behavior_lengths: tuple[int, ...]
    helpfulness_lengths: tuple[int, ...]
    behavior_coefficients: int
    helpfulness_coefficients: int
    samples: int
    new_tokens: int
    generated_tokens: int


@dataclass
class BehaviorRun:
    behavior: str
    layers: list[int]
    vectors_path: str
    vectors_note: str
    separation: float                  # mean training separation over the steered layers
    substitution: str
    panel: BehaviorPanel
    subjects: list[SubjectPanel]
    pooled_options: CurveCI
    gain_slope: Estimate               # c1 of generated B, local quadratic |r| ≤ 3
    tanh_slope: float                  # a(1 − tanh² b) of the paper's tanh fit
    loss_curvature: Estimate           # c2 of pooled P(correct) over A–D, |r| ≤ 3
    recommendation: Recommendation
    verdicts: list[Verdict]
    seconds: float
    shapes: Shapes | None = None
    toward_agree: bool = True          # B = P(agrees) − P(refuses) if True, else the reverse


@dataclass
class Cost:
    """Multiply-adds counted from the run's shapes and the wall time of each stage."""

    macs_helpfulness: float
    macs_generation: float
    macs_next_token: float
    generated_tokens: int
    stage_seconds: list[tuple[str, float]]
    gpu_estimate: str


@dataclass
class WolfResults:
    model: str
    num_layers: int
    hidden_size: int
    family: str
    layers_from_end: list[int]
    data_source: str
    data_files: list[FileRecord]
    substitutions: list[str]
    settings: WolfSettings
    behaviors: list[BehaviorRun] = field(default_factory=list)
    cost: Cost | None = None
    seconds: float = 0.0
    load: str = ""
