"""RepE rep-reading vectors as the authors build them (``utils/WrapModel.py``,
``prepare_wrapped_model``): PCA with one component on paired last-token (``rep_token=-1``)
differences (``n_difference=1``) for every layer RepE reads, unit-normalised, signed so the
'toward' prompts project higher, then added as ``coeff · v`` at the injection layers.

``empirics.reading_vectors.reading_vectors(method="pca")`` is that computation: the authors'
pairs come in shuffled order inside each pair (RepE's ``train_labels``), which the random sign
flips reproduce; RepE's sign is a majority vote over pairs, ours the sign of the mean projection.
All pairs train the direction (the authors hold none out), so the separation is on them.
"""

from __future__ import annotations

from pathlib import Path

from empirics.models import LoadedModel
from empirics.reading_vectors import ReadingVectors, reading_vectors
from empirics.wolf.items import BehaviorItems
from empirics.wolf.protocol import injection_layers, reading_layers


def repe_vectors(lm: LoadedModel, items: BehaviorItems, seed: int,
                 batch_size: int = 16) -> ReadingVectors:
    """Unit PCA directions of ``items`` at every layer 1…L−1 (RepE's −1…−(L−1))."""
    if len(items.toward) < 2:
        raise ValueError(f"{items.behavior}: {len(items.toward)} contrast pairs; need at least 2")
    return reading_vectors(lm, items.toward, items.away, reading_layers(lm.num_layers),
                           method="pca", seed=seed, holdout_fraction=0.0, batch_size=batch_size)


def steering_vectors(all_layers: ReadingVectors, num_layers: int,
                     layers: list[int] | None = None) -> ReadingVectors:
    """The vectors at the injection layers (``layers``, default the authors' rule for a model
    of ``num_layers`` layers)."""
    return all_layers.subset(layers if layers is not None else injection_layers(num_layers))


def save_vectors(vectors: ReadingVectors, out: Path, behavior: str) -> Path:
    path = out / "reading_vectors" / behavior
    vectors.save(path)
    return path.with_name(behavior + ".safetensors")
