"""One contract for every runner (torch, onnxruntime, openvino, tensorrt), enforced once in the base class:
metadata only while active, and every feed checked against it (names, dtype, rank, static dimensions) with a
one-line GxrError naming the runner's file; runners take a loaded object or a loader and behave the same.

All four run one function: logits = mean over channels of the uint8 pixels, flattened, times W. TensorRT is
not installable here, so its case runs the real TrtRunner on a fake engine (the TensorRT 10 tensor-name API)
and a fake cudart whose "device" memory is host memory: the copies, addresses and shapes are the runner's."""

from __future__ import annotations

import ctypes
import enum
import types

import numpy as np
import pytest

from gxr.core.errors import GxrError

SIZE, OUTPUTS = 8, 2
W = np.random.default_rng(0).normal(size=(SIZE * SIZE, OUTPUTS)).astype(np.float32)
BACKENDS = ["torch", "onnxruntime", "openvino", "tensorrt"]
LOADED_FROM = ["ready", "loader"]


def expected(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32).mean(axis=1).reshape(len(pixels), -1) @ W


def pixels(channels: int, dtype=np.uint8, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(channels).integers(0, 256, (batch, channels, SIZE, SIZE)).astype(dtype)


# ---- the model four ways -------------------------------------------------------------------------
def onnx_file(tmp_path, channels: int):
    """uint8 "pixels" (batch, C, 8, 8) -> float32 "logits"; C is the dynamic axis "channels" for color."""
    import onnx
    from onnx import TensorProto, helper

    dims = ["batch", 1 if channels == 1 else "channels", SIZE, SIZE]
    nodes = [helper.make_node("Cast", ["pixels"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["f"], ["m"], axes=[1], keepdims=0),
             helper.make_node("Flatten", ["m"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "w"], ["logits"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("pixels", TensorProto.UINT8, dims)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", OUTPUTS])],
                              [helper.make_tensor("w", TensorProto.FLOAT, W.shape, W.ravel())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / f"tiny{channels}.onnx"
    onnx.save(model, str(path))
    return path


def torch_runner(channels: int):
    import torch

    from gxr.backends.torch_runner import TorchOptions, TorchRunner
    from gxr.core.normalization import Normalization

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.from_numpy(W))

        def forward(self, x):
            return x.mean(dim=1).flatten(1) @ self.w

    norm = Normalization((0.0,) * channels, (1 / 255,) * channels)   # the network sees the raw pixel values
    return TorchRunner(Tiny(), channels, SIZE, OUTPUTS, norm, options=TorchOptions(pixels=True), name="tiny.pt")


class _Mode(enum.Enum):        # the members of trt.TensorIOMode / trt.DataType that the engine reports
    INPUT = 1
    OUTPUT = 2


class _DataType(enum.Enum):
    FLOAT = 0
    UINT8 = 5


class FakeEngine:
    """A deserialized engine as TensorRT 10 presents it; its context computes `expected` between the
    addresses the runner set."""

    def __init__(self, channels: int):
        self.shapes = {"pixels": (-1, channels if channels == 1 else -1, SIZE, SIZE), "logits": (-1, OUTPUTS)}
        self.num_io_tensors = 2

    def get_tensor_name(self, index: int) -> str:
        return ["pixels", "logits"][index]

    def get_tensor_mode(self, name: str) -> _Mode:
        return _Mode.INPUT if name == "pixels" else _Mode.OUTPUT

    def get_tensor_dtype(self, name: str) -> _DataType:
        return _DataType.UINT8 if name == "pixels" else _DataType.FLOAT

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self.shapes[name]

    def create_execution_context(self):
        return FakeContext()


class FakeContext:
    def __init__(self):
        self.shape, self.address = None, {}

    def set_input_shape(self, name, shape):
        self.shape = tuple(shape)

    def get_tensor_shape(self, name):
        return (self.shape[0], OUTPUTS) if name == "logits" else self.shape

    def set_tensor_address(self, name, ptr):
        self.address[name] = ptr

    def execute_async_v3(self, stream) -> bool:
        count = int(np.prod(self.shape))
        src = np.ctypeslib.as_array((ctypes.c_uint8 * count).from_address(self.address["pixels"]))
        out = np.ctypeslib.as_array((ctypes.c_float * (self.shape[0] * OUTPUTS)).from_address(self.address["logits"]))
        out[:] = expected(src.reshape(self.shape)).ravel()
        return True


def fake_cudart():
    """cuda-python's runtime calls the runner makes, on host memory: (error, value) tuples as cudart returns."""
    memory: dict[int, ctypes.Array] = {}

    def malloc(nbytes):
        buffer = ctypes.create_string_buffer(nbytes)
        memory[ctypes.addressof(buffer)] = buffer
        return 0, ctypes.addressof(buffer)

    return types.SimpleNamespace(
        cudaStreamCreate=lambda: (0, 1), cudaStreamSynchronize=lambda s: (0,), cudaStreamDestroy=lambda s: (0,),
        cudaMalloc=malloc, cudaFree=lambda ptr: (0,) if memory.pop(ptr, None) is not None else (1,),
        cudaMemcpyAsync=lambda dst, src, n, kind, stream: (ctypes.memmove(dst, src, n) and 0,),
        cudaMemcpyKind=types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2))


@pytest.fixture
def make_runner(tmp_path, monkeypatch):
    """make_runner(backend, channels, loaded_from) -> (an inactive runner, the name its errors start with)."""

    def make(backend: str, channels: int = 1, loaded_from: str = "ready"):
        def source(load):   # the loaded object, or a loader returning it
            return load() if loaded_from == "ready" else load

        if backend == "torch":
            pytest.importorskip("torch")
            return torch_runner(channels), "tiny.pt"
        if backend == "tensorrt":
            from gxr.backends.trt_runner import TrtRunner

            monkeypatch.setattr("gxr.backends.trt_runner._cudart", fake_cudart)
            return TrtRunner(source(lambda: FakeEngine(channels)), name="tiny.plan"), "tiny.plan"
        path = onnx_file(tmp_path, channels)
        if backend == "onnxruntime":
            from gxr.backends.ort_runner import OrtRunner, ort_session_loader

            return OrtRunner(source(ort_session_loader(path)), name=str(path)), str(path)
        pytest.importorskip("openvino")
        from gxr.backends.ov_runner import OpenVinoRunner, ov_model_loader

        return OpenVinoRunner(source(ov_model_loader(path)), name=str(path)), str(path)

    return make


def one_line_error(call, *needles: str) -> str:
    with pytest.raises(GxrError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and all(n in message for n in needles), message
    return message


# ---- the contract --------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_channels_and_wrong_dtype_are_one_line_errors_naming_the_file(make_runner, backend):
    runner, name = make_runner(backend)
    with runner:
        message = one_line_error(lambda: runner.infer({"pixels": pixels(3)}))
        assert message == f"{name}: input 'pixels' has 3 channels (shape (2, 3, {SIZE}, {SIZE})), expected 1"
        message = one_line_error(lambda: runner.infer({"pixels": pixels(1, np.float32)}))
        assert message == f"{name}: input 'pixels' has dtype float32, expected uint8"
        one_line_error(lambda: runner.infer({"pixels": pixels(1)[0]}), f"{name}: input 'pixels' has 3 dimensions")
        one_line_error(lambda: runner.infer({"pixels": pixels(1)[..., :4]}), "size 4 on axis 3", "expected 8")
        one_line_error(lambda: runner.infer({"input": pixels(1)}), f"{name}: unknown input 'input'")
        one_line_error(lambda: runner.infer({}), f"{name}: missing input 'pixels'")
        out = runner.infer({"pixels": pixels(1)})["logits"]
        np.testing.assert_allclose(out, expected(pixels(1)), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_color_uint8_takes_one_or_three_channels(make_runner, backend):
    """The channel axis of a uint8 color model is dynamic ("channels"): the check lets 1 and 3 through."""
    runner, _ = make_runner(backend, channels=3)
    with runner:
        (meta,) = runner.input_metadata()
        assert (meta.name, meta.dtype, len(meta.shape), meta.shape[2:]) == ("pixels", "uint8", 4, (SIZE, SIZE))
        assert meta.dynamic(0) and meta.dynamic(1)
        for channels in (1, 3):
            out = runner.infer({"pixels": pixels(channels)})["logits"]
            np.testing.assert_allclose(out, expected(pixels(channels)), rtol=1e-4, atol=1e-3)
        one_line_error(lambda: runner.infer({"pixels": pixels(3, np.float32)}), "has dtype float32, expected uint8")


@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata_exists_only_while_active(make_runner, backend):
    runner, _ = make_runner(backend)
    for call in (runner.input_metadata, runner.output_metadata, lambda: runner.infer({"pixels": pixels(1)})):
        message = one_line_error(call)
        assert message == f"{runner.backend} runner is not active (closed, or never activated)"
    with runner:
        (inp,), (out,) = runner.input_metadata(), runner.output_metadata()
        assert (inp.name, inp.dtype, inp.shape[1:]) == ("pixels", "uint8", (1, SIZE, SIZE)) and inp.dynamic(0)
        assert (out.name, out.dtype, out.shape[1:]) == ("logits", "float32", (OUTPUTS,))
    one_line_error(runner.input_metadata, "runner is not active")   # closed: not silently re-opened


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino", "tensorrt"])
def test_a_loaded_object_and_a_loader_behave_the_same(make_runner, backend):
    results = {}
    for loaded_from in LOADED_FROM:
        runner, name = make_runner(backend, loaded_from=loaded_from)
        with runner:
            results[loaded_from] = (runner.input_metadata(), runner.output_metadata(), runner.provider,
                                    runner.infer({"pixels": pixels(1)})["logits"],
                                    one_line_error(lambda: runner.infer({"pixels": pixels(3)})))
        with runner:   # a loader is called again on re-activation; a loaded object is used again
            np.testing.assert_array_equal(runner.infer({"pixels": pixels(1)})["logits"], results[loaded_from][3])
    ready, loader = results["ready"], results["loader"]
    assert ready[:3] == loader[:3] and ready[4] == loader[4]
    np.testing.assert_array_equal(ready[3], loader[3])


def test_the_torch_runner_declares_what_it_takes(make_runner):
    """float32 "input" with the model's channels, or uint8 "pixels" (PixelInput) free on the channel axis for
    color models only."""
    pytest.importorskip("torch")
    from gxr.backends.torch_runner import TorchOptions, TorchRunner

    float_runner = TorchRunner(torch_runner(3).network, 3, SIZE, OUTPUTS)
    with float_runner:
        (meta,) = float_runner.input_metadata()
        assert (meta.name, meta.dtype, meta.shape[1:]) == ("input", "float32", (3, SIZE, SIZE))
        one_line_error(lambda: float_runner.infer({"input": pixels(1, np.float32)}), "has 1 channels", "expected 3")
        out = float_runner.infer({"input": pixels(3, np.float32)})["logits"]
        np.testing.assert_allclose(out, expected(pixels(3)), rtol=1e-4, atol=1e-3)
    gray = torch_runner(1)
    assert gray.options == TorchOptions(pixels=True)
    with gray:
        assert gray.input_metadata()[0].shape[1] == 1


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_loaders_name_the_file_they_cannot_load(tmp_path, backend):
    from gxr.backends.ort_runner import OrtRunner
    from gxr.backends.ov_runner import OpenVinoRunner

    if backend == "openvino":
        pytest.importorskip("openvino")
    runner_from = OrtRunner.from_path if backend == "onnxruntime" else OpenVinoRunner.from_path
    missing = tmp_path / "missing.onnx"
    one_line_error(runner_from(missing).activate, f"{missing}: ONNX model not found")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    one_line_error(runner_from(bad).activate, str(bad), "not a loadable ONNX model" if backend == "onnxruntime"
                   else "OpenVINO cannot load it")


def test_tensorrt_loader_names_a_missing_engine(tmp_path, monkeypatch):
    from gxr.backends.trt_runner import TrtRunner

    monkeypatch.setitem(__import__("sys").modules, "tensorrt", types.SimpleNamespace())   # installed or not
    missing = tmp_path / "model.plan"
    one_line_error(TrtRunner.from_path(missing).activate, f"{missing}: TensorRT engine not found")


def test_runtime_refuses_a_model_without_logits(tmp_path):
    """gxr.load reads the output "logits" with one column per label: checked at load, from output_metadata."""
    import onnx

    from gxr.backends.ort_runner import OrtRunner
    from gxr.runtime import _check_logits

    path = onnx_file(tmp_path, 1)
    model = onnx.load(str(path))
    model.graph.node[-1].output[0] = model.graph.output[0].name = "scores"
    onnx.save(model, str(path))
    runner = OrtRunner.from_path(path).activate()
    one_line_error(lambda: _check_logits(runner, OUTPUTS), f"{path}: has no output named 'logits' (outputs: scores)")
    assert not runner.active
    good = onnx_file(tmp_path, 1)
    one_line_error(lambda: _check_logits(OrtRunner.from_path(good).activate(), 5),
                   "output 'logits' has shape ('batch', 2), expected (batch, 5)")
    runner = OrtRunner.from_path(good).activate()
    assert _check_logits(runner, OUTPUTS) is runner and runner.active
