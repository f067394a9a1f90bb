"""No formula of the theory is typed again in ``empirics``: every one comes from ``theory``
through ``empirics.formulas`` (the one module exempt here).

The known forms are matched on each expression of the code (``ast.unparse``: spacing and
parentheses normalised; docstrings and comments are not code). Modules under rewrite carry
their remaining hits in ``KNOWN``, a named exception list that is to be emptied: a new hit fails,
and so does a listed hit that is gone (remove it from the list).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import empirics

PKG = Path(empirics.__file__).parent
EXEMPT = {"formulas.py"}   # the door to theory: its wrappers name the forms they call


def _operand(core: str) -> str:
    """A name whose last word matches ``core``, with any attribute prefix and any subscripts,
    attributes or calls after it (``e.z[None]``, ``gain[ib].mean(0)``), as unparse writes it."""
    return rf"(?:\w+\.)*(?:{core})(?:\.\w+|\[[^\]]*\]|\([^()]*\))*"


_ANY, _KAPPA, _B0 = _operand(r"\w+"), _operand("kappa"), _operand("B0|b0|B_0")
_Z, _R = _operand(r"z\w*|logits"), _operand(r"r\w*")
_G, _DELTA = _operand(r"g\w*|shifts"), _operand(r"d|delta\w*")
_HIDDEN = _operand(r"d|hidden_size")   # the model's width (not an attention head's)


def _product_of(*parts: str) -> Callable[[ast.expr], bool]:
    """A product whose factors include one matching each pattern in ``parts``, any order."""

    def factors(node: ast.expr) -> list[str]:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            return factors(node.left) + factors(node.right)
        return [ast.unparse(node)]

    def match(node: ast.expr) -> bool:
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)):
            return False
        got = factors(node)
        return all(any(re.search(p, f) for f in got) for p in parts)

    return match


def _unparsed(pattern: str) -> Callable[[ast.expr], bool]:
    regex = re.compile(pattern)
    return lambda node: regex.fullmatch(ast.unparse(node)) is not None


#: form name -> test on one expression node.
FORMS: dict[str, Callable[[ast.expr], bool]] = {
    "s = λσβ": _product_of(r"delta_norm|\blam|λ", r"sig", r"beta"),
    "σ = 1/√d": _unparsed(rf".+ / (np|math|torch)\.sqrt\({_HIDDEN}\)|{_HIDDEN} \*\* \(?-0\.5\)?"),
    "U = G − κL": _unparsed(rf"{_ANY} - (?:{_KAPPA} \* {_ANY}|{_ANY} \* {_KAPPA})"),
    "γλ = slope/(1 − B₀²)": _unparsed(rf".* / .*1 - {_B0} \*\* 2.*"),
    "softmax(z + r g)": _unparsed(rf"{_Z} \+ {_R} \* {_G}"),
    "Proposition 1's remainder": _unparsed(rf".+ - .+ - {_R} \* {_DELTA}"),
    "tanh(a r + b)": _unparsed(r"(np|math|torch)\.tanh\(.+ \* .+ \+ .+\)"),
    "1/(1 + a + a b² r²/2)": _unparsed(r".*/ \(1 \+ .+ \*\* 2 .*\*\* 2 / 2\).*"),
}

#: Hits left in modules under rewrite (the engine and the planner): (module, form) -> count.
#: To be emptied at the merge; each hit goes through ``empirics.formulas``.
KNOWN: Counter[tuple[str, str]] = Counter()


def hits(source: str) -> Counter[str]:
    """Re-typed forms in ``source``, counted once per statement line."""
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.expr):
            continue
        for name, test in FORMS.items():
            if test(node):
                found.add((node.lineno, name))
    return Counter(name for _, name in found)


def package_hits(root: Path = PKG) -> Counter[tuple[str, str]]:
    """(module path under ``root``, form) -> hits, ``formulas.py`` left out."""
    out: Counter[tuple[str, str]] = Counter()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in EXEMPT:
            continue
        for form, n in hits(path.read_text()).items():
            out[(rel, form)] += n
    return out


def test_no_new_retyped_formula() -> None:
    new = package_hits() - KNOWN
    assert not new, ("formulas typed again outside empirics.formulas (call theory through "
                     f"formulas instead): {dict(new)}")


def test_known_exceptions_are_current() -> None:
    gone = KNOWN - package_hits()
    assert not gone, f"listed re-typings no longer found, remove them from KNOWN: {dict(gone)}"


PLANTED = {
    "s = λσβ": ["s = e.delta_norm * sigma * e.beta_hat", "s = beta * lam * sig"],
    "σ = 1/√d": ["sig = 1 / np.sqrt(d)", "sig = 1 / math.sqrt(lm.hidden_size)", "x = d ** -0.5",
                 "s = lam * beta / math.sqrt(t.hidden_size)"],
    "U = G − κL": ["u = gain.mean - s.kappa * loss.mean",
                   "u = gain_boot[:, j] - kappa * loss_boot[:, j]", "u = g - l * kappa",
                   "u = gain[ib].mean(0) - kappa * soft[ih].mean(0)"],
    "γλ = slope/(1 − B₀²)": ["gl = slope / (1 - B0 ** 2)",
                            "gl = t.slope / np.maximum(1 - t.B0**2, 1e-12)"],
    "softmax(z + r g)": ["p = softmax(z + r * g)",
                         "p = _normalise(e.z[None] + r[:, None] * e.g[None])"],
    "Proposition 1's remainder": ["x = fh - h[None] - r[:, None, None] * d[None]",
                                  "x = h_r - h0 - r * delta"],
    "tanh(a r + b)": ["y = np.tanh(a * r + b)", "y = np.tanh(gl * grid + np.arctanh(b0))"],
    "1/(1 + a + a b² r²/2)": ["y = 1 / (1 + a + a * b**2 * r**2 / 2)",
                              "y = 0.5 / (1 + a + a * b ** 2 * r ** 2 / 2) + 0.25"],
}


def test_each_form_is_caught_when_planted() -> None:
    for form, snippets in PLANTED.items():
        for code in snippets:
            assert hits(code)[form] == 1, (form, code, hits(code))


def test_a_planted_module_fails(tmp_path: Path) -> None:
    """The package check sees a re-typing in any module, sub-packages included."""
    (tmp_path / "engine").mkdir()
    (tmp_path / "formulas.py").write_text("s = lam * sigma * beta\n")   # exempt
    (tmp_path / "engine" / "readout.py").write_text(
        "def curve(z, r, g):\n    return softmax(z + r * g)\n")
    assert package_hits(tmp_path) - KNOWN == Counter({("engine/readout.py", "softmax(z + r g)"): 1})


def test_calls_through_formulas_pass() -> None:
    clean = """
s = formulas.shift_scale(e.delta_norm, sigma, e.beta_hat)
sig = formulas.random_sigma(d)
u = formulas.utility(gain, loss, kappa)
gl = formulas.margin_from_slope(slope, B0)
p = formulas.behavior_response_curve(z, g, scores, r)
rem = formulas.response_remainder(h_r, h0, delta, r)
y = formulas.paper_tanh(r, a, b) + formulas.paper_helpfulness(r, a, b)
n = len(items) - 1
w = 2 * kappa
lo = hi - width * 0.5
scale = 1 / math.sqrt(self.head_dim) + head_dim ** -0.5
"""
    assert not hits(clean), hits(clean)
