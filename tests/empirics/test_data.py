"""Data loaders on the real benchmark files (STEERING_DATA_DIR), their errors, the knowledge set, and disjoint splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from empirics import contrast, data


def test_resolve_data_dir_explicit_env_and_errors(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert data.resolve_data_dir(data_dir) == data_dir
    monkeypatch.setenv("STEERING_DATA_DIR", str(data_dir))
    assert data.resolve_data_dir(None) == data_dir
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="STEERING_DATA_DIR") as err:
        data.resolve_data_dir(missing)
    assert str(missing) in str(err.value)
    monkeypatch.setenv("STEERING_DATA_DIR", str(missing))
    with pytest.raises(FileNotFoundError, match="nope"):
        data.resolve_data_dir()
    monkeypatch.delenv("STEERING_DATA_DIR")
    with pytest.raises(ValueError, match="STEERING_DATA_DIR"):
        data.resolve_data_dir()


def test_instruction_counts(data_dir: Path) -> None:
    assert len(data.harmful_instructions(data_dir, "train")) == 260
    assert len(data.harmful_instructions(data_dir, "val")) == 39
    assert len(data.harmful_instructions(data_dir, "test")) == 572
    assert len(data.harmless_instructions(data_dir, "val")) == 6264
    assert len(data.advbench_goals(data_dir)) == 520
    with pytest.raises(ValueError, match="split"):
        data.harmful_instructions(data_dir, "training")


def test_train_and_measurement_splits_are_disjoint(data_dir: Path) -> None:
    train = set(data.harmful_instructions(data_dir, "train"))
    for split in ("val", "test"):
        assert not train & set(data.harmful_instructions(data_dir, split))


def test_missing_file_and_empty_dataset(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="STEERING_DATA_DIR") as err:
        data.harmful_instructions(tmp_path, "train")
    assert "harmful_train.json" in str(err.value)
    folder = tmp_path / "instructions" / "refusal_direction"
    folder.mkdir(parents=True)
    (folder / "harmful_train.json").write_text(json.dumps([{"instruction": "  "}]))
    with pytest.raises(ValueError, match="no usable rows"):
        data.harmful_instructions(tmp_path, "train")


def test_mmlu(data_dir: Path) -> None:
    rows = data.mmlu(data_dir, ["international_law"])
    assert len(rows) == 121
    assert all(len(r.options) == 4 and 0 <= r.correct < 4 for r in rows)
    assert rows[0].correct == 1 and rows[0].options[1] == "The flag State"
    assert len(data.mmlu(data_dir, ["medical_genetics", "high_school_computer_science"])) == 200
    assert len(data.mmlu(data_dir, ["international_law"], split="dev")) == 5
    with pytest.raises(ValueError, match="unknown MMLU subject 'astrology'.*e.g. abstract_algebra"):
        data.mmlu(data_dir, ["astrology"])
    with pytest.raises(ValueError, match="split"):
        data.mmlu(data_dir, ["international_law"], split="val")


def test_mmlu_all_test_files_parse(data_dir: Path) -> None:
    # Mixed CRLF / LF line endings, quoted newlines: the csv module must give 14,042 rows.
    subjects = data.mmlu_subjects(data_dir)
    assert len(subjects) == 57
    assert len(data.mmlu(data_dir, subjects)) == 14042


def test_arc(data_dir: Path) -> None:
    easy = data.arc(data_dir)
    assert len(easy) == 2376
    challenge = data.arc(data_dir, "ARC-Challenge", "Test")
    assert len(challenge) == 1172
    numeric = [r for r in easy + challenge if r.meta["labels"][0] == "1"]
    assert numeric, "some ARC items use labels 1-5"
    assert all(
        0 <= r.correct < len(r.options) and 3 <= len(r.options) <= 5 for r in easy + challenge
    )
    with pytest.raises(ValueError, match="subset"):
        data.arc(data_dir, "ARC-Hard")


def test_stereoset_race(data_dir: Path) -> None:
    items = data.stereoset_race(data_dir)
    assert len(items) == 976 + 962
    intra = next(i for i in items if i.kind == "intrasentence")
    assert intra.statement() == intra.stereotype
    inter = next(i for i in items if i.kind == "intersentence")
    assert inter.statement("anti_stereotype").startswith(inter.context.strip())
    assert inter.statement().endswith(inter.stereotype.strip())
    with pytest.raises(ValueError, match="which"):
        inter.statement("neutral")


def test_knowledge_questions_shape_and_determinism() -> None:
    items = data.knowledge_questions()
    assert 150 <= len(items) <= 250
    assert items == data.knowledge_questions()
    for it in items:
        assert len(it.options) == 4 and len(set(it.options)) == 4
        assert 0 <= it.correct < 4 and it.source.startswith("knowledge:")
    # the correct answer is not always in the same slot
    assert len({it.correct for it in items}) == 4


@pytest.mark.model
def test_knowledge_first_tokens_distinct(lm) -> None:  # type: ignore[no-untyped-def]
    for it in data.knowledge_questions():
        first = [lm.single_token_id(o) for o in it.options]
        assert len(set(first)) == 4, (it.question, it.options)


def test_split_disjoint_groups_and_determinism(data_dir: Path) -> None:
    vec, meas = contrast.stereoset_split(data_dir)
    assert vec and meas
    assert not {i.target.lower() for i in vec} & {i.target.lower() for i in meas}
    assert contrast.stereoset_split(data_dir) == (vec, meas)
    a, b = contrast.split_disjoint(list(range(100)), 0.3, seed=1)
    assert len(b) == 30 and sorted(a + b) == list(range(100)) and not set(a) & set(b)
    with pytest.raises(ValueError, match="measure_fraction"):
        contrast.split_disjoint([1, 2], 1.0)
    with pytest.raises(ValueError, match="also used"):
        contrast.check_disjoint(["x", "y"], ["y"])


@pytest.mark.model
def test_contrast_pairs(lm, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    pos, neg = contrast.harmfulness_pairs(lm, data_dir, n=4, seed=3)
    assert (pos, neg) == contrast.harmfulness_pairs(lm, data_dir, n=4, seed=3)
    assert all(contrast.HARMFULNESS_TEMPLATE.split("{instruction}")[1] in p for p in pos + neg)
    caa_pos, caa_neg = contrast.bias_pairs(lm, data_dir, n=3, seed=0, method="caa")
    assert all(p.endswith("assistant\nNo") for p in caa_pos)
    assert [p[: -len("No")] for p in caa_pos] == [n[: -len("Yes")] for n in caa_neg]
    st_pos, st_neg = contrast.bias_pairs(lm, data_dir, n=3, seed=0, method="statements")
    assert st_pos != st_neg and all("Do you agree" in p for p in st_pos)
    _, measure = contrast.stereoset_split(data_dir)
    contrast.check_disjoint(
        caa_pos + st_neg, [contrast.bias_prompt(lm, it.statement()) for it in measure]
    )
    with pytest.raises(ValueError, match="method"):
        contrast.bias_pairs(lm, data_dir, n=3, method="rlhf")
    with pytest.raises(ValueError, match="n 1000"):
        contrast.harmfulness_pairs(lm, data_dir, n=1000)
