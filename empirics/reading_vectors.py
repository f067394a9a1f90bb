"""Reading vectors (Zou et al. RepE style): one unit direction per layer from contrastive prompt pairs.

Layer ``l`` is the output of decoder layer ``l`` (``hidden_states[l + 1]``), read at the last real
token of each prompt. ``pca`` = first right singular vector of the centred, randomly sign-flipped
paired differences (exact SVD in float64); ``mean_diff`` = mean paired difference. The sign makes
positives project higher; the held-out separation is the fraction of held-out pairs where the
positive projects higher than its negative. Everything is seeded: two runs give identical bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from empirics.io import atomic_write_bytes, atomic_write_json
from empirics.models import LoadedModel, pad_id_of, pad_token_batch
from empirics.sweep import last_token_outputs

METHODS = ("pca", "mean_diff")


@dataclass
class ReadingVectors:
    vectors: dict[int, torch.Tensor]  # layer -> unit vector (d,), float32, CPU
    method: str  # "pca" | "mean_diff" | "random"
    model_name: str
    data_hash: str  # sha256 of the contrastive prompts
    separation: dict[int, float]  # held-out separation accuracy per layer
    meta: dict[str, Any] = field(default_factory=dict)  # seed, n_pairs, holdout_fraction, ...

    @staticmethod
    def _paths(path: str | Path) -> tuple[Path, Path]:
        p = Path(path)
        if p.suffix in (".safetensors", ".json"):
            p = p.with_suffix("")
        return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")

    def save(self, path: str | Path) -> None:
        """Write ``path.safetensors`` (vectors) and ``path.json`` (metadata), each atomically."""
        from safetensors.torch import save

        tensor_path, json_path = self._paths(path)
        tensors = {
            f"layer_{layer}": self.vectors[layer].detach().to(torch.float32).cpu().contiguous()
            for layer in sorted(self.vectors)
        }
        atomic_write_bytes(tensor_path, save(tensors))
        atomic_write_json(
            json_path,
            {
                "model": self.model_name,
                "layers": sorted(self.vectors),
                "method": self.method,
                "data_hash": self.data_hash,
                "separation": {
                    str(layer): float(self.separation[layer]) for layer in sorted(self.separation)
                },
                "meta": self.meta,
            },
        )

    @classmethod
    def load(cls, path: str | Path) -> ReadingVectors:
        from safetensors.torch import load

        tensor_path, json_path = cls._paths(path)
        for p in (tensor_path, json_path):
            if not p.is_file():
                raise FileNotFoundError(f"reading-vector file {p} not found")
        info = json.loads(json_path.read_text(encoding="utf-8"))
        tensors = load(tensor_path.read_bytes())
        vectors = {int(layer): tensors[f"layer_{layer}"] for layer in info["layers"]}
        return cls(
            vectors=vectors,
            method=str(info["method"]),
            model_name=str(info["model"]),
            data_hash=str(info["data_hash"]),
            separation={int(k): float(v) for k, v in info["separation"].items()},
            meta=dict(info.get("meta", {})),
        )

    def subset(self, layers: Sequence[int]) -> ReadingVectors:
        """The same vectors restricted to ``layers`` (each must be present)."""
        missing = [layer for layer in layers if layer not in self.vectors]
        if missing:
            raise ValueError(
                f"layers {missing} not in these reading vectors (have {sorted(self.vectors)})"
            )
        return ReadingVectors(
            vectors={layer: self.vectors[layer] for layer in layers},
            method=self.method,
            model_name=self.model_name,
            data_hash=self.data_hash,
            separation={
                layer: self.separation[layer] for layer in layers if layer in self.separation
            },
            meta=dict(self.meta),
        )


def _check_layers(lm: LoadedModel, layers: Sequence[int]) -> list[int]:
    out = [int(layer) for layer in layers]
    if not out:
        raise ValueError("layers is empty: give at least one layer")
    if len(set(out)) != len(out):
        raise ValueError(f"layers {out} contain duplicates")
    for layer in out:
        if not 0 <= layer < lm.num_layers:
            raise ValueError(f"layer {layer} out of range: valid layers are 0..{lm.num_layers - 1}")
    return out


class _Stop(Exception):
    """Raised by the last needed layer's hook: later layers and the unembedding are not needed."""


def last_token_hidden_states(
    lm: LoadedModel,
    prompts: Sequence[str],
    layers: Sequence[int],
    batch_size: int = 16,
    progress: bool = False,
    reference: bool = False,
) -> dict[int, torch.Tensor]:
    """Output of decoder layer ``l`` at each prompt's last token: ``{layer: (n, d) float32 CPU}``.

    Prompts are formatted strings (encoded with ``lm.encode``). On engine families one unsteered
    lower pass computes them (``sweep.last_token_outputs``); otherwise, or with ``reference``,
    the Hugging Face forward in length-sorted, right-padded batches with an attention mask, so
    each row equals its unbatched forward (up to float noise).
    """
    layers = _check_layers(lm, layers)
    if batch_size < 1:
        raise ValueError(f"batch_size {batch_size} must be >= 1")
    if isinstance(prompts, str):
        raise ValueError("prompts must be a sequence of strings, not one string")
    encoded = [lm.encode(p) for p in prompts]
    for i, tokens in enumerate(encoded):
        if not tokens:
            raise ValueError(f"prompt {i} encodes to no tokens")
    n, d = len(encoded), lm.hidden_size
    out = {layer: torch.empty(n, d, dtype=torch.float32) for layer in layers}
    if n == 0:
        return out
    fast = None if reference else last_token_outputs(lm, encoded, layers, batch_size=batch_size)
    if fast is not None:
        return fast
    _reference_states(lm, encoded, layers, batch_size, progress, out)
    return out


def _reference_states(lm: LoadedModel, encoded: list[list[int]], layers: list[int],
                      batch_size: int, progress: bool, out: dict[int, torch.Tensor]) -> None:
    """``last_token_hidden_states`` by the Hugging Face forward with hooks, into ``out``."""
    n = len(encoded)
    pad_id = pad_id_of(lm.tokenizer)
    # Length-sorted batches keep padding (wasted compute) small; stable sort = deterministic.
    order = sorted(range(n), key=lambda i: len(encoded[i]))
    batches = [order[s : s + batch_size] for s in range(0, n, batch_size)]
    last_layer = max(layers)
    captured: dict[int, torch.Tensor] = {}

    def make_hook(layer: int) -> Any:
        def hook(_m: torch.nn.Module, _i: Any, output: Any) -> None:
            captured[layer] = output[0] if isinstance(output, tuple) else output
            if layer == last_layer:
                raise _Stop

        return hook

    handles = [lm.layers[layer].register_forward_hook(make_hook(layer)) for layer in layers]
    iterator: Any = batches
    if progress:
        from tqdm import tqdm

        iterator = tqdm(batches, desc="hidden states", unit="batch")
    try:
        with torch.no_grad():
            for batch in iterator:
                captured.clear()
                _batch_states(lm, [encoded[i] for i in batch], pad_id)
                last = torch.tensor([len(encoded[i]) - 1 for i in batch])
                rows = torch.arange(len(batch))
                for layer in layers:
                    states = captured[layer].detach().to("cpu", torch.float32)
                    out[layer][torch.tensor(batch)] = states[rows, last]
    finally:
        for h in handles:
            h.remove()


def _batch_states(lm: LoadedModel, batch: list[list[int]], pad_id: int) -> None:
    """One right-padded forward (the hooks capture the layers' outputs and stop it early)."""
    ids, mask = pad_token_batch(batch, pad_id)
    try:
        lm.model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device), use_cache=False)
    except _Stop:
        pass


def prompts_hash(positive: Sequence[str], negative: Sequence[str]) -> str:
    """sha256 of the paired prompts (order matters)."""
    blob = json.dumps({"positive": list(positive), "negative": list(negative)}, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _direction(diffs: torch.Tensor, method: str, flips: torch.Tensor) -> torch.Tensor:
    """Unit direction (float64) from paired differences ``(n, d)``; sign: mean diff projects > 0."""
    if method == "mean_diff":
        v = diffs.mean(0)
    else:
        # RepE: random sign flips make the concept direction the top variance axis after centring
        # (without them centring would remove it).
        x = diffs * flips[:, None]
        x = x - x.mean(0, keepdim=True)
        v = torch.linalg.svd(x, full_matrices=False).Vh[0]
    norm = torch.linalg.vector_norm(v)
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError(
            "the contrastive pairs give a zero direction (are positive and negative identical?)"
        )
    v = v / norm
    if float((diffs @ v).mean()) < 0:
        v = -v
    return v


def reading_vectors(
    lm: LoadedModel,
    positive: Sequence[str],
    negative: Sequence[str],
    layers: Sequence[int],
    method: str = "pca",
    seed: int = 0,
    holdout_fraction: float = 0.25,
    batch_size: int = 16,
    states: Mapping[int, torch.Tensor] | None = None,
) -> ReadingVectors:
    """Per-layer unit reading vectors from paired prompts, with held-out separation per layer.

    A seeded permutation holds out ``round(n * holdout_fraction)`` pairs; the direction is fit on
    the rest. With no held-out pairs, separation is measured on the training pairs. ``states``:
    ``last_token_hidden_states(lm, [*positive, *negative], layers)`` computed already (several
    methods on the same pairs need one forward pass, not one each).
    """
    n, n_hold = _check_pairs(method, positive, negative, holdout_fraction)
    layers = _check_layers(lm, layers)
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=gen)
    held, train = perm[:n_hold], perm[n_hold:]
    flips = torch.randint(0, 2, (len(train),), generator=gen).to(torch.float64) * 2 - 1
    if states is None:
        states = last_token_hidden_states(lm, [*positive, *negative], layers,
                                          batch_size=batch_size)
    _check_states(states, layers, n, lm.hidden_size)
    vectors: dict[int, torch.Tensor] = {}
    separation: dict[int, float] = {}
    for layer in layers:
        pos, neg = states[layer][:n].double(), states[layer][n:].double()
        v = _direction(pos[train] - neg[train], method, flips)
        eval_idx = held if n_hold > 0 else train
        sep = ((pos[eval_idx] - neg[eval_idx]) @ v > 0).double().mean()
        vectors[layer] = v.to(torch.float32).contiguous()
        separation[layer] = float(sep)
    return ReadingVectors(
        vectors=vectors,
        method=method,
        model_name=lm.name,
        data_hash=prompts_hash(positive, negative),
        separation=separation,
        meta={
            "seed": int(seed),
            "n_pairs": n,
            "n_heldout": n_hold,
            "holdout_fraction": float(holdout_fraction),
            "separation_on": "heldout" if n_hold > 0 else "train",
            "hidden_size": lm.hidden_size,
        },
    )


def _check_pairs(method: str, positive: Sequence[str], negative: Sequence[str],
                 holdout_fraction: float) -> tuple[int, int]:
    """``(pairs, held-out pairs)``; ``ValueError`` naming a bad argument."""
    if method not in METHODS:
        raise ValueError(f"method {method!r} must be one of {list(METHODS)}")
    if len(positive) != len(negative):
        raise ValueError(f"positive ({len(positive)}) and negative ({len(negative)}) must pair up")
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction {holdout_fraction} must be in [0, 1)")
    n = len(positive)
    n_hold = int(round(n * holdout_fraction))
    if n - n_hold < 2:
        raise ValueError(
            f"need at least 2 training pairs; got {n} pairs with holdout_fraction {holdout_fraction}"
        )
    return n, n_hold


def _check_states(states: Mapping[int, torch.Tensor], layers: Sequence[int], n: int,
                  d: int) -> None:
    for layer in layers:
        got = states.get(layer)
        if got is None or tuple(got.shape) != (2 * n, d):
            raise ValueError(f"states[{layer}] must be the ({2 * n}, {d}) last-token "
                             f"states of the positive then negative prompts (got "
                             f"{None if got is None else tuple(got.shape)}); use "
                             f"last_token_hidden_states(lm, [*positive, *negative], layers)")


def random_directions(
    layers: Sequence[int], hidden_size: int, seed: int
) -> dict[int, torch.Tensor]:
    """Seeded random unit vectors (control); layer ``l``'s vector does not depend on the others."""
    if hidden_size < 1:
        raise ValueError(f"hidden_size {hidden_size} must be >= 1")
    out: dict[int, torch.Tensor] = {}
    for layer in layers:
        if int(layer) < 0:
            raise ValueError(f"layer {layer} must be >= 0")
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(layer))
        v = torch.randn(hidden_size, generator=gen, dtype=torch.float64)
        out[int(layer)] = (v / torch.linalg.vector_norm(v)).to(torch.float32)
    return out
