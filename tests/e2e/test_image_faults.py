"""Faults against the served churn image: SIGTERM (`podman stop`) in the middle of load.

The load comes from a second process (tests/runtime/loadgen.py: 8 keep-alive connections,
each request with its own X-Request-Id, bounded in count and time). A request is accepted
when the server's access log has its id; every accepted request must have been answered
200 with the sample's predictions, and every failure the client saw (refused, reset) must
be an id the server never logged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nb2svc.engine.podman import Podman
from runtime import loadgen

from .e2e_support import ChurnBuilds

pytestmark = [pytest.mark.slow, pytest.mark.containers]
MODEL = "/opt/nb2svc/model"


def test_sigterm_under_load_answers_every_accepted_request(
    podman: Podman, churn_builds: ChurnBuilds, tmp_path: Path
) -> None:
    with podman.running(churn_builds.get("default").tag, read_only=True) as container:
        podman.wait_http_ready(f"{container.url}/readyz", timeout=60, container=container)
        sample = json.loads(podman.read_file(container, f"{MODEL}/sample.json"))
        name = json.loads(podman.read_file(container, f"{MODEL}/signature.json"))["name"]
        body = json.dumps({"instances": sample["inputs"][:1]}).encode()
        path = f"/v1/models/{name}:predict"
        load = loadgen.start(container.url, path, body, tmp_path, seconds=40, max=8000)
        try:
            load.wait_for(300, timeout=60)
            podman.stop(container, timeout=40)  # SIGTERM; SIGKILL only after 40 s
            outcomes = load.outcomes(timeout=60)
        finally:
            load.stop()
        state = podman.inspect(container)["State"]
        log = podman.logs(container)
    assert state["ExitCode"] == 0, log[-3000:]
    result = loadgen.verdict(outcomes, loadgen.logged_requests(log), sample["predictions"][:1])
    assert result.problems == []
    assert result.answered >= 300
    assert result.never_accepted > 0, "the load went on until the server was gone"
