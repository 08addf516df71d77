"""Run the REST (uvicorn) and gRPC (grpcio) front ends over one loaded repository, and drain on SIGTERM.

Start-up order: read the token, bind both ports (a port in use is a one-line error before any model loads), load
the repository (a version that fails stays UNAVAILABLE; nothing loadable is a one-line error), start gRPC, then
uvicorn. SIGTERM / SIGINT (or `GxrServer.stop()`): readiness turns false, both listeners close, every accepted
request is answered, batchers finish, and `run()` returns (the CLI exits 0)."""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gxr.core.errors import GxrError
from gxr.serve.metrics import ServeMetrics
from gxr.serve.models import LoadOptions
from gxr.serve.repository import Progress, ServedRepository, VersionPolicy
from gxr.serve.service import Limits, Service, read_token

BACKLOG = 2048


@dataclass(frozen=True)
class ServeOptions:
    repo: Path
    host: str = "127.0.0.1"
    http_port: int = 8000                 # 0: any free port (printed)
    grpc_port: int = 8001                 # 0: any free port; -1: no gRPC
    models: list[str] | None = None
    versions: str = "all"
    load: LoadOptions = field(default_factory=LoadOptions)
    limits: Limits = field(default_factory=Limits)
    token_file: Path | None = None
    allow_remote: bool = False
    grpc_workers: int = 64


@dataclass(frozen=True)
class ServerInfo:
    """What a started server listens on and serves (the CLI prints it; tests read it)."""
    http_url: str
    grpc_address: str | None
    ready: list[str]                      # name/version
    failed: list[str]                     # "name/version: reason"


def check_host(host: str, allow_remote: bool) -> None:
    """Loopback only unless the operator says otherwise: there is no TLS here."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not allow_remote:
        raise GxrError(f"--host {host}: gxr serve binds loopback only unless you pass --allow-remote (it speaks "
                       "plain HTTP/gRPC: put it behind a TLS proxy and set --token-file)")


def bind_http(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise GxrError(f"{host}:{port}: cannot listen for HTTP ({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    return sock


class GxrServer:
    def __init__(self, options: ServeOptions, progress: Progress = lambda done, total, what: None):
        self.options, self.progress = options, progress
        self.metrics = ServeMetrics()
        self.repo: ServedRepository | None = None
        self._uvicorn = None
        self._grpc = None
        self._sock: socket.socket | None = None
        self._stopping = threading.Event()

    def start(self) -> ServerInfo:
        """Bind, load and start gRPC; `run()` then serves HTTP until stopped."""
        o = self.options
        check_host(o.host, o.allow_remote)
        token = read_token(o.token_file)
        policy = VersionPolicy.parse(o.versions)
        self._sock = bind_http(o.host, o.http_port)
        try:
            service = Service(None, self.metrics, token, o.limits)   # the repository comes after both binds
            grpc_address = None
            if o.grpc_port >= 0:
                from gxr.serve.grpc_server import build_server

                self._grpc, port = build_server(service, o.host, o.grpc_port, o.grpc_workers)
                grpc_address = f"{o.host}:{port}"
            self.repo = service.repo = ServedRepository.load(o.repo, o.load, o.models, policy,
                                                              self.metrics.observer, self.progress)
            if self._grpc is not None:
                self._grpc.start()
            self._uvicorn = _make_uvicorn(service, self._drain)
        except BaseException:
            self.close()
            raise
        index = self.repo.index()
        return ServerInfo(f"http://{o.host}:{self._sock.getsockname()[1]}", grpc_address,
                          [f"{s.name}/{s.version}" for s in index if s.state == "READY"],
                          [f"{s.name}/{s.version}: {s.reason}" for s in index if s.state != "READY"])

    def run(self) -> None:
        """Serve HTTP until stop() or SIGTERM/SIGINT; then wait for gRPC's in-flight calls and close."""
        try:
            run_event_loop(self._uvicorn.serve(sockets=[self._sock]))
        finally:
            self._drain()
            self.close()

    def stop(self) -> None:
        """Begin the drain from another thread (what SIGTERM does)."""
        self._drain()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True

    def _drain(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self.repo is not None:
            self.repo.drain()
        if self._grpc is not None:   # stop accepting now; calls in flight get up to the request timeout
            self._grpc_stopped = self._grpc.stop(grace=self.options.limits.timeout_s + 5)

    def close(self) -> None:
        if self._grpc is not None:
            stopped = getattr(self, "_grpc_stopped", None) or self._grpc.stop(grace=0)   # harmless if never started
            stopped.wait()
            self._grpc = None
        if self.repo is not None:
            self.repo.close()
        if self._sock is not None:
            self._sock.close()


def _make_uvicorn(service: Service, on_exit: Callable[[], None]):
    import uvicorn

    from gxr.serve.rest import create_app

    class DrainingServer(uvicorn.Server):
        """uvicorn's graceful shutdown (close the listener, finish every request), started by our own signal
        handlers, which also close the gRPC listener; the signal is not re-raised, so the process exits 0."""

        def handle_exit(self, sig, frame) -> None:
            on_exit()
            self.should_exit = True

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(create_app(service), log_level="warning", access_log=False, lifespan="off",
                            backlog=BACKLOG, timeout_keep_alive=5, timeout_graceful_shutdown=None,
                            server_header=False, ws="none")
    return DrainingServer(config)


def run_event_loop(coroutine) -> None:
    """Run the HTTP server's coroutine on uvloop when it is installed (the [serve] extra brings it), else on
    asyncio's own loop; uvicorn picks httptools over h11 the same way. Both are uvicorn's own fast paths."""
    import asyncio
    import sys

    from gxr.core.lazy import available

    if available("uvloop") and sys.version_info >= (3, 11):
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(coroutine)
        return
    asyncio.run(coroutine)


def serve(options: ServeOptions, on_ready: Callable[[ServerInfo], None],
          progress: Progress = lambda done, total, what: None) -> None:
    """Start, tell `on_ready`, serve until SIGTERM/SIGINT, drain."""
    server = GxrServer(options, progress)
    info = server.start()
    on_ready(info)
    server.run()
