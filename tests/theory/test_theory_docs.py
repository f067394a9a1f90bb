"""The REPL examples of docs/theory.md, docs/repl_tour.md and the README run and print what they show."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["docs/theory.md", "docs/repl_tour.md", "README.md"])
def test_doc_examples(name: str) -> None:
    res = doctest.testfile(str(REPO / name), module_relative=False, verbose=False,
                           optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 5 and res.failed == 0
