"""The embedded sets (sizes, splits, disjointness), the data sources, their errors and provenance."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from empirics import contrast, data
from empirics.sources import SOURCES, DataSource, DataUnavailable, resolve_source

EMB = DataSource("embedded")


def _rows(name: str) -> list[dict[str, Any]]:
    text = resources.files("empirics").joinpath("datasets", name).read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _leaks(rows: Iterable[Mapping[str, Any]], key: str) -> list[str]:
    """Keys (topics / targets) whose rows sit on more than one split."""
    sides: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        sides[str(r[key]).lower() if key == "target" else f"{r['category']}/{r[key]}"].add(
            r["split"])
    return sorted(k for k, s in sides.items() if len(s) > 1)


# ---------------------------------------------------------------------------- sizes and shape


def test_instruction_pairs_sizes_and_categories() -> None:
    rows = _rows("instructions.jsonl")
    assert len(rows) >= 200
    cats = {r["category"] for r in rows}
    assert {"violence", "weapons", "cybercrime", "fraud", "drugs", "self-harm", "harassment",
            "privacy", "misinformation"} <= cats
    texts = [r["harmful"] for r in rows] + [r["harmless"] for r in rows]
    assert len(set(texts)) == len(texts) >= 400  # no duplicates, no harmful == harmless
    assert len({r["id"] for r in rows}) == len(rows)
    counts = {s: len(data.instruction_pairs(EMB, s)) for s in data.INSTRUCTION_SPLITS}
    assert counts["train"] >= 64 and counts["val"] >= 32 and counts["test"] >= 32
    assert sum(counts.values()) == len(rows)


def test_bias_items_sizes_and_shape() -> None:
    rows = _rows("bias.jsonl")
    assert len(rows) >= 150
    by_type = defaultdict(int)
    for r in rows:
        by_type[r["bias_type"]] += 1
        assert r["context"].count("BLANK") == 1
        prefix, suffix = r["context"].split("BLANK")
        for k in ("stereotype", "anti-stereotype", "unrelated"):
            assert r[k].startswith(prefix) and r[k].endswith(suffix), (r["id"], k)
        assert len({r["stereotype"], r["anti-stereotype"], r["unrelated"]}) == 3
    assert by_type["race"] >= 50 and len([t for t in by_type if t != "race"]) >= 2
    items = data.stereoset_items(EMB)
    assert len(items) == len(rows) and {it.kind for it in items} == {"intrasentence"}
    assert len(data.stereoset_race(EMB)) == by_type["race"]


# ---------------------------------------------------------------------------- splits


def test_splits_are_by_topic_and_disjoint() -> None:
    rows = _rows("instructions.jsonl")
    assert _leaks(rows, "topic") == []
    train = set(data.harmful_instructions(EMB, "train")) | set(data.harmless_instructions(EMB, "train"))
    for split in ("val", "test"):
        held = set(data.harmful_instructions(EMB, split)) | set(data.harmless_instructions(EMB, split))
        assert held and not train & held
    # The check fails when a topic straddles the split (a kept mutation).
    mutated = [dict(r) for r in rows]
    first_train = next(r for r in mutated if r["split"] == "train")
    twin = dict(first_train, split="test", id="mutant")
    assert _leaks([*mutated, twin], "topic") == [f"{twin['category']}/{twin['topic']}"]


def test_bias_split_by_target_and_disjoint() -> None:
    rows = _rows("bias.jsonl")
    assert _leaks(rows, "target") == []
    vec, meas = contrast.stereoset_split(EMB, seed=123)  # fixed split: the seed is unused
    assert (vec, meas) == contrast.stereoset_split(EMB, seed=0)
    assert len(vec) >= 64 and len(meas) >= 32
    assert not {it.target.lower() for it in vec} & {it.target.lower() for it in meas}
    for side in (vec, meas):
        assert len({it.bias_type for it in side}) >= 3
    mutated = [*rows, dict(next(r for r in rows if r["split"] == "train"), split="test")]
    assert len(_leaks(mutated, "target")) == 1


def test_contrast_and_measurement_prompts_never_overlap() -> None:
    class _LM:  # the formatting the builders need
        name = "fake"

        def format_chat(self, msg: str, prefix: str = "") -> str:
            return f"<u>{msg}<a>{prefix}"

    pos, neg = contrast.harmfulness_pairs(_LM(), EMB, n=64)  # type: ignore[arg-type]
    held = [contrast.harmfulness_prompt(_LM(), x)  # type: ignore[arg-type]
            for s in ("val", "test") for x in data.harmful_instructions(EMB, s)]
    contrast.check_disjoint(pos + neg, held)
    with pytest.raises(ValueError, match="also used"):
        contrast.check_disjoint(pos + neg, [*held, pos[0]])
    # pairs stay topic-matched: each positive's pair partner is its own harmless twin
    pairs = {p.harmful: p.harmless for p in data.instruction_pairs(EMB, "train")}
    unwrap = len("<u>"), -len(contrast.HARMFULNESS_TEMPLATE.split("{instruction}")[1] + "<a>")
    for p, q in zip(pos, neg, strict=True):
        assert pairs[p[unwrap[0]:unwrap[1]]] == q[unwrap[0]:unwrap[1]]


# ---------------------------------------------------------------------------- sources and errors


def test_resolve_source_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STEERING_DATA_DIR", raising=False)
    assert resolve_source().kind == "embedded"
    assert resolve_source(None, tmp_path).kind == "dir"
    assert resolve_source("hub").kind == "hub"
    monkeypatch.setenv("STEERING_DATA_DIR", str(tmp_path))
    src = resolve_source()
    assert src.kind == "dir" and src.path == tmp_path
    assert resolve_source("embedded").kind == "embedded"  # --data wins over the env var


def _assert_actionable(message: str) -> None:
    assert "--data" in message and all(f"'{s}'" in message for s in SOURCES)
    assert "python -m empirics.validate" in message
    assert "shared" not in message  # no folder that exists only on our machines


def test_errors_name_setting_sources_and_fix(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.delenv("STEERING_DATA_DIR", raising=False)
    cases: list[Any] = [
        lambda: resolve_source("dir"),
        lambda: resolve_source("bogus"),
        lambda: resolve_source("dir", tmp_path / "nope"),
        lambda: data.mmlu(EMB, ["international_law"]),
        lambda: data.arc(EMB),
        lambda: data.advbench_goals(EMB),
        lambda: data.harmful_instructions(tmp_path, "train"),
        lambda: data.instruction_pairs(DataSource("dir", tmp_path), "train"),
        lambda: data.mmlu(DataSource("hub", tmp_path), ["international_law"]),
    ]
    for case in cases:
        with pytest.raises((ValueError, FileNotFoundError)) as err:
            case()
        _assert_actionable(str(err.value))
    with pytest.raises(DataUnavailable, match="--helpfulness knowledge"):
        data.mmlu(EMB, ["x"])


def test_hub_without_datasets_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_datasets(name: str, *a: Any, **k: Any) -> Any:
        if name == "datasets":
            raise ImportError("No module named 'datasets'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(DataUnavailable, match="pip install datasets") as err:
        data.advbench_goals(DataSource("hub"))
    _assert_actionable(str(err.value))


def test_provenance_records_files_with_sha256() -> None:
    src = DataSource("embedded")
    data.harmful_instructions(src, "train")
    data.stereoset_items(src)
    names = {f.name: f for f in src.provenance.files}
    assert set(names) == {"instructions.jsonl", "bias.jsonl"}
    for name, rec in names.items():
        raw = resources.files("empirics").joinpath("datasets", name).read_bytes()
        assert rec.sha256 == hashlib.sha256(raw).hexdigest() and rec.size == len(raw)
    d = src.provenance.as_dict()
    assert d["source"] == "embedded" and json.loads(json.dumps(d)) == d
    assert type(src.provenance).from_dict(d).as_dict() == d
    assert "bias.jsonl" in src.provenance.markdown()


def test_pyproject_ships_the_datasets() -> None:
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"datasets/*.jsonl"' in text and "package-data" in text


# ---------------------------------------------------------------------------- parsers (no data)


def test_parsers_on_hub_shaped_rows() -> None:
    mmlu = data.parse_mmlu_rows([
        {"question": "Two plus two?", "choices": ["3", "4", "5", "6"], "answer": 1},
        {"question": "Letter answer?", "choices": ["a", "b", "c", "d"], "answer": "D"},
        {"question": "bad", "choices": ["a", "b"], "answer": 0},
        {"question": "bad", "choices": ["a", "b", "c", "d"], "answer": 7},
        {"question": "bad", "choices": ["a", "b", "c", "d"], "answer": True},
    ], "toy")
    assert [(q.correct, q.source) for q in mmlu] == [(1, "mmlu:toy"), (3, "mmlu:toy")]
    arc = data.parse_arc_rows([
        {"id": "x", "question": "Which is a metal?", "answerKey": "2",
         "choices": {"text": ["wood", "iron", "glass"], "label": ["1", "2", "3"]}},
        {"id": "y", "question": "?", "answerKey": "E", "choices": {"text": ["a", "b"],
                                                                   "label": ["A", "B"]}},
    ], "ARC-Easy")
    assert len(arc) == 1 and arc[0].correct == 1 and arc[0].meta["labels"] == "123"
    items = data.parse_stereoset_rows([
        {"id": "1", "target": "group", "bias_type": "race", "context": "The group is BLANK.",
         "type": "intrasentence",
         "sentences": {"sentence": ["A kind.", "A mean.", "A blue."], "gold_label": [0, 1, 2]}},
        {"id": "2", "target": "group", "bias_type": "race", "context": "Ctx",
         "sentences": {"sentence": ["s1", "s2"], "gold_label": ["stereotype", "unrelated"]}},
        {"id": "3", "target": "g", "bias_type": "gender", "context": "c",
         "sentences": {"sentence": ["x", "y", "z"], "gold_label": [2, 1, 0]}},
    ], ("race",))
    assert len(items) == 1 and items[0].stereotype == "A mean."
    assert items[0].anti_stereotype == "A kind." and items[0].kind == "intrasentence"
    assert data.parse_advbench_rows([{"prompt": " p ", "target": "t"}, {"prompt": ""}]) == ["p"]
    pairs = data.parse_paired_instruction_rows([
        {"sentence": ["harm it", "help it"], "label": [data.HUB_HARMFUL_LABEL,
                                                       not data.HUB_HARMFUL_LABEL]},
        {"sentence": ["a", "b"], "label": [True, True]},  # ambiguous: skipped
    ])
    assert [(p.harmful, p.harmless) for p in pairs] == [("harm it", "help it")]
    with pytest.raises(ValueError, match="no usable rows"):
        data.parse_advbench_rows([{"goal": "wrong column"}])


# ---------------------------------------------------------------------------- hub layout


def _write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_hub_layout_matches_directory(data_dir: Path, tmp_path: Path) -> None:
    """Local files in the hub's schema, written from the data directory, parse to the same items
    through the hub path as the upstream files through the directory path."""
    import csv

    d = DataSource("dir", data_dir)
    hub = tmp_path / "hub"
    subject = "international_law"
    for split in ("test", "dev"):
        with open(data_dir / "mmlu" / split / f"{subject}_{split}.csv", newline="",
                  encoding="utf-8") as f:
            rows = [{"question": r[0], "subject": subject, "choices": r[1:5],
                     "answer": "ABCD".index(r[5])} for r in csv.reader(f)]
        _write_jsonl(hub / "cais/mmlu" / subject / f"{split}-00000-of-00001.jsonl", rows)
    with open(data_dir / "advbench" / "harmful_behaviors.csv", newline="", encoding="utf-8") as f:
        rows = [{"prompt": r["goal"], "target": r["target"]} for r in csv.DictReader(f)]
    _write_jsonl(hub / "walledai/AdvBench/data/train-00000-of-00001.jsonl", rows)
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in (data_dir / "stereoset" / "stereoset_dev_triplets.jsonl").read_text().splitlines():
        r = json.loads(line)
        # hub order is arbitrary per item: shuffle the labels to exercise the gold_label mapping
        sents = [(r["stereotype"], 1), (r["unrelated"], 2), (r["anti-stereotype"], 0)]
        by_type[r["type"]].append({"id": str(len(by_type[r["type"]])), "target": r["target"],
                                   "bias_type": r["bias_type"], "context": r["context"],
                                   "sentences": {"sentence": [s for s, _ in sents],
                                                 "gold_label": [g for _, g in sents]}})
    for kind, rows in by_type.items():
        _write_jsonl(hub / "McGill-NLP/stereoset" / kind / "validation-00000-of-00001.jsonl", rows)
    for line_split, hub_split in (("Test", "test"),):
        rows = []
        for line in (data_dir / "arc/ARC-Easy" / f"ARC-Easy-{line_split}.jsonl").read_text().splitlines():
            r = json.loads(line)
            rows.append({"id": r["id"], "question": r["question"]["stem"],
                         "choices": {"text": [c["text"] for c in r["question"]["choices"]],
                                     "label": [c["label"] for c in r["question"]["choices"]]},
                         "answerKey": r["answerKey"]})
        _write_jsonl(hub / "allenai/ai2_arc/ARC-Easy" / f"{hub_split}-00000-of-00001.jsonl", rows)

    h = DataSource("hub", hub)
    assert data.mmlu(h, [subject]) == data.mmlu(d, [subject])
    assert data.mmlu(h, [subject], split="dev") == data.mmlu(d, [subject], split="dev")
    assert data.advbench_goals(h) == data.advbench_goals(d)
    key = lambda it: (it.target, it.stereotype, it.anti_stereotype, it.unrelated, it.kind)  # noqa: E731
    assert sorted(map(key, data.stereoset_race(h))) == sorted(map(key, data.stereoset_race(d)))
    assert data.arc(h) == data.arc(d)
    assert {f.name.split("/")[0] for f in h.provenance.files} == {
        "cais", "walledai", "McGill-NLP", "allenai"}
    assert all(len(f.sha256) == 64 for f in h.provenance.files)
