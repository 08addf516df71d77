"""What the REST and gRPC front ends share: the bearer token, limits, the per-request deadline, metrics and
turning any failure into a one-line ServeError (no traceback ever reaches a client)."""

from __future__ import annotations

import hmac
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from gxr.core.errors import GxrError, one_line
from gxr.serve.metrics import ServeMetrics
from gxr.serve.protocol import (
    BadRequest,
    InferRequest,
    InferResponse,
    ServeError,
    Unauthorized,
)
from gxr.serve.repository import ServedRepository

MIB = 1024 * 1024


class InternalError(ServeError):
    http_status, grpc_code = 500, "INTERNAL"


def refused(service: Service, exc: BaseException, model: str, version: str, protocol: str) -> ServeError:
    """A failure as a ServeError, counted once in the metrics (if Service.infer has not counted it yet)."""
    error = as_serve_error(exc)
    if not getattr(error, "recorded", False):
        service.record(model, version, protocol, 0.0, str(error.http_status))
        error.recorded = True
    return error


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int = 64 * MIB
    timeout_s: float = 30.0


def read_token(path: Path | None) -> str | None:
    """The bearer token from --token-file (first line, stripped); a missing or empty file is a one-line error."""
    if path is None:
        return None
    try:
        token = Path(path).read_text().strip().splitlines()
    except OSError as exc:
        raise GxrError(f"{path}: cannot read the token file ({exc.strerror or one_line(exc)})") from exc
    if not token or len(token[0].strip()) < 16:
        raise GxrError(f"{path}: the token file must hold a token of at least 16 characters on its first line")
    return token[0].strip()


class Service:
    def __init__(self, repo: ServedRepository | None, metrics: ServeMetrics, token: str | None, limits: Limits):
        self.repo, self.metrics, self.token, self.limits = repo, metrics, token, limits

    def authorize(self, authorization: str | None) -> None:
        """`Authorization: Bearer <token>` when a token is required (constant-time comparison)."""
        if self.token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise Unauthorized("missing or wrong bearer token (send 'Authorization: Bearer <token>')")

    def deadline(self, client_timeout_s: float | None = None) -> float:
        timeout = self.limits.timeout_s if client_timeout_s is None else min(client_timeout_s, self.limits.timeout_s)
        return time.monotonic() + timeout

    def infer(self, request: InferRequest, protocol: str, deadline: float) -> InferResponse:
        """Run one request on its model version; metrics either way; every failure a one-line ServeError."""
        start = time.monotonic()
        self.metrics.in_flight.inc()
        served = None
        try:
            served = self.repo.get(request.model, request.version)
            response = served.infer(request, deadline)
        except Exception as exc:
            error = as_serve_error(exc)
            version = str(served.version) if served is not None else request.version
            self.record(request.model, version, protocol, time.monotonic() - start, str(error.http_status))
            error.recorded = True
            raise error from None
        finally:
            self.metrics.in_flight.dec()
        self.record(request.model, response.version, protocol, time.monotonic() - start)
        return response

    def record(self, model: str, version: str, protocol: str, seconds: float, code: str = "") -> None:
        """Metrics for one request; names and versions not served become "-" (clients cannot add label sets)."""
        versions = self.repo.table.get(model)
        if versions is None:
            model, version = "-", "-"
        elif not (version.isdigit() and int(version) in versions):
            version = "-"
        self.metrics.request(model, version, protocol, seconds, code)


def as_serve_error(exc: BaseException) -> ServeError:
    """ServeError as is; other GxrErrors (bad input found deeper) as 400; anything else as a logged 500."""
    if isinstance(exc, ServeError):
        return exc
    if isinstance(exc, GxrError):
        return BadRequest(str(exc))
    traceback.print_exception(exc, file=sys.stderr)   # for the operator; the client gets one line
    return InternalError(f"internal error: {type(exc).__name__}: {one_line(exc, 200)}")
