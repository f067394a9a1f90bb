"""What the protocol costs: multiply-adds counted from the run's own shapes (prompt lengths,
grids, samples, steered layers) and the expected time of the authors' sizes on Llama-2-13b on
one GPU, from the same counts scaled to that model's dimensions.

GPU model (stated, not measured here: no GPU was available): prompt processing and the sweep
are compute-bound at ``GPU_UTILISATION`` of the card's dense fp16/bf16 peak; each decoding step
of a chunk of rows also reads all weights once (memory-bound floor).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from empirics.models import LoadedModel
from empirics.wolf.protocol import AUTHORS_PROMPTS, behavior_grid, helpfulness_grid
from empirics.wolf.results import Shapes

# Llama-2-13b: d = 5120, 40 layers, MLP 13824, vocabulary 32000 (its config.json).
LLAMA2_13B = {"d": 5120, "layers": 40, "ffn": 13824, "vocab": 32000, "first_steered": 8}
GPUS = (("A100 80GB", 312e12, 2.0e12), ("H100 80GB SXM", 989e12, 3.35e12))
GPU_UTILISATION = 0.4
WEIGHT_BYTES_13B = 26e9            # fp16 weights
ROWS_PER_CHUNK_13B = 320           # key/value budget of half the free memory of an 80 GB card


def layer_macs(lm: LoadedModel) -> tuple[list[int], int]:
    """Multiply-adds per token of each decoder layer's linear maps, and of the unembedding."""
    per = [sum(m.weight.numel() for m in layer.modules() if isinstance(m, torch.nn.Linear))
           for layer in lm.layers]
    return per, int(lm.lm_head.weight.numel())  # type: ignore[union-attr,operator]


def _llama13b_layer() -> int:
    d, f = LLAMA2_13B["d"], LLAMA2_13B["ffn"]
    return 4 * d * d + 3 * d * f


def sweep_macs(per: Sequence[int], head: int, first: int, lengths: Sequence[int],
               coefficients: int) -> float:
    """Layers below ``first`` once per prompt; the rest once per coefficient; the unembedding
    at the last token only (as the fast sweep)."""
    below, above = sum(per[:first]), sum(per[first:])
    tokens = float(sum(lengths))
    return tokens * below + coefficients * (tokens * above + len(lengths) * head)


def generation_macs(per: Sequence[int], head: int, first: int, lengths: Sequence[int],
                    coefficients: int, samples: int, new_tokens: int) -> float:
    """Prompt processing as the sweep (shared by samples), then ``new_tokens`` decoding steps per
    row through every layer and the unembedding (an upper bound: rows with equal histories share
    the lower layers in the fast engine)."""
    rows = coefficients * len(lengths) * samples
    return (sweep_macs(per, 0, first, lengths, coefficients)
            + rows * new_tokens * (sum(per) + head))


def shapes_macs(lm: LoadedModel, shapes: Shapes) -> tuple[float, float, float]:
    """(helpfulness sweep, generation, next-token sweep) multiply-adds of one behavior."""
    per, head = layer_macs(lm)
    f = shapes.first_layer
    return (sweep_macs(per, head, f, shapes.helpfulness_lengths, shapes.helpfulness_coefficients),
            generation_macs(per, head, f, shapes.behavior_lengths, shapes.behavior_coefficients,
                            shapes.samples, shapes.new_tokens),
            sweep_macs(per, head, f, shapes.behavior_lengths, shapes.behavior_coefficients))


def llama13b_estimate(shapes: Sequence[Shapes], prompts_per_set: int = AUTHORS_PROMPTS,
                      samples: int = 1) -> str:
    """Expected time of the authors' sizes (the paper's grids, ``prompts_per_set`` behavior
    prompts and questions per subject, ``samples`` replies) on Llama-2-13b, with this run's mean
    prompt lengths (in this model's tokens)."""
    n_b, n_h = len(behavior_grid()), len(helpfulness_grid())
    per = [_llama13b_layer()] * LLAMA2_13B["layers"]
    head, first = LLAMA2_13B["d"] * LLAMA2_13B["vocab"], LLAMA2_13B["first_steered"]
    compute, steps = 0.0, 0
    for sh in shapes:
        b_len = round(sum(sh.behavior_lengths) / len(sh.behavior_lengths))
        h_len = round(sum(sh.helpfulness_lengths) / len(sh.helpfulness_lengths))
        b_lengths, h_lengths = [b_len] * prompts_per_set, [h_len] * (3 * prompts_per_set)
        compute += sweep_macs(per, head, first, h_lengths, n_h)
        compute += sweep_macs(per, head, first, b_lengths, n_b)
        compute += generation_macs(per, head, first, b_lengths, n_b, samples, sh.new_tokens)
        rows = n_b * prompts_per_set * samples
        steps += -(-rows // ROWS_PER_CHUNK_13B) * sh.new_tokens
    flops = 2 * compute
    parts = []
    for name, peak, bandwidth in GPUS:
        seconds = flops / (GPU_UTILISATION * peak) + steps * WEIGHT_BYTES_13B / bandwidth
        parts.append(f"{name}: ~{seconds / 60:.0f} min")
    return (f"Llama-2-13b at the authors' sizes ({prompts_per_set} prompts per set, {samples} "
            f"sample(s), both behaviors, 3 subjects): {flops:.3g} FLOP and {steps} decoding "
            f"steps -> " + "; ".join(parts) + f" (compute at {GPU_UTILISATION:.0%} of the fp16 "
            "peak plus one weight read per decoding step; plus ~1 min to load the weights)")
