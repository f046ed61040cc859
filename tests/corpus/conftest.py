"""Print the corpus table (outcome and build time per notebook) after a run that built any."""

from __future__ import annotations

import pytest

from .runner import TABLE_HEADER, markdown_row
from .test_corpus import RECORDED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RECORDED:
        return
    good = sum(o.ok for o in RECORDED)
    terminalreporter.section("corpus: outcome and build time per notebook")
    terminalreporter.write_line(TABLE_HEADER)
    for outcome in RECORDED:
        terminalreporter.write_line(markdown_row(outcome))
    seconds = sum(o.seconds for o in RECORDED)
    terminalreporter.write_line(
        f"{good}/{len(RECORDED)} as expected ({100 * good / len(RECORDED):.0f}%), {seconds:.0f}s"
    )
