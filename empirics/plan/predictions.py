"""Candidate-level predictions from the per-prompt terms, every formula through
``empirics.formulas``:

* gain slope ``γ̂λ̂(1 − B_0²)`` (Theorem 1's r_e coefficient; γ̂λ̂ the certified margin);
* helpfulness c1, and the loss curvature ℓ₂ = −c2 in three forms (actual Δ plus the
  second-order response, random direction of the prompt's ‖Δ‖, actual Δ alone);
* U(r) = exact linear-model gain − κ·loss (quadratic ``−c1 r + ℓ₂ r²``, or the exact softmax of
  the second-order logits) maximised over r > 0; ``tradeoff.general`` for the second-order r*
  and its validity (``s r* ≤ 0.5``). CIs: 95% percentile bootstrap over prompts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from empirics import formulas
from empirics.plan.terms import CandidateTerms
from empirics.plan.windows import Candidate


@dataclass
class Interval:
    """A value with its 95% interval."""

    value: float
    lo: float
    hi: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "lo": self.lo, "hi": self.hi}


#: Loss-curvature forms: Theorem 2 with the actual Δ plus the second-order response ∇ᵀΔ₂/2
#: ("response"), a random direction of each prompt's ‖Δ‖ with the real geometry ("random"),
#: the actual Δ alone, ½gᵀHc g ("actual").
CURVATURE_FORMS = ("response", "random", "actual")


@dataclass(frozen=True)
class PerForm:
    """One number per curvature form, in CURVATURE_FORMS order (e.g. a candidate's U*)."""

    response: float
    random: float
    actual: float

    def of(self, form: str) -> float:
        if form not in CURVATURE_FORMS:
            raise ValueError(f"curvature form {form!r} must be one of {CURVATURE_FORMS}")
        return float(getattr(self, form))


@dataclass
class Prediction:
    """Predicted tradeoff of one candidate for one behavior (means over the prompt sample, 95%
    percentile-bootstrap CIs over prompts, behavior and helpfulness prompts resampled apart).

    ``utility`` / ``r_star``: the maximum over r > 0 of U(r) = mean gain of the exact linear model
    (``alignment.behavior(z + r g)`` − B_0, = Theorem 1's tanh at equality for two outcomes)
    − κ (−c1 r + ℓ₂ r²), ℓ₂ from the form named by ``curvature_form``. ``r_star_second_order`` /
    ``valid`` / ``note``: ``tradeoff.general`` with ``s`` (its validity s·r* ≤ 0.5);
    ``r_star_valid`` = min(r*, 0.5/s)."""

    candidate: Candidate
    gain_slope: Interval          # γ̂λ̂(1 − B_0²)
    help_slope: Interval          # c1 of P(correct), actual Δ
    curvature: Interval           # ℓ₂ = −c2, actual Δ
    curvature_random: Interval    # ℓ₂ of the random-direction form (each prompt's λ)
    curvature_response: Interval  # ℓ₂ of the actual Δ plus the second-order response
    curvature_form: str           # the one U uses (CURVATURE_FORMS)
    loss_form: str                # LOSS_FORMS: quadratic in r, or softmax of second-order logits
    s: float                      # λ̄ β̄/√d: the random-direction shift scale (validity)
    gain_scale: float             # 1/mean γ̂λ̂: where the gain leaves its linear regime
    efficiency: float             # (g1 + κc1)²/ℓ₂ = 4κ U*₂ (scale-free)
    r_star: float
    r_star_valid: float
    r_star_second_order: float
    valid: bool
    utility: Interval
    utilities: PerForm            # U* with each curvature form and the quadratic loss
    utility_softmax: float        # U* with the softmax loss
    note: str
    step: float                   # finite-difference step h of the second-order response
    jvp_check: float              # worst relative difference to the JVP (NaN without checks)
    lam: float                    # mean ‖Δ_W‖ over the helpfulness prompts
    rank: int = 0

    def curvature_of(self, form: str) -> Interval:
        return {"response": self.curvature_response, "random": self.curvature_random,
                "actual": self.curvature}[form]


def interval_of(samples: np.ndarray, value: float) -> Interval:
    """``value`` with the 2.5–97.5% quantiles of the finite bootstrap ``samples``."""
    ok = samples[np.isfinite(samples)]
    if ok.size == 0:
        return Interval(value, float("nan"), float("nan"))
    lo, hi = np.quantile(ok, [0.025, 0.975])
    return Interval(value, float(lo), float(hi))


def gain_curves(t: CandidateTerms, r: np.ndarray) -> np.ndarray:
    """(Nb, R): B(r) − B_0 of the exact linear model, ``formulas.behavior_response_curve`` (w = 0)."""
    return np.stack([formulas.behavior_response_curve(z, g, np.where(m, 1.0, -1.0), r) - b
                     for z, g, m, b in zip(t.zb, t.gb, t.pos, t.B0, strict=True)])


def softmax_loss_curves(t: CandidateTerms, r: np.ndarray) -> np.ndarray:
    """(Nh, R): P_0 − P(c) with P the exact softmax of the second-order logit path
    z + r g + (r²/2) g2 (``formulas.response_curve``): the helpfulness twin of the gain's exact
    linear model; its r and r² coefficients are c1 and c2_response."""
    return np.stack([formulas.response_curve(z, c, g, g2, np.zeros(1))[0]
                     - formulas.response_curve(z, c, g, g2, r)
                     for z, c, g, g2 in zip(t.zh, t.correct, t.gh, t.g2h, strict=True)])


def optimum_on_grid(gain: np.ndarray, c1: float, l2: float, kappa: float, r: np.ndarray) -> tuple[float, float]:
    """``(r*, U*)`` of U(r) = gain(r) − κ(−c1 r + ℓ₂ r²) on the grid ``r`` (0 if U ≤ 0 throughout)."""
    # The exact gain plus the second-order helpfulness terms: U = G + (κc1 r − κℓ₂ r²), the
    # latter the Corollary's general utility with slope κc1.
    return _best(gain + formulas.general_utility(kappa * c1, l2, kappa, r), r)


def _best(u: np.ndarray, r: np.ndarray) -> tuple[float, float]:
    i = int(np.argmax(u))
    return (float(r[i]), float(u[i])) if u[i] > 0 else (0.0, 0.0)


#: How U's helpfulness loss is modelled: the exact softmax of the second-order logits
#: ("softmax", bounded by P_0 like the real loss; its curvature at 0 is the response form's) or
#: the Corollary's quadratic −c1 r + ℓ₂ r² ("quadratic", ℓ₂ from the curvature form; unbounded
#: in r, and without a maximum where ℓ₂ ≤ 0, as for SmolLM2's earliest layers).
LOSS_FORMS = ("softmax", "quadratic")


#: B_0 is kept this far inside (−1, 1) when the gain scale divides by 1 − B_0² (saturated
#: prompts: 1 − B_0² ≈ 1e-12).
B0_INSIDE = 1 - 5e-13


def _forms(t: CandidateTerms) -> dict[str, np.ndarray]:
    """ℓ₂ per helpfulness prompt, per curvature form."""
    return {"response": -t.c2_response, "random": -t.c2_random, "actual": -t.c2}


def _check_forms(curvature: str, loss: str) -> None:
    if curvature not in CURVATURE_FORMS:
        raise ValueError(f"curvature form {curvature!r} must be one of {CURVATURE_FORMS}")
    if loss not in LOSS_FORMS:
        raise ValueError(f"loss form {loss!r} must be one of {LOSS_FORMS}")
    if loss == "softmax" and curvature != "response":
        raise ValueError("the softmax loss is the response form's: use curvature 'response'")


@dataclass
class _Curves:
    """A candidate's gain and loss curves on its r grid, and its optimum over prompt subsets."""

    t: CandidateTerms
    scale: float         # 1/mean γ̂λ̂: where the gain leaves its linear regime
    r: np.ndarray
    gain: np.ndarray     # (Nb, R)
    soft: np.ndarray     # (Nh, R)
    use: np.ndarray      # (Nh,) ℓ₂ of the curvature form U uses
    kappa: float
    loss: str

    def optimum(self, ib: np.ndarray | slice, ih: np.ndarray | slice) -> tuple[float, float]:
        if self.loss == "softmax":
            u = formulas.utility(self.gain[ib].mean(0), self.soft[ih].mean(0), self.kappa)
            return _best(u, self.r)
        return optimum_on_grid(self.gain[ib].mean(0), float(self.t.c1[ih].mean()),
                               float(self.use[ih].mean()), self.kappa, self.r)

    def bootstrap(self, n_boot: int, seed: int) -> np.ndarray:
        """(n_boot, 6): gain slope, c1, ℓ₂ actual / random / response, U* per resample."""
        t, forms = self.t, _forms(self.t)
        rng = np.random.default_rng(seed)
        nb, nh = len(t.slope), len(t.c1)
        boot = np.full((n_boot, 6), np.nan)
        for k in range(n_boot):
            ib, ih = rng.integers(0, nb, nb), rng.integers(0, nh, nh)
            boot[k] = (t.slope[ib].mean(), t.c1[ih].mean(), forms["actual"][ih].mean(),
                       forms["random"][ih].mean(), forms["response"][ih].mean(),
                       self.optimum(ib, ih)[1])
        return boot


def _curves(cand: Candidate, t: CandidateTerms, kappa: float, curvature: str,
            loss: str) -> _Curves:
    margin = formulas.margin_from_slope(t.slope, np.clip(t.B0, -B0_INSIDE, B0_INSIDE))
    scale = 1.0 / max(float(np.abs(margin).mean()), 1e-12)
    r = np.geomspace(1e-3, 1e2, 321) * scale
    use = _forms(t)[curvature]
    if not np.all(np.isfinite(use)):
        raise ValueError(f"candidate {cand.name}: the {curvature} curvature is not finite "
                         "on every helpfulness prompt")
    return _Curves(t, scale, r, gain_curves(t, r), softmax_loss_curves(t, r), use, kappa, loss)


def predict(cand: Candidate, t: CandidateTerms, kappa: float, *, curvature: str = "response",
            loss: str = "softmax", n_boot: int = 500, seed: int = 0) -> Prediction:
    """Candidate-level prediction from its per-prompt terms."""
    _check_forms(curvature, loss)
    cv = _curves(cand, t, kappa, curvature, loss)
    forms = _forms(t)
    c1 = float(t.c1.mean())
    g1 = float(t.slope.mean() + kappa * c1)
    r_star, u_star = cv.optimum(slice(None), slice(None))
    each = {f: (optimum_on_grid(cv.gain.mean(0), c1, float(v.mean()), kappa, cv.r)[1]
                if np.all(np.isfinite(v)) else float("nan")) for f, v in forms.items()}
    u_soft = _best(formulas.utility(cv.gain.mean(0), cv.soft.mean(0), kappa), cv.r)[1]
    lam_bar = float(t.lam.mean()) if t.lam.size else float("nan")
    beta_bar = float(t.beta.mean()) if t.beta.size else float("nan")
    s = (float(formulas.shift_scale(lam_bar, formulas.random_sigma(t.hidden_size), beta_bar))
         if math.isfinite(lam_bar) and math.isfinite(beta_bar) else float("nan"))
    so = formulas.second_order_optimum(g1, float(cv.use.mean()), kappa,
                                       s if math.isfinite(s) else None)
    edge = formulas.VALID_LIMIT / s if math.isfinite(s) and s > 0 else math.inf
    boot = cv.bootstrap(n_boot, seed)
    # efficiency (g1 + κc1)²/ℓ₂ = 4κ U*₂ of the second-order optimum (inf: no finite r*)
    eff = 4 * kappa * so.utility_star if so is not None else float("nan")
    return Prediction(
        candidate=cand, gain_slope=interval_of(boot[:, 0], float(t.slope.mean())),
        help_slope=interval_of(boot[:, 1], c1),
        curvature=interval_of(boot[:, 2], float(forms["actual"].mean())),
        curvature_random=interval_of(boot[:, 3], float(forms["random"].mean())),
        curvature_response=interval_of(boot[:, 4], float(forms["response"].mean())),
        curvature_form=curvature, loss_form=loss, s=s, gain_scale=cv.scale,
        efficiency=eff, r_star=r_star, r_star_valid=min(r_star, edge),
        r_star_second_order=so.r_star if so is not None else float("nan"),
        valid=r_star <= edge, utility=interval_of(boot[:, 5], u_star),
        utilities=PerForm(each["response"], each["random"], each["actual"]),
        utility_softmax=u_soft,
        note=so.note if so is not None else "second-order optimum undefined (non-finite input)",
        step=t.step, jvp_check=t.jvp_check, lam=lam_bar)


def rank(predictions: Sequence[Prediction]) -> list[Prediction]:
    """Highest predicted U (within validity) first; ties broken by efficiency, then name."""
    out = sorted(predictions, key=lambda p: (-p.utility.value, -p.efficiency, p.candidate.name))
    for i, p in enumerate(out):
        p.rank = i + 1
    return out
