"""`gxr serve [REPO]`: the Open Inference Protocol (KServe v2) over HTTP and gRPC, with dynamic batching."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from gxr.cli.common import console, err_console, handle_errors


@handle_errors
def serve(
    repo: Path = typer.Argument(Path("models"), help="Model repository root (models/<name>/<version>/...)"),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback unless --allow-remote)"),
    http_port: int = typer.Option(8000, "--http-port", help="HTTP/REST port (0: any free port)"),
    grpc_port: int = typer.Option(8001, "--grpc-port", help="gRPC port (0: any free port, -1: no gRPC)"),
    models: str | None = typer.Option(None, "--models", help="Serve only these model names (NAME,...)"),
    versions: str = typer.Option("all", "--versions", help="Version policy: all | latest | latest:N | 1,3"),
    backend: str = typer.Option("auto", help="auto | onnxruntime | openvino[:bf16|fp16]"),
    threads: int | None = typer.Option(None, "--threads", help="Runner threads per model version"),
    decode_workers: int | None = typer.Option(None, "--decode-workers",
                                              help="Threads decoding encoded images per model version"),
    max_batch: int = typer.Option(32, "--max-batch", help="Dynamic batching: most images per batch"),
    max_queue_delay_ms: float = typer.Option(2.0, "--max-queue-delay-ms",
                                             help="Dynamic batching: longest wait for more requests"),
    no_batching: bool = typer.Option(False, "--no-batching", help="Run each request alone, one at a time"),
    max_request_mb: float = typer.Option(64.0, "--max-request-mb", help="Largest request body (413 beyond)"),
    timeout_s: float = typer.Option(30.0, "--timeout-s", help="Per-request time limit (504 / DEADLINE_EXCEEDED)"),
    token_file: Path | None = typer.Option(None, "--token-file",
                                           help="Require 'Authorization: Bearer <first line of this file>'"),
    allow_remote: bool = typer.Option(False, "--allow-remote",
                                      help="Allow a non-loopback --host (plain HTTP/gRPC: use a TLS proxy)"),
    ray: bool = typer.Option(False, "--ray", help="Serve on a local Ray Serve instance instead (REST only, Ray's "
                             "batching; pip install 'gxr\\[ray]')"),
    replicas: int = typer.Option(1, "--replicas", help="--ray: replicas of the model deployment"),
) -> None:
    """Serve every model version of REPO over the Open Inference Protocol until SIGTERM / Ctrl-C (then drain)."""
    from gxr.core.errors import GxrError
    from gxr.serve.batcher import BatchPolicy
    from gxr.serve.models import LoadOptions
    from gxr.serve.server import ServeOptions
    from gxr.serve.server import serve as run_server
    from gxr.serve.service import Limits

    if max_request_mb <= 0 or timeout_s <= 0:
        raise GxrError("--max-request-mb and --timeout-s must be > 0")
    options = ServeOptions(
        repo=repo, host=host, http_port=http_port, grpc_port=grpc_port,
        models=[m.strip() for m in models.split(",") if m.strip()] if models else None, versions=versions,
        load=LoadOptions(backend=backend, threads=threads, decode_workers=decode_workers,
                         batching=BatchPolicy(not no_batching, max_batch, max_queue_delay_ms / 1000)),
        limits=Limits(int(max_request_mb * 1024 * 1024), timeout_s), token_file=token_file,
        allow_remote=allow_remote)
    if ray:
        from gxr.serve.ray_serve import serve_on_ray

        serve_on_ray(options, replicas, on_ready=_announce)
    else:
        with _loading_bar() as progress:
            run_server(options, on_ready=lambda info: _announce(info, progress), progress=progress)
    err_console.print("drained; stopped")


class _loading_bar:
    """A progress bar over the versions being loaded (on a terminal; pipes and logs get none), gone once serving."""

    def __init__(self):
        self.bar = self.task = None

    def __enter__(self):
        if err_console.is_terminal:
            from gxr.core.progress import make_progress

            self.bar = make_progress(err_console)
            self.bar.start()
        return self

    def __call__(self, done: int, total: int, what: str) -> None:
        if self.bar is None:
            return
        if self.task is None:
            self.task = self.bar.add_task("loading", total=total, status="")
        self.bar.update(self.task, completed=done, status=escape(what))

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __exit__(self, *exc) -> None:
        self.stop()


def _announce(info, progress: _loading_bar | None = None) -> None:
    if progress is not None:
        progress.stop()
    table = Table(title="gxr serve")
    table.add_column("model/version")
    table.add_column("state")
    for entry in info.ready:
        table.add_row(escape(entry), "[green]READY[/]")
    for entry in info.failed:
        name, _, reason = entry.partition(": ")
        table.add_row(escape(name), f"[red]UNAVAILABLE[/]: {escape(reason)}")
    console.print(table)
    grpc = f" grpc {info.grpc_address}" if info.grpc_address else ""
    print(f"serving {info.http_url}{grpc}", flush=True)   # one plain line scripts and tests wait for
