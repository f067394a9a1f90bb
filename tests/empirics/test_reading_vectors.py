"""Reading vectors: determinism, unit norm, sign, persistence, batched hidden states."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from empirics import contrast
from empirics.reading_vectors import (
    ReadingVectors,
    last_token_hidden_states,
    random_directions,
    reading_vectors,
)

LAYERS = [3, 12]


@pytest.fixture(scope="module")
def pairs(lm, data_dir: Path) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    return contrast.harmfulness_pairs(lm, data_dir, n=8, seed=0)


@pytest.fixture(scope="module")
def states(lm, pairs) -> dict[int, torch.Tensor]:  # type: ignore[no-untyped-def]
    return last_token_hidden_states(lm, [*pairs[0], *pairs[1]], LAYERS)


@pytest.fixture(scope="module")
def rv(lm, pairs) -> ReadingVectors:  # type: ignore[no-untyped-def]
    return reading_vectors(
        lm, pairs[0], pairs[1], LAYERS, method="pca", seed=0, holdout_fraction=0.25
    )


def _synthetic() -> ReadingVectors:
    vecs = random_directions([1, 4], 8, seed=3)
    return ReadingVectors(vecs, "random", "m", "abc", {1: 0.5, 4: 1.0}, {"seed": 3})


def test_save_load_round_trip_exact(tmp_path: Path) -> None:
    r = _synthetic()
    r.save(tmp_path / "rv")
    assert (tmp_path / "rv.safetensors").is_file() and (tmp_path / "rv.json").is_file()
    back = ReadingVectors.load(tmp_path / "rv.json")
    assert back.vectors.keys() == r.vectors.keys()
    assert all(torch.equal(back.vectors[layer], r.vectors[layer]) for layer in r.vectors)
    assert (back.method, back.model_name, back.data_hash) == ("random", "m", "abc")
    assert back.separation == r.separation and back.meta == r.meta
    sub = r.subset([4])
    assert list(sub.vectors) == [4] and sub.separation == {4: 1.0}
    with pytest.raises(ValueError, match="not in these"):
        r.subset([2])
    with pytest.raises(FileNotFoundError):
        ReadingVectors.load(tmp_path / "missing")


def test_random_directions() -> None:
    a = random_directions([0, 5], 32, seed=1)
    assert all(abs(float(v.norm()) - 1) < 1e-6 and v.dtype == torch.float32 for v in a.values())
    assert torch.equal(a[5], random_directions([5], 32, seed=1)[5])
    assert not torch.equal(a[5], random_directions([5], 32, seed=2)[5])
    with pytest.raises(ValueError, match="hidden_size"):
        random_directions([0], 0, seed=1)


@pytest.mark.model
def test_batched_equals_unbatched(lm, pairs) -> None:  # type: ignore[no-untyped-def]
    prompts = [pairs[0][0], pairs[1][0], pairs[0][1]]  # different lengths
    batched = last_token_hidden_states(lm, prompts, [5, 12, 29], batch_size=3)
    single = last_token_hidden_states(lm, prompts, [5, 12, 29], batch_size=1)
    for layer in (5, 12):
        assert torch.allclose(batched[layer], single[layer], atol=1e-4, rtol=0)
    # the last layer's states have norm ~1e3: float noise is larger there
    assert torch.allclose(batched[29], single[29], atol=1e-3, rtol=0)
    with torch.no_grad():
        out = lm.model(input_ids=torch.tensor([lm.encode(prompts[1])]), output_hidden_states=True)
    assert torch.allclose(out.hidden_states[13][0, -1], single[12][1], atol=1e-5)


@pytest.mark.model
def test_deterministic_bytes(lm, pairs, rv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    again = reading_vectors(
        lm, pairs[0], pairs[1], LAYERS, method="pca", seed=0, holdout_fraction=0.25
    )
    rv.save(tmp_path / "a")
    again.save(tmp_path / "b")
    for ext in (".safetensors", ".json"):
        assert (tmp_path / f"a{ext}").read_bytes() == (tmp_path / f"b{ext}").read_bytes()


@pytest.mark.model
def test_unit_norm_sign_metadata(lm, pairs, rv, states) -> None:  # type: ignore[no-untyped-def]
    n = len(pairs[0])
    for layer in LAYERS:
        v = rv.vectors[layer]
        assert v.shape == (lm.hidden_size,) and v.dtype == torch.float32
        assert abs(float(v.norm()) - 1) < 1e-5
        diffs = states[layer][:n] - states[layer][n:]
        assert float((diffs @ v).mean()) > 0  # positives project higher
        assert 0.0 <= rv.separation[layer] <= 1.0
    assert rv.method == "pca" and rv.model_name == lm.name and len(rv.data_hash) == 64
    assert rv.meta["n_pairs"] == 8 and rv.meta["n_heldout"] == 2
    other_seed = reading_vectors(
        lm, pairs[0], pairs[1], [3], method="pca", seed=1, holdout_fraction=0.25
    )
    assert float(other_seed.vectors[3] @ rv.vectors[3]) > 0  # same sign convention


@pytest.mark.model
def test_mean_diff_matches_manual(lm, pairs, states) -> None:  # type: ignore[no-untyped-def]
    md = reading_vectors(lm, pairs[0], pairs[1], [12], method="mean_diff", holdout_fraction=0.0)
    manual = (states[12][:8] - states[12][8:]).double().mean(0)
    manual = (manual / manual.norm()).float()
    assert torch.allclose(md.vectors[12], manual, atol=1e-6)
    assert md.meta["separation_on"] == "train"


@pytest.mark.model
def test_bad_arguments(lm, pairs) -> None:  # type: ignore[no-untyped-def]
    pos, neg = pairs
    with pytest.raises(ValueError, match="method"):
        reading_vectors(lm, pos, neg, [12], method="ica")
    with pytest.raises(ValueError, match="pair up"):
        reading_vectors(lm, pos, neg[:-1], [12])
    with pytest.raises(ValueError, match="holdout_fraction"):
        reading_vectors(lm, pos, neg, [12], holdout_fraction=1.0)
    with pytest.raises(ValueError, match="valid layers are 0..29"):
        reading_vectors(lm, pos, neg, [30])
    with pytest.raises(ValueError, match="at least 2 training pairs"):
        reading_vectors(lm, pos[:2], neg[:2], [12], holdout_fraction=0.5)


@pytest.mark.model
def test_precomputed_states_give_the_same_vectors(lm, pairs, rv, states) -> None:  # type: ignore[no-untyped-def]
    """pipeline._vectors runs both methods on one forward pass; the vectors must not change."""
    again = reading_vectors(lm, pairs[0], pairs[1], LAYERS, method="pca", seed=0,
                            holdout_fraction=0.25, states=states)
    for layer in LAYERS:
        assert torch.equal(again.vectors[layer], rv.vectors[layer])
    assert again.separation == rv.separation
    # Another prompt set's states are caught by their shape, not silently used.
    with pytest.raises(ValueError, match=r"states\[3\] must be the \(16, 576\)"):
        reading_vectors(lm, pairs[0], pairs[1], LAYERS, states={k: v[:10] for k, v in states.items()})
    with pytest.raises(ValueError, match=r"states\[12\]"):
        reading_vectors(lm, pairs[0], pairs[1], LAYERS, states={3: states[3]})


@pytest.mark.parametrize("model_type", ["llama", "qwen3", "gemma2"])
def test_engine_states_equal_the_reference_forward(model_type: str) -> None:
    """The lower pass (shared prefix once, rows packed) gives the Hugging Face forward's layer
    outputs at the last token; a state read one layer off does not."""
    from tests.empirics.families import tiny_family

    lm = tiny_family(model_type)
    prompts = ["w1 w2 w3 w4 w5", "w1 w2 w3 w9", "w1 w2 w7 w8 w6 w5 w4", "w1 w2 w3 w4 w6"]
    layers = [0, 1, lm.num_layers - 1]
    fast = last_token_hidden_states(lm, prompts, layers)
    ref = last_token_hidden_states(lm, prompts, layers, reference=True)
    for layer in layers:
        torch.testing.assert_close(fast[layer], ref[layer], rtol=1e-4, atol=1e-5)
    assert (fast[1] - ref[0]).abs().max() > 1e-3


@pytest.mark.model
def test_engine_states_equal_the_reference_forward_on_the_model(lm, pairs) -> None:  # type: ignore[no-untyped-def]
    prompts = [*pairs[0][:4], *pairs[1][:4]]
    fast = last_token_hidden_states(lm, prompts, [5, 12, 20])
    ref = last_token_hidden_states(lm, prompts, [5, 12, 20], reference=True)
    for layer in (5, 12, 20):
        torch.testing.assert_close(fast[layer], ref[layer], rtol=1e-4, atol=1e-4)
