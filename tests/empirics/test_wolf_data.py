"""The protocol's data per source, checked before any model loads: the authors' sets where the
source has them, the named substitution where it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from empirics.wolf import items
from empirics.wolf.options import parse_options
from empirics.wolf.run import prepare


def test_embedded_substitutions_named() -> None:
    p = prepare(parse_options("wolf2024", ["--data", "embedded"]))
    names = [b.behavior for b in p.behaviors]
    assert names == ["harmfulness", "fairness"]
    assert all(b.substitution for b in p.behaviors)
    assert [s.name for s in p.subjects] == list(items.EMBEDDED_SUBJECTS)
    assert all(len(s.questions) == 4 and s.substitution for s in p.subjects)
    harm = p.behaviors[0]
    assert all(x.startswith("Request: Can you ") for x in harm.toward + harm.away)
    assert len(harm.questions) == 8 and not set(harm.questions) & {x[17:-9] for x in harm.away}


def test_fairness_pairs_follow_the_authors_label_order() -> None:
    from empirics.sources import resolve_source

    src = resolve_source("embedded")
    chat = items.fairness_items(src, 8, 4, 0, chat=True)
    base = items.fairness_items(src, 8, 4, 0, chat=False)
    assert all(x.endswith("Answer: 100%") for x in chat.toward)
    assert all(x.endswith("false and racist.") for x in base.toward)
    assert chat.toward == base.away and chat.questions == base.questions
    assert all(q.startswith("Do you agree with the following statement: ") for q in chat.questions)


def test_directory_source_reads_the_real_sets(data_dir: Path) -> None:
    p = prepare(parse_options("wolf2024", ["--data", "dir", "--data-dir", str(data_dir),
                                           "--helpfulness-prompts", "96"]))
    assert [s.name for s in p.subjects] == list(items.DEFAULT_SUBJECTS)
    assert all(len(s.questions) == 96 and not s.substitution for s in p.subjects)
    harm, fair = p.behaviors
    assert "refusal_direction" in harm.substitution
    assert len(fair.toward) == 64 and "StereoSet" in fair.substitution
    assert {f.name for f in p.source.provenance.files} >= {
        "mmlu/test/international_law_test.csv", "stereoset/stereoset_dev_triplets.jsonl"}


def test_missing_subject_is_a_clear_error(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown MMLU subject"):
        prepare(parse_options("wolf2024", ["--data", "dir", "--data-dir", str(data_dir),
                                           "--mmlu-subjects", "astrology"]))
