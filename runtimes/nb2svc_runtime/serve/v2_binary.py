"""Serve side: the v2 protocol's binary tensor data extension (`binary_tensor_data`).

Triton's HTTP clients use it by default: the body is the JSON request, `N` bytes long as the
`Inference-Header-Content-Length` header says, followed by the raw data of each input whose
`parameters.binary_data_size` is set, in input order. Numbers are little-endian; BOOL is
one byte; each BYTES element is a 4-byte little-endian length and its bytes (UTF-8 here).
An output is sent the same way when the request asks (`parameters.binary_data_output`, or
an output's own `parameters.binary_data`); the response then carries the header too.
A NaN in a binary FP input means a missing value, as `null` does in JSON
(runtimes/nb2svc_runtime/USAGE.md, "Open Inference Protocol v2").
"""

from __future__ import annotations

import math
import struct
from typing import Any

import orjson

from .errors import ApiError

HEADER = "inference-header-content-length"
EXTENSION = "binary_tensor_data"
_FORMATS = {
    "INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q",
    "UINT8": "B", "UINT16": "H", "UINT32": "I", "UINT64": "Q",
    "FP16": "e", "FP32": "f", "FP64": "d", "BOOL": "?",
}  # fmt: skip


def split_body(raw: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON part, binary part) of a request body; all JSON without the header."""
    if header_length is None:
        return raw, b""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 < length <= len(raw):
        raise ApiError(
            400,
            f"Inference-Header-Content-Length {header_length!r} must be the length of the JSON "
            f"part of the body, between 1 and the body's {len(raw)} bytes",
        )
    return raw[:length], raw[length:]


def attach_inputs(body: Any, binary: bytes) -> None:
    """Give each input sent as binary data its values as `data`, decoded by its datatype."""
    tensors = body.get("inputs") if isinstance(body, dict) else None
    offset = 0
    for index, tensor in enumerate(tensors if isinstance(tensors, list) else []):
        parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
        if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
            continue
        name = str(tensor.get("name", f"inputs[{index}]"))
        size = parameters["binary_data_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ApiError(400, f"input {name!r}: binary_data_size must be a whole number")
        if "data" in tensor:
            raise ApiError(400, f"input {name!r}: give 'data' or binary_data_size, not both")
        chunk = binary[offset : offset + size]
        if len(chunk) != size:
            raise ApiError(
                400, f"input {name!r}: binary_data_size {size} runs past the end of the body"
            )
        offset += size
        tensor["data"] = decode(chunk, str(tensor.get("datatype", "")), name)
    if offset != len(binary):
        raise ApiError(
            400,
            f"{len(binary) - offset} bytes of binary data follow the JSON that no input's "
            "binary_data_size accounts for",
        )


def decode(chunk: bytes, datatype: str, name: str) -> list[Any]:
    if datatype == "BYTES":
        return _decode_bytes(chunk, name)
    code = _FORMATS.get(datatype)
    if code is None:
        raise ApiError(422, f"input {name!r}: datatype {datatype or 'missing'} is unknown")
    width = struct.calcsize(code)
    if len(chunk) % width:
        raise ApiError(400, f"input {name!r}: {len(chunk)} bytes are not whole {datatype} values")
    values = list(struct.unpack(f"<{len(chunk) // width}{code}", chunk))
    if datatype.startswith("FP"):
        return [None if math.isnan(v) else v for v in values]
    return values


def _decode_bytes(chunk: bytes, name: str) -> list[Any]:
    values: list[Any] = []
    offset = 0
    while offset < len(chunk):
        if offset + 4 > len(chunk):
            raise ApiError(400, f"input {name!r}: a BYTES element's length is cut short")
        (length,) = struct.unpack_from("<I", chunk, offset)
        offset += 4
        element = chunk[offset : offset + length]
        if len(element) != length:
            raise ApiError(400, f"input {name!r}: a BYTES element runs past its data")
        offset += length
        try:
            values.append(element.decode())
        except UnicodeDecodeError:
            raise ApiError(400, f"input {name!r}: a BYTES element is not UTF-8 text") from None
    return values


def binary_outputs(body: dict[str, Any], names: list[str]) -> set[str]:
    """The outputs to send as binary data: all when `binary_data_output` is true, unless an
    output says `binary_data: false`; or those whose own `binary_data` is true."""
    parameters = body.get("parameters")
    everything = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    chosen = set(names) if everything else set()
    wanted = body.get("outputs")
    for output in wanted if isinstance(wanted, list) else []:
        own = output.get("parameters") if isinstance(output, dict) else None
        if isinstance(own, dict) and isinstance(own.get("binary_data"), bool):
            name = str(output.get("name"))
            (chosen.add if own["binary_data"] else chosen.discard)(name)
    return chosen & set(names)


def encode_response(document: dict[str, Any], binary: set[str]) -> tuple[bytes, int | None]:
    """The response body, and the JSON part's length when some output is binary."""
    if not binary:
        return orjson.dumps(document), None
    chunks: list[bytes] = []
    for tensor in document.get("outputs", []):
        if tensor.get("name") in binary:
            data = encode(tensor.pop("data"), str(tensor["datatype"]))
            tensor["parameters"] = {**tensor.get("parameters", {}), "binary_data_size": len(data)}
            chunks.append(data)
    header = orjson.dumps(document)
    return header + b"".join(chunks), len(header)


def encode(values: list[Any], datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = [str(v).encode() for v in values]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts)
    code = _FORMATS[datatype]
    if datatype.startswith("FP"):
        values = [math.nan if v is None else v for v in values]
    return struct.pack(f"<{len(values)}{code}", *values)
