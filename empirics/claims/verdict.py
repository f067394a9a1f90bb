"""The typed output of every rule: a verdict that says what it tests and how it decided.

A verdict is a statistical test: ``holds`` is True (the data show agreement within the stated
band), False (the data show disagreement beyond it) or None (undecided, ``summary`` says why).
``kind`` separates checks of the implementation (``Kind.CONSISTENCY``: the code agrees with
itself, e.g. a JVP with a finite difference) from claims of the theory about the model
(``Kind.CLAIM``).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Kind(enum.Enum):
    """What a verdict tests."""

    CONSISTENCY = "consistency"   # the implementation (not the theory)
    CLAIM = "claim"               # the theory against the model


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval (``lo``/``hi`` NaN when there is none)."""

    value: float
    lo: float = math.nan
    hi: float = math.nan

    def __str__(self) -> str:
        if math.isnan(self.lo) and math.isnan(self.hi):
            return f"{self.value:.4g}"
        return f"{self.value:.4g} [{self.lo:.4g}, {self.hi:.4g}]"


@dataclass(frozen=True)
class Band:
    """An equivalence band ``[lo, hi]`` for a decision statistic.

    ``decide``: True when the CI lies inside the band, False when it lies entirely outside,
    None when it straddles an edge (or is not finite). With near-deterministic per-prompt data a
    rule "the CI excludes the prediction" rejects any tiny bias; the band is the stated
    tolerance, and the calibration (``python -m empirics.calibrate``) shows its error rates.
    """

    lo: float
    hi: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < self.hi):
            raise ValueError(f"band [{self.lo}, {self.hi}] must be finite with lo < hi")

    @classmethod
    def around_one(cls, factor: float) -> Band:
        """``[1/factor, factor]``: symmetric on a log scale (a ratio off by ×f or ×1/f)."""
        if not factor > 1:
            raise ValueError(f"factor {factor} must be > 1")
        return cls(1.0 / factor, factor)

    def decide(self, ci: Estimate) -> bool | None:
        if not (math.isfinite(ci.lo) and math.isfinite(ci.hi)):
            return None
        if self.lo <= ci.lo and ci.hi <= self.hi:
            return True
        if ci.hi < self.lo or ci.lo > self.hi:
            return False
        return None

    def __str__(self) -> str:
        return f"[{self.lo:.3g}, {self.hi:.3g}]"


@dataclass(frozen=True)
class Number:
    """A labelled number shown with a verdict (e.g. the median departure coefficient)."""

    label: str
    value: Estimate


@dataclass(frozen=True)
class Agreement:
    """Per-prompt agreement of a prediction with a measurement, paired by prompt.

    ``scale``: measured per unit predicted (least squares through 0, Σ p m / Σ p²);
    ``ratio_of_means``: mean(predicted) / mean(measured); ``correlation``: Pearson over prompts;
    ``within_band``: the share of prompts whose own ratio measured/predicted lies in the band;
    all with paired percentile-bootstrap CIs over prompts.
    """

    scale: Estimate
    ratio_of_means: Estimate
    correlation: Estimate
    within_band: float
    n: int


def label(holds: bool | None) -> str:
    """"holds" / "fails" / "undecided"."""
    return {True: "holds", False: "fails", None: "undecided"}[holds]


@dataclass(frozen=True)
class ClaimVerdict:
    """One rule's verdict on one data set.

    ``subject`` names what was measured (e.g. "B, harmful prompts"), ``statistic`` what was
    decided on (with its CI), ``band`` the stated tolerance (None for rules decided otherwise,
    e.g. a sign test: ``rule`` says how), ``numbers`` the evidence shown beside it,
    ``agreement`` the per-prompt agreement where the rule pairs prompts.
    """

    name: str
    kind: Kind
    subject: str
    holds: bool | None
    rule: str
    summary: str
    statistic: Estimate
    band: Band | None = None
    numbers: tuple[Number, ...] = ()
    agreement: Agreement | None = None

    @property
    def label(self) -> str:
        return label(self.holds)


def undecided(name: str, kind: Kind, subject: str, rule: str, why: str) -> ClaimVerdict:
    """A verdict that could not be reached, with the reason."""
    return ClaimVerdict(name, kind, subject, None, rule, f"Not decided: {why}",
                        Estimate(math.nan))
