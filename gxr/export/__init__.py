"""ONNX export and checks, TensorRT engine build, model repository writer."""
