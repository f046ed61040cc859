"""Build every corpus notebook (tests/corpus) and print outcome and build time per notebook.

    .venv/bin/python benchmarks/corpus/run.py [NAME ...]   (CONTAINERS_CONF as in the Makefile)

Prints a Markdown table and the overall rate; exit status 1 when any case missed its
expected outcome. Writes benchmarks/corpus/last-run.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from corpus.runner import TABLE_HEADER, load_cases, run_case
from corpus.runner import markdown_row as row


def main(names: list[str]) -> int:
    cases = [c for c in load_cases() if not names or c.name in names]
    missing = [c for c in cases if c.requires and not Path(c.requires).exists()]
    for case in missing:
        print(f"skipped {case.name}: needs {case.requires}", file=sys.stderr)
    cases = [c for c in cases if c not in missing]
    outcomes = []
    start = time.monotonic()
    for case in cases:
        with tempfile.TemporaryDirectory(prefix=f"corpus-{case.name}-") as tmp:
            outcomes.append(run_case(case, Path(tmp)))
        print(row(outcomes[-1]), file=sys.stderr, flush=True)
    total = time.monotonic() - start
    print(TABLE_HEADER)
    print("\n".join(row(o) for o in outcomes))
    good = sum(o.ok for o in outcomes)
    print(
        f"\n{good}/{len(outcomes)} as expected ({100 * good / max(1, len(outcomes)):.0f}%), "
        f"{total:.0f}s in all"
    )
    result = [{"name": o.case.name, "expect": o.case.expect, "ok": o.ok, "seconds": o.seconds,
               "outcome": o.got, "problems": o.problems} for o in outcomes]  # fmt: skip
    (Path(__file__).parent / "last-run.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if good == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
