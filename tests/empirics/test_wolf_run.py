"""``python -m empirics.validate --protocol wolf2024``: bad input fails before any work, the
default protocol is untouched, and a short --quick run on the embedded model writes the figures,
the fit table and curves that load in pandas; the --protocol both table from its results."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from empirics import validate
from empirics.wolf import protocol, sensitivity
from empirics.wolf import report as wolf_report
from empirics.wolf.report import CURVE_COLUMNS, FIT_COLUMNS
from empirics.wolf.results import WolfResults
from empirics.wolf.run import SharedVectors


@pytest.mark.parametrize("argv", [
    ["--protocol", "paper"],
    ["--protocol", "wolf2024", "--behaviors", "honesty"],
    ["--protocol", "wolf2024", "--data", "dir", "--data-dir", "/nonexistent/wolf-data"],
    ["--protocol", "wolf2024", "--behavior-prompts", "1"],
    ["--protocol", "both", "--layers", "x-y"],
])
def test_bad_input_exits_2_before_any_work(argv: list[str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert validate.main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "o").exists()


def test_default_protocol_still_parses_its_flags() -> None:
    s = validate.settings_from_args(["--protocol", "ours", "--quick"])
    assert s.quick and s.grid == [-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WolfResults]:
    """One short end-to-end run through ``validate.main``; the results handed to the report are
    kept for the sensitivity test."""
    out = tmp_path_factory.mktemp("wolf") / "run"
    kept: list[WolfResults] = []
    real = wolf_report.write

    def keep(res: WolfResults, where: Path) -> list[Path]:
        kept.append(res)
        return real(res, where)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wolf_report, "write", keep)
        code = validate.main(["--protocol", "wolf2024", "--quick", "--data", "embedded",
                              "--behaviors", "harmfulness",
                              "--behavior-prompts", "2", "--helpfulness-prompts", "2",
                              "--pairs", "8", "--threads", "1", "--no-progress", "--out", str(out)])
    assert code == 0 and len(kept) == 1
    return out, kept[0]


@pytest.mark.model
def test_quick_run_writes_figures_and_tables(quick: tuple[Path, WolfResults]) -> None:
    quick_run = quick[0]
    for name in ("report.md", "fig4_behavior.png", "fig5_helpfulness_harmfulness.png",
                 "reading_vectors/harmfulness.safetensors"):
        assert (quick_run / name).is_file(), name
    fits = pd.read_csv(quick_run / "fits.csv")
    assert tuple(fits.columns) == FIT_COLUMNS
    assert len(fits) == 2 * (1 + 3 * 2)     # a, b of the tanh fit and two fits per subject
    bounded = fits[fits["formula"].str.contains("b\\^2")]
    assert (bounded["value"].dropna() >= 0).all()
    curves = pd.read_csv(quick_run / "curves.csv")
    assert tuple(curves.columns) == CURVE_COLUMNS
    gen = curves[(curves.series == "generated")]
    assert sorted(gen.coefficient) == sorted(protocol.behavior_grid(True))
    assert gen["mean"].between(-1, 1).all()
    report = json.loads((quick_run / "report.json").read_text())
    run = report["behaviors"][0]
    assert run["layers"] == protocol.injection_layers(30)
    assert report["settings"]["helpfulness_grid"] == list(protocol.helpfulness_grid(True))
    assert any("knowledge set" in s for s in report["substitutions"])


@pytest.mark.model
def test_sensitivity_table_from_a_default_report(quick: tuple[Path, WolfResults],
                                                 tmp_path: Path) -> None:
    ours = {"layers": [12, 13], "settings": {"helpfulness": "knowledge"},
            "reading_vectors": [{"behavior": "harmfulness", "path": "rv/harmfulness"}],
            "behaviors": [{
                "behavior": "harmfulness", "grid": [-4, 0, 4],
                "alignment_coefficients": [
                    {"source": "fit-free", "c1": {"value": 9, "lo": 9, "hi": 9}},
                    {"source": "measured", "c1": {"value": 0.14, "lo": 0.12, "hi": 0.16}}],
                "helpfulness_coefficients": [
                    {"source": "measured", "c2": {"value": -0.003, "lo": -0.005, "hi": -0.001}}],
                "fits": [{"label": sensitivity.PAPER_TANH_LABEL, "slope_at_zero": 0.12,
                          "fit": {"r_squared": 0.99}}],
                "recommendation": {"r": 4.0, "method": "measured", "at_grid_edge": True},
                "verdicts": [{"name": "theorem1_tanh_fit", "label": "holds"}]}]}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(ours))
    summary = sensitivity.read_ours(path)
    b = summary.behavior("harmfulness")
    assert b is not None and b.gain_slope is not None and b.gain_slope.value == 0.14
    assert b.loss_curvature is not None and b.loss_curvature.value == -0.003
    assert b.tanh_slope == 0.12 and b.recommended == 4.0 and "grid edge" in b.recommendation
    shared = sensitivity.shared_vectors(summary, tmp_path)
    assert isinstance(shared, SharedVectors)
    assert shared.path_for("harmfulness") == Path("rv/harmfulness")
    assert shared.path_for("fairness") == tmp_path / "reading_vectors" / "bias"
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    assert sensitivity.read_ours(empty).behaviors == ()
    with pytest.raises(FileNotFoundError):
        sensitivity.read_ours(tmp_path / "missing.json")
    rows = sensitivity.table(summary, quick[1])
    assert rows and all(len(r) == len(sensitivity.COLUMNS) for r in rows)
    slope = next(r for r in rows if r[1].startswith("gain slope"))
    assert slope[2].startswith("0.14") and slope[5]            # ours' value and a reason
    verdict = next(r for r in rows if r[1].startswith("verdict theorem1_tanh_fit"))
    assert verdict[2] == "holds" and verdict[3] in ("holds", "fails", "undecided")
    written = sensitivity.write(rows, tmp_path, summary, quick[1])
    table = pd.read_csv(written[0])
    assert tuple(table.columns) == sensitivity.COLUMNS and len(table) == len(rows)
