"""`gxr serve --ray`: the same served models as a Ray Serve deployment, scaled out to N replicas by Ray.

Each replica loads the repository into the same `ServedRepository` / `ServedModel` as `gxr serve` (same decoding,
same checks, same outputs) and answers the Open Inference Protocol's REST endpoints (health, metadata, infer with
JSON tensors or Triton's binary-tensor extension) through the same wire code (`gxr.serve.rest`). Batching is Ray's
own: `ServedModel`'s batcher is replaced by a bridge to a `@serve.batch` handler, so requests routed to one replica
are gathered by Ray (at most `max_batch` images, waiting at most `max_queue_delay`) and run in one runner call.

Ray runs locally: `ray.init(address="local")` bound to 127.0.0.1, no dashboard, `num_cpus` limited to this
machine's cores, and Serve's HTTP proxy on the given loopback host and port. Ray is imported only here
(`pip install 'gxr[ray]'`)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from gxr.core.errors import GxrError, one_line
from gxr.serve.batcher import BatchPolicy
from gxr.serve.protocol import NotFound, TooLarge, Unavailable, check_name, check_version
from gxr.serve.server import ServeOptions, ServerInfo, check_host

APP_NAME = "gxr"
INFER = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
MODEL = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready)?")
REPLICA_HEADER = "x-gxr-replica"      # which replica answered (tests and load balancing checks read it)
BATCH_HEADER = "x-gxr-ray-batch"      # images in the Ray batch that carried the request


class _RayBatchRows(np.ndarray):
    """A request's rows of a Ray batch's logits, knowing how many images that batch held."""
    batch_images = 0


class _RayBatchBridge:
    """Stands in for a ServedModel's DynamicBatcher: `submit` hands the pixels to the replica's Ray batch handler
    on its event loop and returns a concurrent Future, which is what `ServedModel.infer` waits on."""

    def __init__(self, replica: OipReplica, served):
        self.replica, self.served = replica, served

    def submit(self, pixels: np.ndarray, deadline: float | None = None) -> Future:
        if self.replica.closing:
            raise Unavailable("the server is shutting down")
        item = (self.served, pixels)
        work = self.replica.batched(item) if len(pixels) <= self.replica.max_batch else self.replica.run_alone(item)
        future = asyncio.run_coroutine_threadsafe(work, self.replica.loop)
        self.replica.local.future = future     # the request thread reads its batch size from it afterwards
        return future

    def close(self) -> None:
        return None


def _images(items: list) -> int:
    """Ray's batch size of a list of (served model, pixels): images, not requests."""
    return sum(len(pixels) for _, pixels in items)


class OipReplica:
    """One Ray Serve replica: the repository loaded as `gxr serve` loads it, Ray's batching, OIP over REST."""

    def __init__(self, options: ServeOptions):
        from ray import serve

        from gxr.serve.metrics import ServeMetrics
        from gxr.serve.repository import ServedRepository, VersionPolicy
        from gxr.serve.service import Service, read_token

        load = replace(options.load, batching=BatchPolicy(False, options.load.batching.max_batch, 0.0))
        self.repo = ServedRepository.load(options.repo, load, options.models, VersionPolicy.parse(options.versions))
        self.service = Service(self.repo, ServeMetrics(), read_token(options.token_file), options.limits)
        self.max_batch = options.load.batching.max_batch
        self.batched = serve.batch(max_batch_size=self.max_batch,
                                   batch_wait_timeout_s=options.load.batching.max_queue_delay_s,
                                   batch_size_fn=_images)(self._run_batch)
        self.pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="gxr-ray-request")
        self.local = threading.local()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closing = False
        for served in self.repo.served():
            served.batcher.close()
            served.batcher = _RayBatchBridge(self, served)
        self.replica_id = _replica_id()

    async def _run_batch(self, items: list) -> list[np.ndarray]:
        """Ray's batch: the pixels of several requests, grouped by model version, one runner call per group."""
        out: list[Any] = [None] * len(items)
        groups: dict[int, list[int]] = {}
        for k, (served, _) in enumerate(items):
            groups.setdefault(id(served), []).append(k)
        for ks in groups.values():
            served = items[ks[0]][0]
            pixels = np.concatenate([items[k][1] for k in ks]) if len(ks) > 1 else items[ks[0]][1]
            logits = await asyncio.get_running_loop().run_in_executor(self.pool, _logits, served, pixels)
            offset = 0
            for k in ks:
                n = len(items[k][1])
                out[k], offset = logits[offset:offset + n].view(_RayBatchRows), offset + n
                out[k].batch_images = len(pixels)
        return out

    async def run_alone(self, item: tuple) -> np.ndarray:
        """A request of more than `max_batch` images: one runner call of its own (Ray's batcher refuses it)."""
        return (await self._run_batch([item]))[0]

    def index(self) -> list[dict[str, str]]:
        return [s.to_dict() for s in self.repo.index()]

    async def __call__(self, request):
        """Route one HTTP request (the Serve proxy hands over a Starlette Request)."""
        from gxr.serve.service import as_serve_error

        self.loop = self.loop or asyncio.get_running_loop()
        try:
            self.service.authorize(request.headers.get("authorization"))
            return await self._route(request)
        except Exception as exc:
            error = as_serve_error(exc)
            return self._json({"error": str(error)}, error.http_status)

    async def _route(self, request):
        path, method = request.url.path.rstrip("/") or "/", request.method
        infer = INFER.fullmatch(path)
        if infer and method == "POST":
            return await self._infer(request, check_name(infer.group(1)), check_version(infer.group(2) or ""))
        if method != "GET":
            raise NotFound(f"{path[:200]}: no such endpoint for {method}")
        if path == "/v2/health/live":
            return self._json({"live": True})
        if path == "/v2/health/ready":
            if not self.repo.ready():
                raise Unavailable("not ready (shutting down, or a model has no ready version)")
            return self._json({"ready": True})
        if path == "/v2":
            from gxr import __version__
            from gxr.serve.rest import EXTENSIONS

            return self._json({"name": "gxr (ray)", "version": __version__, "extensions": EXTENSIONS})
        model = MODEL.fullmatch(path)
        if model is None:
            raise NotFound(f"{path[:200]}: no such endpoint")
        name, version = check_name(model.group(1)), check_version(model.group(2) or "")
        served = self.repo.get(name, version)
        if model.group(3):
            return self._json({"name": name, "ready": True})
        return self._json(served.metadata(self.repo.ready_versions(name)).to_dict())

    async def _infer(self, request, name: str, version: str):
        from gxr.serve.rest import HEADER_LENGTH, decompress, encode_response, parse_infer

        limit = self.service.limits.max_request_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise TooLarge(f"request body of {int(length)} bytes is over the {limit}-byte limit")
        body = decompress(await request.body(), request.headers.get("content-encoding"), limit)
        if len(body) > limit:
            raise TooLarge(f"request body is over the {limit}-byte limit")
        parsed, binary = parse_infer(body, request.headers.get(HEADER_LENGTH.lower()), name, version)
        response, batch = await asyncio.get_running_loop().run_in_executor(
            self.pool, self._infer_sync, parsed, self.service.deadline())
        payload, header_length = encode_response(response, binary)
        headers = {HEADER_LENGTH: str(header_length)} if header_length is not None else {}
        headers[BATCH_HEADER] = str(batch)
        return self._response(payload, 200, headers, "application/octet-stream" if header_length is not None
                              else "application/json")

    def _infer_sync(self, parsed, deadline: float) -> tuple[Any, int]:
        """In a request thread: the answer, and how many images the Ray batch that carried it held."""
        self.local.future = None
        response = self.service.infer(parsed, "ray", deadline)
        future = self.local.future
        return response, getattr(future.result(), "batch_images", 0) if future is not None else 0

    def _json(self, doc: Any, status: int = 200):
        return self._response(json.dumps(doc).encode(), status, {}, "application/json")

    def _response(self, body: bytes, status: int, headers: dict[str, str], media_type: str):
        from starlette.responses import Response

        return Response(body, status, headers={**headers, REPLICA_HEADER: self.replica_id}, media_type=media_type)

    def __del__(self) -> None:
        """Ray Serve's shutdown hook for a replica: stop reporting ready, release the runners."""
        self.closing = True
        try:
            self.repo.close()
            self.pool.shutdown(wait=False)
        except Exception:   # the replica is going away either way
            pass


def _logits(served, pixels: np.ndarray) -> np.ndarray:
    model = served.model
    return model.infer(model.feed(pixels))["logits"]


def _replica_id() -> str:
    try:
        from ray import serve

        return str(serve.get_replica_context().replica_id.unique_id)
    except Exception:   # outside a replica (unit use)
        return f"pid-{os.getpid()}"


# ---- the driver ----------------------------------------------------------------------------------------------

def start_ray(cpus: int) -> None:
    """A local Ray instance on loopback: no dashboard, no usage reporting, at most `cpus` CPUs."""
    try:
        import ray
        from ray import serve  # noqa: F401  (the [serve] part of ray must be there too)
    except ImportError as exc:
        raise GxrError(f"Ray Serve is not installed on this machine ({exc}); pip install 'gxr[ray]'") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, logging_level="warning", configure_logging=True)
    except Exception as exc:
        raise GxrError(f"cannot start a local Ray instance ({one_line(exc, 200)})") from None


def deploy(options: ServeOptions, replicas: int, cpus: int):
    """Run the OIP app on Ray Serve with `replicas` replicas; returns the app's handle once all are ready."""
    from ray import serve

    per_replica = cpus / replicas
    threads = options.load.threads or max(1, int(per_replica))
    options = replace(options, load=replace(options.load, threads=threads,
                                            decode_workers=options.load.decode_workers or threads))
    serve.start(http_options={"host": options.host, "port": options.http_port}, logging_config={"log_level": "WARNING"})
    deployment = serve.deployment(OipReplica, name="gxr-oip", num_replicas=replicas,
                                  max_ongoing_requests=max(64, 2 * options.load.batching.max_batch),
                                  ray_actor_options={"num_cpus": per_replica})
    try:
        return serve.run(deployment.bind(options), name=APP_NAME, route_prefix="/")
    except Exception as exc:
        raise GxrError(f"{options.repo}: the Ray Serve deployment failed ({one_line(exc, 300)})") from None


def serve_on_ray(options: ServeOptions, replicas: int, on_ready: Callable[[ServerInfo], None],
                 cpus: int | None = None, stop: threading.Event | None = None) -> None:
    """`gxr serve --ray`: start Ray and the deployment, tell `on_ready`, serve until SIGTERM/SIGINT (or `stop`),
    then shut Serve down (replicas finish the requests they hold) and Ray."""
    if replicas < 1:
        raise GxrError(f"--replicas {replicas}: must be >= 1")
    if options.http_port <= 0:
        raise GxrError(f"--http-port {options.http_port}: give a fixed port with --ray (Ray Serve picks no free port)")
    if not Path(options.repo).is_dir():
        raise GxrError(f"{options.repo}: model repository not found")
    check_host(options.host, options.allow_remote)
    cpus = cpus or os.cpu_count() or 1
    stop = stop or threading.Event()
    start_ray(cpus)
    previous = _on_signals(stop)    # after ray.init, which installs its own SIGTERM handler; before the proxy is up
    try:
        from ray import serve

        handle = deploy(options, replicas, cpus)
        index = handle.index.remote().result()
        on_ready(ServerInfo(f"http://{options.host}:{options.http_port}", None,
                            [f"{s['name']}/{s['version']}" for s in index if s["state"] == "READY"],
                            [f"{s['name']}/{s['version']}: {s['reason']}" for s in index if s["state"] != "READY"]))
        while not stop.wait(0.5):
            pass
        serve.shutdown()
    finally:
        _shutdown_ray()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _on_signals(stop: threading.Event) -> dict:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}


def _shutdown_ray() -> None:
    import ray

    ray.shutdown()
