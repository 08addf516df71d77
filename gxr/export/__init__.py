"""Export (layer above runtime): checkpoint -> ONNX with parity against PyTorch on real images, published as a
new version of the model repository (gxr.core.repository); TensorRT engine build (`trt`, lazy)."""
