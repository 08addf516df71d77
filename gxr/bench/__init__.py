"""Benchmarks (layer above runtime): latency primitives (`latency`), the one machine-noise rule (`noise`), the
suites behind `gxr bench` returning reports (`suites`: latency; `compare`: gray vs color and the NIH suite;
`parity`: two runners of one network; `matrix`: precision x backend; `review`: mistakes (`mistakes`) and ROC
curves). Scores come from gxr.runtime.score_split, judgements from gxr.core.comparator, tables from
gxr.core.render."""
