"""Real steering of Llama-architecture models, measured against the theory.

The public API of every ``empirics`` module is re-exported here, lazily (PEP 562): ``import
empirics`` stays cheap (no torch / transformers until a name is used), ``python -m
empirics.validate`` does not import itself twice, and a module that fails to import only breaks
the names that live in it (the error names the module).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, tuple[str, ...]] = {
    "models": ("EMBEDDED_NAME", "LoadedModel", "load_model", "find_decoder_layers",
               "find_final_norm", "embedded_gguf_path", "embedded_checkpoint", "default_cache_dir"),
    "steering": ("steer", "validate_vectors"),
    "io": ("atomic_write", "atomic_write_text", "atomic_write_bytes", "atomic_write_json"),
    "data": ("resolve_data_dir", "harmful_instructions", "harmless_instructions", "advbench_goals",
             "StereoItem", "stereoset_race", "MultipleChoice", "mmlu_subjects", "mmlu", "arc",
             "knowledge_questions"),
    "contrast": ("HARMFULNESS_TEMPLATE", "BIAS_TEMPLATE", "harmfulness_prompt", "bias_prompt",
                 "harmfulness_pairs", "bias_pairs", "bias_pairs_from_items", "split_disjoint",
                 "stereoset_split", "check_disjoint"),
    "reading_vectors": ("ReadingVectors", "reading_vectors", "random_directions",
                        "last_token_hidden_states"),
    "sweep": ("SweepResult", "sweep", "sweep_reference"),
    "tasks": ("ScoredPrompt", "harmfulness_prompts", "bias_prompts", "helpfulness_prompts",
              "outcome_token_ids", "YES_NO_SCORES", "FIRST_TOKEN_SCORES"),
    "measures": ("behavior_measures", "helpfulness_measures", "measure", "MeanCI",
                 "bootstrap_mean_ci", "summarize", "long_rows"),
    "theory_link": ("delta_jvp", "PromptEstimates", "estimate_prompts", "prompt_estimates",
                    "pooled_sigma", "Predictions", "predicted_curves", "Remainder",
                    "linear_response_remainder"),
    "fits": ("FitResult", "fit_tanh", "fit_helpfulness_two", "fit_helpfulness_four",
             "fit_local_polynomial"),
    "verdicts": ("Verdict", "all_verdicts", "alignment_rises_linearly",
                 "helpfulness_no_first_order", "helpfulness_falls_quadratically", "bounds_hold",
                 "efficient_regime", "recommended_coefficient"),
    "plan": ("Candidate", "candidates", "layer_shifts", "PlanSettings", "PlanResult",
             "Prediction", "Measured"),
    "plots": ("Series", "curve_plot", "tradeoff_plot"),
    "report": ("run_and_report", "markdown", "csv_text", "tradeoff_section"),
    "validate": ("main", "Settings", "settings_from_args", "parse_grid", "parse_layers",
                 "prepare", "run_all"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'empirics' has no attribute {name!r}")
    try:
        mod = importlib.import_module(f"empirics.{module}")
    except ImportError as err:
        raise ImportError(f"empirics.{name} lives in empirics.{module}, which failed to import: "
                          f"{err}") from err
    value = getattr(mod, name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
