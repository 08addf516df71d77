"""Runners with one interface (activate / infer / deactivate + I/O metadata): torch, onnxruntime,
openvino, tensorrt.

Each backend module imports its framework only inside the runner, so listing backends stays cheap."""

from gxr.backends.base import Runner, TensorMeta

BACKENDS = ("torch", "onnxruntime", "openvino", "tensorrt")
__all__ = ["Runner", "TensorMeta", "BACKENDS"]
