"""`gxr optimize RUN|models/NAME`"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape

from gxr.cli.common import console, handle_errors, say


def _names(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))


def _threads(text: str) -> tuple[int | None, ...]:
    """"1,2" -> (1, 2); "default" -> (None,) (the backend's own choice)."""
    from gxr.core.errors import GxrError

    out: list[int | None] = []
    for v in _names(text):
        if v == "default":
            out.append(None)
            continue
        try:
            out.append(int(v))
        except ValueError:
            raise GxrError(f"--threads {text!r}: expected comma-separated integers or 'default'") from None
    return tuple(out) or (None,)


@handle_errors
def optimize(
    model: Path = typer.Argument(..., help="Run directory / model.pt, or a repository name folder (models/NAME)"),
    data: str | None = typer.Option(None, help="Data spec whose test split gates the candidates (default: the "
                                    "model's own)"),
    precisions: str = typer.Option("fp32,fp16,int8", help="Graphs to try (fp32 is the reference)"),
    calib_methods: str = typer.Option("entropy", help="int8: calibration methods to try (minmax, entropy, "
                                      "percentile), one version each"),
    calib_count: int = typer.Option(64, help="int8: calibration images (real training images)"),
    backends: str = typer.Option("onnxruntime,openvino,openvino:bf16", help="Backends to time each graph under"),
    threads: str = typer.Option("default", help="Thread counts to try, e.g. 1,2 (default: the backend's own)"),
    batch_sizes: str = typer.Option("1,16", help="Batch sizes to time"),
    objective: str = typer.Option("throughput", help="latency (p50 at the smallest batch) | throughput (any batch)"),
    auc_tolerance: float = typer.Option(0.005, help="Largest mean test AUC drop vs FP32 ONNX Runtime"),
    min_agreement: float = typer.Option(0.95, help="Smallest share of test decisions (top-1, or each label at p = "
                                        "0.5) equal to FP32's"),
    auc_images: int = typer.Option(1000, help="At most this many test images score each graph"),
    warmup: int = typer.Option(5, help="Untimed runs before each timing (at least 1 s of them)"),
    iters: int = typer.Option(30, help="Timed runs per cell and batch size"),
    repo: Path | None = typer.Option(None, help="Model repository (default: models/, or NAME's own)"),
    name: str | None = typer.Option(None, help="Model name in the repository (default: the run's or NAME)"),
    input: str = typer.Option("uint8", "--input", help="A run's new versions: uint8 (normalized in graph) | float"),
    out: Path | None = typer.Option(None, help="Folder for optimize.json, report.md, pareto.png (default: "
                                    "bench/results/optimize-NAME-TIME)"),
) -> None:
    """Export FP32/FP16/INT8 candidates, time each x backend x threads, gate each on the test AUC, recommend the
    fastest that passes (gxr.load and gxr predict of models/NAME then use it)."""
    from gxr.cli.bench import _int_list
    from gxr.core.progress import make_progress
    from gxr.study.optimize import OptimizeOptions, run_optimize, steps_total
    from gxr.study.optimize_report import rows_table, write_report

    options = OptimizeOptions(repo=repo, name=name, data=data, precisions=_names(precisions),
                              calib_methods=_names(calib_methods), calib_count=calib_count,
                              backends=_names(backends), threads=_threads(threads),
                              batch_sizes=tuple(_int_list(batch_sizes, "--batch-sizes")), objective=objective,
                              auc_tolerance=auc_tolerance, min_agreement=min_agreement, auc_limit=auc_images,
                              warmup=warmup, iters=iters, input_dtype=input).validate()
    out_dir = out or Path("bench/results") / f"optimize-{name or Path(model).name}-{time.strftime('%Y%m%d-%H%M%S')}"
    with make_progress(console) as progress:
        task = progress.add_task("optimize", total=steps_total(options), status="")
        result = run_optimize(model, options, report=str(out_dir / "optimize.json"), notify=say,
                              on_step=lambda s: progress.update(task, advance=1, status=s))
    console.print(rows_table(result))
    for warning in result.warnings:
        console.print(f"[yellow]warning[/]: {escape(warning)}")
    written = write_report(result, out_dir)
    if result.recommendation is not None:
        console.print(f"[bold green]recommended[/]: {escape(result.recommendation.describe())}; written to "
                      f"{escape(str(Path(result.repo) / result.name / 'recommended.json'))}")
    else:
        console.print("[yellow]no configuration passed the gate; nothing recommended[/]")
    console.print("wrote " + ", ".join(escape(str(p)) for p in written))
