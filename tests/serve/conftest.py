"""A served repository (the session's tiny gray and color exports, plus a gray version 2 whose model.onnx is
damaged so that it fails to load) and an in-process `gxr serve` on free loopback ports, with a bearer token."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("uvicorn", reason="gxr serve needs the [serve] extra")
pytest.importorskip("grpc", reason="gxr serve needs the [serve] extra")

TOKEN = "s3cret-token-for-the-tests-0123456789"


@pytest.fixture(scope="session")
def serve_repo(tmp_path_factory, exported) -> Path:
    """models/{gray/1, gray/2 (damaged: fails its sha256 check), color/1}; version 1s are links to the exports."""
    repo = tmp_path_factory.mktemp("serve-models")
    for key, version_dir in exported.items():
        (repo / key).mkdir()
        (repo / key / "1").symlink_to(version_dir, target_is_directory=True)
    broken = repo / "gray" / "2"
    broken.mkdir()
    manifest = json.loads((exported["gray"] / "manifest.json").read_text())
    manifest["version"] = 2
    (broken / "manifest.json").write_text(json.dumps(manifest))
    (broken / "model.onnx").write_bytes(b"not an onnx graph")
    return repo


@pytest.fixture(scope="session")
def token_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("token") / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture(scope="session")
def server(serve_repo, token_file):
    """An in-process server (HTTP and gRPC on free ports) for the session; yields its ServerInfo."""
    from gxr.serve.models import LoadOptions
    from gxr.serve.server import GxrServer, ServeOptions
    from gxr.serve.service import Limits

    options = ServeOptions(serve_repo, http_port=0, grpc_port=0, token_file=token_file,
                           load=LoadOptions(decode_workers=2), limits=Limits(max_request_bytes=1 << 20, timeout_s=20))
    srv = GxrServer(options)
    info = srv.start()
    thread = threading.Thread(target=srv.run, name="gxr-serve-test", daemon=True)
    thread.start()
    wait_ready(info.http_url)
    yield info
    srv.stop()
    thread.join(30)
    assert not thread.is_alive()


def wait_ready(url: str, timeout: float = 20.0) -> None:
    import time
    import urllib.request

    end = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > end:
                raise
        time.sleep(0.05)


@pytest.fixture(scope="session")
def xray_images(pneumonia_spec) -> dict[str, list]:
    """Six real PneumoniaMNIST test X-rays as PNG files (45 px), as 12-bit DICOM files, and as 32 x 32 arrays."""
    from gxr.data import open_source
    from tests.core.dicom_files import dicom_dataset

    split = open_source(pneumonia_spec).split("test")
    pngs, dicoms, arrays = [], [], []
    for i in range(6):
        img = split.images.open(i)
        buf = io.BytesIO()
        img.resize((45, 45)).save(buf, "PNG")
        pngs.append(buf.getvalue())
        ds = dicom_dataset(np.asarray(img.convert("L"), np.uint16) * 16 + i, bits_stored=12)
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        dicoms.append(buf.getvalue())
        arrays.append(np.asarray(img.convert("L").resize((32, 32))))
    return {"png": pngs, "dicom": dicoms, "array": arrays}


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def post(url: str, path: str, body: bytes, headers: dict | None = None, timeout: float = 20):
    """POST with http.client: (status, headers, body)."""
    import http.client

    conn = http.client.HTTPConnection(*host_port(url), timeout=timeout)
    try:
        conn.request("POST", path, body, {**auth(), **(headers or {})})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def get(url: str, path: str, headers: dict | None = None):
    import http.client

    conn = http.client.HTTPConnection(*host_port(url), timeout=20)
    try:
        conn.request("GET", path, headers={**auth(), **(headers or {})})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def raw_body(pixels: np.ndarray, name: str = "pixels", outputs: list[str] | None = None) -> tuple[bytes, dict]:
    """Triton's binary tensor extension: JSON header, then the UINT8 bytes (what tritonclient.http sends)."""
    head = {"inputs": [{"name": name, "datatype": "UINT8", "shape": list(pixels.shape),
                        "parameters": {"binary_data_size": pixels.nbytes}}]}
    if outputs:
        head["outputs"] = [{"name": o} for o in outputs]
    head_bytes = json.dumps(head).encode()
    return head_bytes + pixels.tobytes(), {"Inference-Header-Content-Length": str(len(head_bytes))}
