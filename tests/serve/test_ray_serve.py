"""`gxr serve --ray --replicas 2` on a local Ray instance answers exactly as `gxr serve` does.

Both servers run as real `gxr serve` processes. Ray rewrites a 127.0.0.1 node address to the machine's own IP and
its internal gRPC services listen on every interface, so where a private network namespace can be made (`unshare
-n`, root) the whole check runs inside one that has only a loopback interface: nothing leaves 127.0.0.1. This file
is also the script that runs inside it (`python -m tests.serve.test_ray_serve REPO MODEL OUT.json`)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO, expect_cli_error

CANNOT_START = "cannot start a local Ray instance"


def _free_port() -> int:
    from gxr.bench.serve import free_port

    return free_port()


def _start(*args: str, log: Path) -> subprocess.Popen:
    with open(log, "wb") as sink:
        return subprocess.Popen([sys.executable, "-m", "gxr", "serve", *args], stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=REPO, env={**os.environ, "COLUMNS": "200"})


def _wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout} s: {log.read_text(errors='replace')[-2000:]}")


def _infer(url: str, model: str, body: dict) -> tuple[list[float], str, int]:
    """One OIP v2 JSON infer request: the probabilities, the replica that answered and the images in its Ray batch
    (Ray only)."""
    request = urllib.request.Request(f"{url}/v2/models/{model}/infer", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        doc = json.loads(response.read())
        replica, batch = response.headers.get("x-gxr-replica", ""), int(response.headers.get("x-gxr-ray-batch", 0))
    out = next(o for o in doc["outputs"] if o["name"] == "probabilities")
    return out["data"], replica, batch


def _requests(spec: str) -> list[dict]:
    """Real PneumoniaMNIST test images as JSON uint8 tensors, 1, 3 and 12 per request."""
    from gxr.core.preprocess import to_model_pixels
    from gxr.data import open_source

    split = open_source(spec).split("test")
    pixels = [to_model_pixels(split.images.open(i), 1, 32) for i in range(12)]
    bodies = []
    for start, n in ((0, 1), (1, 3), (4, 1), (5, 3), (0, 12)):   # 12 > --max-batch 8: a runner call of its own
        batch = np.stack(pixels[start:start + n])
        bodies.append({"inputs": [{"name": "pixels", "datatype": "UINT8", "shape": list(batch.shape),
                                   "data": batch.reshape(-1).tolist()}]})
    return bodies


def _encoded(url: str, model: str, pngs: list[bytes]) -> list[float]:
    """PNG files through tritonclient.http, unmodified (binary BYTES input)."""
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url.removeprefix("http://"))
    tensor = httpclient.InferInput("images", [len(pngs)], "BYTES")
    tensor.set_data_from_numpy(np.array(pngs, dtype=np.object_))
    result = client.infer(model, [tensor], outputs=[httpclient.InferRequestedOutput("probabilities")])
    client.close()
    return result.as_numpy("probabilities").reshape(-1).tolist()


def check(repo: Path, model: str, spec: str, out: Path) -> None:
    """Start both servers, send the same requests to each, write what they answered to `out`."""
    logs = out.parent
    ports = {"gxr": _free_port(), "ray": _free_port()}
    servers = {"gxr": _start(str(repo), "--models", model, "--http-port", str(ports["gxr"]), "--grpc-port", "-1",
                             log=logs / "gxr.log"),
               "ray": _start(str(repo), "--models", model, "--ray", "--replicas", "2", "--max-batch", "8",
                             "--max-queue-delay-ms", "50", "--http-port", str(ports["ray"]), log=logs / "ray.log")}
    urls = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    result: dict = {}
    try:
        start = time.monotonic()
        for key in ("gxr", "ray"):
            _wait_ready(urls[key], servers[key], logs / f"{key}.log")
        result["ray_ready_s"] = time.monotonic() - start
        bodies = _requests(spec)
        from gxr.data import open_source

        split = open_source(spec).split("test")
        pngs = []
        for i in range(4):
            buffer = io.BytesIO()
            split.images.open(10 + i).save(buffer, format="PNG")
            pngs.append(buffer.getvalue())
        result["sequential"] = {k: [_infer(urls[k], model, b)[0] for b in bodies] + [_encoded(urls[k], model, pngs)]
                                for k in urls}
        with ThreadPoolExecutor(8) as pool:   # a burst: Ray routes it over both replicas and batches it
            burst = list(pool.map(lambda k: _infer(urls["ray"], model, bodies[k % len(bodies)]), range(24)))
        result["burst"] = [{"body": k % len(bodies), "probabilities": p, "replica": r, "batch": b}
                           for k, (p, r, b) in enumerate(burst)]
    except RuntimeError as exc:
        result["error"] = str(exc)
    finally:
        for key, process in servers.items():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                result[f"{key}_exit"] = process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                result[f"{key}_exit"] = "killed"
        result["ray_log_tail"] = (logs / "ray.log").read_text(errors="replace")[-1500:]
    out.write_text(json.dumps(result))


def _isolated(command: list[str]) -> list[str]:
    """`command` in a private network namespace with only loopback, where one can be made here."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n", "sh", "-c", 'ip link set lo up 2>/dev/null || true; exec "$@"', "sh", *command]
    return command


def test_ray_options_are_checked_before_ray_starts(exported):
    repo = str(exported["gray"].parent.parent)
    expect_cli_error("serve", repo, "--ray", "--replicas", "0", names=None, needles=["--replicas 0"])
    expect_cli_error("serve", repo, "--ray", "--http-port", "0", names=None, needles=["--http-port 0", "fixed port"])


def test_two_ray_replicas_answer_exactly_as_gxr_serve(tmp_path, exported, pneumonia_spec):
    import importlib.util

    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.serve") is None:
        pytest.skip("Ray cannot start here: ray[serve] is not installed (pip install 'gxr[ray]')")
    out = tmp_path / "ray.json"
    command = [sys.executable, "-m", "tests.serve.test_ray_serve", str(exported["gray"].parent.parent), "gray",
               pneumonia_spec, str(out)]
    done = subprocess.run(_isolated(command), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and out.exists(), done.stderr[-3000:]
    result = json.loads(out.read_text())
    if "error" in result and CANNOT_START in result["error"]:
        pytest.skip(f"Ray cannot start here: {result['error'][-300:]}")
    assert "error" not in result, result["error"]
    assert result["gxr_exit"] == 0 and result["ray_exit"] == 0, result["ray_log_tail"]
    gxr_answers, ray_answers = result["sequential"]["gxr"], result["sequential"]["ray"]
    assert [len(a) for a in gxr_answers] == [1, 3, 1, 3, 12, 4]
    assert ray_answers == gxr_answers       # one request at a time: the same batches, bit for bit the same numbers
    replicas = {b["replica"] for b in result["burst"]}
    assert len(replicas) == 2, replicas     # both replicas answered
    small = [b["batch"] for b in result["burst"] if len(gxr_answers[b["body"]]) <= 8]
    assert 3 < max(small) <= 8, small       # Ray's @serve.batch put several requests in one batch, at most --max-batch
    assert {b["batch"] for b in result["burst"] if len(gxr_answers[b["body"]]) > 8} == {12}   # run on their own
    for b in result["burst"]:                # batched with other requests by Ray: the same within float rounding
        assert np.max(np.abs(np.subtract(b["probabilities"], gxr_answers[b["body"]]))) <= 1e-6


if __name__ == "__main__":
    check(Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4]))
