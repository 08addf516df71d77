"""`gxr serve` as a process: one-line start-up errors (exit 2), SIGTERM under load (every accepted request is
answered, exit 0), and kill -9 then restart on the same ports (the same answers; the repository untouched)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO, Snapshot, assert_one_line_error, run_gxr
from tests.serve.conftest import raw_body


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_start_up_errors_are_one_line_with_exit_code_2(serve_repo, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_gxr("serve", str(empty), "--http-port", "0", "--grpc-port", "0"),
                          "empty model repository", names=empty)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for flag, other in (("--http-port", "--grpc-port"), ("--grpc-port", "--http-port")):
            result = run_gxr("serve", str(serve_repo), flag, str(port), other, "0")
            assert_one_line_error(result, f"127.0.0.1:{port}", "cannot listen", names=None, stdout_empty=False)
    assert_one_line_error(run_gxr("serve", str(serve_repo), "--host", "0.0.0.0"), "--allow-remote", names=None)
    short = tmp_path / "token"
    short.write_text("abc\n")
    assert_one_line_error(run_gxr("serve", str(serve_repo), "--token-file", str(short)), "16 characters",
                          names=short)
    assert_one_line_error(run_gxr("serve", str(serve_repo), "--models", "gray,nope"), "nope", names=serve_repo)


class _Server:
    """`gxr serve` in a subprocess; waits for its 'serving ...' line."""

    def __init__(self, repo: Path, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "gxr", "serve", str(repo), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                                     env={**os.environ, "COLUMNS": "200"})
        for line in self.proc.stdout:
            if line.startswith("serving "):
                parts = line.split()
                self.url, self.grpc = parts[1], parts[3]
                break
        else:
            raise AssertionError(f"server did not start: {self.proc.wait(10)} {self.proc.stderr.read()}")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()   # keep the pipe drained

    def infer(self, pixels: np.ndarray) -> tuple[int, np.ndarray | str]:
        body, headers = raw_body(pixels, outputs=["probabilities"])
        req = urllib.request.Request(f"{self.url}/v2/models/gray/infer", body, headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, np.array(json.loads(r.read())["outputs"][0]["data"])
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as r:
            lines = [ln for ln in r.read().decode().splitlines() if ln.startswith(name + " ")]
        return float(lines[0].split()[1])


def test_sigterm_drains_and_kill_9_then_restart_gives_the_same_answers(serve_repo, exported):
    tritongrpc = pytest.importorskip("tritonclient.grpc")
    import gxr

    pixels = np.random.default_rng(2).integers(0, 256, (24, 1, 32, 32), dtype=np.uint8)
    expected = gxr.load(exported["gray"]).predict(list(pixels[:, 0]))
    snapshot = Snapshot(serve_repo, exported["gray"])
    http_port, grpc_port = _free_port(), _free_port()
    ports = ("--http-port", str(http_port), "--grpc-port", str(grpc_port))

    first = _Server(serve_repo, *ports)
    status, before = first.infer(pixels)
    assert status == 200 and np.max(np.abs(before - expected[:, 0])) <= 1e-6
    first.proc.send_signal(signal.SIGKILL)
    assert first.proc.wait(10) == -signal.SIGKILL

    # restarted on the same ports; requests would wait 60 s in the batch queue, so SIGTERM lands while all are in
    # flight, and the drain runs them at once
    second = _Server(serve_repo, *ports, "--max-queue-delay-ms", "60000", "--max-batch", "32")
    results: dict[int, object] = {}

    def http_client(i: int) -> None:
        results[i] = second.infer(pixels[i:i + 1])

    def grpc_client(i: int) -> None:
        client = tritongrpc.InferenceServerClient(second.grpc)
        tensor = tritongrpc.InferInput("pixels", [1, 1, 32, 32], "UINT8")
        tensor.set_data_from_numpy(pixels[i:i + 1])
        results[i] = (200, client.infer("gray", [tensor]).as_numpy("probabilities")[:, 0])

    threads = [threading.Thread(target=http_client if i % 2 else grpc_client, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    end = time.monotonic() + 20
    while second.metric("gxr_requests_in_flight") < 24 and time.monotonic() < end:
        time.sleep(0.05)
    assert second.metric("gxr_requests_in_flight") == 24
    second.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(30)
    assert second.proc.wait(30) == 0, second.proc.stderr.read()
    assert sorted(results) == list(range(24))
    for i, (status, probs) in results.items():   # the restarted server answers as the killed one did
        assert status == 200 and abs(float(np.asarray(probs).reshape(-1)[0]) - before[i]) <= 1e-6, (i, probs)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", http_port), timeout=2).close()
    snapshot.assert_unchanged()
