"""The REPL examples of docs/theory.md and docs/repl_tour.md run and print what they show."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("name", ["theory.md", "repl_tour.md"])
def test_doc_examples(name: str) -> None:
    res = doctest.testfile(str(DOCS / name), module_relative=False, verbose=False,
                           optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 5 and res.failed == 0
