"""The data sets' item types: instruction pairs, StereoSet triplets, multiple-choice questions
(shared by the loaders in ``empirics.data`` and the knowledge set in ``empirics.knowledge``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from empirics.sources import check_choice


@dataclass(frozen=True)
class InstructionPair:
    """A harmful and a harmless instruction on the same topic (embedded / hub sources)."""

    harmful: str
    harmless: str
    topic: str = ""
    category: str = ""
    item_id: str = ""




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




@dataclass
class MultipleChoice:
    question: str
    options: list[str]
    correct: int  # index into options
    source: str  # e.g. "mmlu:international_law", "ARC-Easy", "knowledge:capital"
    meta: dict[str, str] = field(default_factory=dict, compare=False)


