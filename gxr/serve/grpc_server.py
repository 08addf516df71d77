"""The Open Inference Protocol over gRPC: grpcio serving `inference.GRPCInferenceService` with the generated
classes shipped in tritonclient (`tritonclient.grpc.service_pb2[_grpc]`): the very proto Triton's clients
speak, and no protoc step. Tensors travel in `raw_input_contents` / `raw_output_contents` (what tritonclient
sends and reads) or in typed `contents`."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from gxr import __version__
from gxr.core.errors import GxrError
from gxr.serve.protocol import (
    BadRequest,
    InferRequest,
    InferResponse,
    check_name,
    check_version,
    join_bytes_elements,
    tensor_bytes,
    tensor_from_buffer,
    tensor_from_values,
)
from gxr.serve.rest import EXTENSIONS
from gxr.serve.service import Service, as_serve_error, refused

CONTENTS_FIELD = {"BOOL": "bool_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
                  "UINT32": "uint_contents", "UINT64": "uint64_contents", "INT8": "int_contents",
                  "INT16": "int_contents", "INT32": "int_contents", "INT64": "int64_contents",
                  "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}


def request_from_proto(req) -> InferRequest:
    """ModelInferRequest -> InferRequest (sizes, datatypes and shapes checked)."""
    raw = list(req.raw_input_contents)
    if raw and len(raw) != len(req.inputs):
        raise BadRequest(f"{len(raw)} raw_input_contents for {len(req.inputs)} inputs")
    inputs = []
    for i, t in enumerate(req.inputs):
        shape = list(t.shape)
        if raw:
            inputs.append(tensor_from_buffer(t.name, t.datatype, shape, raw[i], _params(t.parameters)))
            continue
        field = CONTENTS_FIELD.get(t.datatype)
        if field is None:
            raise BadRequest(f"input {t.name[:60]!r}: datatype {t.datatype[:20]!r} has no typed contents; send "
                             "raw_input_contents")
        values = list(getattr(t.contents, field))
        if t.datatype == "BYTES":
            inputs.append(tensor_from_buffer(t.name, "BYTES", shape, _join(values), _params(t.parameters)))
        else:
            inputs.append(tensor_from_values(t.name, t.datatype, shape, values, _params(t.parameters)))
    outputs = [o.name for o in req.outputs] or None
    return InferRequest(check_name(req.model_name), check_version(req.model_version), inputs, outputs,
                        req.id[:256], _params(req.parameters))


def _join(values: list[bytes]) -> bytes:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return join_bytes_elements(arr)


def _params(params) -> dict[str, Any]:
    out = {}
    for key, p in params.items():
        kind = p.WhichOneof("parameter_choice")
        out[key] = getattr(p, kind) if kind else None
    return out


def response_to_proto(response: InferResponse, pb):
    out = pb.ModelInferResponse(model_name=response.model, model_version=response.version, id=response.id)
    for t in response.outputs:
        o = out.outputs.add()
        o.name, o.datatype = t.name, t.datatype
        o.shape.extend(t.shape)
        out.raw_output_contents.append(tensor_bytes(t))
    return out


def build_server(service: Service, host: str, port: int, workers: int = 64):
    """A started-not grpc.Server bound to host:port -> (server, bound port); a port in use is a GxrError."""
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")   # gRPC core's own log lines: our errors say it in one line
    import grpc
    from tritonclient.grpc import service_pb2 as pb
    from tritonclient.grpc import service_pb2_grpc as pb_grpc

    limit = service.limits.max_request_bytes
    server = grpc.server(ThreadPoolExecutor(workers, thread_name_prefix="gxr-grpc"),
                         options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", limit),
                                  ("grpc.max_send_message_length", -1)])
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(_servicer(service, pb, pb_grpc, grpc), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise GxrError(f"{host}:{port}: cannot listen for gRPC (address in use or not available)")
    return server, bound


def _servicer(service: Service, pb, pb_grpc, grpc):

    def guarded(fn, open_endpoint: bool = False, counted: bool = False):
        def method(self, request, context):
            try:
                if not open_endpoint:
                    metadata = dict(context.invocation_metadata())
                    service.authorize(metadata.get("authorization"))
                return fn(request, context)
            except Exception as exc:
                error = refused(service, exc, request.model_name, request.model_version, "grpc") if counted else (
                    as_serve_error(exc))
                context.abort(getattr(grpc.StatusCode, error.grpc_code), str(error))
        return method

    def live(request, context):
        return pb.ServerLiveResponse(live=True)

    def ready(request, context):
        return pb.ServerReadyResponse(ready=service.repo.ready())

    def model_ready(request, context):
        try:
            service.repo.get(request.name, request.version)
        except GxrError as exc:
            if as_serve_error(exc).grpc_code == "UNAVAILABLE":
                return pb.ModelReadyResponse(ready=False)
            raise
        return pb.ModelReadyResponse(ready=True)

    def server_metadata(request, context):
        return pb.ServerMetadataResponse(name="gxr", version=__version__, extensions=EXTENSIONS)

    def model_metadata(request, context):
        served = service.repo.get(request.name, request.version)
        meta = served.metadata(service.repo.ready_versions(request.name))
        tm = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=meta.name, versions=meta.versions, platform=meta.platform,
            inputs=[tm(name=t.name, datatype=t.datatype, shape=t.shape) for t in meta.inputs],
            outputs=[tm(name=t.name, datatype=t.datatype, shape=t.shape) for t in meta.outputs])

    def model_config(request, context):
        from google.protobuf.json_format import ParseDict
        from tritonclient.grpc import model_config_pb2

        config = service.repo.get(request.name, request.version).config()
        return pb.ModelConfigResponse(config=ParseDict(config, model_config_pb2.ModelConfig()))

    def index(request, context):
        entry = pb.RepositoryIndexResponse.ModelIndex
        return pb.RepositoryIndexResponse(models=[entry(**s.to_dict()) for s in service.repo.index()
                                                  if not request.ready or s.state == "READY"])

    def infer(request, context):
        remaining = context.time_remaining()
        deadline = service.deadline(remaining if remaining is not None and remaining < 1e9 else None)
        return response_to_proto(service.infer(request_from_proto(request), "grpc", deadline), pb)

    methods = {"ServerLive": guarded(live, True), "ServerReady": guarded(ready, True),
               "ModelReady": guarded(model_ready), "ServerMetadata": guarded(server_metadata),
               "ModelMetadata": guarded(model_metadata), "ModelConfig": guarded(model_config),
               "RepositoryIndex": guarded(index),
               "ModelInfer": guarded(infer, counted=True)}
    return type("GxrInferenceService", (pb_grpc.GRPCInferenceServiceServicer,), methods)()
