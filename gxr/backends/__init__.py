"""Runners with one interface (activate / infer / deactivate + I/O metadata): torch, onnxruntime,
openvino, tensorrt. Each takes a loaded object or a loader returning one (see gxr.backends.base).

Each backend module imports its framework only inside the runner or its loader, so importing runners stays cheap."""

from gxr.backends.base import Runner, TensorMeta

__all__ = ["Runner", "TensorMeta"]
