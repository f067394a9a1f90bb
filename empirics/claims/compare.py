"""The one paired rule most claims reduce to: a per-prompt prediction against the per-prompt
measurement, decided on the measured-per-unit-predicted scale's CI against an equivalence band.

Why the scale (Σ p m / Σ p², least squares through 0) and not the ratio of means: per-prompt
curvatures change sign across prompts, so the mean of the measurement can sit near 0 and the
ratio of means explode; the scale stays defined, is paired, and is 0.5 or 2 exactly when the
prediction is off by ×2 or ×0.5. The ratio of means and the correlation are reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from empirics.claims.inputs import per_prompt
from empirics.claims.stats import Resampling, agreement, agreement_over_directions
from empirics.claims.verdict import Agreement, Band, ClaimVerdict, Kind, Number, undecided


@dataclass(frozen=True)
class Tolerance:
    """How close is close enough: the scale's band, and the least per-prompt correlation a
    prediction must reach to *hold* (0: no such gate, for averages whose per-prompt noise the
    theory does not describe).

    The correlation only gates "holds": measurement noise lowers it too, and a rule that failed
    on a low correlation false-fails true claims on noisy sweeps (calibration at logit noise
    0.01: 58–100% false fails). "Fails" rests on the scale alone."""

    band: Band
    min_correlation: float = 0.0

    def decide(self, agree: Agreement) -> bool | None:
        """Fails: scale CI outside the band. Holds: scale CI inside it and the correlation CI
        above the minimum. Otherwise undecided."""
        by_scale = self.band.decide(agree.scale)
        if by_scale is not True or self.min_correlation <= 0:
            return by_scale
        rho = agree.correlation
        return True if math.isfinite(rho.lo) and rho.lo >= self.min_correlation else None

    def __str__(self) -> str:
        text = f"the measured/predicted scale's 95% CI lies in {self.band}"
        if self.min_correlation > 0:
            text += (f" and the per-prompt correlation's CI above {self.min_correlation:g} "
                     "(holds), or the scale's CI outside the band (fails)")
        return text


#: Claims: measured/predicted within ×1.25, per-prompt correlation ≥ 0.8 (docs/claims.md).
CLAIM_TOLERANCE = Tolerance(Band.around_one(1.25), 0.8)
#: Consistency of the implementation: within ±5%, correlation ≥ 0.99.
CONSISTENCY_TOLERANCE = Tolerance(Band.around_one(1.05), 0.99)


def paired_rule(name: str, kind: Kind, subject: str, rule: str, predicted: np.ndarray,
                measured: np.ndarray, tolerance: Tolerance, resampling: Resampling,
                numbers: Sequence[Number] = ()) -> ClaimVerdict:
    """Decide ``predicted`` vs ``measured`` (``(N,)`` each, paired) by ``tolerance``."""
    n = int(np.shape(measured)[-1]) if np.ndim(measured) else 0
    p = per_prompt("predicted", predicted, n)
    if n < 3:
        return undecided(name, kind, subject, rule, f"{n} prompts: too few to bootstrap")
    if not np.any(p != 0):
        return undecided(name, kind, subject, rule, "the prediction is 0 on every prompt")
    m = np.asarray(measured, dtype=float)
    if m.ndim == 2:   # (directions, prompts): compare with the direction average
        agree = agreement_over_directions(p, m, tolerance.band, resampling)
    else:
        agree = agreement(p, per_prompt("measured", m, n), tolerance.band, resampling)
    return decided(name, kind, subject, rule, agree, tolerance, numbers)


def decided(name: str, kind: Kind, subject: str, rule: str, agree: Agreement,
            tolerance: Tolerance, numbers: Sequence[Number] = ()) -> ClaimVerdict:
    """The verdict of ``tolerance`` on a computed ``agree``, with a summary of why."""
    holds = tolerance.decide(agree)
    band = tolerance.band
    summary = (f"measured/predicted scale {agree.scale} (band {band}); per-prompt correlation "
               f"{agree.correlation}; ratio of means predicted/measured "
               f"{agree.ratio_of_means}; {agree.within_band:.0%} of {agree.n} prompts inside "
               "the band")
    if holds is None:
        summary += "; undecided: a CI straddles its limit"
    elif holds is False:
        summary += "; fails: the scale lies outside the band"
    rho = agree.correlation
    if tolerance.min_correlation > 0 and math.isfinite(rho.hi) and rho.hi < tolerance.min_correlation:
        summary += (f"; the prediction does not track the prompts (correlation below "
                    f"{tolerance.min_correlation:g}, or the measurement is noisy)")
    return ClaimVerdict(name, kind, subject, holds, rule, summary, agree.scale, band,
                        tuple(numbers), agree)
