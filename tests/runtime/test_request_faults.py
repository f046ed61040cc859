"""No request can stop the server: every failure is a JSON 4xx/5xx on a connection that stays
open, whatever the body holds or the model's code raises. Only the supervisor stops workers.

Each test runs against every runtime (`bentoml serve` included) and checks the connection by
sending the next request on the same keep-alive connection (`KeepAlive` never reconnects).
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .models import HOSTILE_TENURES, STUCK_TENURE, UNSERIALIZABLE_TENURE, save_hostile_model
from .server import KeepAlive, ServerProcess

PREDICT = "/v1/models/churn:predict"
HEADER = b"tenure,monthly_charges,contract,paperless\n"


def churn_row(tenure: int = 5) -> dict[str, Any]:
    return {"tenure": tenure, "monthly_charges": 50.0, "contract": "month", "paperless": True}


def instances(*rows: dict[str, Any]) -> bytes:
    return json.dumps({"instances": list(rows)}).encode()


def v2_body(**overrides: Any) -> bytes:
    tensors = {
        "tenure": {"name": "tenure", "shape": [1], "datatype": "INT64", "data": [5]},
        "monthly_charges": {"name": "monthly_charges", "shape": [1], "datatype": "FP64"},
        "contract": {"name": "contract", "shape": [1], "datatype": "BYTES", "data": ["month"]},
        "paperless": {"name": "paperless", "shape": [1], "datatype": "BOOL", "data": [True]},
    }
    tensors["monthly_charges"]["data"] = [50.0]
    for name, fields in overrides.items():
        tensors[name] = {**tensors[name], **fields}
    return json.dumps({"inputs": list(tensors.values())}).encode()


def assert_still_serving(connection: KeepAlive) -> None:
    status, body, _ = connection.post(PREDICT, instances(churn_row()))
    assert status == 200, body
    assert len(body["predictions"]) == 1


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_hostile_model(tmp_path_factory.mktemp("hostile") / "model")


@pytest.fixture(scope="module")
def hostile_server(
    runtime: str, hostile_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A two-worker server of the hostile model (see models.HOSTILE_NOTEBOOK)."""
    log_dir = tmp_path_factory.mktemp(f"hostile-{runtime}")
    with ServerProcess(hostile_dir, log_dir, runtime=runtime, WORKERS="2") as server:
        yield server


def test_a_model_raising_systemexit_or_any_baseexception_fails_only_that_request(
    hostile_server: ServerProcess,
) -> None:
    connection = KeepAlive(hostile_server.url)
    for _ in range(2):  # more escapes than the supervisor's crash-loop limit (5 a minute)
        for tenure, kind in HOSTILE_TENURES.items():
            status, body, _ = connection.post(PREDICT, instances(churn_row(tenure)))
            assert status == 500
            assert body == {
                "error": f"prediction failed: the model raised {kind}; see the server log",
                "details": [],
            }
            assert_still_serving(connection)
    assert hostile_server.proc is not None
    assert hostile_server.proc.poll() is None
    assert "worker exited" not in hostile_server.stderr()


def test_a_base_exception_in_a_merged_batch_fails_only_its_own_request(
    hostile_server: ServerProcess,
) -> None:
    status, body, _ = KeepAlive(hostile_server.url).post(
        PREDICT, instances(churn_row(), churn_row(666), churn_row())
    )
    assert status == 500
    assert "SystemExit" in body["error"]


def test_model_output_no_json_encoder_takes_is_a_json_500_on_an_open_connection(
    hostile_server: ServerProcess,
) -> None:
    connection = KeepAlive(hostile_server.url)
    body = json.dumps({"dataframe_records": [churn_row(UNSERIALIZABLE_TENURE)]}).encode()
    status, answer, _ = connection.post("/invocations", body)
    assert status == 500
    assert answer == {"error": "internal server error", "details": []}
    assert_still_serving(connection)


def test_a_csv_field_longer_than_the_csv_modules_default_limit_is_read(server_url: str) -> None:
    connection = KeepAlive(server_url)
    body = HEADER + b"5,1.5," + b"m" * 200_000 + b",true\n"  # csv's default limit: 131072
    status, answer, _ = connection.post("/invocations", body, "text/csv")
    assert status == 200, answer
    assert len(answer["predictions"]) == 1
    assert_still_serving(connection)


ROW_FIELDS = b'"tenure":5,"contract":"month","paperless":true'
HOSTILE_BODIES = {
    "JSON nested past the parser's depth limit": (PREDICT, "application/json", b"[" * 5000, 400),
    "an array nested 1000 deep": (PREDICT, "application/json", b"[" * 1000 + b"]" * 1000, 400),
    "text/plain": (PREDICT, "text/plain", instances(churn_row()), 415),
    "a charset other than UTF-8": (
        PREDICT,
        "application/json; charset=latin-1",
        instances(churn_row()),
        415,
    ),
    "bytes that are not UTF-8": (PREDICT, "application/json", b'{"instances":["\xff\xfe"]}', 400),
    "a lone surrogate escape": (PREDICT, "application/json", b'{"instances":["\\ud800"]}', 400),
    "NaN": (
        PREDICT,
        "application/json",
        b'{"instances":[{' + ROW_FIELDS + b',"monthly_charges":NaN}]}',
        400,
    ),
    "Infinity": (
        PREDICT,
        "application/json",
        b'{"instances":[{' + ROW_FIELDS + b',"monthly_charges":Infinity}]}',
        400,
    ),
    "a float beyond double range": (
        PREDICT,
        "application/json",
        b'{"instances":[{' + ROW_FIELDS + b',"monthly_charges":1e400}]}',
        400,
    ),
    "an integer of 400 digits": (
        PREDICT,
        "application/json",
        instances(churn_row()).replace(b'"tenure": 5', b'"tenure": ' + b"9" * 400),
        400,
    ),
    "an integer past int64": (
        PREDICT,
        "application/json",
        instances(churn_row(2**64)),
        422,
    ),
    "rows that are not objects": (PREDICT, "application/json", b'{"instances":["a",5,null]}', 422),
    "more rows than MAX_ROWS": (PREDICT, "application/json", instances(*[churn_row()] * 1001), 422),
    "a body over MAX_BODY_BYTES": (PREDICT, "application/json", b"[" + b"1," * 600_000, 413),
    "CSV that is not UTF-8": ("/invocations", "text/csv", HEADER + b"5,1,\xff,true\n", 400),
    "CSV with a short row": ("/invocations", "text/csv", HEADER + b'5,1,"month,true\n', 422),
    "CSV with an infinite float": ("/invocations", "text/csv", HEADER + b"5,1e999,month,1\n", 422),
    "a v2 tensor nested too deep": (
        "/v2/models/churn/infer",
        "application/json",
        v2_body(tenure={"data": [[[[5]]]]}),
        422,
    ),
    "a v2 shape past int64": (
        "/v2/models/churn/infer",
        "application/json",
        v2_body(tenure={"shape": [2**70]}),
        400,
    ),
    "a v2 data object": (
        "/v2/models/churn/infer",
        "application/json",
        v2_body(tenure={"data": {"a": 1}}),
        400,
    ),
    "v2 inputs that are not an array": (
        "/v2/models/churn/infer",
        "application/json",
        b'{"inputs":{"a":1}}',
        400,
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_BODIES))
def test_a_hostile_body_is_a_clear_4xx_and_the_connection_stays_usable(
    server_url: str, case: str
) -> None:
    path, content_type, body, expected = HOSTILE_BODIES[case]
    connection = KeepAlive(server_url)
    status, answer, _ = connection.post(path, body, content_type)
    assert status == expected, answer
    assert isinstance(answer["error"], str)
    assert answer["error"]
    assert isinstance(answer["details"], list)
    assert_still_serving(connection)


def test_a_model_that_exits_while_loading_is_a_load_failure_exit_3(
    hostile_dir: Path, tmp_path: Path
) -> None:
    """The default runtime: the worker reports the load failure instead of dying of it."""
    server = ServerProcess(hostile_dir, tmp_path, HOSTILE_LOAD="1")
    with pytest.raises(RuntimeError, match="server exited 3"):
        server.start(timeout=60)
    server.stop()
    assert "model failed to load" in server.stderr()
    assert "SystemExit: model code exited while loading" in server.stderr()


def test_sigterm_stops_a_worker_whose_model_call_never_returns(
    hostile_dir: Path, tmp_path: Path
) -> None:
    """After SHUTDOWN_TIMEOUT the stuck request is given up and the process exits."""
    server = ServerProcess(hostile_dir, tmp_path, SHUTDOWN_TIMEOUT="1").start()
    try:
        stuck = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        body = instances(churn_row(STUCK_TENURE))
        head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        stuck.sendall(head.encode() + body)
        time.sleep(0.5)  # the model call has started
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=20) == 0
        stuck.close()
    finally:
        server.stop()


HEAD = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def test_a_connection_without_a_whole_request_head_is_closed_after_read_timeout(
    churn_dir: Path, tmp_path: Path
) -> None:
    """A silent client, or one sending its headers slowly, cannot hold a connection."""
    with ServerProcess(churn_dir, tmp_path, READ_TIMEOUT="1") as server:
        for sent in (b"", HEAD.encode()):
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
                sock.sendall(sent)
                assert sock.recv(100) == b"", "the server closed the connection"
        connection = KeepAlive(server.url)
        assert_still_serving(connection)
        time.sleep(1.5)  # idle between requests: KEEP_ALIVE (5 s) applies, not READ_TIMEOUT
        assert_still_serving(connection)


def test_a_body_that_stops_arriving_is_a_408_that_closes_the_connection(
    churn_dir: Path, tmp_path: Path
) -> None:
    with ServerProcess(churn_dir, tmp_path, READ_TIMEOUT="1") as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        sock.sendall(f"{HEAD}Content-Length: 100\r\n\r\n{{".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"] == (
        "the request body did not arrive within 1 s (READ_TIMEOUT)"
    )
