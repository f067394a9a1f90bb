"""The typed hand-over between the pipeline and the report: ``Results`` and its parts.

Every number the report shows is a field here, computed by the pipeline's stages; the report
only renders (and writes the files). Per-prompt arrays are prompts × coefficients ``(N, C)``;
``grid`` is ``(C,)``; every interval is an ``intervals.Interval``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from empirics.claims import ClaimVerdict, ProxyBehavior, Recommendation
from empirics.estimates import PromptEstimates
from empirics.fits import FitResult
from empirics.intervals import Interval
from empirics.measures import BehaviorMeasures, GroupMeasures, HelpfulnessMeasures
from empirics.reading_vectors import ReadingVectors
from empirics.sequence import SequencePredictions
from empirics.settings import GenerationSettings, Settings
from empirics.sources import Provenance
from empirics.tasks import ScoredPrompt

#: A group's prompt-mean curves with their intervals, per measure.
BehaviorCurves = BehaviorMeasures[Interval[np.ndarray]]
HelpfulnessCurves = HelpfulnessMeasures[Interval[np.ndarray]]
M = TypeVar("M", BehaviorCurves, HelpfulnessCurves)


@dataclass(frozen=True)
class GroupCurves(Generic[M]):
    """Mean over a group's prompts, per measure, with bootstrap intervals."""

    name: str
    kind: str                      # "behavior" | "helpfulness"
    n: int
    curves: M


@dataclass(frozen=True)
class GroupSweep:
    """One prompt group of a direction's sweep: its prompts and per-prompt measures ``(N, C)``."""

    name: str
    prompts: list[ScoredPrompt]
    measures: GroupMeasures


@dataclass(frozen=True)
class DirectionSweep:
    """One direction's per-prompt measures (for sweep.csv), groups in prompt order."""

    name: str
    grid: np.ndarray
    groups: list[GroupSweep]


@dataclass(frozen=True)
class Curve:
    """A predicted or fitted curve to draw beside the measured one."""

    label: str
    grid: np.ndarray
    y: np.ndarray
    style: str = "--"


@dataclass(frozen=True)
class Coefficients:
    """First- and second-order coefficients (r_e, r_e²) of a curve at 0: measured (local fit,
    prompt bootstrap CI) or fit-free (mean over prompts, bootstrap CI); None: not available."""

    label: str
    source: str                    # "measured" | "fit-free"
    c1: Interval[float] | None
    c2: Interval[float] | None
    note: str = ""


@dataclass(frozen=True)
class FitSummary:
    """A fit of the paper's curve forms on a stated range of the grid."""

    label: str
    grid_range: tuple[float, float]
    fit: FitResult
    slope_at_zero: float | None    # tanh fits: a(1 − tanh² b), via theory's gain slope


@dataclass(frozen=True)
class LinearResponse:
    """Proposition 1's remainder: median relative remainder per coefficient, its scaling
    exponent near 0 and the measured linear-response range."""

    grid: np.ndarray
    median_relative: np.ndarray
    exponent_pooled: float
    exponent_median: float
    linear_range: float
    threshold: float
    fit_max_abs_r: float


@dataclass(frozen=True)
class Specificity:
    """Gain on the target (harmful) prompts minus the gain on the control (harmless) ones."""

    target_group: str
    control_group: str
    target_gain: Interval[np.ndarray]
    control_gain: Interval[np.ndarray]
    specific_gain: Interval[np.ndarray]


@dataclass(frozen=True)
class Tradeoff:
    """Prompt-mean gain G, loss L, utility U = G − κL on the whole grid."""

    gain_used: str                 # "target" | "specific"
    gain: Interval[np.ndarray]
    loss: Interval[np.ndarray]
    utility: np.ndarray
    kappa: float


@dataclass(frozen=True)
class RandomSweeps:
    """``values`` ``(k, N, 5)`` P(correct) of the helpfulness prompts ``item_ids`` on ``grid``
    (0, ±h, ±2h); ``lam`` ``(N,)`` the RMS over directions of ‖Δ̂‖ at the final state."""

    grid: np.ndarray
    values: np.ndarray
    lam: np.ndarray
    item_ids: list[str]
    sweeps: list[DirectionSweep]        # the k directions' sweeps (sweep.csv: random0 …)


@dataclass(frozen=True)
class PromptPoints:
    """One claim's per-prompt prediction and measurement, ``(N,)`` each (the claims figure)."""

    label: str
    predicted: np.ndarray
    measured: np.ndarray


@dataclass
class BehaviorResults:
    """Everything measured and predicted for one steering direction (one behavior)."""

    behavior: str
    target_group: str
    grid: np.ndarray
    groups: dict[str, GroupCurves[BehaviorCurves]]
    helpfulness: GroupCurves[HelpfulnessCurves]
    helpfulness_groups: dict[str, GroupCurves[HelpfulnessCurves]]
    jvp_note: str
    estimates: list[PromptEstimates]
    sigma_pooled: float
    alignment_curves: list[Curve]
    helpfulness_curves: list[Curve]
    alignment_coefficients: list[Coefficients]
    helpfulness_coefficients: list[Coefficients]
    fits: list[FitSummary]
    linear_response: LinearResponse | None
    specificity: Specificity | None
    tradeoff: Tradeoff
    recommendation: Recommendation       # claims.recommend_extending's
    verdicts: list[ClaimVerdict]        # consistency checks, then claims (empirics.verdicts)
    claim_points: list[PromptPoints] = field(default_factory=list)   # the claims figure's


@dataclass(frozen=True)
class ModelInfo:
    name: str
    num_layers: int
    hidden_size: int
    dtype: str
    device: str


@dataclass(frozen=True)
class ReadingVectorInfo:
    """The reading vector of one behavior and how its method was chosen."""

    behavior: str
    method: str
    chosen_by: str
    mean_separation: dict[str, float]   # method -> mean held-out separation over layers
    separation: dict[int, float]
    path: str
    data_hash: str


@dataclass(frozen=True)
class VectorExport:
    """A behavior's reading vectors for the report to write: as safetensors + json at ``path``,
    and as a repeng / llama.cpp control-vector GGUF carrying the recommended coefficient."""

    behavior: str
    vectors: ReadingVectors
    path: str                      # OUT/reading_vectors/<behavior>
    recommended_coefficient: float
    model_type: str                # the HF config.model_type (llama.cpp's model hint)


@dataclass(frozen=True)
class ControlVectorFile:
    """A control-vector GGUF the report wrote (listed in report.json)."""

    behavior: str
    path: str
    recommended_coefficient: float | None
    llama_cli: str


@dataclass(frozen=True)
class Example:
    """One greedy reply shown in the report."""

    coefficient: float
    prompt: str
    reply: str
    verdict: int


@dataclass(frozen=True)
class BehaviorGeneration:
    """One behavior's generated-text measures and sequence-level predictions (``(C,)`` arrays
    over ``coefficients``)."""

    behavior: str
    judge: str
    coefficients: np.ndarray
    b_gen: Interval[np.ndarray]    # sampled replies, decided-reply B pooled over prompts
    undecided: np.ndarray          # (C,) rate over sampled replies
    b_greedy: Interval[np.ndarray]
    greedy_undecided: np.ndarray
    b_token: Interval[np.ndarray] | None   # next-token B at the same coefficients
    predicted: SequencePredictions
    examples: list[Example]
    seconds: float
    sequence: ClaimVerdict | None = None       # claims.sequence_curve: predicted vs measured
    proxy: ProxyBehavior | None = None         # claims.proxy_vs_behavior (next-token B measured)
    per_prompt: np.ndarray | None = None       # (C, N) B_gen per prompt (NaN: none decided)
    recommendation: Recommendation | None = None   # on the generated B (--measure both)


@dataclass(frozen=True)
class GenerationResults:
    """The generation stage's output (``--measure generation|both``)."""

    settings: GenerationSettings
    behaviors: list[BehaviorGeneration] = field(default_factory=list)


@dataclass(frozen=True)
class PlanLink:
    """The steering plan whose pick gave the run's layers (``validate --layers plan``)."""

    path: str                      # the plan.json read
    behavior: str                  # the behavior whose pick was taken
    layers: tuple[int, ...]
    name: str                      # the pick's name in the plan, e.g. "14-16"
    r_star: float | None           # the planner's coefficient for the pick


@dataclass
class Results:
    """What ``pipeline.run`` returns and ``report.write`` renders. ``behaviors`` and ``sweeps``
    are empty when the next-token stages did not run (``--measure generation``); ``generation``
    is ``None`` when the generation stage did not."""

    settings: Settings
    model: ModelInfo
    layers: list[int]
    data_dir: str
    data_source: str
    out: str
    run_hash: str
    reading_vectors: list[ReadingVectorInfo]
    behaviors: list[BehaviorResults]
    sweeps: list[DirectionSweep]
    seconds: float = 0.0
    chunks_reused: int = 0
    chunks_computed: int = 0
    provenance: Provenance | None = None
    exports: list[VectorExport] = field(default_factory=list)   # written by the report
    generation: GenerationResults | None = None
    plan: PlanLink | None = None   # set when the layers came from a steering plan
