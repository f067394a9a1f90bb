"""The steered-execution engine: one decoder-layer step behind every fast driver.

Parts (docs/engine.md): row packing (``packing``), the family adapters (``family``,
``families/``), the key/value cache (``kv``), attention for packed rows and for decoding
(``attention``), the layer step and a pass of steps with steering (``layers``), the unsteered
lower pass computed once per prompt set (``lower``), the steered pass above it (``steered``),
forward-mode derivatives of any readout (``derivatives``) and the readouts (``readout``).
The drivers (``empirics.sweep``, ``jvp``, ``generate``, ``sequence``, the planner) use only
the names below.
"""

from empirics.engine.attention import DecodeAttention, Output, PackedAttention, decode_attention
from empirics.engine.devices import PerDevice
from empirics.engine.families import family_for, fast_path_reason
from empirics.engine.family import AttentionSpec, Family, Projected, Rope
from empirics.engine.kv import KVCache
from empirics.engine.layers import Steering, host_vectors, layer_step, run_layers
from empirics.engine.lower import LowerPass, lower_pass
from empirics.engine.packing import (
    PromptSet,
    Row,
    Runs,
    common_prefix_length,
    pack_chunks,
    runs_of,
    split_where_length_changes,
)
from empirics.engine.readout import candidate_logprobs, normed_and_logits
from empirics.engine.steered import SteeredPass, lower_top

__all__ = [
    "AttentionSpec", "DecodeAttention", "Family", "KVCache", "LowerPass", "Output",
    "PackedAttention", "PerDevice", "Projected", "PromptSet", "Rope", "Row", "Runs",
    "Steering", "SteeredPass", "candidate_logprobs", "common_prefix_length", "decode_attention",
    "family_for", "fast_path_reason", "host_vectors", "layer_step", "lower_pass", "lower_top",
    "normed_and_logits", "pack_chunks", "run_layers", "runs_of", "split_where_length_changes",
]
