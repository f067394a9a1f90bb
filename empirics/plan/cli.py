"""``python -m empirics.plan``: flags -> ``PlanSettings`` -> ``run`` -> ``report.write``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from empirics.models import load_model
from empirics.plan.predictions import CURVATURE_FORMS, LOSS_FORMS
from empirics.plan.report import summary_line, write
from empirics.plan.runner import PlanSettings, run
from empirics.plan.windows import candidates
from empirics.settings import model_slug


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m empirics.plan",
        description="Choose steering layers and coefficient from JVPs at r_e = 0 "
                    "(and, with --verify K, prove the choice against real sweeps).")
    p.add_argument("--model", default=None, help="HF id or local path (default: embedded SmolLM2)")
    p.add_argument("--behaviors", default="harmfulness,bias")
    p.add_argument("--n-prompts", type=int, default=16, help="behavior prompts per behavior")
    p.add_argument("--n-help", type=int, default=16, help="helpfulness prompts")
    p.add_argument("--n-check", type=int, default=0,
                   help="prompts of each kind per candidate whose JVP checks the reverse-mode "
                        "shifts and the central-difference Δ (costs ~1 s each)")
    p.add_argument("--widths", default=None, help="window widths, e.g. 1,3,6,10 (default by depth)")
    p.add_argument("--method", default="pca", choices=("pca", "mean_diff"))
    p.add_argument("--kappa", type=float, default=1.0)
    p.add_argument("--curvature", default="response", choices=CURVATURE_FORMS,
                   help="loss curvature the ranking uses: actual Δ plus the second-order "
                        "response (default), random direction, or actual Δ alone")
    p.add_argument("--loss", default="softmax", choices=LOSS_FORMS,
                   help="helpfulness loss in U: the exact softmax of the second-order logits "
                        "(default; bounded like the real loss) or quadratic in r (Corollary)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verify", type=int, default=0, metavar="K",
                   help="sweep the top K and K others spread over the ranking")
    p.add_argument("--data-dir", default=None, help="default $STEERING_DATA_DIR")
    p.add_argument("--out", default=None, help="default runs/plan/<model-slug>")
    p.add_argument("--n-boot", type=int, default=500)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--no-progress", action="store_true")
    return p


def settings_from_args(a: argparse.Namespace) -> PlanSettings:
    behaviors = tuple(b.strip() for b in a.behaviors.split(",") if b.strip())
    for b in behaviors:
        if b not in ("harmfulness", "bias"):
            raise ValueError(f"behavior {b!r} must be 'harmfulness' or 'bias' (--behaviors)")
    for name in ("n_prompts", "n_help"):
        if getattr(a, name) < 2:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 2 (CIs need two prompts)")
    if a.n_check < 0 or a.verify < 0 or a.kappa <= 0:
        raise ValueError("--n-check and --verify must be >= 0 and --kappa > 0")
    if a.loss == "softmax" and a.curvature != "response":
        raise ValueError("--loss softmax needs --curvature response (it is that form's curve)")
    widths = None
    if a.widths:
        try:
            widths = tuple(int(x) for x in a.widths.split(","))
        except ValueError as err:
            raise ValueError(f"--widths {a.widths!r} must be a comma list of integers") from err
    return PlanSettings(behaviors=behaviors, n_behavior=a.n_prompts, n_help=a.n_help,
                        n_check=a.n_check, method=a.method, kappa=a.kappa, loss=a.loss,
                        seed=a.seed, verify=a.verify, widths=widths, n_boot=a.n_boot,
                        progress=not a.no_progress, data_dir=a.data_dir, curvature=a.curvature)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    t0 = time.time()
    try:
        a = build_parser().parse_args(argv)
        s = settings_from_args(a)
        if a.threads:
            torch.set_num_threads(a.threads)
        torch.manual_seed(s.seed)
        lm = load_model(a.model, device=a.device) if a.model else load_model(device=a.device)
        cands = candidates(lm.num_layers, s.widths)
    except SystemExit as err:
        return int(err.code or 0)
    except (ValueError, FileNotFoundError, ImportError) as err:
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    out = Path(a.out) if a.out else Path("runs") / "plan" / model_slug(lm.name)
    print(f"Planning {len(cands)} candidates on {lm.name} ({lm.num_layers} layers)", file=sys.stderr)
    result = run(lm, s)
    paths = write(result, out)
    print(f"Done in {time.time() - t0:.0f} s. Outputs: {', '.join(str(p) for p in paths)}")
    for bp in result.behaviors:
        pk = bp.pick
        print(f"{bp.behavior}: pick layers {pk.candidate.name}, r = {pk.r_star:.4g} "
              f"(predicted U {pk.utility.value:.4g}; planning {bp.plan_seconds:.1f} s)")
    for bp in result.behaviors:
        if bp.agreement is not None:
            print(summary_line(bp))
    return 0

