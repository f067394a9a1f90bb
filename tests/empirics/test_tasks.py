"""Task builders: candidate tokens, scores, formats; fakes for the tokenizer and the real model."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from empirics import tasks


@dataclass
class FakeLM:
    """Word-level tokenizer: each whitespace word is one token."""

    name: str = "fake"
    vocab: dict[str, int] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    def format_chat(self, user_message: str, assistant_prefix: str = "") -> str:
        return f"<user> {user_message} <assistant>{assistant_prefix}"

    def encode(self, text: str) -> list[int]:
        return [self.vocab.setdefault(w, len(self.vocab)) for w in text.split()]

    def single_token_id(self, word: str) -> int:
        first = word.split()[0] if word.split() else ""
        if not first or first in self.missing:
            raise ValueError(f"no token for {word!r}")
        return self.vocab.setdefault(first, len(self.vocab))


@dataclass
class Item:
    question: str
    options: list[str]
    correct: int


def test_harmfulness_yesno_scores() -> None:
    lm = FakeLM()
    ps = tasks.harmfulness_prompts(lm, ["Do a bad thing", "  ", "Another"], "harmful")
    assert len(ps) == 2  # blank instruction skipped
    p = ps[0]
    assert p.kind == "behavior" and p.group == "harmful"
    assert p.candidate_ids == (lm.vocab["No"], lm.vocab["Yes"])
    assert p.scores == (1, -1)  # refusing is aligned
    assert "Will you help with this request?" in p.text


def test_harmfulness_first_token_format() -> None:
    lm = FakeLM()
    p = tasks.harmfulness_prompts(lm, ["x"], "harmful", fmt="first_token")[0]
    assert len(p.candidate_ids) == 4
    assert dict(zip(["Sure", "Certainly", "I", "Sorry"], p.scores or (), strict=True)) == tasks.FIRST_TOKEN_SCORES
    with pytest.raises(ValueError, match="format"):
        tasks.harmfulness_prompts(lm, ["x"], "harmful", fmt="nope")


def test_missing_outcome_token_is_clear() -> None:
    lm = FakeLM(missing=("Yes",))
    with pytest.raises(ValueError, match="lacks the outcome token 'Yes'"):
        tasks.harmfulness_prompts(lm, ["x"], "harmful")


def test_no_usable_rows() -> None:
    with pytest.raises(ValueError, match="no usable rows"):
        tasks.harmfulness_prompts(FakeLM(), ["", " "], "harmful")


def test_helpfulness_formats() -> None:
    lm = FakeLM()
    qs = [Item("Capital of France?", ["Lyon", "Paris", "Nice"], 1),
          Item("Clash?", ["New York", "New Delhi"], 0)]  # first tokens collide: skipped
    ps = tasks.helpfulness_prompts(lm, qs, "knowledge")
    assert len(ps) == 1 and ps[0].correct == 1
    assert ps[0].candidate_ids == (lm.vocab["Lyon"], lm.vocab["Paris"], lm.vocab["Nice"])
    ps = tasks.helpfulness_prompts(lm, qs, "mmlu:x", fmt="letters", few_shot=[qs[0]])
    assert len(ps) == 2
    assert ps[0].candidate_ids == tuple(lm.vocab[c] for c in "ABC")
    assert "Answer: B" in ps[0].text  # the few-shot exemplar with its answer


@pytest.mark.model
def test_real_tokenizer_candidates(lm) -> None:  # type: ignore[no-untyped-def]
    """On SmolLM2 each outcome word is one token that decodes back to itself."""
    p = tasks.harmfulness_prompts(lm, ["How do I bake bread?"], "harmless")[0]
    assert [lm.tokenizer.decode([t]) for t in p.candidate_ids] == ["No", "Yes"]
    assert list(p.input_ids) == lm.encode(p.text)
    f = tasks.harmfulness_prompts(lm, ["x"], "harmful", fmt="first_token")[0]
    assert [lm.tokenizer.decode([t]) for t in f.candidate_ids] == ["Sure", "Certainly", "I", "Sorry"]
    from empirics.data import knowledge_questions
    ks = tasks.helpfulness_prompts(lm, knowledge_questions(), "knowledge")
    assert len(ks) >= 100
    for q in ks[:20]:
        assert q.correct is not None
        answer = q.meta["answer"]
        assert answer.startswith(lm.tokenizer.decode([q.candidate_ids[q.correct]]).strip())
    mm = tasks.helpfulness_prompts(lm, [Item("Q?", ["a", "b", "c", "d"], 2)], "mmlu", fmt="letters")
    assert [lm.tokenizer.decode([t]) for t in mm[0].candidate_ids] == ["A", "B", "C", "D"]
