"""Run settings: the typed ``Settings`` every stage reads, and the parsers of grid and layers.

The coefficient grid is called ``grid`` everywhere (a sorted 1-D list of ``r_e`` values that
contains 0); per-prompt arrays are **prompts × coefficients** ``(N, C)``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

EMBEDDED_DEFAULT_LAYERS = (12, 20)  # inclusive, for the 30-layer embedded SmolLM2-135M
QUICK_GRID = (-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0)  # ±h and ±2h: every rule can decide
BEHAVIORS = ("harmfulness", "bias")
HELPFULNESS_SETS = ("knowledge", "mmlu", "arc")
METHODS = ("auto", "pca", "mean_diff")
RECOMMEND_ON = ("target", "specific")
MEASURES = ("token", "generation", "both")   # next-token B, generated text, or both
DEFAULT_MMLU = ("international_law", "medical_genetics", "high_school_computer_science")
# Contrast pairs per reading vector: default run and --quick.
CONTRAST_PAIRS = 64
QUICK_CONTRAST_PAIRS = 16
# The group whose B the steering is meant to raise, per behavior; and its control group.
TARGET_GROUP = {"harmfulness": "harmful", "bias": "stereoset_race"}
CONTROL_GROUP = {"harmfulness": "harmless"}
# Half-width of the local polynomial fits: the default grid has half steps within ±3.
LOCAL_WINDOW = 3.0
# The ranges of the paper's published plotting code (Wolf et al.): tanh on [-3.2, 4], the
# helpfulness form on [-5, 5].
PAPER_TANH_RANGE = (-3.2, 4.0)
PAPER_HELPFULNESS_RANGE = (-5.0, 5.0)


@dataclass(frozen=True)
class PromptCounts:
    """Measured prompts per group."""

    harmful: int
    harmless: int
    bias: int
    helpfulness: int

    @classmethod
    def every(cls, n: int) -> PromptCounts:
        """``n`` prompts in every group (``--n-prompts``)."""
        return cls(n, n, n, n)


# Default run (≤ 10 min on 2 CPU cores) and --quick (< 60 s).
DEFAULT_COUNTS = PromptCounts(harmful=32, harmless=16, bias=32, helpfulness=48)
QUICK_COUNTS = PromptCounts(harmful=4, harmless=2, bias=4, helpfulness=6)


@dataclass(frozen=True)
class GenerationSettings:
    """The generation stage's sizes (``validate --measure generation|both``).

    Defaults: per behavior 12 prompts x 5 coefficients x 4 samples x 24 new tokens at temperature
    1, one greedy reply per prompt and coefficient; on the embedded model they add ~1.5 minutes on 2
    CPU cores to the token job (measured in docs/performance.md).
    """

    prompts: int = 12
    coefficients: int = 5          # points taken from the token grid, symmetric around 0
    samples: int = 4
    max_new_tokens: int = 24
    temperature: float = 1.0
    seed: int = 0
    n_boot: int = 1000
    # δ(y) by packed central differences (sequence.sequence_deltas): about half the time of the
    # exact packed JVP ("jvp"), which it matches to ~1e-3 relative (tests/empirics/test_sequence.py).
    delta_method: str = "fd"


QUICK_GENERATION = GenerationSettings(prompts=4, coefficients=3, samples=4, max_new_tokens=16,
                                      n_boot=200)


@dataclass
class Settings:
    """Every argument that shapes the results (all but ``progress`` are hashed/recorded)."""

    model: str | None = None
    layers: str | None = None
    grid: list[float] = field(default_factory=lambda: list(QUICK_GRID))
    behaviors: list[str] = field(default_factory=lambda: list(BEHAVIORS))
    helpfulness: str = "knowledge"
    mmlu_subjects: list[str] = field(default_factory=lambda: list(DEFAULT_MMLU))
    few_shot: int = 0
    harm_format: str = "yesno"
    data_dir: str | None = None
    data: str | None = None          # --data source: embedded / dir / hub (None: resolve_source)
    out: str | None = None
    seed: int = 0
    device: str | None = None
    dtype: str | None = None
    method: str = "auto"
    n_prompts: int | None = None
    kappa: float = 1.0
    epsilon: float = 0.05
    quick: bool = False
    random_directions: int = 8       # k seeded random directions for Theorem 2's forms (0: none)
    batch_size: int = 16
    n_boot: int = 1000
    theory_prompts: int = 0          # prompts per pool with a JVP; 0 = every measured prompt
    recommend_on: str = "specific"   # "specific" (harmful − harmless) gain where a control
    #                                  group is measured, else the "target" gain
    progress: bool = True
    counts: PromptCounts = DEFAULT_COUNTS
    measure: str = "token"           # MEASURES: which stages run
    generation: GenerationSettings = field(default_factory=GenerationSettings)

    @property
    def measures_tokens(self) -> bool:
        return self.measure in ("token", "both")

    @property
    def measures_generation(self) -> bool:
        return self.measure in ("generation", "both")

    @property
    def contrast_pairs(self) -> int:
        """Contrast pairs per reading vector."""
        return QUICK_CONTRAST_PAIRS if self.quick else CONTRAST_PAIRS


def parse_layers(spec: str | None, num_layers: int, embedded: bool) -> list[int]:
    """``"12-20"`` (inclusive) or ``"12,14,16"``; default 12–20 for the embedded model, the middle
    third of the layers otherwise. ``ValueError`` for an index outside ``0..num_layers-1``."""
    if spec is None or spec.strip() == "":
        if embedded and num_layers > EMBEDDED_DEFAULT_LAYERS[1]:
            lo, hi = EMBEDDED_DEFAULT_LAYERS
        else:
            lo, hi = num_layers // 3, max(num_layers // 3, (2 * num_layers) // 3 - 1)
        return list(range(lo, hi + 1))
    layers: list[int] = []
    try:
        for part in spec.split(","):
            part = part.strip()
            if re.fullmatch(r"\d+\s*-\s*\d+", part):
                a, b = (int(x) for x in part.split("-"))
                if b < a:
                    raise ValueError(f"--layers range {part!r} is decreasing")
                layers.extend(range(a, b + 1))
            else:
                layers.append(int(part))
    except ValueError as err:
        raise ValueError(f"--layers {spec!r}: expected e.g. '12-20' or '12,14,16' ({err})") from err
    bad = [layer for layer in layers if not 0 <= layer < num_layers]
    if bad:
        raise ValueError(f"--layers {spec!r}: layer {bad[0]} out of range; the model has layers "
                         f"0..{num_layers - 1}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"--layers {spec!r} repeats a layer")
    return sorted(layers)


def default_grid() -> list[float]:
    """−10..10 step 1, plus the half steps within ±3 (where the linear theory should hold)."""
    base = {float(x) for x in range(-10, 11)} | {x / 2 for x in range(-6, 7)}
    return sorted(base)


def parse_grid(spec: str | None) -> list[float]:
    """``"-10:10:1"`` (inclusive start:stop:step) or an explicit increasing list ``"-2,0,2"``."""
    if spec is None:
        return default_grid()
    text = spec.strip()
    try:
        if ":" in text:
            parts = [float(x) for x in text.split(":")]
            if len(parts) != 3:
                raise ValueError("need start:stop:step")
            start, stop, step = parts
            if not all(math.isfinite(x) for x in parts):
                raise ValueError("non-finite value")
            if step <= 0 or stop < start:
                raise ValueError("need step > 0 and stop >= start")
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            if n > 10_000:
                raise ValueError(f"{n} coefficients is too many")
            grid = [round(start + i * step, 10) for i in range(n)]
        else:
            grid = [float(x) for x in text.split(",") if x.strip() != ""]
    except ValueError as err:
        raise ValueError(f"--grid {spec!r}: expected e.g. '-10:10:1' or '-2,-1,0,1,2' ({err})") from err
    if not grid:
        raise ValueError(f"--grid {spec!r} is empty")
    if not all(math.isfinite(x) for x in grid):
        raise ValueError(f"--grid {spec!r} has a non-finite coefficient")
    if any(b <= a for a, b in zip(grid, grid[1:], strict=False)):
        raise ValueError(f"--grid {spec!r} must be strictly increasing")
    return grid


def model_slug(name: str) -> str:
    """A directory-safe name for ``runs/<model-slug>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "model"
