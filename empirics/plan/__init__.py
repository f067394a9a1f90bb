"""The steering planner (``python -m empirics.plan``, docs/planner.md): which layers, and how
strong, from the model's response at r_e = 0; with ``--verify K`` checked against real sweeps.

Modules: ``windows`` (candidate windows of layers), ``shifts`` (per-layer logit shifts, reverse mode),
``response`` (the second-order response per candidate), ``terms`` (per-prompt terms),
``predictions`` (U*, r*, CIs), ``verify`` (measured against predicted), ``data`` (prompts), ``runner``
(the runner), ``report`` (json / csv / md / png), ``cli``. The plan file's typed reader is
``empirics.plan_file`` (it imports none of this package).
"""

from empirics.plan.cli import main
from empirics.plan.predictions import Prediction, predict, rank
from empirics.plan.runner import BehaviorPlan, PlanResult, PlanSettings, run
from empirics.plan.shifts import LayerShifts, layer_shifts
from empirics.plan.terms import CandidateTerms, candidate_terms
from empirics.plan.windows import Candidate, candidates
from empirics.plan_file import pick_layers, plan_pick

__all__ = ["BehaviorPlan", "Candidate", "CandidateTerms", "LayerShifts", "PlanResult",
           "PlanSettings", "Prediction", "candidate_terms", "candidates", "layer_shifts", "main",
           "pick_layers", "plan_pick", "predict", "rank", "run"]
