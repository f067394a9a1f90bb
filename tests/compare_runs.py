"""Do two ``python -m empirics.validate`` output folders hold the same numbers?

    python tests/compare_runs.py A B [--tol 1e-9] [--ignore KEY ...]

Checks ``sweep.csv`` and ``estimates.csv`` byte for byte (estimates.csv: numbers within
``--tol`` with ``--estimates-within-tol``), ``report.json`` value by value (numbers within
``--tol``, relative or absolute; everything else exactly) and ``report.md`` line by line. Run-specific values are left out: the keys in ``IGNORED`` (timings, the output folder)
and each run's own folder inside strings (paths of written files). Exit code 0 when everything
agrees, 1 otherwise (each difference printed, at most ``--show`` per file).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path

#: Keys whose values differ between two runs of the same code (timings, the output folder).
IGNORED = frozenset({"seconds", "out"})


def json_differences(a: object, b: object, tol: float, ignored: frozenset[str],
                     where: str = "") -> Iterator[str]:
    """Paths (``behaviors[0].grid[3]``) where ``a`` and ``b`` differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key in ignored:
                continue
            if key not in a or key not in b:
                yield f"{where}.{key}: only in {'B' if key not in a else 'A'}"
                continue
            yield from json_differences(a[key], b[key], tol, ignored, f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{where}: {len(a)} vs {len(b)} items"
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from json_differences(x, y, tol, ignored, f"{where}[{i}]")
    elif (isinstance(a, (int, float)) and isinstance(b, (int, float))
          and not isinstance(a, bool) and not isinstance(b, bool)):
        if not math.isclose(a, b, rel_tol=tol, abs_tol=tol):
            yield f"{where}: {a!r} vs {b!r}"
    elif a != b:
        yield f"{where}: {a!r} vs {b!r}"


def _cell_differences(name: str, la: list[str], lb: list[str], tol: float) -> list[str]:
    """Cells that differ beyond ``tol`` (numbers) or at all (text), row by row."""
    out = []
    for i, (x, y) in enumerate(zip(la, lb, strict=True)):
        for j, (u, v) in enumerate(zip(x.split(","), y.split(","), strict=False)):
            if u == v:
                continue
            try:
                close = math.isclose(float(u), float(v), rel_tol=tol, abs_tol=tol)
            except ValueError:
                close = False
            if not close:
                out.append(f"{name} line {i + 1} column {j + 1}: {u!r} vs {v!r}")
    return out


def csv_differences(name: str, a: Path, b: Path, tol: float, strict: bool) -> list[str]:
    """Differences of the CSV ``name`` in the folders ``a`` and ``b``: any byte when
    ``strict``, else numbers beyond ``tol`` (bytes that differ within it are noted, not
    counted)."""
    pa, pb = a / name, b / name
    if not pa.is_file() and not pb.is_file():
        return []
    if not pa.is_file() or not pb.is_file():
        return [f"{name}: only in {'A' if pa.is_file() else 'B'}"]
    if pa.read_bytes() == pb.read_bytes():
        return []
    la, lb = pa.read_text().splitlines(), pb.read_text().splitlines()
    if len(la) != len(lb):
        return [f"{name}: {len(la)} vs {len(lb)} lines"]
    if strict:
        return [f"{name} line {i + 1}: {x!r} vs {y!r}"
                for i, (x, y) in enumerate(zip(la, lb, strict=True)) if x != y]
    found = _cell_differences(name, la, lb, tol)
    if not found:
        n = sum(x != y for x, y in zip(la, lb, strict=True))
        print(f"{name}: bytes differ on {n} lines, every number within {tol:g}")
    return found


def _without_folder(text: str, folder: Path) -> str:
    """``text`` with the run's own folder (as written: absolute or relative) as ``<OUT>``."""
    return text.replace(str(folder.resolve()), "<OUT>").replace(str(folder), "<OUT>")


def _report(folder: Path) -> object:
    return json.loads(_without_folder((folder / "report.json").read_text(), folder))


def _same_markdown(a: Path, b: Path) -> list[str]:
    la = _without_folder((a / "report.md").read_text(), a).splitlines()
    lb = _without_folder((b / "report.md").read_text(), b).splitlines()
    out = [f"report.md: {len(la)} vs {len(lb)} lines"] if len(la) != len(lb) else []
    return out + [f"report.md line {i + 1}: {x!r} vs {y!r}"
                  for i, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y]


def compare(a: Path, b: Path, tol: float = 1e-9, ignored: frozenset[str] = IGNORED,
            strict_estimates: bool = True) -> dict[str, list[str]]:
    """Differences per file between the run folders ``a`` and ``b`` (empty lists: the same):
    sweep.csv byte for byte, estimates.csv too unless ``strict_estimates`` is off."""
    return {"sweep.csv": csv_differences("sweep.csv", a, b, tol, strict=True),
            "estimates.csv": csv_differences("estimates.csv", a, b, tol, strict_estimates),
            "report.json": list(json_differences(_report(a), _report(b), tol, ignored)),
            "report.md": _same_markdown(a, b)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--tol", type=float, default=1e-9)
    p.add_argument("--ignore", nargs="*", default=[], help="more report.json keys to skip")
    p.add_argument("--show", type=int, default=20, help="differences printed per file")
    p.add_argument("--cache-seeded", action="store_true",
                   help="B reused A's cache: skip the chunk counters")
    p.add_argument("--estimates-within-tol", action="store_true",
                   help="estimates.csv: numbers within --tol instead of the same bytes")
    args = p.parse_args(argv)
    for folder in (args.a, args.b):
        if not (folder / "report.json").is_file():
            print(f"error: {folder / 'report.json'} not found: give two validate --out folders",
                  file=sys.stderr)
            return 2
    ignored = IGNORED | set(args.ignore)
    if args.cache_seeded:
        ignored |= {"chunks_reused", "chunks_computed"}
    found = compare(args.a, args.b, args.tol, frozenset(ignored), not args.estimates_within_tol)
    for name, diffs in found.items():
        print(f"{name}: {'same' if not diffs else f'{len(diffs)} differences'}")
        for d in diffs[:args.show]:
            print(f"  {d}")
    return 1 if any(found.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
