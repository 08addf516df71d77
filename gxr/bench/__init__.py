"""Benchmarks (layer above runtime): latency primitives (`latency`), the suites behind `gxr bench` returning
reports (`suites`: latency, parity; `compare`: gray vs color and the NIH suite), and parity of two runners
(`parity`). AUC/DeLong live in gxr.core.metrics; tables in gxr.core.render."""
