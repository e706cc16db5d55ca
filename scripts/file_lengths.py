"""Lines per file in src/ (issue 19): the median without __init__.py, and the longest.

    uv run python scripts/file_lengths.py [--top N] [--over LINES]

Exits 1 when a file is longer than --over (default 250)."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def lengths(root: Path = SRC) -> dict[str, int]:
    return {
        str(path.relative_to(root)): len(path.read_text().splitlines())
        for path in sorted(root.rglob("*.py"))
        if path.name != "__init__.py"
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--over", type=int, default=250)
    args = parser.parse_args()
    found = lengths()
    longest = sorted(found.items(), key=lambda item: -item[1])
    print(f"files {len(found)}  median {statistics.median(found.values()):g}")
    for name, count in longest[: args.top]:
        print(f"{count:5d}  {name}")
    over = [name for name, count in longest if count > args.over]
    if over:
        print(f"over {args.over}: {', '.join(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
