"""The OpenAPI document every runtime serves is valid, and fuzzing it finds no 5xx.

Runs against each runtime's live server (the `server_url` fixture, see conftest.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate


@pytest.fixture(scope="module")
def document(server_url: str) -> dict[str, Any]:
    response = httpx.get(f"{server_url}/openapi.json", timeout=30)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_openapi_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    validate(document)


def test_openapi_documents_the_contract_endpoints(
    document: dict[str, Any], signature: dict[str, Any]
) -> None:
    predict = f"/v1/models/{signature['name']}:predict"
    assert {predict, "/invocations", "/livez", "/readyz", "/metrics"} <= set(document["paths"])


def assert_no_server_error(server_url: str, report_dir: Path) -> None:
    """`st run` of the server's own OpenAPI document (examples, coverage, fuzzing, stateful
    phases) with the 5xx check only."""
    argv = [
        str(Path(sys.executable).with_name("st")), "run", f"{server_url}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", "30", "--seed", "1",
        "--report-dir", str(report_dir), "--no-color",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_schemathesis_finds_no_server_error(server_url: str, tmp_path: Path) -> None:
    assert_no_server_error(server_url, tmp_path)
