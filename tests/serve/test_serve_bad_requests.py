"""The issue's bad input and faults, each answered with a 4xx (or a gRPC status) and a one-line message naming the
problem, never a traceback; a good request right after still succeeds."""

from __future__ import annotations

import json
import socket
import struct
import time

import numpy as np
import pytest

from tests.helpers import bomb_png
from tests.serve.conftest import TOKEN, get, host_port, post, raw_body

GOOD = np.arange(32 * 32, dtype=np.uint8).reshape(1, 1, 32, 32)


def _bytes_body(*items: bytes) -> tuple[bytes, dict]:
    blob = b"".join(struct.pack("<I", len(b)) + b for b in items)
    head = json.dumps({"inputs": [{"name": "images", "datatype": "BYTES", "shape": [len(items)],
                                   "parameters": {"binary_data_size": len(blob)}}]}).encode()
    return head + blob, {"Inference-Header-Content-Length": str(len(head))}


def _json_body(**tensor) -> bytes:
    base = {"name": "pixels", "datatype": "UINT8", "shape": [1, 1, 32, 32], "data": GOOD.reshape(-1).tolist()}
    return json.dumps({"inputs": [{**base, **tensor}]}).encode()


def _corrupt_dicom(xray_images) -> bytes:
    data = bytearray(xray_images["dicom"][0])
    return bytes(data[: len(data) - 1500])   # pixel data cut short


def _cases(xray_images) -> dict[str, tuple]:
    """name -> (path, body, headers, expected status, words the message must contain)."""
    infer = "/v2/models/gray/infer"
    truncated_png = xray_images["png"][0][:60]
    return {
        "malformed JSON": (infer, b'{"inputs": [', {}, 400, ["not valid JSON"]),
        "wrong datatype": (infer, _json_body(datatype="FP32", data=[0.5] * 1024), {}, 400, ["FP32", "UINT8"]),
        "wrong shape": (infer, _json_body(shape=[1, 1, 16, 64]), {}, 400, ["16 x 64", "32 x 32"]),
        "wrong channel count": (infer, _json_body(shape=[1, 3, 32, 32], data=[0] * 3072), {}, 400,
                                ["3 channels", "takes 1"]),
        "data not matching the shape": (infer, _json_body(shape=[2, 1, 32, 32]), {}, 400, ["1024 values", "2048"]),
        "value out of range": (infer, _json_body(data=[300] * 1024), {}, 400, ["outside the UINT8 range"]),
        "missing input": (infer, b'{"inputs": []}', {}, 400, ["missing input", "'pixels'", "'images'"]),
        "unknown input": (infer, _json_body(name="pixel"), {}, 400, ["unknown input 'pixel'"]),
        "unknown output": (infer, json.dumps({"inputs": json.loads(_json_body())["inputs"],
                                              "outputs": [{"name": "scores"}]}).encode(), {}, 400,
                           ["unknown output 'scores'"]),
        "truncated image": (infer, *_bytes_body(truncated_png), 400, ["images[0]", "truncated"]),
        "non-image bytes": (infer, *_bytes_body(b"GIF89a but not really"), 400, ["images[0]"]),
        "decompression bomb": (infer, *_bytes_body(bomb_png(50000, 50000)), 400, ["images[0]", "over gxr's limit"]),
        "corrupt DICOM": (infer, *_bytes_body(_corrupt_dicom(xray_images)), 400, ["images[0]"]),
        "second image bad": (infer, *_bytes_body(xray_images["png"][0], b"junk"), 400, ["images[1]"]),
        "binary size mismatch": (infer, raw_body(GOOD)[0][:-10], raw_body(GOOD)[1], 400, ["1014 bytes", "1024"]),
        "unknown model": ("/v2/models/grey/infer", _json_body(), {}, 404, ["unknown model 'grey'", "gray"]),
        "unknown version": ("/v2/models/gray/versions/7/infer", _json_body(), {}, 404, ["no version 7"]),
        "failed version": ("/v2/models/gray/versions/2/infer", _json_body(), {}, 503, ["failed to load"]),
        "bad version": ("/v2/models/gray/versions/01x/infer", _json_body(), {}, 400, ["not a valid version"]),
        "path traversal": ("/v2/models/..%2F..%2Fetc/infer", _json_body(), {}, 404, ["no such endpoint"]),
        "dotted name": ("/v2/models/..gray/infer", _json_body(), {}, 400, ["not a valid model name"]),
        "body over the limit": (infer, b"x" * ((1 << 20) + 1), {}, 413, ["over the 1048576-byte limit"]),
        "no token": (infer, _json_body(), {"Authorization": ""}, 401, ["bearer token"]),
        "wrong token": (infer, _json_body(), {"Authorization": "Bearer " + "x" * len(TOKEN)}, 401, ["bearer token"]),
        "bad errors parameter": (infer, json.dumps({"inputs": json.loads(_json_body())["inputs"],
                                                    "parameters": {"errors": "ignore"}}).encode(), {}, 400,
                                 ["errors='ignore'"]),
    }


def _assert_good(server) -> None:
    body, headers = raw_body(GOOD)
    status, _, payload = post(server.http_url, "/v2/models/gray/infer", body, headers)
    assert status == 200, payload
    outputs = json.loads(payload)["outputs"]   # JSON outputs: the request asked for no binary data
    assert [o["name"] for o in outputs] == ["logits", "probabilities"] and len(outputs[1]["data"]) == 1


def test_every_bad_request_gets_a_one_line_4xx_and_the_next_good_one_succeeds(server, xray_images):
    wrong = []
    for case, (path, body, headers, status, needles) in _cases(xray_images).items():
        got, _, payload = post(server.http_url, path, body, headers)
        message = json.loads(payload.decode())["error"]
        if got != status or "\n" in message or "Traceback" in message or not all(n in message for n in needles):
            wrong.append((case, got, message))
        _assert_good(server)
    assert wrong == []


def test_skip_policy_answers_the_readable_images_and_says_why_the_others_failed(server, xray_images):
    body, headers = _bytes_body(xray_images["png"][0], b"junk", xray_images["png"][1])
    head = json.loads(body[:int(headers["Inference-Header-Content-Length"])])
    head["parameters"] = {"errors": "skip"}
    head["outputs"] = [{"name": "probabilities", "parameters": {"binary_data": False}},
                       {"name": "errors", "parameters": {"binary_data": False}}]
    new_head = json.dumps(head).encode()
    blob = body[int(headers["Inference-Header-Content-Length"]):]
    status, _, payload = post(server.http_url, "/v2/models/gray/infer", new_head + blob,
                              {"Inference-Header-Content-Length": str(len(new_head))})
    assert status == 200, payload
    outputs = {o["name"]: o for o in json.loads(payload)["outputs"]}
    probs, errors = outputs["probabilities"]["data"], outputs["errors"]["data"]
    assert probs[1] is None and all(isinstance(probs[i], float) for i in (0, 2))   # NaN row -> null in JSON
    assert errors[0] == errors[2] == "" and errors[1].startswith("images[1]: ")


def test_grpc_refusals_carry_a_status_and_one_line(server, xray_images):
    tritongrpc = pytest.importorskip("tritonclient.grpc")
    client = tritongrpc.InferenceServerClient(server.grpc_address)
    headers = {"authorization": f"Bearer {TOKEN}"}

    def infer(model, name, datatype, data, version="", use_headers=headers):
        tensor = tritongrpc.InferInput(name, list(data.shape), datatype)
        tensor.set_data_from_numpy(data)
        return client.infer(model, [tensor], model_version=version, headers=use_headers)

    cases = [
        (("gray", "pixels", "INT32", GOOD.astype(np.int32)), "INVALID_ARGUMENT", "datatype INT32"),
        (("gray", "pixels", "UINT8", GOOD[:, :, :16]), "INVALID_ARGUMENT", "16 x 32"),
        (("gray", "images", "BYTES", np.array([b"junk"], dtype=object)), "INVALID_ARGUMENT", "images[0]"),
        (("grey", "pixels", "UINT8", GOOD), "NOT_FOUND", "unknown model 'grey'"),
        (("gray", "pixels", "UINT8", GOOD, "2"), "UNAVAILABLE", "failed to load"),
        (("gray", "pixels", "UINT8", np.zeros((5, 1, 512, 512), np.uint8)), "RESOURCE_EXHAUSTED", "larger than max"),
        (("gray", "pixels", "UINT8", GOOD, "", {}), "UNAUTHENTICATED", "bearer token"),
    ]
    for args, code, needle in cases:
        with pytest.raises(tritongrpc.InferenceServerException) as caught:
            infer(*args)
        assert caught.value.status() == f"StatusCode.{code}", (args[:3], caught.value)
        message = caught.value.message()
        assert needle in message and "\n" not in message and "Traceback" not in message, message
        assert infer("gray", "pixels", "UINT8", GOOD).as_numpy("probabilities").shape == (1, 1)
    client.close()


def test_a_client_that_disconnects_mid_request_costs_nothing(server):
    body, headers = raw_body(GOOD)
    head = (f"POST /v2/models/gray/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Inference-Header-Content-Length: {headers['Inference-Header-Content-Length']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    for cut in (len(head) // 2, len(head) + 10, len(head) + len(body)):   # in the headers, the body, after it
        with socket.create_connection(host_port(server.http_url), timeout=5) as sock:
            sock.sendall((head + body)[:cut])
        _assert_good(server)
    time.sleep(0.2)   # the abandoned full request has run by now; the server still answers
    _assert_good(server)


def test_the_body_limit_is_checked_before_the_body_is_read(server):
    with socket.create_connection(host_port(server.http_url), timeout=5) as sock:
        sock.sendall(f"POST /v2/models/gray/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                     f"Content-Length: {1 << 30}\r\n\r\n".encode())   # announces 1 GiB, sends none of it
        reply = b""
        while b"}" not in reply:        # the header and the JSON body may come in two segments
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413") and "1073741824 bytes is over" in reply, reply
    _assert_good(server)


def test_health_is_open_and_everything_else_needs_the_token(server):
    assert get(server.http_url, "/v2/health/live", {"Authorization": ""})[0] == 200
    assert get(server.http_url, "/v2/health/ready", {"Authorization": ""})[0] == 200
    for path in ("/v2", "/v2/models/gray", "/metrics"):
        status, _, payload = get(server.http_url, path, {"Authorization": ""})
        assert status == 401 and "bearer token" in json.loads(payload)["error"], path
        assert get(server.http_url, path)[0] == 200, path


def test_a_client_that_stalls_mid_body_gets_504_after_the_timeout(serve_repo):
    """--timeout-s covers reading the body: a slow sender cannot hold a request open for ever."""
    import threading

    from gxr.serve.server import GxrServer, ServeOptions
    from gxr.serve.service import Limits

    srv = GxrServer(ServeOptions(serve_repo, http_port=0, grpc_port=-1, models=["color"],
                                 limits=Limits(timeout_s=1.0)))
    info = srv.start()
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        start = time.monotonic()
        with socket.create_connection(host_port(info.http_url), timeout=10) as sock:
            sock.sendall(b"POST /v2/models/color/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"in")
            reply = sock.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 504") and 1.0 <= time.monotonic() - start < 5, reply
        body, headers = raw_body(np.zeros((1, 3, 32, 32), np.uint8))
        status, _, _ = post(info.http_url, "/v2/models/color/infer", body, headers)
        assert status == 200
    finally:
        srv.stop()
        thread.join(30)
