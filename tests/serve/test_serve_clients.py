"""Must-show 1: Triton's own clients, unmodified (`tritonclient.http`, `tritonclient.grpc`), get from `gxr serve`
the probabilities `gxr.load(...).predict` gives for the same images: PNG and DICOM files (BYTES input, decoded by
the server with the model's recorded preprocessing) and raw uint8 tensors (the graph's own input)."""

from __future__ import annotations

import numpy as np
import pytest

import gxr
from tests.serve.conftest import TOKEN

tritonhttp = pytest.importorskip("tritonclient.http")
tritongrpc = pytest.importorskip("tritonclient.grpc")


def _clients(info):
    # gRPC metadata keys are lower case; each client its own dict (tritonclient.http adds its headers to it)
    return [(tritonhttp, tritonhttp.InferenceServerClient(info.http_url.removeprefix("http://")),
             {"Authorization": f"Bearer {TOKEN}"}),
            (tritongrpc, tritongrpc.InferenceServerClient(info.grpc_address), {"authorization": f"Bearer {TOKEN}"})]


def _infer(module, client, headers, model: str, name: str, datatype: str, data: np.ndarray) -> np.ndarray:
    tensor = module.InferInput(name, list(data.shape), datatype)
    tensor.set_data_from_numpy(data)
    result = client.infer(model, [tensor], headers=headers)
    probs = result.as_numpy("probabilities")
    assert probs.dtype == np.float64 and result.as_numpy("logits").dtype == np.float32
    return probs


@pytest.mark.parametrize("model", ["gray", "color"])
def test_triton_clients_get_the_probabilities_of_predict(server, exported, xray_images, model):
    local = gxr.load(exported[model])
    channels = local.info.channels
    arrays = [a if channels == 1 else np.repeat(a[:, :, None], 3, axis=2) for a in xray_images["array"]]
    pixels = np.stack([a[None] if channels == 1 else a.transpose(2, 0, 1) for a in arrays])   # N x C x 32 x 32
    cases = {"png": ("images", "BYTES", np.array(xray_images["png"], dtype=object), local.predict(xray_images["png"])),
             "dicom": ("images", "BYTES", np.array(xray_images["dicom"], dtype=object),
                       local.predict(xray_images["dicom"])),
             "raw uint8": ("pixels", "UINT8", pixels, local.predict(arrays))}
    for module, client, headers in _clients(server):
        assert client.is_server_live() and client.is_model_ready(model, headers=headers)
        for kind, (name, datatype, data, expected) in cases.items():
            got = _infer(module, client, headers, model, name, datatype, data)
            assert got.shape == expected.shape == (6, 1), kind
            assert np.max(np.abs(got - expected)) <= 1e-6, (module.__name__, kind, got, expected)
            single = _infer(module, client, headers, model, name, datatype, data[2:3])   # batched differently
            assert np.max(np.abs(single - expected[2:3])) <= 1e-6, (module.__name__, kind)
        client.close()
    local.close()


def test_triton_clients_read_metadata_and_the_failed_version(server):
    for module, client, headers in _clients(server):
        as_json = {"as_json": True} if module is tritongrpc else {}   # gRPC answers protobuf messages otherwise
        meta = client.get_model_metadata("gray", headers=headers, **as_json)
        assert meta["versions"] == ["1"] and meta["platform"] == "onnxruntime_onnx"
        assert [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in meta["inputs"]] == [
            ("pixels", "UINT8", [-1, 1, 32, 32]), ("images", "BYTES", [-1])]
        assert [t["name"] for t in meta["outputs"]] == ["logits", "probabilities", "errors"]
        config = client.get_model_config("gray", headers=headers, **as_json)
        config = config if "config" not in config else config["config"]   # gRPC wraps it
        assert config["max_batch_size"] == 32 and config["input"][0]["data_type"] == "TYPE_UINT8"
        assert [int(d) for d in config["input"][0]["dims"]] == [1, 32, 32]
        assert "max_queue_delay_microseconds" in config["dynamic_batching"]
        assert client.is_model_ready("gray", "1", headers=headers)
        assert not client.is_model_ready("gray", "2", headers=headers)
        index = client.get_model_repository_index(headers=headers)
        index = index if isinstance(index, list) else [_grpc_dict(m) for m in index.models]
        states = {(m["name"], m["version"]): (m["state"], m.get("reason", "")) for m in index}
        assert states[("gray", "1")] == ("READY", "") and states[("color", "1")] == ("READY", "")
        state, reason = states[("gray", "2")]
        assert state == "UNAVAILABLE" and "model.onnx" in reason and "\n" not in reason
        with pytest.raises(module.InferenceServerException, match="version 2 is not available"):
            tensor = module.InferInput("pixels", [1, 1, 32, 32], "UINT8")
            tensor.set_data_from_numpy(np.zeros((1, 1, 32, 32), np.uint8))
            client.infer("gray", [tensor], model_version="2", headers=headers)
        client.close()


def _grpc_dict(message) -> dict:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(message, preserving_proto_field_name=True)


def test_json_tensors_and_typed_grpc_contents_give_the_same_answers(server, exported):
    """The protocol's other encodings: JSON data over REST and typed `contents` over gRPC (tritonclient sends
    binary data and raw_input_contents)."""
    import json

    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    from tests.serve.conftest import post

    pixels = np.random.default_rng(3).integers(0, 256, (3, 1, 32, 32), dtype=np.uint8)
    expected = gxr.load(exported["gray"]).predict(list(pixels[:, 0]))
    body = json.dumps({"id": "r1", "inputs": [{"name": "pixels", "datatype": "UINT8", "shape": [3, 1, 32, 32],
                                              "data": pixels.tolist()}]}).encode()
    status, _, payload = post(server.http_url, "/v2/models/gray/versions/1/infer", body)
    answer = json.loads(payload)
    assert status == 200 and answer["id"] == "r1" and answer["model_version"] == "1"
    probs = {o["name"]: o for o in answer["outputs"]}["probabilities"]
    assert probs["shape"] == [3, 1] and np.max(np.abs(np.array(probs["data"]) - expected[:, 0])) <= 1e-6

    request = service_pb2.ModelInferRequest(model_name="gray")
    tensor = request.inputs.add(name="pixels", datatype="UINT8", shape=[3, 1, 32, 32])
    tensor.contents.uint_contents.extend(pixels.reshape(-1).tolist())
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        reply = stub.ModelInfer(request, metadata=[("authorization", f"Bearer {TOKEN}")])
    names = [o.name for o in reply.outputs]
    got = np.frombuffer(reply.raw_output_contents[names.index("probabilities")], np.float64)
    assert np.max(np.abs(got - expected[:, 0])) <= 1e-6
