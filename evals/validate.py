"""Check a question set against the report: ``python evals/validate.py [PATH]``.

The same check as ``assistant eval --validate-only``; exits 0 when the set is sound, 2 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from assistant.evaluation.dataset import DEFAULT_SET, load_questions, load_report, validate


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_SET
    try:
        items = load_questions(path)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report, corpus = load_report()
    problems = validate(items, report, corpus)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{path}: {len(problems)} problem(s) in {len(items)} items", file=sys.stderr)
        return 2
    print(f"{path}: {len(items)} items, no problems.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
