"""The real-world notebook corpus: each case trains in the image (`--train-only`), or is
built, served and probed (`level = "image"`), or fails with its expected message
(tests/corpus/cases.toml)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from .runner import Case, Outcome, cleanup, load_cases, run_case

pytestmark = [pytest.mark.slow, pytest.mark.containers]
CASES = load_cases()
RECORDED: list[Outcome] = []  # printed as the corpus table at the end (conftest.py)
# Cases built side by side: a build waits on the network, the disk and single-threaded steps
# for much of its time, which the other one uses. NB2SVC_CORPUS_JOBS=1 builds one at a time.
JOBS = max(1, int(os.environ.get("NB2SVC_CORPUS_JOBS", "2")))


def runnable(case: Case) -> bool:
    return not case.requires or Path(case.requires).exists()


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory, buildah: object, podman: object
) -> Iterator[dict[str, Future[Outcome]]]:
    """Every runnable case, started in order on JOBS workers when the first case test runs;
    each test waits for its own. No image is removed while another case builds (a removal
    can take a layer that a running build shares): all of them go after the last case."""
    pool = ThreadPoolExecutor(JOBS, thread_name_prefix="corpus")
    cases = [case for case in CASES if runnable(case)]
    futures = {
        case.name: pool.submit(run_case, case, tmp_path_factory.mktemp(case.name), clean=False)
        for case in cases
    }
    try:
        yield futures
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for case in cases:
            cleanup(case)


def test_the_corpus_has_at_least_thirty_cases_each_with_a_folder() -> None:
    assert len(CASES) >= 30
    assert all((Path(__file__).parent / "cases" / c.name).is_dir() for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_has_its_expected_outcome(case: Case, outcomes: dict[str, Future[Outcome]]) -> None:
    if not runnable(case):
        pytest.skip(f"needs {case.requires}, which this machine does not have")
    outcome = outcomes[case.name].result()
    RECORDED.append(outcome)
    assert outcome.ok, "\n".join(outcome.problems)
