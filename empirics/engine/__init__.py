"""The steered-execution engine: one decoder-layer step behind every fast driver.

Parts (docs/engine.md): row packing (``packing``), the family adapters (``family``,
``families/``), the key/value cache (``kv``), attention for packed rows and for decoding
(``attention``), the layer step and a pass of steps with steering (``layers``), the unsteered
lower pass computed once per prompt set (``lower``), the steered pass above it (``steered``),
forward-mode derivatives of any readout (``derivatives``), the readouts (``readout``) and the
widest products' reused output buffers (``workspace``, used by the adapters).
The drivers (``empirics.sweep``, ``jvp``, ``generate``, ``sequence``, the planner) use the
names below; generation's decoding loop (``empirics.decoding``) also its own helpers in
``histories`` and ``readout``.
"""

from empirics.engine.attention import DecodeAttention, Output, PackedAttention, decode_attention
from empirics.engine.derivatives import (
    Derivatives,
    Readout,
    jvp_orders,
    packed_derivatives,
    packed_first_along,
)
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
    "AttentionSpec", "candidate_logprobs", "common_prefix_length", "decode_attention",
    "DecodeAttention", "Derivatives", "Family", "family_for", "fast_path_reason", "host_vectors",
    "jvp_orders", "KVCache", "layer_step", "lower_pass", "lower_top", "LowerPass",
    "normed_and_logits", "Output", "pack_chunks", "packed_derivatives", "packed_first_along",
    "PackedAttention",
    "PerDevice", "Projected", "PromptSet", "Readout", "Rope", "Row", "run_layers", "Runs",
    "runs_of", "split_where_length_changes", "SteeredPass", "Steering",
]
