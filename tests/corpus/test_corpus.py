"""The real-world notebook corpus: each case trains in the image (`--train-only`), or is
built, served and probed (`level = "image"`), or fails with its expected message
(tests/corpus/cases.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .runner import Case, Outcome, load_cases, run_case

pytestmark = [pytest.mark.slow, pytest.mark.containers]
CASES = load_cases()
RECORDED: list[Outcome] = []  # printed as the corpus table at the end (conftest.py)


def test_the_corpus_has_at_least_thirty_cases_each_with_a_folder() -> None:
    assert len(CASES) >= 30
    assert all((Path(__file__).parent / "cases" / c.name).is_dir() for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_has_its_expected_outcome(
    case: Case, tmp_path: Path, buildah: object, podman: object
) -> None:
    if case.requires and not Path(case.requires).exists():
        pytest.skip(f"needs {case.requires}, which this machine does not have")
    outcome = run_case(case, tmp_path)
    RECORDED.append(outcome)
    assert outcome.ok, "\n".join(outcome.problems)
