"""Many clients at once: 1,000 connections opened together, each answered correctly; the batcher merges them
(gxr_batch_size), and /metrics reports requests, failures, queue and inference time and the process RSS."""

from __future__ import annotations

import json
import re
import selectors
import socket
import time

import numpy as np

import gxr
from tests.serve.conftest import TOKEN, get, host_port, raw_body


def _request_bytes(pixels: np.ndarray) -> bytes:
    body, headers = raw_body(pixels, outputs=["probabilities"])
    head = (f"POST /v2/models/gray/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Connection: close\r\nInference-Header-Content-Length: {headers['Inference-Header-Content-Length']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_a_thousand_connections_at_once_are_all_answered(server, exported):
    n = 1000
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (8, 1, 32, 32), dtype=np.uint8)   # 8 different images, 125 clients each
    expected = gxr.load(exported["gray"]).predict(list(pixels[:, 0]))
    payloads = [_request_bytes(pixels[i % 8][None]) for i in range(8)]
    before = get(server.http_url, "/metrics")[2].decode()
    start = time.monotonic()
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(n):                                 # all connected before any is answered
        sock = socket.create_connection(host_port(server.http_url), timeout=30)
        socks.append(sock)
    for i, sock in enumerate(socks):
        sock.sendall(payloads[i % 8])
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, (i, bytearray()))
    replies: dict[int, bytes] = {}
    while len(replies) < n and time.monotonic() - start < 60:
        for key, _ in sel.select(timeout=1):
            i, buf = key.data
            chunk = key.fileobj.recv(65536)
            if chunk:
                buf += chunk
                continue
            replies[i] = bytes(buf)
            sel.unregister(key.fileobj)
            key.fileobj.close()
    for sock in socks:
        sock.close()
    assert len(replies) == n
    for i, reply in replies.items():
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), (i, reply[:300])
        probs = json.loads(body)["outputs"][0]["data"]
        assert abs(probs[0] - expected[i % 8, 0]) <= 1e-6
    after = get(server.http_url, "/metrics")[2].decode()
    labels = {"model": "gray", "version": "1"}
    batches = _metric(after, "gxr_batch_size_count", **labels) - _metric(before, "gxr_batch_size_count", **labels)
    images = _metric(after, "gxr_batch_size_sum", **labels) - _metric(before, "gxr_batch_size_sum", **labels)
    assert images == n and batches < n     # requests were merged into batches
    print(f"1000 connections: {time.monotonic() - start:.1f} s, {batches:.0f} batches (mean {images / batches:.1f})")


def test_metrics_count_requests_failures_and_memory(server):
    body, headers = raw_body(np.zeros((2, 1, 32, 32), np.uint8))
    from tests.serve.conftest import post

    before = get(server.http_url, "/metrics")[2].decode()
    small, small_headers = raw_body(np.zeros((1, 1, 16, 16), np.uint8))
    assert post(server.http_url, "/v2/models/color/infer", small, small_headers)[0] == 400   # 16 px for 32 px
    assert post(server.http_url, "/v2/models/gray/infer", body, headers)[0] == 200
    text = get(server.http_url, "/metrics")[2].decode()
    assert _metric(text, "process_resident_memory_bytes") > 50e6
    color, gray = {"model": "color", "version": "1"}, {"model": "gray", "version": "1", "protocol": "http"}
    assert _metric(text, "gxr_request_failures_total", code="400", **color) - _metric(
        before, "gxr_request_failures_total", code="400", **color) == 1
    assert _metric(text, "gxr_requests_total", **gray) - _metric(before, "gxr_requests_total", **gray) == 1
    for name in ("gxr_queue_seconds_count", "gxr_infer_seconds_count", "gxr_batch_size_count"):
        assert _metric(text, name, model="gray", version="1") > _metric(before, name, model="gray", version="1") - 1
        assert _metric(text, name, model="gray", version="1") >= 1, name
    assert _metric(text, "gxr_requests_in_flight") == 0
