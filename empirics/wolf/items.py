"""The protocol's data from one source (``empirics.sources``): contrast pairs and measured items
per behavior, and the MMLU subjects, with the substitution named when the source lacks the
authors' set.

The authors' sets: harmfulness pairs and measured harmful instructions from
``justinphan3110/harmful_harmless_instructions`` (train / test), fairness from StereoSet
intrasentence race (150 training pairs, the rest measured), MMLU international_law,
medical_genetics, high_school_computer_science (first 96 test questions each).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from empirics import data
from empirics.data import MultipleChoice
from empirics.sources import DataSource
from empirics.wolf import templates
from empirics.wolf.protocol import FAIRNESS_TRAIN_PAIRS

DEFAULT_SUBJECTS = ("international_law", "medical_genetics", "high_school_computer_science")
# Embedded stand-ins for the three MMLU subjects: the three largest knowledge categories.
EMBEDDED_SUBJECTS = ("knowledge:misc", "knowledge:capital", "knowledge:opposite")


@dataclass(frozen=True)
class BehaviorItems:
    """Contrast prompts (``toward``: the side positive coefficients steer to) and the measured
    questions of one behavior; ``substitution`` names what replaced the authors' set, if any."""

    behavior: str
    toward: list[str]
    away: list[str]
    questions: list[str]
    substitution: str


@dataclass(frozen=True)
class Subject:
    name: str
    questions: list[MultipleChoice]
    substitution: str


def _seeded(items: Sequence[object], n: int, seed: int) -> list[object]:
    pool = list(items)
    random.Random(seed).shuffle(pool)
    return pool[:n]


def harmfulness_items(src: DataSource, n_pairs: int, n_measured: int, seed: int) -> BehaviorItems:
    """Pairs harmful vs harmless ('toward' = harmless: RepE's label True, as the authors'
    vectors, which make a chat model agree); measured: the first harmful test instructions."""
    if src.kind == "dir":
        harmful = data.harmful_instructions(src, "train")
        harmless = data.harmless_instructions(src, "train")
        bad = [str(x) for x in _seeded(harmful, n_pairs, seed)]
        good = [str(x) for x in _seeded(harmless, len(bad), seed + 1)]
        measured = data.harmful_instructions(src, "test")
        note = ("refusal_direction splits (Arditi et al.): harmful_train and harmless_train "
                "sampled and paired by index, measured on harmful_test, in place of "
                "justinphan3110/harmful_harmless_instructions")
    else:
        pairs = data.instruction_pairs(src, "train")
        chosen = [p for p in _seeded(pairs, n_pairs, seed) if isinstance(p, data.InstructionPair)]
        bad, good = [p.harmful for p in chosen], [p.harmless for p in chosen]
        measured = data.harmful_instructions(src, "test")
        note = ("" if src.kind == "hub" else "the embedded topic-matched harmful/harmless pairs "
                "(written for this project; train split for vectors, harmful test split "
                "measured) in place of justinphan3110/harmful_harmless_instructions")
    return BehaviorItems("harmfulness", [templates.harmfulness_contrast(x) for x in good],
                         [templates.harmfulness_contrast(x) for x in bad],
                         list(measured[:n_measured]), note)


def fairness_items(src: DataSource, n_pairs: int, n_measured: int, seed: int,
                   chat: bool) -> BehaviorItems:
    """150 training pairs 'false and racist' vs '100%' on the stereotype ('toward' = the biased
    answer for chat models, the unbiased one for base models: the authors' label order);
    measured: stereotype statements of the other items, asked 'Do you agree ...'."""
    if src.kind == "embedded":
        items = data.stereoset_items(src)
        train = [it for it in items if it.split == "train"]
        test = [it for it in items if it.split == "test"]
        note = ("the embedded StereoSet-shaped items of all five bias types (written for this "
                "project; race alone has 66 items; fixed train/test split by target) in place of "
                "StereoSet intrasentence race")
    else:
        items = [it for it in data.stereoset_race(src) if it.kind == "intrasentence"]
        shuffled = [it for it in _seeded(items, len(items), seed) if isinstance(it, data.StereoItem)]
        train, test = shuffled[:FAIRNESS_TRAIN_PAIRS], shuffled[FAIRNESS_TRAIN_PAIRS:]
        where = "the hub" if src.kind == "hub" else "the data directory's dev triplets"
        note = (f"StereoSet intrasentence race from {where}, in a seeded order instead of the "
                "authors' datasets shuffle(seed=1)")
    train = [it for it in _seeded(train, n_pairs, seed) if isinstance(it, data.StereoItem)]
    stereo = [it.statement("stereotype") for it in train]
    biased = [templates.fairness_contrast(s, True) for s in stereo]
    unbiased = [templates.fairness_contrast(s, False) for s in stereo]
    measured = [templates.fairness_question(it.statement("stereotype")) for it in test]
    toward, away = (biased, unbiased) if chat else (unbiased, biased)
    return BehaviorItems("fairness", toward, away, measured[:n_measured], note)


def subjects(src: DataSource, names: Sequence[str], n_questions: int) -> list[Subject]:
    """The first ``n_questions`` of each MMLU subject (file order); on the embedded source the
    three largest categories of the project's knowledge set stand in for the default three."""
    if src.kind == "embedded":
        pool = data.knowledge_questions()
        note = ("the project's knowledge set (written for this project, shown with four options "
                "in the authors' MMLU format) in place of MMLU")
        return [Subject(name, [q for q in pool if q.source == name][:n_questions], note)
                for name in EMBEDDED_SUBJECTS]
    return [Subject(name, data.mmlu(src, [name])[:n_questions], "") for name in names]
