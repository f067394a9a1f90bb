"""``python -m proofs``: check and print every proof; ``--markdown PATH`` writes the docs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from proofs.registry import all_proofs
from proofs.report import markdown, summarize, text_report


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 iff every step checks and every proof reaches its conclusion."""
    parser = argparse.ArgumentParser(prog="python -m proofs", description=__doc__)
    parser.add_argument("--markdown", type=Path, default=None,
                        help="write the proofs as Markdown with LaTeX to this path")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    proofs = all_proofs()
    if args.markdown is not None:
        args.markdown.write_text(markdown(proofs), encoding="utf-8")
        print(f"wrote {args.markdown}")
    else:
        sys.stdout.write(text_report(proofs))
    summary = summarize(proofs)
    print(f"({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
