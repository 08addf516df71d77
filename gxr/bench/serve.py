"""`gxr bench serve`: a bounded load generator for an Open Inference Protocol (KServe v2) server on this machine.

N concurrent clients send real images (uint8 tensors preprocessed with the model's recorded preprocessing, or the
encoded files as BYTES) over HTTP (binary-tensor extension or JSON tensors) or gRPC, for at most `requests`
requests and `duration_s` seconds, and the report gives throughput, latency percentiles, errors, the server's
RSS and batch-size histogram (scraped from its Prometheus /metrics) and, measured in the same run, the in-process
`gxr.load(model).predict` throughput of the same model at its best batch size.

The clients are Triton's own (`tritonclient.http.aio`, `tritonclient.grpc.aio`), all on one asyncio event loop:
the load test is also a compatibility test with the clients hospitals already use, and one event loop costs far
less CPU than a thread or process per client on a 2-core machine where the clients compete with the server.

Given a model repository instead of a URL, the suite starts `gxr serve` itself (a subprocess on free loopback
ports), waits until it is ready, runs the load and stops it with SIGTERM; with `compare_batching`, once with
dynamic batching on and once with it off. Only loopback addresses are ever a target."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from gxr.bench.noise import NoiseMonitor
from gxr.core.errors import GxrError, one_line
from gxr.core.provenance import machine_info

PROTOCOLS = ("http", "http-json", "grpc")     # http: Triton's binary-tensor extension; http-json: JSON tensors
INPUTS = ("uint8", "encoded")                 # preprocessed pixels, or the image files' bytes (PNG, JPEG, DICOM)
RSS_METRIC = "process_resident_memory_bytes"
CPU_METRIC = "process_cpu_seconds_total"
BATCH_METRIC = "gxr_batch_size"               # the server's histogram of images per inference batch
Step = Callable[[str, float], None]            # (status, overall fraction done)


@dataclass
class ServeBenchOptions:
    model: str | None = None          # model name on the server (default: the repository's only model)
    protocol: str = "http"
    input: str = "uint8"
    clients: int = 8
    duration_s: float = 10.0          # timed window; the run stops at whichever of duration and requests comes first
    requests: int = 100_000
    warmup_s: float = 2.0             # untimed load before the window (thread pools, batch sizes settle)
    timeout_s: float = 30.0           # per request
    images: Path | None = None        # files or a folder; default: real test images of the model's data
    image_count: int = 64
    data: str | None = None           # data spec for the default images
    batch_sizes: tuple[int, ...] = (1, 8, 16, 32)   # in-process predict, capped at the model's maximum batch
    inprocess_s: float = 3.0          # timed seconds per in-process batch size (0: skip)
    compare_batching: bool = False    # REPO only: also run the server with dynamic batching off
    backend: str = "onnxruntime"      # REPO only: the server's backend, and the in-process model's
    threads: int | None = None        # REPO only: inference threads (server and in-process)
    max_batch: int | None = None      # REPO only: the server's --max-batch
    max_queue_delay_ms: float | None = None
    grpc_port: int = 8001             # URL only: the server's gRPC port on the same host
    token_file: Path | None = None    # bearer token for a server started with --token-file
    ready_timeout_s: float = 300.0    # REPO only: loading a large model takes a while

    def check(self) -> ServeBenchOptions:
        if self.protocol not in PROTOCOLS:
            raise GxrError(f"--protocol {self.protocol!r}: choose one of {', '.join(PROTOCOLS)}")
        if self.input not in INPUTS:
            raise GxrError(f"--input {self.input!r}: choose one of {', '.join(INPUTS)}")
        for flag, value, low in (("--clients", self.clients, 1), ("--requests", self.requests, 1),
                                 ("--image-count", self.image_count, 1)):
            if value < low:
                raise GxrError(f"{flag} {value}: must be >= {low}")
        if not 0 < self.duration_s <= 3600:
            raise GxrError(f"--duration {self.duration_s:g}: must be more than 0 and at most 3600 seconds")
        if self.warmup_s < 0 or self.inprocess_s < 0:
            raise GxrError("--warmup and --inprocess-seconds must be >= 0")
        return self


@dataclass
class ServeRun:
    """One load run against one server."""

    label: str                        # "batching on" | "batching off" | "server"
    protocol: str
    input: str
    clients: int
    requests_ok: int
    errors: int
    error_examples: list[str]
    seconds: float
    images_per_s: float
    latency_ms: dict[str, float]      # p50, p90, p99, mean, max
    rss_mb_start: float | None        # server RSS when it was ready, before any request
    rss_mb_before: float | None       # after the warm-up, at the start of the timed window
    rss_mb_after: float | None
    rss_points: list[tuple[int, float]]   # (requests answered so far in the timed window, server RSS MiB)
    batch_histogram: dict[str, int]   # images per batch (bucket upper bound) -> batches, timed window only
    mean_batch: float | None
    server_cpu_s: float | None        # CPU seconds the server used in the timed window
    client_cpu_s: float               # CPU seconds the clients (this process) used in the timed window
    server_args: list[str] = field(default_factory=list)


@dataclass
class InProcessRate:
    batch: int
    images: int
    seconds: float
    images_per_s: float


@dataclass
class ServeBenchResult:
    target: str
    model: str
    version: str
    options: dict[str, Any]
    runs: list[ServeRun]
    inprocess: list[InProcessRate]
    machine: dict[str, Any]
    noise: dict[str, Any]
    warnings: list[str]

    @property
    def best_inprocess(self) -> InProcessRate | None:
        return max(self.inprocess, key=lambda r: r.images_per_s, default=None)

    def ratio(self, run: ServeRun) -> float | None:
        """Served images/s over in-process predict images/s at the best batch size."""
        best = self.best_inprocess
        return run.images_per_s / best.images_per_s if best and best.images_per_s > 0 else None

    def to_json(self) -> dict[str, Any]:
        best = self.best_inprocess
        return {"kind": "serve-bench", "target": self.target, "model": self.model, "version": self.version,
                "options": self.options, "machine": self.machine,
                "runs": [{**asdict(r), "ratio_to_inprocess_best": self.ratio(r),
                          "rss_growth_after_1000_mb": rss_growth(r.rss_points)} for r in self.runs],
                "inprocess": [asdict(r) for r in self.inprocess],
                "inprocess_best": asdict(best) if best else None, "noise": self.noise, "warnings": self.warnings}


def rss_growth(points: Sequence[tuple[int, float]], settled: int = 1000) -> float | None:
    """Server RSS growth (MiB) from the first sample after `settled` answered requests to the last sample."""
    later = [mb for n, mb in points if n >= settled]
    return later[-1] - later[0] if len(later) >= 2 else None


# ---- loopback only --------------------------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def check_url(url: str) -> str:
    """An http:// URL of a server on this machine, without a trailing slash; anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise GxrError(f"{url}: expected http://HOST:PORT of an Open Inference Protocol server, or a model repository")
    if not is_loopback(parts.hostname):
        raise GxrError(f"{url}: {parts.hostname} is not a loopback address; gxr bench serve only loads servers on "
                       "this machine (127.0.0.1, ::1, localhost)")
    return f"http://{parts.netloc}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the server's /metrics ------------------------------------------------------------------------------------

@dataclass
class MetricsSample:
    rss_mb: float | None
    cpu_s: float | None
    batch_buckets: dict[str, float]   # cumulative histogram: upper bound -> batches (this model)
    batch_sum: float
    batch_count: float


def parse_metrics(text: str, model: str) -> MetricsSample:
    """The numbers gxr bench serve reads from a Prometheus text page (prometheus_client's parser)."""
    from prometheus_client.parser import text_string_to_metric_families

    rss = cpu = None
    buckets: dict[str, float] = {}
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == RSS_METRIC:
                rss = s.value / 2**20
            elif s.name == CPU_METRIC:
                cpu = s.value
            elif family.name == BATCH_METRIC and s.labels.get("model", model) == model:
                if s.name.endswith("_bucket"):
                    buckets[s.labels["le"]] = buckets.get(s.labels["le"], 0.0) + s.value
                elif s.name.endswith("_sum"):
                    total += s.value
                elif s.name.endswith("_count"):
                    count += s.value
    return MetricsSample(rss, cpu, buckets, total, count)


def scrape(url: str, model: str, headers: dict[str, str]) -> MetricsSample:
    request = urllib.request.Request(f"{url}/metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return parse_metrics(response.read().decode("utf-8", "replace"), model)
    except (OSError, ValueError) as exc:
        raise GxrError(f"{url}/metrics: cannot read the server's metrics ({one_line(exc, 120)})") from None


def batch_histogram(before: MetricsSample, after: MetricsSample) -> tuple[dict[str, int], float | None]:
    """Batches per bucket between two scrapes (not cumulative; empty buckets left out) and the mean batch size."""
    def bound(le: str) -> float:
        return float("inf") if le == "+Inf" else float(le)

    hist, previous = {}, 0.0
    for le in sorted(after.batch_buckets, key=bound):
        cumulative = after.batch_buckets[le] - before.batch_buckets.get(le, 0.0)
        if cumulative - previous > 0:
            hist[le] = int(round(cumulative - previous))
        previous = cumulative
    batches = after.batch_count - before.batch_count
    return hist, ((after.batch_sum - before.batch_sum) / batches if batches > 0 else None)


# ---- the images the clients send ------------------------------------------------------------------------------

@dataclass
class ModelShape:
    name: str
    version: str
    channels: int
    size: int
    uint8_input: str | None           # name of the UINT8 N x C x S x S input
    bytes_input: str | None           # name of the BYTES input of encoded images
    outputs: list[str]
    max_batch: int = 32
    data_spec: str | None = None


def shape_from_metadata(meta: dict[str, Any], name: str) -> ModelShape:
    """What a client needs from the server's model metadata (OIP v2 JSON)."""
    inputs = meta.get("inputs") or []
    pixels = next((t for t in inputs if t.get("datatype") == "UINT8" and len(t.get("shape", [])) == 4), None)
    encoded = next((t for t in inputs if t.get("datatype") == "BYTES"), None)
    if pixels is None and encoded is None:
        raise GxrError(f"model {name}: the server lists no UINT8 image input and no BYTES input")
    channels, size = (int(pixels["shape"][1]), int(pixels["shape"][3])) if pixels else (1, 0)
    versions = meta.get("versions") or [""]
    return ModelShape(name, str(max(versions, key=lambda v: int(v) if str(v).isdigit() else 0)), channels, size,
                      pixels["name"] if pixels else None, encoded["name"] if encoded else None,
                      [t["name"] for t in meta.get("outputs") or [] if t.get("datatype") != "BYTES"])


def _source_images(shape: ModelShape, options: ServeBenchOptions) -> list[tuple[str, Any]]:
    """(name, PIL image or file path) of the real images to send."""
    if options.images is not None:
        from gxr.core.inputs import collect_inputs

        files = collect_inputs([options.images]).files[:options.image_count]
        return [(str(f), f) for f in files]
    spec = options.data or shape.data_spec
    if not spec:
        raise GxrError(f"model {shape.name}: no data recorded with it; give --images or --data")
    from gxr.data import open_source

    split = open_source(spec).split("test")
    return [(split.images.name(i), split.images.open(i)) for i in range(min(options.image_count, len(split)))]


def request_images(shape: ModelShape, options: ServeBenchOptions) -> list[Any]:
    """uint8 C x S x S pixels (the model's recorded preprocessing) or encoded bytes, one item per image."""
    from gxr.core.preprocess import decode_pixels

    out = []
    for name, src in _source_images(shape, options):
        if options.input == "uint8":
            out.append(decode_pixels(src, shape.channels, shape.size, name)[0])
        elif isinstance(src, Path):
            out.append(src.read_bytes())
        else:
            buffer = io.BytesIO()
            src.save(buffer, format="PNG")
            out.append(buffer.getvalue())
    if not out:
        raise GxrError(f"{options.images}: no images found")
    return out


# ---- the clients ------------------------------------------------------------------------------------------------

@dataclass
class LoadResult:
    latencies_s: list[float]
    errors: int
    error_examples: list[str]
    seconds: float


class TritonClients:
    """Triton's asyncio clients for one model: `infer(image)` sends one image (a batch of one)."""

    def __init__(self, url: str, grpc_target: str, shape: ModelShape, options: ServeBenchOptions,
                 headers: dict[str, str]):
        self.shape, self.options, self.headers = shape, options, headers
        wanted = shape.uint8_input if options.input == "uint8" else shape.bytes_input
        if wanted is None:
            kind = "UINT8 pixel" if options.input == "uint8" else "BYTES"
            raise GxrError(f"model {shape.name}: the server lists no {kind} input (--input {options.input})")
        if options.protocol == "grpc":
            import tritonclient.grpc as module
            import tritonclient.grpc.aio as aio

            self.client = aio.InferenceServerClient(grpc_target)
        else:
            import tritonclient.http as module
            import tritonclient.http.aio as aio

            self.client = aio.InferenceServerClient(urlsplit(url).netloc, conn_limit=options.clients + 4,
                                                    conn_timeout=options.timeout_s)
        self.module = module

    def inputs(self, image: Any) -> list:
        if isinstance(image, np.ndarray):
            tensor = self.module.InferInput(self.shape.uint8_input, [1, *image.shape], "UINT8")
            data = image[None]
        else:
            tensor = self.module.InferInput(self.shape.bytes_input, [1], "BYTES")
            data = np.array([image], dtype=np.object_)
        if self.options.protocol == "grpc":
            tensor.set_data_from_numpy(data)
        else:
            tensor.set_data_from_numpy(data, binary_data=self.options.protocol == "http")
        return [tensor]

    def outputs(self) -> list:
        if self.options.protocol == "grpc":
            return [self.module.InferRequestedOutput(n) for n in self.shape.outputs]
        return [self.module.InferRequestedOutput(n, binary_data=self.options.protocol == "http")
                for n in self.shape.outputs]

    async def infer(self, inputs: list, outputs: list) -> None:
        kwargs = {"client_timeout": self.options.timeout_s} if self.options.protocol == "grpc" else {}
        await self.client.infer(self.shape.name, inputs, model_version=self.shape.version, outputs=outputs,
                                headers=self.headers or None, **kwargs)

    async def close(self) -> None:
        await self.client.close()


async def _client_loop(clients: TritonClients, feeds: list[list], outputs: list, state: dict, stop_at: float) -> None:
    """One client: one request at a time until the window closes or the request budget is spent."""
    while time.perf_counter() < stop_at and state["issued"] < state["limit"]:
        k = state["issued"]
        state["issued"] += 1
        start = time.perf_counter()
        try:
            await asyncio.wait_for(clients.infer(feeds[k % len(feeds)], outputs), clients.options.timeout_s)
        except Exception as exc:   # every failure is counted and one example of each kind kept, never fatal
            state["errors"] += 1
            text = one_line(exc, 200)
            if len(state["examples"]) < 5 and text not in state["examples"]:
                state["examples"].append(text)
            continue
        state["latencies"].append(time.perf_counter() - start)


async def _load(clients: TritonClients, images: list, seconds: float, limit: int,
                on_tick: Callable[[int, float], None] | None) -> LoadResult:
    feeds = [clients.inputs(image) for image in images]
    outputs = clients.outputs()
    state: dict[str, Any] = {"issued": 0, "limit": limit, "errors": 0, "examples": [], "latencies": []}
    start = time.perf_counter()
    stop_at = start + seconds
    tasks = [asyncio.create_task(_client_loop(clients, feeds, outputs, state, stop_at))
             for _ in range(clients.options.clients)]
    while not all(t.done() for t in tasks):
        await asyncio.wait(tasks, timeout=1.0)
        if on_tick:   # in a thread: it scrapes the server's metrics, which must not stall the clients' loop
            await asyncio.to_thread(on_tick, len(state["latencies"]),
                                    min(1.0, (time.perf_counter() - start) / seconds))
    return LoadResult(state["latencies"], state["errors"], state["examples"], time.perf_counter() - start)


def run_load(url: str, grpc_target: str, shape: ModelShape, images: list, options: ServeBenchOptions,
             headers: dict[str, str], seconds: float, limit: int,
             on_tick: Callable[[int, float], None] | None = None) -> LoadResult:
    """`options.clients` concurrent clients for at most `seconds` and `limit` requests."""
    async def main() -> LoadResult:
        clients = TritonClients(url, grpc_target, shape, options, headers)
        try:
            return await _load(clients, images, seconds, limit, on_tick)
        finally:
            await clients.close()

    return asyncio.run(main())


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float]:
    if not latencies_s:
        return {}
    ms = np.asarray(latencies_s) * 1000.0
    return {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean()), "max": float(ms.max())}


# ---- one run against a running server ----------------------------------------------------------------------------

@dataclass
class Server:
    url: str                      # http://127.0.0.1:PORT
    grpc_target: str              # 127.0.0.1:PORT
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None


def auth_headers(token_file: Path | None) -> dict[str, str]:
    if token_file is None:
        return {}
    try:
        lines = token_file.read_text().strip().splitlines()
    except OSError as exc:
        raise GxrError(f"{token_file}: cannot read the token ({exc.strerror or exc})") from None
    if not lines or not lines[0].strip():
        raise GxrError(f"{token_file}: the token file is empty")
    return {"authorization": f"Bearer {lines[0].strip()}"}   # first line, as gxr serve reads it; gRPC: lower case


def get_json(url: str, headers: dict[str, str], timeout: float = 10.0) -> dict[str, Any]:
    import json

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise GxrError(f"{url}: the server answered {exc.code} ({one_line(exc.read()[:200].decode(errors='replace'))})"
                       ) from None
    except (OSError, ValueError) as exc:
        raise GxrError(f"{url}: no answer from the server ({one_line(exc, 120)})") from None


def measure_server(server: Server, label: str, shape: ModelShape, images: list, options: ServeBenchOptions,
                   headers: dict[str, str], monitor: NoiseMonitor, tick: Callable[[str, float], None]) -> ServeRun:
    """Warm-up, then the timed window with the server's RSS sampled about every second; metrics before and after."""
    start = scrape(server.url, shape.name, headers)
    if options.warmup_s > 0:
        run_load(server.url, server.grpc_target, shape, images, options, headers, options.warmup_s, options.requests,
                 lambda n, f: tick(f"{label}: warm-up", 0.1 * f))
    before = scrape(server.url, shape.name, headers)
    points: list[tuple[int, float]] = [(0, before.rss_mb)] if before.rss_mb is not None else []
    last = [time.perf_counter()]

    def on_tick(done: int, fraction: float) -> None:
        if time.perf_counter() - last[0] >= 1.0:
            last[0] = time.perf_counter()
            rss = scrape(server.url, shape.name, headers).rss_mb
            if rss is not None:
                points.append((done, rss))
        tick(f"{label}: {done} answered", 0.1 + 0.9 * fraction)

    cpu_before = _own_cpu_s()
    with monitor.block(label, helper_cpu=lambda: scrape(server.url, shape.name, headers).cpu_s or 0.0):
        load = run_load(server.url, server.grpc_target, shape, images, options, headers, options.duration_s,
                        options.requests, on_tick)
    client_cpu = _own_cpu_s() - cpu_before
    after = scrape(server.url, shape.name, headers)
    if after.rss_mb is not None:
        points.append((len(load.latencies_s), after.rss_mb))
    hist, mean_batch = batch_histogram(before, after)
    ok = len(load.latencies_s)
    return ServeRun(label, options.protocol, options.input, options.clients, ok, load.errors, load.error_examples,
                    load.seconds, ok / load.seconds if load.seconds > 0 else 0.0, latency_summary(load.latencies_s),
                    start.rss_mb, before.rss_mb, after.rss_mb, points, hist, mean_batch,
                    after.cpu_s - before.cpu_s if after.cpu_s is not None and before.cpu_s is not None else None,
                    client_cpu, server.args)


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


# ---- `gxr serve` as a subprocess ---------------------------------------------------------------------------------

def serve_args(repo: Path, model: str, http_port: int, grpc_port: int, options: ServeBenchOptions,
               batching: bool) -> list[str]:
    """The `gxr serve` command line for one run (loopback, free ports, this one model)."""
    args = ["serve", str(repo), "--host", "127.0.0.1", "--http-port", str(http_port), "--grpc-port", str(grpc_port),
            "--models", model, "--backend", options.backend]
    if options.threads is not None:
        args += ["--threads", str(options.threads)]
    if not batching:
        args += ["--no-batching"]
    else:
        if options.max_batch is not None:
            args += ["--max-batch", str(options.max_batch)]
        if options.max_queue_delay_ms is not None:
            args += ["--max-queue-delay-ms", f"{options.max_queue_delay_ms:g}"]
    if options.token_file is not None:
        args += ["--token-file", str(options.token_file)]
    return args


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def wait_ready(server: Server, model: str, headers: dict[str, str], timeout_s: float, log: Path) -> None:
    """Poll the server's and the model's readiness until both answer 200; a server that exits is an error."""
    deadline = time.monotonic() + timeout_s
    for path in ("/v2/health/ready", f"/v2/models/{model}/ready"):
        while True:
            if server.process is not None and server.process.poll() is not None:
                raise GxrError(f"gxr serve exited with code {server.process.returncode}: {_last_line(log)}")
            try:
                with urllib.request.urlopen(urllib.request.Request(server.url + path, headers=headers),
                                            timeout=5) as response:
                    if response.status == 200:
                        break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise GxrError(f"{server.url}{path}: not ready after {timeout_s:g} s ({_last_line(log)})")
            time.sleep(0.2)


def stop_server(process: subprocess.Popen, grace_s: float = 30.0) -> int:
    """SIGTERM (the server drains), then SIGKILL if it has not exited after `grace_s` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@contextmanager
def started_server(repo: Path, model: str, options: ServeBenchOptions, batching: bool,
                   headers: dict[str, str]) -> Iterator[Server]:
    """`gxr serve` on free loopback ports, ready; stopped with SIGTERM on the way out."""
    http_port, grpc_port = free_port(), free_port()
    args = serve_args(repo, model, http_port, grpc_port, options, batching)
    with tempfile.TemporaryDirectory(prefix="gxr-bench-serve-") as tmp:
        log = Path(tmp) / "serve.log"
        with open(log, "wb") as sink:
            process = subprocess.Popen([sys.executable, "-m", "gxr", *args], stdout=sink, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200"})
        server = Server(f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", args, process)
        try:
            wait_ready(server, model, headers, options.ready_timeout_s, log)
            yield server
        finally:
            stop_server(process)


# ---- in-process predict ----------------------------------------------------------------------------------------

def inprocess_rates(model_path: Path, images: list[np.ndarray], options: ServeBenchOptions, monitor: NoiseMonitor,
                    tick: Callable[[str, float], None]) -> list[InProcessRate]:
    """images/s of `gxr.load(model).predict` on the same uint8 images, per batch size (after 1 s of warm-up)."""
    import gxr

    model = gxr.load(model_path, backend=options.backend, threads=options.threads)
    images = [p[0] if p.shape[0] == 1 else p.transpose(1, 2, 0) for p in images]   # predict takes H x W (x C)
    try:
        sizes = sorted({min(b, model.batch_size) for b in options.batch_sizes})
        rates = []
        for k, batch in enumerate(sizes):
            chunks = [[images[(i + j) % len(images)] for j in range(batch)] for i in range(0, len(images), batch)]
            _timed_predict(model, chunks, batch, min(1.0, options.inprocess_s))   # warm-up
            with monitor.block(f"in-process predict b{batch}"):
                done, seconds = _timed_predict(model, chunks, batch, options.inprocess_s)
            rates.append(InProcessRate(batch, done, seconds, done / seconds))
            tick(f"in-process b{batch}: {done / seconds:.1f} img/s", (k + 1) / len(sizes))
        return rates
    finally:
        model.close()


def _timed_predict(model, chunks: list[list[np.ndarray]], batch: int, seconds: float) -> tuple[int, float]:
    start, done, k = time.perf_counter(), 0, 0
    while time.perf_counter() - start < seconds or k == 0:
        model.predict(chunks[k % len(chunks)], batch_size=batch)
        done += len(chunks[k % len(chunks)])
        k += 1
    return done, time.perf_counter() - start


# ---- the suite -------------------------------------------------------------------------------------------------

def _repo_shape(repo: Path, model: str | None) -> tuple[ModelShape, Path]:
    """The model to serve from a repository: its shape from the newest version's manifest."""
    from gxr.core.manifest import MANIFEST
    from gxr.core.repository import resolve_model_dir

    names = sorted(p.name for p in repo.iterdir() if p.is_dir() and any(p.glob(f"*/{MANIFEST}")))
    if model is None:
        if len(names) != 1:
            raise GxrError(f"{repo}: holds {len(names)} models ({', '.join(names) or 'none'}); choose one with --model")
        model = names[0]
    if model not in names:
        raise GxrError(f"{repo}: no model named {model!r} (models: {', '.join(names) or 'none'})")
    version_dir, manifest = resolve_model_dir(repo / model)
    shape = ModelShape(model, version_dir.name, manifest.info.channels, manifest.info.image_size, None, None, [],
                       manifest.batch.max, (manifest.source.get("data") or {}).get("spec"))
    return shape, version_dir


def _server_shape(server: Server, name: str, headers: dict[str, str], known: ModelShape | None) -> ModelShape:
    shape = shape_from_metadata(get_json(f"{server.url}/v2/models/{name}", headers), name)
    if known is not None:
        shape.max_batch, shape.data_spec, shape.version = known.max_batch, known.data_spec, known.version
    return shape


def run_serve_bench(target: str, options: ServeBenchOptions, on_step: Step | None = None) -> ServeBenchResult:
    """Load a running server (`target` = http://127.0.0.1:PORT) or a repository served by `gxr serve` here."""
    options.check()
    headers = auth_headers(options.token_file)
    monitor = NoiseMonitor()
    is_url = "://" in target
    phases = 1 if is_url else (2 if options.compare_batching else 1) + (1 if options.inprocess_s > 0 else 0)
    done_phases = [0]

    def tick(status: str, fraction: float) -> None:
        if on_step:
            on_step(status, min(1.0, (done_phases[0] + fraction) / phases))

    if is_url:
        url = check_url(target)
        if options.model is None:
            raise GxrError(f"{url}: give the model's name with --model")
        server = Server(url, f"{urlsplit(url).hostname}:{options.grpc_port}")
        shape = _server_shape(server, options.model, headers, None)
        images = request_images(shape, options)
        runs = [measure_server(server, "server", shape, images, options, headers, monitor, tick)]
        return _result(url, shape, options, runs, [], monitor)

    repo = Path(target)
    if not repo.is_dir():
        raise GxrError(f"{repo}: not a model repository folder (or give http://127.0.0.1:PORT of a running server)")
    known, version_dir = _repo_shape(repo, options.model)
    inprocess: list[InProcessRate] = []
    if options.inprocess_s > 0:   # first, alone on the machine: no server process is running yet
        pixels = request_images(known, replace(options, input="uint8"))
        inprocess = inprocess_rates(version_dir, pixels, options, monitor, tick)
        done_phases[0] += 1
    runs: list[ServeRun] = []
    images = None
    for batching in (True, False) if options.compare_batching else (True,):
        label = f"batching {'on' if batching else 'off'}"
        tick(f"{label}: starting gxr serve", 0.0)
        with started_server(repo, known.name, options, batching, headers) as server:
            shape = _server_shape(server, known.name, headers, known)
            images = images if images is not None else request_images(shape, options)
            runs.append(measure_server(server, label, shape, images, options, headers, monitor, tick))
        done_phases[0] += 1
    return _result(str(repo), known, options, runs, inprocess, monitor)


def _result(target: str, shape: ModelShape, options: ServeBenchOptions, runs: list[ServeRun],
            inprocess: list[InProcessRate], monitor: NoiseMonitor) -> ServeBenchResult:
    warnings = monitor.warnings()
    warnings += [f"{r.label}: {r.errors} requests failed (e.g. {r.error_examples[0] if r.error_examples else '?'})"
                 for r in runs if r.errors]
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}
    return ServeBenchResult(target, shape.name, shape.version, settings, runs, inprocess, machine_info(),
                            monitor.to_json(), warnings)
