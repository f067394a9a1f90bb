"""``--protocol both``: how much the verdicts depend on the protocol.

The default protocol runs first and writes ``OUT/ours/report.json``; the authors' protocol then
measures with the *same reading vectors and layers* (read from that run's files), so what differs
is the measurement: next-token Yes/No (ours) vs keyword-scored sampled replies (theirs), options
hidden (ours, embedded knowledge set) or letters after a question (both, with MMLU) vs options
shown in their format, and the grids. The coupling to the default protocol is this module's small
reader of its ``report.json`` (:class:`OursSummary`), nothing else.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from empirics.io import atomic_write_text
from empirics.wolf.results import BehaviorRun, Estimate, WolfResults
from empirics.wolf.run import SharedVectors

# The default protocol calls the fairness behavior "bias".
OURS_NAME = {"harmfulness": "harmfulness", "fairness": "bias"}
COLUMNS = ("behavior", "quantity", "ours", "wolf2024", "difference", "reason")
PAPER_TANH_LABEL = "alignment tanh, paper's range"
VERDICT_WHY = {
    "theorem1_tanh_fit": "ours fits next-token B on |r| ≤ 3; theirs the generated B on [−3.2, 4]",
    "theorem2_curvature": "different rules: ours checks fit-free curvature forms against the "
                          "measured c2, quadratic_loss only that c2's CI is below 0",
    "efficient_regime": "different rules: ours the maximum of measured U over its grid (CI > 0), "
                        "theirs the corollary's g₁ − κℓ₁ > 0 on local slopes (no selection of "
                        "a noisy maximum)",
}


@dataclass(frozen=True)
class OursBehavior:
    behavior: str
    gain_slope: Estimate | None
    loss_curvature: Estimate | None
    tanh_slope: float | None
    tanh_r2: float | None
    verdicts: tuple[tuple[str, str], ...]
    recommended: float | None
    recommendation: str
    grid_max: float | None


@dataclass(frozen=True)
class OursSummary:
    """What the sensitivity table reads of the default protocol's report.json."""

    layers: tuple[int, ...]
    helpfulness: str
    vectors: tuple[tuple[str, str], ...]
    behaviors: tuple[OursBehavior, ...]

    def behavior(self, name: str) -> OursBehavior | None:
        return next((b for b in self.behaviors if b.behavior == name), None)


def _estimate(d: Any) -> Estimate | None:
    if not isinstance(d, dict) or d.get("value") is None:
        return None
    def num(x: Any) -> float:
        return float(x) if isinstance(x, (int, float)) else math.nan
    return Estimate(num(d.get("value")), num(d.get("lo")), num(d.get("hi")))


def _measured(rows: Any, key: str) -> Estimate | None:
    for row in rows or []:
        if isinstance(row, dict) and row.get("source") == "measured":
            return _estimate(row.get(key))
    return None


def _behavior(b: dict[str, Any]) -> OursBehavior:
    tanh: dict[str, Any] = next((f for f in b.get("fits") or []
                                 if f.get("label") == PAPER_TANH_LABEL), {})
    rec = b.get("recommendation") or {}
    grid = b.get("grid") or []
    slope = tanh.get("slope_at_zero")
    r2 = (tanh.get("fit") or {}).get("r_squared")
    return OursBehavior(
        str(b.get("behavior")), _measured(b.get("alignment_coefficients"), "c1"),
        _measured(b.get("helpfulness_coefficients"), "c2"),
        float(slope) if isinstance(slope, (int, float)) else None,
        float(r2) if isinstance(r2, (int, float)) else None,
        tuple((str(v.get("name")), str(v.get("label"))) for v in b.get("verdicts") or []),
        float(rec["r"]) if isinstance(rec.get("r"), (int, float)) else None,
        f"{rec.get('method', '')}" + (" (grid edge)" if rec.get("at_grid_edge") else ""),
        float(max(grid)) if grid else None)


def read_ours(path: Path) -> OursSummary:
    """The default protocol's report.json, reduced to what the comparison needs."""
    if not path.is_file():
        raise FileNotFoundError(f"the default protocol wrote no {path}")
    r = json.loads(path.read_text(encoding="utf-8"))
    vectors = tuple((str(v.get("behavior")), str(v.get("path")))
                    for v in r.get("reading_vectors") or [] if v.get("path"))
    settings = r.get("settings") or {}
    return OursSummary(tuple(int(x) for x in r.get("layers") or []),
                       str(settings.get("helpfulness", "")), vectors,
                       tuple(_behavior(b) for b in r.get("behaviors") or []))


def shared_vectors(summary: OursSummary, ours_out: Path) -> SharedVectors:
    """The default protocol's reading-vector files, under the protocol's behavior names."""
    files = []
    for wolf_name, ours_name in OURS_NAME.items():
        path = next((p for b, p in summary.vectors if b == ours_name), None)
        files.append((wolf_name, Path(path) if path else ours_out / "reading_vectors" / ours_name))
    return SharedVectors(tuple(files))


def _fmt(e: Estimate | float | None) -> str:
    if e is None or (isinstance(e, float) and not math.isfinite(e)):
        return "n/a"
    if isinstance(e, Estimate):
        return f"{e.value:.4g} [{e.lo:.4g}, {e.hi:.4g}]"
    return f"{e:.4g}"


def _diff(a: Estimate | float | None, b: Estimate | float | None) -> str:
    x = a.value if isinstance(a, Estimate) else a
    y = b.value if isinstance(b, Estimate) else b
    if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
        return "n/a"
    return f"{y - x:+.4g}" + (f" (×{y / x:.2f})" if x != 0 else "")


def _rows(ours: OursBehavior, w: BehaviorRun, helpfulness: str) -> list[tuple[str, ...]]:
    hidden = helpfulness == "knowledge"
    gain_why = ("next-token P(No) − P(Yes) after 'Will you help …? Answer with Yes or No' "
                "(ours) vs the keyword rule on 32 sampled tokens after '[INST] q Answer: [/INST]' "
                "(theirs): a generated reply can refuse after a 'Yes' token and vice versa")
    loss_why = (("options hidden (ours: the question alone, candidates the first token of each "
                 "answer) vs shown as A)–D) with 'The answer is' (theirs)") if hidden else
                "both show options, in different wordings (ours: chat template, 'A. …'; "
                "theirs: raw 'A) ….' + 'The answer is')") + "; grid step 0.5 vs 0.25 in |r| ≤ 3"
    grid_why = (f"grid: ours up to r = {ours.grid_max:g}, theirs up to "
                f"{w.recommendation.grid[-1]:g} (step 0.2); gain measure as above")
    rows = [("gain slope at r = 0 (local quadratic, |r| ≤ 3)", _fmt(ours.gain_slope),
             _fmt(w.gain_slope), _diff(ours.gain_slope, w.gain_slope), gain_why),
            ("tanh slope at 0, paper fit on [−3.2, 4]", _fmt(ours.tanh_slope), _fmt(w.tanh_slope),
             _diff(ours.tanh_slope, w.tanh_slope), "same form and range; " + gain_why),
            ("tanh fit R² on [−3.2, 4]", _fmt(ours.tanh_r2), _fmt(w.panel.tanh_fit.r_squared),
             _diff(ours.tanh_r2, w.panel.tanh_fit.r_squared),
             "sampled ±1 scores are noisier than next-token probabilities (few samples per r)"),
            ("helpfulness curvature c2 (|r| ≤ 3)", _fmt(ours.loss_curvature),
             _fmt(w.loss_curvature), _diff(ours.loss_curvature, w.loss_curvature), loss_why),
            ("recommended coefficient (argmax U, κ = 1)",
             f"{_fmt(ours.recommended)} {ours.recommendation}".strip(),
             f"{w.recommendation.r:g}" + (" (grid edge)" if w.recommendation.at_grid_edge else ""),
             _diff(ours.recommended, w.recommendation.r), grid_why)]
    pairs = (("theorem1_tanh_fit", "tanh_fit"), ("theorem1_slope", "theorem1_slope"),
             ("theorem2_curvature", "quadratic_loss"), ("efficient_regime", "efficient_regime"))
    ours_v, wolf_v = dict(ours.verdicts), {v.name: v.label for v in w.verdicts}
    for a, b in pairs:
        rows.append((f"verdict {a} / {b}", ours_v.get(a, "n/a"), wolf_v.get(b, "n/a"),
                     "same" if ours_v.get(a) == wolf_v.get(b) else "differs",
                     VERDICT_WHY.get(a, gain_why)))
    return [(w.behavior, *r) for r in rows]


def table(summary: OursSummary, wolf: WolfResults) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for w in wolf.behaviors:
        ours = summary.behavior(OURS_NAME[w.behavior])
        if ours is not None:
            out += _rows(ours, w, summary.helpfulness)
    return out


def write(rows: list[tuple[str, ...]], out: Path, summary: OursSummary,
          wolf: WolfResults) -> list[Path]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    md = ["# Protocol sensitivity: the default protocol vs Wolf et al. (2024)", "",
          f"One model ({wolf.model}), one set of reading vectors: the default protocol's, at its "
          f"layers {list(summary.layers)} (read from ours/report.json); the authors' protocol "
          "measured with them (B oriented so that these vectors raise it: P(refuses) − "
          "P(agrees)). Helpfulness: ours "
          f"'{summary.helpfulness}', theirs MMLU-format letters.", "",
          "| behavior | quantity | ours | wolf2024 | difference | reason |", "|---|---|---|---|---|---|"]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    return [atomic_write_text(out / "sensitivity.csv", buf.getvalue()),
            atomic_write_text(out / "sensitivity.md", "\n".join(md) + "\n")]
