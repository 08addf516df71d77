"""The Open Inference Protocol's data, typed: tensors, requests, responses, metadata and errors (numpy only).

Front ends (REST, gRPC, Ray) turn their wire formats into these and back; the model core never sees a wire."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gxr.core.errors import GxrError, one_line

# OIP datatype -> numpy dtype (BYTES: an object array of `bytes`)
DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": np.object_,
}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
VERSION_PATTERN = re.compile(r"[1-9][0-9]{0,8}")
MAX_DIMS = 8


class ServeError(GxrError):
    """A request the server refuses: a one-line message, an HTTP status and the matching gRPC status name."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"

    def __init__(self, message: str):
        super().__init__(one_line(message, 500))


class BadRequest(ServeError):
    pass


class NotFound(ServeError):
    http_status, grpc_code = 404, "NOT_FOUND"


class Unauthorized(ServeError):
    http_status, grpc_code = 401, "UNAUTHENTICATED"


class TooLarge(ServeError):
    http_status, grpc_code = 413, "RESOURCE_EXHAUSTED"


class Unavailable(ServeError):
    http_status, grpc_code = 503, "UNAVAILABLE"


class DeadlineExceeded(ServeError):
    http_status, grpc_code = 504, "DEADLINE_EXCEEDED"


@dataclass
class Tensor:
    """One named tensor. `data` has `shape` and the numpy dtype of `datatype` (BYTES: objects of type bytes)."""
    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class InferRequest:
    model: str
    version: str = ""                       # "" = the newest ready version
    inputs: list[Tensor] = field(default_factory=list)
    outputs: list[str] | None = None        # requested output names; None = all
    id: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class InferResponse:
    model: str
    version: str
    outputs: list[Tensor]
    id: str = ""


@dataclass(frozen=True)
class TensorMetadata:
    name: str
    datatype: str
    shape: list[int]                        # -1: any size

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass
class ModelMetadata:
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "versions": self.versions, "platform": self.platform,
                "inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs]}


@dataclass(frozen=True)
class VersionState:
    """One model version in the repository index: READY, or UNAVAILABLE with the one-line reason."""
    name: str
    version: str
    state: str
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "state": self.state, "reason": self.reason}


def check_name(name: str) -> str:
    """A model name as it may appear in a URL or a request: letters, digits, '.', '_', '-' (no paths)."""
    if not NAME_PATTERN.fullmatch(name or "") or ".." in name:
        raise BadRequest(f"model name {name[:80]!r}: not a valid model name (letters, digits, '.', '_', '-')")
    return name


def check_version(version: str) -> str:
    """"" (newest) or a positive decimal number."""
    if version and not VERSION_PATTERN.fullmatch(version):
        raise BadRequest(f"model version {version[:40]!r}: not a valid version (a positive number)")
    return version


def check_shape(name: str, shape: Any) -> list[int]:
    if not isinstance(shape, (list, tuple)) or len(shape) > MAX_DIMS or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31 for d in shape):
        raise BadRequest(f"input {name!r}: shape {str(shape)[:80]} is not a list of at most {MAX_DIMS} "
                         "non-negative integers")
    return list(shape)


def element_count(shape: list[int]) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def dtype_of(name: str, datatype: Any) -> Any:
    if datatype not in DATATYPES:
        raise BadRequest(f"input {name!r}: unknown datatype {str(datatype)[:40]!r} (choose one of "
                         f"{', '.join(DATATYPES)})")
    return DATATYPES[datatype]


def tensor_from_buffer(name: str, datatype: str, shape: list[int], raw: bytes | memoryview,
                       parameters: dict | None = None) -> Tensor:
    """A tensor from its raw little-endian bytes (BYTES: 4-byte length-prefixed elements), size-checked."""
    dtype, count = dtype_of(name, datatype), element_count(check_shape(name, shape))
    if datatype == "BYTES":
        items = split_bytes_elements(name, raw)
        if len(items) != count:
            raise BadRequest(f"input {name!r}: {len(items)} BYTES elements for shape {shape} ({count} expected)")
        data = np.empty(count, dtype=object)
        data[:] = items
        return Tensor(name, datatype, shape, data.reshape(shape), dict(parameters or {}))
    itemsize = np.dtype(dtype).itemsize
    if len(raw) != count * itemsize:
        raise BadRequest(f"input {name!r}: {len(raw)} bytes of data for {datatype} shape {shape} "
                         f"({count * itemsize} expected)")
    data = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
    return Tensor(name, datatype, shape, data, dict(parameters or {}))


def tensor_from_values(name: str, datatype: str, shape: list[int], values: Any,
                       parameters: dict | None = None) -> Tensor:
    """A tensor from JSON values (flat or nested lists; BYTES: strings), range- and size-checked."""
    dtype, count = dtype_of(name, datatype), element_count(check_shape(name, shape))
    if not isinstance(values, list):
        values = [values]
    if datatype == "BYTES":
        flat = _flatten(values)
        if not all(isinstance(v, str) for v in flat):
            raise BadRequest(f"input {name!r}: BYTES data must be strings in JSON (send encoded images as binary "
                             "data: Triton's binary tensor extension)")
        data = np.empty(len(flat), dtype=object)
        data[:] = [v.encode("utf-8") for v in flat]
    else:
        try:
            parsed = np.asarray(values, dtype=np.float64 if datatype.startswith("FP") else object).reshape(-1)
            data = _cast(name, datatype, parsed, dtype)
        except (TypeError, ValueError, OverflowError) as exc:
            raise BadRequest(f"input {name!r}: data are not {datatype} numbers ({one_line(exc, 80)})") from None
    if data.size != count:
        raise BadRequest(f"input {name!r}: {data.size} values for shape {shape} ({count} expected)")
    return Tensor(name, datatype, shape, data.reshape(shape), dict(parameters or {}))


def _flatten(values: list) -> list:
    out: list = []
    stack = [iter(values)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                stack.append(iter(v))
                break
            out.append(v)
        else:
            stack.pop()
    return out


def _cast(name: str, datatype: str, parsed: np.ndarray, dtype: Any) -> np.ndarray:
    if datatype.startswith("FP"):
        return parsed.astype(dtype)
    if datatype == "BOOL":
        if not all(isinstance(v, bool) for v in parsed):
            raise BadRequest(f"input {name!r}: BOOL data must be true/false")
        return parsed.astype(np.bool_)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in parsed):
        raise BadRequest(f"input {name!r}: {datatype} data must be integers")
    info = np.iinfo(dtype)
    if parsed.size and (min(parsed) < info.min or max(parsed) > info.max):
        raise BadRequest(f"input {name!r}: a value is outside the {datatype} range {info.min}..{info.max}")
    return parsed.astype(dtype)


def split_bytes_elements(name: str, raw: bytes | memoryview) -> list[bytes]:
    """Triton's BYTES serialization: each element is a 4-byte little-endian length and that many bytes."""
    view, items, offset = memoryview(raw), [], 0
    while offset < len(view):
        if offset + 4 > len(view):
            raise BadRequest(f"input {name!r}: BYTES data cut inside an element's 4-byte length")
        (size,) = struct.unpack_from("<I", view, offset)
        offset += 4
        if offset + size > len(view):
            raise BadRequest(f"input {name!r}: BYTES element of {size} bytes runs past the end of the data")
        items.append(bytes(view[offset:offset + size]))
        offset += size
    return items


def join_bytes_elements(items: np.ndarray) -> bytes:
    parts = []
    for item in items.reshape(-1):
        b = item if isinstance(item, bytes) else str(item).encode("utf-8")
        parts += [struct.pack("<I", len(b)), b]
    return b"".join(parts)


def tensor_bytes(tensor: Tensor) -> bytes:
    """A tensor's raw little-endian bytes (BYTES: length-prefixed elements): Triton's binary form."""
    if tensor.datatype == "BYTES":
        return join_bytes_elements(tensor.data)
    return np.ascontiguousarray(tensor.data, dtype=np.dtype(DATATYPES[tensor.datatype]).newbyteorder("<")).tobytes()
