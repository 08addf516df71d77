"""Prometheus metrics of one server (prometheus_client, its own registry, served at /metrics):

- gxr_requests_total{model,version,protocol} and gxr_request_failures_total{model,version,protocol,code};
- gxr_request_seconds{model,version,protocol}: time from parsed request to answer;
- gxr_queue_seconds{model,version}: time a request waited in the batch queue;
- gxr_infer_seconds{model,version}: runner time per batch; gxr_batch_size{model,version}: images per batch;
- gxr_images_total{model,version}; gxr_requests_in_flight (accepted, not yet answered);
- process_resident_memory_bytes and the rest of prometheus_client's process collector."""

from __future__ import annotations

from dataclasses import dataclass

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
TIME_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServeMetrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        r, mv, mvp = self.registry, ["model", "version"], ["model", "version", "protocol"]
        self.requests = Counter("gxr_requests", "Inference requests answered or refused", mvp, registry=r)
        self.failures = Counter("gxr_request_failures", "Inference requests that failed, by status code",
                                mvp + ["code"], registry=r)
        self.request_seconds = Histogram("gxr_request_seconds", "Request time, parsed request to answer", mvp,
                                         buckets=TIME_BUCKETS, registry=r)
        self.queue_seconds = Histogram("gxr_queue_seconds", "Time requests waited in the batch queue", mv,
                                       buckets=TIME_BUCKETS, registry=r)
        self.infer_seconds = Histogram("gxr_infer_seconds", "Runner time per batch", mv, buckets=TIME_BUCKETS,
                                       registry=r)
        self.batch_size = Histogram("gxr_batch_size", "Images per batch run", mv, buckets=BATCH_BUCKETS,
                                    registry=r)
        self.images = Counter("gxr_images", "Images inferred", mv, registry=r)
        self.in_flight = Gauge("gxr_requests_in_flight", "Inference requests accepted and not yet answered",
                               registry=r)

    def observer(self, model: str, version: int) -> BatchMetrics:
        labels = {"model": model, "version": str(version)}
        return BatchMetrics(self.queue_seconds.labels(**labels), self.infer_seconds.labels(**labels),
                            self.batch_size.labels(**labels), self.images.labels(**labels))

    def request(self, model: str, version: str, protocol: str, seconds: float, code: str = "") -> None:
        """One request answered (`code` empty) or refused with `code` (HTTP status or gRPC status name)."""
        labels = {"model": model or "-", "version": version or "-", "protocol": protocol}
        self.requests.labels(**labels).inc()
        self.request_seconds.labels(**labels).observe(seconds)
        if code:
            self.failures.labels(code=code, **labels).inc()

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4


@dataclass
class BatchMetrics:
    """The batcher's observer for one model version."""
    queue: object
    infer: object
    batch: object
    images: object

    def on_batch(self, size: int, queue_seconds: list[float], infer_seconds: float) -> None:
        for q in queue_seconds:
            self.queue.observe(q)
        self.infer.observe(infer_seconds)
        self.batch.observe(size)
        self.images.inc(size)
