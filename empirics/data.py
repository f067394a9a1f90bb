"""Evaluation data from one of three sources (``empirics.sources``): the embedded sets that ship
with the package (the default), a local directory of the upstream files, or the Hugging Face Hub.

One parser per benchmark (``parse_*_rows``) reads rows in the hub's schema; the directory readers
turn the upstream files into such rows first, so both sources go through the same checks. Loaders
take a :class:`~empirics.sources.DataSource` or, as before, a directory path. A data set the
source lacks raises :class:`~empirics.sources.DataUnavailable` (a ``FileNotFoundError``) whose
message names ``--data``, the three sources and the fixing command; a file without usable rows
raises ``ValueError``. The project-generated knowledge set is at the end of this module.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from empirics.sources import (
    ENV_VAR,
    HUB_IDS,
    DataSource,
    DataUnavailable,
    as_source,
    check_choice,
    data_error_message,
    jsonl_rows,
    require_rows,
    resolve_data_dir,
    row_str,
)

__all__ = ["ENV_VAR", "DataSource", "resolve_data_dir"]  # re-exported for old callers

INSTRUCTION_SPLITS = ("train", "val", "test")
MMLU_SPLITS = ("test", "dev")
ARC_SUBSETS = ("ARC-Easy", "ARC-Challenge")
ARC_SPLITS = ("Train", "Dev", "Test")
BIAS_TYPES = ("race", "gender", "religion", "profession", "age")
EMBEDDED_INSTRUCTIONS = "instructions.jsonl"
EMBEDDED_BIAS = "bias.jsonl"
# StereoSet's gold_label class names in the hub's order (ClassLabel index -> name).
STEREOSET_GOLD = ("anti-stereotype", "stereotype", "unrelated")
# In justinphan3110/harmful_harmless_instructions each row holds two sentences and two labels;
# the label marking the harmful one (not checked from here: see docs/data.md).
HUB_HARMFUL_LABEL = False

_check_choice = check_choice
_EMBEDDED_HAS = "the embedded sets hold harmful/harmless instructions, bias items and the knowledge set"


def _not_embedded(what: str, fix: str) -> DataUnavailable:
    return DataUnavailable(data_error_message(
        f"--data embedded has no {what} ({_EMBEDDED_HAS}); real benchmarks come from "
        "--data dir (with --data-dir PATH) or --data hub.", fix))


# ---------------------------------------------------------------------------- instructions


@dataclass(frozen=True)
class InstructionPair:
    """A harmful and a harmless instruction on the same topic (embedded / hub sources)."""

    harmful: str
    harmless: str
    topic: str = ""
    category: str = ""
    item_id: str = ""


def parse_instruction_rows(rows: Iterable[Mapping[str, Any]], what: str) -> list[str]:
    """refusal_direction rows ``{"instruction": str, "category": str | None}``: the instructions."""
    out = [row_str(r, "instruction") for r in rows if isinstance(r, Mapping)]
    return require_rows([x for x in out if x], what, "its rows")


def parse_paired_instruction_rows(rows: Iterable[Mapping[str, Any]]) -> list[InstructionPair]:
    """Rows of the hub's harmful/harmless set (``sentence``: two strings, ``label``: two bools)
    or of the embedded set (``harmful``, ``harmless``, ``topic``, ``category``, ``id``)."""
    out: list[InstructionPair] = []
    for r in rows:
        if "sentence" in r:
            sentences, labels = r.get("sentence"), r.get("label")
            if (not isinstance(sentences, list) or not isinstance(labels, list)
                    or len(sentences) != 2 or len(labels) != 2 or labels[0] == labels[1]):
                continue
            k = labels.index(HUB_HARMFUL_LABEL)
            harmful, harmless = str(sentences[k]).strip(), str(sentences[1 - k]).strip()
            pair = InstructionPair(harmful, harmless)
        else:
            pair = InstructionPair(row_str(r, "harmful"), row_str(r, "harmless"),
                                   row_str(r, "topic"), row_str(r, "category"), row_str(r, "id"))
        if pair.harmful and pair.harmless:
            out.append(pair)
    return out


def _embedded_rows(src: DataSource, name: str) -> list[dict[str, Any]]:
    return list(jsonl_rows(src.read_text(name)))


def instruction_pairs(source: DataSource | str | Path, split: str) -> list[InstructionPair]:
    """Topic-matched (harmful, harmless) pairs of ``split`` (train / val / test): the embedded
    set (fixed splits by topic) or the hub's paired set (its test split halved into val, test).
    The directory's refusal_direction splits are not paired: ``DataUnavailable``."""
    check_choice("split", split, INSTRUCTION_SPLITS)
    src = as_source(source)
    if src.kind == "embedded":
        rows = [r for r in _embedded_rows(src, EMBEDDED_INSTRUCTIONS) if r.get("split") == split]
        return require_rows(parse_paired_instruction_rows(rows), f"embedded {split} pairs",
                            EMBEDDED_INSTRUCTIONS)
    if src.kind == "hub":
        pairs = parse_paired_instruction_rows(
            src.hub_rows(HUB_IDS["instructions"], None, "train" if split == "train" else "test"))
        if split != "train":
            half = len(pairs) // 2
            pairs = pairs[:half] if split == "val" else pairs[half:]
        return require_rows(pairs, f"hub {split} pairs", HUB_IDS["instructions"])
    raise DataUnavailable(data_error_message(
        "the data directory's refusal_direction splits are not topic-matched pairs; "
        "use harmful_instructions / harmless_instructions, or the embedded or hub source."))


def _instructions(source: DataSource | str | Path, kind: str, split: str) -> list[str]:
    check_choice("split", split, INSTRUCTION_SPLITS)
    src = as_source(source)
    if src.kind in ("embedded", "hub"):
        pairs = instruction_pairs(src, split)
        return [p.harmful if kind == "harmful" else p.harmless for p in pairs]
    name = f"{kind}_{split}.json"
    rows = json.loads(src.read_text("instructions", "refusal_direction", name))
    if not isinstance(rows, list):
        raise ValueError(f"{name}: expected a JSON array of {{'instruction': ...}} objects")
    return parse_instruction_rows(rows, f"{kind}_{split} in {src.path}")


def harmful_instructions(source: DataSource | str | Path, split: str) -> list[str]:
    """Harmful instructions of ``split`` (train / val / test): embedded pairs, Arditi et al.'s
    splits (directory), or the hub's paired set."""
    return _instructions(source, "harmful", split)


def harmless_instructions(source: DataSource | str | Path, split: str) -> list[str]:
    """Harmless instructions of ``split``: embedded pairs, Arditi et al.'s (Alpaca, CC BY-NC
    4.0) splits (directory), or the hub's paired set."""
    return _instructions(source, "harmless", split)


def parse_advbench_rows(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """AdvBench rows in the hub's schema ``{"prompt", "target"}``: the prompts (goals)."""
    return require_rows([x for x in (row_str(r, "prompt") for r in rows) if x],
                        "advbench goals", "its rows")


def advbench_goals(source: DataSource | str | Path) -> list[str]:
    """The 520 AdvBench harmful-behavior goals (directory csv ``goal,target`` or the hub)."""
    src = as_source(source)
    if src.kind == "embedded":
        raise _not_embedded("AdvBench", "python -m empirics.validate --data hub   "
                            "(or --data-dir PATH with advbench/harmful_behaviors.csv)")
    if src.kind == "hub":
        return parse_advbench_rows(src.hub_rows(HUB_IDS["advbench"], None, "train"))
    text = src.read_text("advbench", "harmful_behaviors.csv")
    return parse_advbench_rows({"prompt": r.get("goal") or "", "target": r.get("target") or ""}
                               for r in csv.DictReader(io.StringIO(text, newline="")))


# ---------------------------------------------------------------------------- StereoSet


@dataclass
class StereoItem:
    """One StereoSet triplet. Intrasentence sentences are complete; intersentence ones follow
    ``context`` (use :meth:`statement` for a standalone statement)."""

    target: str
    context: str
    stereotype: str
    anti_stereotype: str
    unrelated: str
    kind: str = "intersentence"  # "intersentence" | "intrasentence"
    bias_type: str = "race"
    item_id: str = ""
    split: str = ""  # embedded items: "train" (vectors) / "test" (measurement); else ""

    def statement(self, which: str = "stereotype") -> str:
        """Standalone statement: the sentence itself (intra) or ``context + " " + sentence`` (inter)."""
        check_choice("which", which, ("stereotype", "anti_stereotype", "unrelated"))
        sentence: str = getattr(self, which)
        if self.kind == "intrasentence":
            return sentence
        context = self.context.strip()
        if context and context[-1] not in ".!?":  # some contexts lack a full stop
            context += "."
        return f"{context} {sentence.strip()}"


def _triplet_to_hub_row(r: Mapping[str, Any]) -> dict[str, Any]:
    """A triplet row (directory file, embedded set) in the hub's schema."""
    return {"id": r.get("id", ""), "type": r.get("type", "intersentence"),
            "target": r.get("target"), "bias_type": r.get("bias_type"),
            "context": r.get("context"), "split": r.get("split", ""),
            "sentences": {"sentence": [r.get("anti-stereotype"), r.get("stereotype"),
                                       r.get("unrelated")],
                          "gold_label": list(STEREOSET_GOLD)}}


def parse_stereoset_rows(rows: Iterable[Mapping[str, Any]],
                         bias_types: Sequence[str] | None = None) -> list[StereoItem]:
    """StereoSet rows in the hub's schema (``target``, ``bias_type``, ``context``, ``type``,
    ``sentences: {sentence: [...], gold_label: [...]}``, gold labels as ClassLabel indices or
    names); items of ``bias_types`` (all when ``None``) with all three sentences, file order."""
    out: list[StereoItem] = []
    for r in rows:
        if bias_types is not None and r.get("bias_type") not in bias_types:
            continue
        sents = r.get("sentences") or {}
        by_label: dict[str, str] = {}
        for text, gold in zip(sents.get("sentence", []), sents.get("gold_label", []), strict=False):
            name = STEREOSET_GOLD[gold] if isinstance(gold, int) else str(gold)
            if isinstance(text, str) and text.strip():
                by_label[name] = text
        target, context = row_str(r, "target"), row_str(r, "context")
        if not (target and context and all(k in by_label for k in STEREOSET_GOLD)):
            continue
        out.append(StereoItem(
            target=target, context=str(r["context"]), stereotype=by_label["stereotype"],
            anti_stereotype=by_label["anti-stereotype"], unrelated=by_label["unrelated"],
            kind=str(r.get("type") or "intersentence"), bias_type=str(r.get("bias_type")),
            item_id=str(r.get("id") or ""), split=str(r.get("split") or "")))
    return out


def default_bias_types(source: DataSource | str | Path) -> tuple[str, ...]:
    """Bias types measured by default: all embedded ones (race alone is too few items for 64
    vector pairs), race for the real StereoSet (as the paper's racial-bias behavior)."""
    return BIAS_TYPES if as_source(source).kind == "embedded" else ("race",)


def stereoset_items(source: DataSource | str | Path,
                    bias_types: Sequence[str] | None = None) -> list[StereoItem]:
    """StereoSet-shaped items of ``bias_types`` (default :func:`default_bias_types`)."""
    src = as_source(source)
    types = tuple(bias_types) if bias_types is not None else default_bias_types(src)
    if src.kind == "hub":
        rows: list[dict[str, Any]] = []
        for config in ("intersentence", "intrasentence"):
            rows += [{**r, "type": config}
                     for r in src.hub_rows(HUB_IDS["stereoset"], config, "validation")]
        where = HUB_IDS["stereoset"]
    else:
        name = EMBEDDED_BIAS if src.kind == "embedded" else "stereoset_dev_triplets.jsonl"
        parts = (name,) if src.kind == "embedded" else ("stereoset", name)
        rows = [_triplet_to_hub_row(r) for r in jsonl_rows(src.read_text(*parts))]
        where = "/".join(parts)
    return require_rows(parse_stereoset_rows(rows, types), f"stereoset {','.join(types)}", where)


def stereoset_race(source: DataSource | str | Path) -> list[StereoItem]:
    """StereoSet items with ``bias_type == "race"`` (inter- and intrasentence), file order."""
    return stereoset_items(source, ("race",))


# ---------------------------------------------------------------------------- multiple choice


@dataclass
class MultipleChoice:
    question: str
    options: list[str]
    correct: int  # index into options
    source: str  # e.g. "mmlu:international_law", "ARC-Easy", "knowledge:capital"
    meta: dict[str, str] = field(default_factory=dict, compare=False)


def parse_mmlu_rows(rows: Iterable[Mapping[str, Any]], subject: str) -> list[MultipleChoice]:
    """MMLU rows in the hub's schema ``{"question", "choices": [4], "answer": 0-3}``."""
    out: list[MultipleChoice] = []
    for r in rows:
        choices, answer = r.get("choices"), r.get("answer")
        if isinstance(answer, str) and answer.strip() in ("A", "B", "C", "D"):
            answer = "ABCD".index(answer.strip())
        if (not isinstance(choices, list) or len(choices) != 4 or not isinstance(answer, int)
                or isinstance(answer, bool) or not 0 <= answer < 4):
            continue
        out.append(MultipleChoice(question=str(r.get("question", "")),
                                  options=[str(c) for c in choices], correct=answer,
                                  source=f"mmlu:{subject}"))
    return out


def _mmlu_csv_rows(text: str) -> Iterable[dict[str, Any]]:
    """Headerless ``question,A,B,C,D,answer`` (answer a letter) as hub-schema rows."""
    for row in csv.reader(io.StringIO(text, newline="")):
        if len(row) == 6 and row[5].strip() in ("A", "B", "C", "D"):
            yield {"question": row[0], "choices": list(row[1:5]),
                   "answer": "ABCD".index(row[5].strip())}


def mmlu_subjects(source: DataSource | str | Path, split: str = "test") -> list[str]:
    """Subjects available for ``split`` in the directory (sorted); the hub cannot be listed
    from here (``mmlu`` loads any named subject)."""
    check_choice("split", split, MMLU_SPLITS)
    src = as_source(source)
    if src.kind == "embedded":
        raise _not_embedded("MMLU", "python -m empirics.validate --helpfulness knowledge")
    suffix = f"_{split}.csv"
    return [n[: -len(suffix)] for n in src.glob(f"mmlu/{split}", f"*{suffix}")]


def mmlu(source: DataSource | str | Path, subjects: Sequence[str],
         split: str = "test") -> list[MultipleChoice]:
    """MMLU questions of ``subjects`` in file order (directory csv or hub ``cais/mmlu``)."""
    check_choice("split", split, MMLU_SPLITS)
    src = as_source(source)
    if isinstance(subjects, str):
        subjects = [subjects]
    if not subjects:
        raise ValueError("subjects is empty: name at least one MMLU subject")
    if src.kind == "embedded":
        raise _not_embedded("MMLU", "python -m empirics.validate --helpfulness knowledge")
    available = mmlu_subjects(src, split) if src.kind == "dir" else list(subjects)
    out: list[MultipleChoice] = []
    for subject in subjects:
        if subject not in available:
            shown = ", ".join(available[:5]) if available else "none found"
            raise ValueError(
                f"unknown MMLU subject {subject!r} for split {split!r}; "
                f"{len(available)} valid subjects, e.g. {shown}"
            )
        if src.kind == "hub":
            rows: Iterable[Mapping[str, Any]] = src.hub_rows(HUB_IDS["mmlu"], subject, split)
        else:
            rows = _mmlu_csv_rows(src.read_text("mmlu", split, f"{subject}_{split}.csv"))
        out.extend(require_rows(parse_mmlu_rows(rows, subject), f"mmlu {subject} {split}",
                                str(src.provenance.location)))
    return out


def parse_arc_rows(rows: Iterable[Mapping[str, Any]], subset: str) -> list[MultipleChoice]:
    """ARC rows in the hub's schema ``{"id", "question": str, "choices": {"text", "label"},
    "answerKey"}``; labels ``A``–``E`` or ``1``–``5``, 3–5 options."""
    out: list[MultipleChoice] = []
    for r in rows:
        choices = r.get("choices") or {}
        texts = [str(t) for t in choices.get("text", [])]
        labels = [str(lab) for lab in choices.get("label", [])]
        key = str(r.get("answerKey", ""))
        if len(texts) < 2 or len(texts) != len(labels) or key not in labels:
            continue
        out.append(MultipleChoice(question=str(r.get("question", "")), options=texts,
                                  correct=labels.index(key), source=subset,
                                  meta={"id": str(r.get("id", "")), "labels": "".join(labels)}))
    return out


def _arc_ai2_to_hub_row(r: Mapping[str, Any]) -> dict[str, Any]:
    q = r.get("question") or {}
    choices = q.get("choices", []) if isinstance(q, Mapping) else []
    return {"id": r.get("id", ""), "question": q.get("stem", "") if isinstance(q, Mapping) else "",
            "choices": {"text": [c.get("text", "") for c in choices],
                        "label": [c.get("label", "") for c in choices]},
            "answerKey": r.get("answerKey", "")}


_ARC_HUB_SPLIT = {"Train": "train", "Dev": "validation", "Test": "test"}


def arc(source: DataSource | str | Path, subset: str = "ARC-Easy",
        split: str = "Test") -> list[MultipleChoice]:
    """ARC questions (directory AI2 jsonl or hub ``allenai/ai2_arc``)."""
    check_choice("subset", subset, ARC_SUBSETS)
    check_choice("split", split, ARC_SPLITS)
    src = as_source(source)
    if src.kind == "embedded":
        raise _not_embedded("ARC", "python -m empirics.validate --helpfulness knowledge")
    if src.kind == "hub":
        rows: Iterable[Mapping[str, Any]] = src.hub_rows(HUB_IDS["arc"], subset,
                                                         _ARC_HUB_SPLIT[split])
        where = HUB_IDS["arc"]
    else:
        name = f"{subset}-{split}.jsonl"
        rows = [_arc_ai2_to_hub_row(r) for r in jsonl_rows(src.read_text("arc", subset, name))]
        where = f"arc/{subset}/{name}"
    return require_rows(parse_arc_rows(rows, subset), f"{subset} {split}", where)


# ---------------------------------------------------------------------------- knowledge set

# (question, correct answer, three distractors). Options are asked "hidden": the model answers
# freely and we compare the probabilities of the options' first tokens, so those must differ
# (checked against the SmolLM2 tokenizer in tests/empirics/test_data.py). That is why plural
# distractors are other nouns rather than wrong forms ("Childs" shares "Child" with "Children").
_CAPITALS = [
    ("France", "Paris", "Lyon", "Marseille", "Nice"),
    ("Germany", "Berlin", "Munich", "Hamburg", "Frankfurt"),
    ("Italy", "Rome", "Milan", "Naples", "Turin"),
    ("Spain", "Madrid", "Barcelona", "Seville", "Valencia"),
    ("Japan", "Tokyo", "Osaka", "Kyoto", "Nagoya"),
    ("Russia", "Moscow", "Kazan", "Omsk", "Samara"),
    ("England", "London", "Manchester", "Birmingham", "Liverpool"),
    ("Egypt", "Cairo", "Alexandria", "Luxor", "Giza"),
    ("Canada", "Ottawa", "Toronto", "Vancouver", "Montreal"),
    ("Australia", "Canberra", "Sydney", "Melbourne", "Perth"),
    ("China", "Beijing", "Shanghai", "Guangzhou", "Wuhan"),
    ("Greece", "Athens", "Thessaloniki", "Patras", "Sparta"),
    ("Portugal", "Lisbon", "Porto", "Braga", "Faro"),
    ("Ireland", "Dublin", "Cork", "Galway", "Limerick"),
    ("Austria", "Vienna", "Salzburg", "Graz", "Linz"),
    ("Norway", "Oslo", "Bergen", "Trondheim", "Stavanger"),
    ("Sweden", "Stockholm", "Gothenburg", "Malmo", "Uppsala"),
    ("Kenya", "Nairobi", "Mombasa", "Kisumu", "Eldoret"),
    ("Peru", "Lima", "Cusco", "Arequipa", "Trujillo"),
    ("Argentina", "Buenos Aires", "Cordoba", "Rosario", "Mendoza"),
    ("Mexico", "Mexico City", "Guadalajara", "Tijuana", "Cancun"),
    ("Poland", "Warsaw", "Krakow", "Gdansk", "Poznan"),
    ("Turkey", "Ankara", "Istanbul", "Konya", "Bursa"),
    ("India", "New Delhi", "Mumbai", "Kolkata", "Chennai"),
    ("South Korea", "Seoul", "Busan", "Incheon", "Daegu"),
    ("Thailand", "Bangkok", "Phuket", "Chiang Mai", "Pattaya"),
    ("Cuba", "Havana", "Santiago", "Camaguey", "Holguin"),
    ("Hungary", "Budapest", "Debrecen", "Szeged", "Pecs"),
    ("Finland", "Helsinki", "Tampere", "Turku", "Oulu"),
    ("Denmark", "Copenhagen", "Aarhus", "Odense", "Esbjerg"),
]

_OPPOSITES = [
    ("hot", "cold", "warm", "big", "fast"),
    ("up", "down", "left", "over", "high"),
    ("big", "small", "tall", "wide", "heavy"),
    ("day", "night", "week", "sun", "morning"),
    ("fast", "slow", "quick", "late", "loud"),
    ("happy", "sad", "glad", "angry", "tired"),
    ("open", "closed", "wide", "empty", "locked"),
    ("light", "dark", "bright", "heavy", "soft"),
    ("old", "young", "ancient", "tall", "slow"),
    ("full", "empty", "heavy", "half", "round"),
    ("wet", "dry", "damp", "cold", "soft"),
    ("hard", "soft", "strong", "rough", "heavy"),
    ("early", "late", "soon", "fast", "first"),
    ("rich", "poor", "happy", "greedy", "famous"),
    ("win", "lose", "play", "tie", "score"),
    ("buy", "sell", "pay", "trade", "rent"),
    ("love", "hate", "like", "care", "fear"),
    ("push", "pull", "press", "lift", "throw"),
    ("true", "false", "real", "right", "honest"),
    ("inside", "outside", "under", "behind", "around"),
    ("black", "white", "red", "gray", "blue"),
    ("north", "south", "east", "west", "up"),
    ("start", "finish", "begin", "pause", "run"),
    ("thick", "thin", "wide", "heavy", "long"),
    ("clean", "dirty", "neat", "fresh", "wet"),
    ("strong", "weak", "tough", "brave", "heavy"),
    ("loud", "quiet", "noisy", "clear", "sharp"),
    ("above", "below", "beside", "over", "near"),
    ("friend", "enemy", "ally", "partner", "stranger"),
    ("arrive", "leave", "enter", "stay", "come"),
]

_ANIMAL_SOUNDS = [
    ("dog", "bark", "meow", "moo", "hiss"),
    ("cat", "meow", "bark", "quack", "roar"),
    ("cow", "moo", "bark", "neigh", "hoot"),
    ("duck", "quack", "moo", "roar", "bark"),
    ("lion", "roar", "quack", "meow", "oink"),
    ("pig", "oink", "roar", "meow", "neigh"),
    ("horse", "neigh", "oink", "quack", "bark"),
    ("owl", "hoot", "moo", "bark", "roar"),
    ("snake", "hiss", "moo", "quack", "neigh"),
    ("sheep", "baa", "roar", "hiss", "meow"),
    ("bee", "buzz", "moo", "bark", "neigh"),
    ("frog", "croak", "meow", "roar", "neigh"),
    ("rooster", "crow", "moo", "hiss", "bark"),
    ("wolf", "howl", "quack", "moo", "oink"),
    ("mouse", "squeak", "roar", "moo", "neigh"),
]

_ANIMAL_YOUNG = [
    ("dog", "puppy", "kitten", "calf", "foal"),
    ("cat", "kitten", "puppy", "cub", "lamb"),
    ("cow", "calf", "foal", "kitten", "puppy"),
    ("horse", "foal", "calf", "lamb", "kitten"),
    ("sheep", "lamb", "calf", "puppy", "foal"),
    ("bear", "cub", "lamb", "foal", "kitten"),
    ("frog", "tadpole", "kitten", "cub", "lamb"),
    ("goat", "kid", "cub", "foal", "puppy"),
    ("duck", "duckling", "kitten", "cub", "foal"),
    ("kangaroo", "joey", "kitten", "calf", "foal"),
    ("goose", "gosling", "puppy", "lamb", "cub"),
    ("owl", "owlet", "puppy", "calf", "foal"),
]

_COLORS = [
    ("the sky on a clear day", "blue", "green", "red", "yellow"),
    ("grass", "green", "blue", "red", "purple"),
    ("snow", "white", "black", "green", "red"),
    ("a ripe banana", "yellow", "blue", "purple", "black"),
    ("coal", "black", "white", "yellow", "green"),
    ("a ripe tomato", "red", "blue", "white", "purple"),
    ("an orange", "orange", "blue", "purple", "black"),
    ("milk", "white", "green", "red", "blue"),
    ("a lemon", "yellow", "blue", "purple", "black"),
    ("blood", "red", "green", "blue", "yellow"),
    ("the sun", "yellow", "green", "purple", "black"),
    ("a strawberry", "red", "blue", "green", "white"),
    ("chocolate", "brown", "green", "blue", "white"),
    ("a leaf in summer", "green", "blue", "white", "purple"),
    ("the ocean", "blue", "red", "yellow", "brown"),
    ("a carrot", "orange", "blue", "purple", "white"),
]

_PLURALS = [
    ("child", "children", "adults", "toys", "parents"),
    ("mouse", "mice", "rats", "cats", "holes"),
    ("man", "men", "boys", "kings", "farmers"),
    ("woman", "women", "girls", "queens", "mothers"),
    ("foot", "feet", "foots", "footes", "legs"),
    ("tooth", "teeth", "tooths", "toothes", "bones"),
    ("goose", "geese", "gooses", "ganders", "ducks"),
    ("person", "people", "persons", "humans", "folks"),
    ("leaf", "leaves", "leafs", "trees", "plants"),
    ("knife", "knives", "forks", "spoons", "blades"),
    ("wolf", "wolves", "dogs", "foxes", "bears"),
    ("box", "boxes", "crates", "lids", "tins"),
    ("city", "cities", "citys", "towns", "villages"),
    ("ox", "oxen", "bulls", "cows", "sheep"),
    ("cactus", "cacti", "plants", "shrubs", "trees"),
]

_NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
]

_MISC = [
    ("How many legs does a spider have?", "eight", "six", "four", "ten"),
    ("How many days are in a week?", "seven", "five", "ten", "nine"),
    ("How many sides does a triangle have?", "three", "four", "five", "six"),
    ("How many months are in a year?", "twelve", "ten", "seven", "nine"),
    ("How many legs does a cat have?", "four", "two", "six", "eight"),
    ("How many wheels does a bicycle have?", "two", "three", "four", "six"),
    ("How many sides does a square have?", "four", "three", "five", "eight"),
    ("How many hours are in a day?", "twenty-four", "twelve", "ten", "sixty"),
    ("How many legs does an insect have?", "six", "four", "eight", "ten"),
    ("How many arms does an octopus have?", "eight", "six", "four", "ten"),
    ("Which planet do we live on?", "Earth", "Mars", "Venus", "Jupiter"),
    ("What is the largest planet in the solar system?", "Jupiter", "Earth", "Mars", "Venus"),
    ("Which planet is known as the red planet?", "Mars", "Jupiter", "Venus", "Saturn"),
    ("What do bees make?", "honey", "milk", "silk", "wax"),
    ("What do cows drink?", "water", "milk", "juice", "coffee"),
    ("What is frozen water called?", "ice", "steam", "fog", "rain"),
    ("What gas do humans need to breathe to live?", "oxygen", "helium", "neon", "carbon dioxide"),
    ("Which season comes after winter?", "spring", "summer", "autumn", "fall"),
    ("Which season comes after summer?", "autumn", "winter", "spring", "monsoon"),
    (
        "What is the first day of the weekend in most Western countries?",
        "Saturday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ),
    ("Which day comes after Monday?", "Tuesday", "Sunday", "Wednesday", "Friday"),
    ("Which month comes after January?", "February", "March", "December", "April"),
    ("Which month comes after June?", "July", "May", "August", "September"),
    ("What is the opposite of north?", "south", "east", "west", "up"),
    ("What organ pumps blood through the body?", "heart", "liver", "stomach", "brain"),
    ("What do you use to see?", "eyes", "hands", "nose", "feet"),
    ("What do you use to hear?", "ears", "mouth", "hands", "feet"),
    ("What is the largest ocean on Earth?", "Pacific", "Atlantic", "Indian", "Arctic"),
    ("What is the longest river in Africa?", "Nile", "Congo", "Limpopo", "Zambezi"),
    ("Who wrote Romeo and Juliet?", "Shakespeare", "Dickens", "Austen", "Tolkien"),
    ("What is the chemical symbol for gold?", "Au", "Ag", "Fe", "Pb"),
    ("What is the boiling point of water in degrees Celsius?", "100", "50", "0", "212"),
    ("What shape has three sides?", "triangle", "square", "circle", "pentagon"),
    ("What shape is a ball?", "sphere", "cube", "pyramid", "triangle"),
    ("What falls from clouds when it rains?", "water", "sand", "stones", "leaves"),
    ("What is the main language spoken in Brazil?", "Portuguese", "Spanish", "English", "French"),
    ("What is the main language spoken in Mexico?", "Spanish", "Portuguese", "English", "French"),
    ("What animal is known as the king of the jungle?", "lion", "tiger", "elephant", "zebra"),
    ("What is the largest land animal?", "elephant", "giraffe", "lion", "horse"),
    ("What is the tallest animal?", "giraffe", "elephant", "horse", "camel"),
]


def _number_items() -> list[tuple[str, ...]]:
    """Single-digit sums, answered in words; distractors are nearby wrong sums."""
    out: list[tuple[str, ...]] = []
    for a in range(1, 10, 2):
        for b in range(2, 10, 3):
            s = a + b
            wrong = [w for w in (s - 1, s + 1, s + 2) if 0 <= w < len(_NUMBER_WORDS)]
            if len(wrong) < 3:
                wrong.append(s - 2)
            out.append(
                (
                    f"What is {a} plus {b}? Answer with a number word.",
                    _NUMBER_WORDS[s],
                    *(_NUMBER_WORDS[w] for w in wrong[:3]),
                )
            )
    return out


_KNOWLEDGE_SEED = 20240129


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def knowledge_questions() -> list[MultipleChoice]:
    """Project-generated, options-hidden general-knowledge questions (deterministic order and
    option positions). Options' first tokens are pairwise distinct under the SmolLM2 tokenizer."""
    groups: list[tuple[str, list[tuple[str, ...]]]] = [
        ("capital", [(f"What is the capital of {c}?", *opts) for c, *opts in _CAPITALS]),
        (
            "opposite",
            [
                (f'What is the opposite of "{w}"? Answer with one word.', *opts)
                for w, *opts in _OPPOSITES
            ],
        ),
        (
            "animal_sound",
            [
                (f"What sound does a {a} make? Answer with one word.", *opts)
                for a, *opts in _ANIMAL_SOUNDS
            ],
        ),
        (
            "animal_young",
            [
                (f"What is a baby {a} called? Answer with one word.", *opts)
                for a, *opts in _ANIMAL_YOUNG
            ],
        ),
        ("sum", _number_items()),
        ("color", [(f"What color is {t}? Answer with one word.", *opts) for t, *opts in _COLORS]),
        (
            "plural",
            [
                (f'What is the plural of "{w}"? Answer with one word.', *opts)
                for w, *opts in _PLURALS
            ],
        ),
        ("misc", list(_MISC)),
    ]
    rng = random.Random(_KNOWLEDGE_SEED)
    out: list[MultipleChoice] = []
    for source, items in groups:
        for question, answer, *distractors in items:
            # Capitalised: the assistant's reply starts a sentence ("Paris", "Cold", "Twelve").
            options = [_capitalise(o) for o in (answer, *distractors)]
            answer = options[0]
            rng.shuffle(options)
            out.append(
                MultipleChoice(
                    question=question,
                    options=options,
                    correct=options.index(answer),
                    source=f"knowledge:{source}",
                )
            )
    return out
