"""Evaluation data from one of three sources (``empirics.sources``): the embedded sets that ship
with the package (the default), a local directory of the upstream files, or the Hugging Face Hub.

One parser per benchmark (``parse_*_rows``) reads rows in the hub's schema; the directory readers
turn the upstream files into such rows first, so both sources go through the same checks. Loaders
take a :class:`~empirics.sources.DataSource` or, as before, a directory path. A data set the
source lacks raises :class:`~empirics.sources.DataUnavailable` (a ``FileNotFoundError``) whose
message names ``--data``, the three sources and the fixing command; a file without usable rows
raises ``ValueError``. Item types: ``empirics.items``; the project-generated knowledge set:
``empirics.knowledge``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from empirics.items import InstructionPair, MultipleChoice, StereoItem
from empirics.knowledge import knowledge_questions
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

# re-exported for old callers (the item types and the knowledge set have their own modules)
__all__ = ["ENV_VAR", "DataSource", "InstructionPair", "MultipleChoice", "StereoItem",
           "knowledge_questions", "resolve_data_dir"]

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


_EMBEDDED_LACKS = {"mmlu": "MMLU", "arc": "ARC", "advbench": "AdvBench"}


def require_benchmark(source: DataSource | str | Path, name: str) -> None:
    """``DataUnavailable`` now (before a model loads) if ``source`` cannot serve ``name``."""
    if as_source(source).kind == "embedded" and name in _EMBEDDED_LACKS:
        fix = ("python -m empirics.validate --helpfulness knowledge" if name != "advbench"
               else "python -m empirics.validate --data hub")
        raise _not_embedded(_EMBEDDED_LACKS[name], fix)


# ---------------------------------------------------------------------------- instructions


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
