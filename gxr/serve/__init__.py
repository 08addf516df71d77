"""`gxr serve`: the Open Inference Protocol (KServe v2) over HTTP (Starlette + uvicorn) and gRPC (grpcio, with the
`inference.GRPCInferenceService` proto Triton's clients speak), with dynamic batching.

The model core (`gxr.serve.models.ServedModel`, `gxr.serve.batcher`) knows no HTTP or gRPC: it takes and returns
the typed tensors of `gxr.serve.protocol`, so other front ends (Ray Serve) reuse it. Server libraries are imported
only inside the modules that need them (`pip install 'gxr[serve]'`)."""
