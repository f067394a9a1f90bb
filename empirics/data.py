"""Loaders for the shared evaluation data (never copied into the repo) and a generated knowledge set.

The data directory is ``--data-dir`` or ``$STEERING_DATA_DIR``; its layout and licenses are in
``shared/data/README.md``. Every loader raises ``FileNotFoundError`` naming the missing path and
the env var, and ``ValueError`` when a file holds no usable rows.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "STEERING_DATA_DIR"
INSTRUCTION_SPLITS = ("train", "val", "test")
MMLU_SPLITS = ("test", "dev")
ARC_SUBSETS = ("ARC-Easy", "ARC-Challenge")
ARC_SPLITS = ("Train", "Dev", "Test")


def resolve_data_dir(explicit: str | Path | None = None) -> Path:
    """``explicit`` if given, else ``$STEERING_DATA_DIR``; the directory must exist."""
    if explicit is not None and str(explicit) != "":
        path, origin = Path(explicit), "the data_dir argument"
    else:
        env = os.environ.get(ENV_VAR)
        if not env:
            raise ValueError(
                f"no data directory: pass data_dir (--data-dir) or set ${ENV_VAR} "
                "to the shared data folder (e.g. ../shared/data)"
            )
        path, origin = Path(env), f"${ENV_VAR}"
    if not path.is_dir():
        raise FileNotFoundError(
            f"data directory {path} (from {origin}) does not exist or is not a directory; "
            f"pass data_dir (--data-dir) or set ${ENV_VAR} to the shared data folder"
        )
    return path


def _file(data_dir: str | Path, *parts: str) -> Path:
    path = resolve_data_dir(data_dir).joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(
            f"data file {path} not found; is data_dir / ${ENV_VAR} the shared data folder "
            "(see shared/data/README.md)?"
        )
    return path


def _nonempty(rows: list, what: str, path: Path) -> list:  # type: ignore[type-arg]
    if not rows:
        raise ValueError(f"{what}: no usable rows in {path}")
    return rows


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} {value!r} must be one of {list(allowed)}")


# ---------------------------------------------------------------------------- instructions


def _instructions(data_dir: str | Path, kind: str, split: str) -> list[str]:
    _check_choice("split", split, INSTRUCTION_SPLITS)
    path = _file(data_dir, "instructions", "refusal_direction", f"{kind}_{split}.json")
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    out = [
        str(r["instruction"]).strip()
        for r in rows
        if isinstance(r, dict) and str(r.get("instruction", "")).strip()
    ]
    return _nonempty(out, f"{kind}_{split}", path)


def harmful_instructions(data_dir: str | Path, split: str) -> list[str]:
    """Arditi et al. harmful instructions; ``split`` in train / val / test."""
    return _instructions(data_dir, "harmful", split)


def harmless_instructions(data_dir: str | Path, split: str) -> list[str]:
    """Arditi et al. harmless (Alpaca, CC BY-NC 4.0) instructions; ``split`` in train / val / test."""
    return _instructions(data_dir, "harmless", split)


def advbench_goals(data_dir: str | Path) -> list[str]:
    """The 520 AdvBench harmful-behavior goals."""
    path = _file(data_dir, "advbench", "harmful_behaviors.csv")
    with open(path, newline="", encoding="utf-8") as f:
        out = [row["goal"].strip() for row in csv.DictReader(f) if (row.get("goal") or "").strip()]
    return _nonempty(out, "advbench goals", path)


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

    def statement(self, which: str = "stereotype") -> str:
        """Standalone statement: the sentence itself (intra) or ``context + " " + sentence`` (inter)."""
        _check_choice("which", which, ("stereotype", "anti_stereotype", "unrelated"))
        sentence: str = getattr(self, which)
        if self.kind == "intrasentence":
            return sentence
        context = self.context.strip()
        if context and context[-1] not in ".!?":  # some contexts lack a full stop
            context += "."
        return f"{context} {sentence.strip()}"


def stereoset_race(data_dir: str | Path) -> list[StereoItem]:
    """StereoSet dev triplets with ``bias_type == "race"`` (inter- and intrasentence), file order."""
    path = _file(data_dir, "stereoset", "stereoset_dev_triplets.jsonl")
    out: list[StereoItem] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("bias_type") != "race":
                continue
            fields = ("target", "context", "stereotype", "anti-stereotype", "unrelated")
            if not all(isinstance(r.get(k), str) and r[k].strip() for k in fields):
                continue
            out.append(
                StereoItem(
                    target=r["target"],
                    context=r["context"],
                    stereotype=r["stereotype"],
                    anti_stereotype=r["anti-stereotype"],
                    unrelated=r["unrelated"],
                    kind=str(r.get("type", "intersentence")),
                )
            )
    return _nonempty(out, "stereoset race", path)


# ---------------------------------------------------------------------------- multiple choice


@dataclass
class MultipleChoice:
    question: str
    options: list[str]
    correct: int  # index into options
    source: str  # e.g. "mmlu:international_law", "ARC-Easy", "knowledge:capital"
    meta: dict[str, str] = field(default_factory=dict, compare=False)


def mmlu_subjects(data_dir: str | Path, split: str = "test") -> list[str]:
    """Subjects available for ``split`` (sorted)."""
    _check_choice("split", split, MMLU_SPLITS)
    folder = resolve_data_dir(data_dir) / "mmlu" / split
    suffix = f"_{split}.csv"
    return sorted(p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}"))


def mmlu(
    data_dir: str | Path, subjects: Sequence[str], split: str = "test"
) -> list[MultipleChoice]:
    """MMLU rows ``question,A,B,C,D,answer`` (headerless) of ``subjects``, in file order."""
    _check_choice("split", split, MMLU_SPLITS)
    if isinstance(subjects, str):
        subjects = [subjects]
    if not subjects:
        raise ValueError("subjects is empty: name at least one MMLU subject")
    available = mmlu_subjects(data_dir, split)
    out: list[MultipleChoice] = []
    for subject in subjects:
        if subject not in available:
            shown = ", ".join(available[:5]) if available else "none found"
            raise ValueError(
                f"unknown MMLU subject {subject!r} for split {split!r}; "
                f"{len(available)} valid subjects, e.g. {shown}"
            )
        path = _file(data_dir, "mmlu", split, f"{subject}_{split}.csv")
        rows: list[MultipleChoice] = []
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                if len(row) != 6 or row[5].strip() not in "ABCD" or not row[5].strip():
                    continue
                rows.append(
                    MultipleChoice(
                        question=row[0],
                        options=list(row[1:5]),
                        correct="ABCD".index(row[5].strip()),
                        source=f"mmlu:{subject}",
                    )
                )
        out.extend(_nonempty(rows, f"mmlu {subject} {split}", path))
    return out


def arc(
    data_dir: str | Path, subset: str = "ARC-Easy", split: str = "Test"
) -> list[MultipleChoice]:
    """ARC (AI2 jsonl); labels ``A``–``E`` or ``1``–``5``, 3–5 options."""
    _check_choice("subset", subset, ARC_SUBSETS)
    _check_choice("split", split, ARC_SPLITS)
    path = _file(data_dir, "arc", subset, f"{subset}-{split}.jsonl")
    out: list[MultipleChoice] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            choices = r.get("question", {}).get("choices", [])
            labels = [str(c.get("label", "")) for c in choices]
            key = str(r.get("answerKey", ""))
            if len(choices) < 2 or key not in labels:
                continue
            out.append(
                MultipleChoice(
                    question=str(r["question"]["stem"]),
                    options=[str(c["text"]) for c in choices],
                    correct=labels.index(key),
                    source=subset,
                    meta={"id": str(r.get("id", "")), "labels": "".join(labels)},
                )
            )
    return _nonempty(out, f"{subset} {split}", path)


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
