"""``python -m reports results.json --out report.html``: re-render a saved audit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import ResultsError, load_results, write_report


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__)
    parser.add_argument("results", type=Path, help="path to results.json")
    parser.add_argument("--out", type=Path, default=None, help="output HTML (default: report.html beside the results)")
    args = parser.parse_args(argv)
    try:
        results = load_results(args.results)
    except (OSError, ResultsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = write_report(results, args.out or args.results.with_name("report.html"))
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
