"""The authors' protocol as constants and pure rules: coefficient grids, fit ranges, and which
layers to steer, counted from the end of the model.

Sources (dorin133/REPE_alignment_helpfulness_tradeoff): the grids come from
``harmfulness_experiments/run_harmfulness_helpfulness.sh`` (−10…10.2 step 0.25) and
``run_harmfulness_safety.sh`` (−5…5.1 step 0.2), turned into coefficients by
``np.round(np.arange(start, stop, step), ·)`` as in ``harmfulness_experiments/harmfulness_safety.py``;
the fit ranges from ``generate_plots_code/plot_all_behavior_and_helpfulness_ver2.ipynb``; the
layers from ``utils/WrapModel.py`` (``layer_ids_injections``).
"""

from __future__ import annotations

import math

import numpy as np

# (start, stop, step) as the authors pass them to np.arange (stop excluded).
HELPFULNESS_ARANGE = (-10.0, 10.2, 0.25)
BEHAVIOR_ARANGE = (-5.0, 5.1, 0.2)
# --quick: the same spans, coarser (not the paper's grids; the report says so).
QUICK_HELPFULNESS_ARANGE = (-10.0, 10.1, 2.5)
QUICK_BEHAVIOR_ARANGE = (-5.0, 5.1, 1.0)
# Fit ranges of the notebook: tanh on x_data = arange(-3.2, 4.1, 0.2), the helpfulness forms on
# x_data = arange(-5, 5.2, 0.25) (both ends included).
TANH_RANGE = (-3.2, 4.0)
HELPFULNESS_RANGE = (-5.0, 5.0)
# Starting values of the notebook's lmfit calls: tanh a=2, b0=-2 (no bounds); helpfulness
# a=1, b=1 with a.min = b.min = 0.
TANH_START = (2.0, -2.0)
HELPFULNESS_START = (1.0, 1.0)
# The authors' injection windows, counted from the end: (model depth, first, last). WrapModel.py
# picks them by parameter count (7B/8B vs 13B); for their four models (Llama-3.1-8B[-Instruct]:
# 32 layers, Llama-2-13b[-chat]: 40 layers) depth picks the same windows.
AUTHORS_WINDOWS = ((32, 18, 22), (40, 25, 32))
# Generation of the behavior measure (harmfulness_utils.py, feed_dialog_behavior).
MAX_NEW_TOKENS = 32
TEMPERATURE = 1.0
# Questions per MMLU subject and behavior prompts in the authors' runs (--num_instructions 96).
AUTHORS_PROMPTS = 96
# Fairness reading vectors: 150 StereoSet race training pairs (generate_reading_vectors.py).
FAIRNESS_TRAIN_PAIRS = 150


def paper_grid(start: float, stop: float, step: float) -> tuple[float, ...]:
    """``np.arange(start, stop, step)`` rounded to 2 decimals (stop excluded), as the authors build
    coefficient lists; ``ValueError`` for a non-positive step or an empty range."""
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise ValueError(f"grid ({start}, {stop}, {step}) has a non-finite value")
    if step <= 0 or stop <= start:
        raise ValueError(f"grid ({start}, {stop}, {step}): need step > 0 and stop > start")
    values = np.round(np.arange(start, stop, step), 2)
    return tuple(float(v) + 0.0 for v in values)  # + 0.0 turns -0.0 into 0.0


def helpfulness_grid(quick: bool = False) -> tuple[float, ...]:
    """−10…10 step 0.25 (81 coefficients); ``quick``: step 2.5 (9)."""
    return paper_grid(*(QUICK_HELPFULNESS_ARANGE if quick else HELPFULNESS_ARANGE))


def behavior_grid(quick: bool = False) -> tuple[float, ...]:
    """−5…5 step 0.2 (51 coefficients); ``quick``: step 1 (11)."""
    return paper_grid(*(QUICK_BEHAVIOR_ARANGE if quick else BEHAVIOR_ARANGE))


def in_range(grid: tuple[float, ...] | np.ndarray, span: tuple[float, float]) -> np.ndarray:
    """Boolean mask of the coefficients inside ``span`` (ends included, 1e-9 slack)."""
    g = np.asarray(grid, dtype=float)
    return (g >= span[0] - 1e-9) & (g <= span[1] + 1e-9)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def layers_from_end(num_layers: int) -> tuple[int, ...]:
    """The steered layers as counts from the end (k: the authors' index −k), for any depth.

    Rule: take the authors' window of the depth nearest to ``num_layers`` (ties: the shallower)
    and scale both ends by ``num_layers / depth``, rounding half up, kept within 1…L−1 (the
    layers RepE reads: ``hidden_layers = range(-1, -L, -1)``). Depth 32 gives −18…−22, depth 40
    gives −25…−32 exactly; the 30-layer embedded model gets −17…−21.
    """
    if not isinstance(num_layers, int) or num_layers < 2:
        raise ValueError(f"num_layers {num_layers!r} must be an integer >= 2")
    depth, first, last = min(AUTHORS_WINDOWS, key=lambda w: (abs(w[0] - num_layers), w[0]))
    lo = _round_half_up(num_layers * first / depth)
    hi = _round_half_up(num_layers * last / depth)
    lo, hi = max(1, min(lo, num_layers - 1)), max(1, min(hi, num_layers - 1))
    return tuple(range(lo, hi + 1))


def injection_layers(num_layers: int) -> list[int]:
    """The steered layers as 0-based decoder-layer indices (layer −k is ``num_layers − k``),
    ascending: [8…15] for 40 layers, [10…14] for 32, [9…13] for the embedded 30."""
    return sorted(num_layers - k for k in layers_from_end(num_layers))


def reading_layers(num_layers: int) -> list[int]:
    """Every layer RepE reads a direction for (−1…−(L−1)): 0-based 1…L−1."""
    if not isinstance(num_layers, int) or num_layers < 2:
        raise ValueError(f"num_layers {num_layers!r} must be an integer >= 2")
    return list(range(1, num_layers))
