"""The Open Inference Protocol over HTTP/REST: a Starlette app (served by uvicorn) with JSON tensors and Triton's
binary tensor data extension (`Inference-Header-Content-Length`), as `tritonclient.http` sends and reads them.

Endpoints: GET /v2/health/live, /v2/health/ready, /v2, /v2/models/{name}[/versions/{v}][/ready|/config];
POST /v2/models/{name}[/versions/{v}]/infer; POST /v2/repository/index; GET /metrics."""

from __future__ import annotations

import functools
import json
import math
import time
import zlib
from typing import Any

import numpy as np

from gxr import __version__
from gxr.core.errors import one_line
from gxr.serve.protocol import (
    BadRequest,
    DeadlineExceeded,
    InferRequest,
    InferResponse,
    NotFound,
    ServeError,
    Tensor,
    TooLarge,
    Unavailable,
    check_name,
    check_version,
    tensor_bytes,
    tensor_from_buffer,
    tensor_from_values,
)
from gxr.serve.service import Service, as_serve_error, refused

HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ["binary_tensor_data", "model_repository"]
THREADS = 128   # request threads (parsing, decoding, waiting on the batcher)


# ---- the wire format ---------------------------------------------------------------------------------------
def parse_infer(body: bytes, header_length: str | None, model: str, version: str) -> tuple[InferRequest, set[str]]:
    """A request body -> InferRequest and the outputs to send as binary data."""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise BadRequest(f"{HEADER_LENGTH} {header_length[:20]!r}: not a length within the "
                             f"{len(body)}-byte body")
        head, binary = body[:int(header_length)], memoryview(body)[int(header_length):]
    else:
        head, binary = body, memoryview(b"")
    try:
        doc = json.loads(head)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"request body is not valid JSON ({one_line(exc, 120)})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs", []), list):
        raise BadRequest("request body must be a JSON object with a list 'inputs'")
    parameters = _dict(doc.get("parameters"), "parameters")
    inputs, offset = [], 0
    for item in doc.get("inputs", []):
        tensor, offset = _input(item, binary, offset)
        inputs.append(tensor)
    if offset != len(binary):
        raise BadRequest(f"{len(binary) - offset} bytes of binary data are not claimed by any input's "
                         "binary_data_size")
    outputs, wanted_binary = _outputs(doc.get("outputs"), bool(parameters.get("binary_data_output", False)))
    request = InferRequest(model, version, inputs, outputs, str(doc.get("id", ""))[:256],
                           {k: v for k, v in parameters.items() if k != "binary_data_output"})
    return request, wanted_binary


def _dict(value: Any, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"'{what}' must be a JSON object")
    return value


def _input(item: Any, binary: memoryview, offset: int) -> tuple[Tensor, int]:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise BadRequest("each input must be a JSON object with a 'name'")
    name = item["name"]
    for key in ("datatype", "shape"):
        if key not in item:
            raise BadRequest(f"input {name[:60]!r}: missing '{key}'")
    params = _dict(item.get("parameters"), f"input {name[:60]!r} parameters")
    size = params.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise BadRequest(f"input {name[:60]!r}: binary_data_size {str(size)[:20]} runs past the "
                             f"{len(binary)} bytes of binary data")
        tensor = tensor_from_buffer(name, item["datatype"], item["shape"], binary[offset:offset + size], params)
        return tensor, offset + size
    if "data" not in item:
        raise BadRequest(f"input {name[:60]!r}: no 'data' and no binary_data_size")
    return tensor_from_values(name, item["datatype"], item["shape"], item["data"], params), offset


def _outputs(items: Any, all_binary: bool) -> tuple[list[str] | None, set[str]]:
    if items is None:
        return None, {"*"} if all_binary else set()
    if not isinstance(items, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in items):
        raise BadRequest("'outputs' must be a list of objects with a 'name'")
    names = [o["name"] for o in items]
    binary = {o["name"] for o in items if _dict(o.get("parameters"), "output parameters").get(
        "binary_data", all_binary)}
    return names, binary


def encode_response(response: InferResponse, binary: set[str]) -> tuple[bytes, int | None]:
    """InferResponse -> (body, JSON header length when binary outputs follow it)."""
    outputs, blobs = [], []
    for t in response.outputs:
        entry: dict[str, Any] = {"name": t.name, "datatype": t.datatype, "shape": t.shape}
        if "*" in binary or t.name in binary:
            blob = tensor_bytes(t)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        elif t.datatype == "BYTES":
            entry["data"] = [b.decode("utf-8", "replace") for b in t.data.reshape(-1)]
        else:
            entry["data"] = [None if isinstance(v, float) and not math.isfinite(v) else v
                             for v in np.asarray(t.data).reshape(-1).tolist()]
        outputs.append(entry)
    head = json.dumps({"model_name": response.model, "model_version": response.version, "id": response.id,
                       "outputs": outputs}, allow_nan=False).encode()
    return (head + b"".join(blobs), len(head)) if blobs else (head, None)


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """gzip / deflate request bodies (tritonclient's request_compression_algorithm), bounded by the size limit."""
    if not encoding or encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise BadRequest(f"Content-Encoding {encoding[:20]!r}: send gzip, deflate or no encoding")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"request body is not valid {encoding} data ({exc})") from None
    if len(out) > limit:
        raise TooLarge(f"request body inflates to more than the {limit}-byte limit")
    return out


# ---- the app -----------------------------------------------------------------------------------------------
def create_app(service: Service):
    """The Starlette app over `service` (lazy imports: only `gxr serve` loads Starlette)."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import Response
    from starlette.routing import Route

    rest = _Rest(service)

    async def http_error(request, exc: HTTPException) -> Response:
        return _error(ServeError(f"{request.url.path[:200]}: {exc.detail}") if exc.status_code != 404 else
                      NotFound(f"{request.url.path[:200]}: no such endpoint"), exc.status_code)

    routes = [
        Route("/v2/health/live", rest.live, methods=["GET"]),
        Route("/v2/health/ready", rest.ready, methods=["GET"]),
        Route("/v2", rest.server_metadata, methods=["GET"]),
        Route("/metrics", rest.metrics, methods=["GET"]),
        Route("/v2/repository/index", rest.index, methods=["POST"]),
        Route("/v2/models/{name}", rest.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", rest.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/config", rest.model_config, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/config", rest.model_config, methods=["GET"]),
        Route("/v2/models/{name}/ready", rest.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", rest.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", rest.infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", rest.infer, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


def _json(doc: Any, status: int = 200):
    from starlette.responses import Response

    return Response(json.dumps(doc).encode(), status, media_type="application/json")


def _error(error: ServeError, status: int | None = None):
    return _json({"error": str(error)}, status or error.http_status)


def guarded(handler, counted: bool = False):
    """Token check and one-line JSON errors around an endpoint (`counted`: failures go to the metrics)."""
    async def endpoint(self, request):
        try:
            self.service.authorize(request.headers.get("authorization"))
            return await handler(self, request)
        except Exception as exc:
            if counted:
                params = request.path_params
                return _error(refused(self.service, exc, params.get("name", ""), params.get("version", ""), "http"))
            return _error(as_serve_error(exc))
    return endpoint


class _Rest:
    def __init__(self, service: Service):
        self.service, self.repo = service, service.repo
        self._limiter = None

    async def live(self, request):
        return _json({"live": True})

    async def ready(self, request):
        if self.repo.ready():
            return _json({"ready": True})
        return _error(Unavailable("not ready (shutting down, or a model has no ready version)"))

    @guarded
    async def server_metadata(self, request):
        return _json({"name": "gxr", "version": __version__, "extensions": EXTENSIONS})

    @guarded
    async def metrics(self, request):
        from starlette.responses import Response

        body, media_type = self.service.metrics.render()
        return Response(body, 200, headers={"Content-Type": media_type})

    @guarded
    async def index(self, request):
        return _json([s.to_dict() for s in self.repo.index()])

    @guarded
    async def model_metadata(self, request):
        name, version = _ids(request)
        served = self.repo.get(name, version)
        return _json(served.metadata(self.repo.ready_versions(name)).to_dict())

    @guarded
    async def model_config(self, request):
        name, version = _ids(request)
        return _json(self.repo.get(name, version).config())

    @guarded
    async def model_ready(self, request):
        name, version = _ids(request)
        self.repo.get(name, version)
        return _json({"name": name, "ready": True})

    @functools.partial(guarded, counted=True)
    async def infer(self, request):
        import anyio

        name, version = _ids(request)
        limit = self.service.limits.max_request_bytes
        deadline = self.service.deadline()   # the time limit covers reading the body too (slow senders)
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(THREADS)
        try:
            with anyio.fail_after(max(0.0, deadline - time.monotonic()) + 0.5):
                body = decompress(await _body(request, limit), request.headers.get("content-encoding"), limit)
                payload, header_length = await anyio.to_thread.run_sync(
                    self._infer_sync, body, request.headers.get(HEADER_LENGTH.lower()), name, version, deadline,
                    limiter=self._limiter, abandon_on_cancel=True)
        except TimeoutError:
            raise DeadlineExceeded("the request timed out") from None
        from starlette.responses import Response

        headers = {HEADER_LENGTH: str(header_length)} if header_length is not None else {}
        return Response(payload, 200, headers=headers,
                        media_type="application/octet-stream" if header_length is not None else "application/json")

    def _infer_sync(self, body: bytes, header_length: str | None, name: str, version: str,
                    deadline: float) -> tuple[bytes, int | None]:
        request, binary = parse_infer(body, header_length, name, version)
        return encode_response(self.service.infer(request, "http", deadline), binary)


def _ids(request) -> tuple[str, str]:
    return check_name(request.path_params["name"]), check_version(request.path_params.get("version", ""))


async def _body(request, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it is known to exceed `limit` bytes."""
    from starlette.requests import ClientDisconnect

    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise TooLarge(f"request body of {int(length)} bytes is over the {limit}-byte limit (--max-request-mb)")
    chunks, total = [], 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise TooLarge(f"request body is over the {limit}-byte limit (--max-request-mb)")
            chunks.append(chunk)
    except ClientDisconnect:
        raise BadRequest("the client disconnected before sending the whole request") from None
    return b"".join(chunks)
