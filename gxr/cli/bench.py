"""`gxr bench latency | parity | nih | compare`"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from gxr.cli.common import console, handle_errors
from gxr.core.render import SHORT_NAMES, latency_table, ratio_table, speedup_table

app = typer.Typer(help="Latency, parity and gray-vs-color comparisons; results as rich tables + JSON.",
                  no_args_is_help=True)


def _int_list(text: str, flag: str) -> list[int]:
    from gxr.core.errors import GxrError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GxrError(f"{flag} {text!r}: expected comma-separated integers, e.g. 1,8,32") from None
    if not values or min(values) < 1:
        raise GxrError(f"{flag} {text!r}: values must be >= 1")
    return values


def run_latency(models: list[Path], backends: list[str], batch_sizes: list[int], warmup: int, iters: int,
                threads: int | None, end_to_end: bool, data: str | None, device: str,
                labels: list[str] | None = None, torch_options=None, device_resident: bool = False) -> dict:
    from gxr.bench.latency import (
        backend_speedups,
        bench_model,
        gray_color_ratios,
        sample_image_files,
        temp_folder,
        timings_json,
    )
    from gxr.core.progress import make_progress
    from gxr.core.provenance import machine_info
    from gxr.runtime import load

    timings = []
    with temp_folder() as tmp, make_progress(console) as progress:
        steps = len(models) * len(backends) * len(batch_sizes) * (2 if end_to_end else 1)
        task = progress.add_task("latency", total=steps, status="")
        for i, path in enumerate(models):
            name = labels[i] if labels else str(path)
            files = None
            for backend in backends:   # one model at a time, each backend in its own block
                with load(path, backend=backend, device=device, threads=threads, torch_options=torch_options) as model:
                    if end_to_end and files is None:
                        files = sample_image_files(model, data, max(batch_sizes), Path(tmp) / str(i))
                    label = name if len(backends) == 1 else f"{name} ({SHORT_NAMES.get(model.backend, model.backend)})"
                    timings += bench_model(label, model, batch_sizes, warmup, iters, files,
                                           lambda s: progress.update(task, advance=1, status=s), group=name,
                                           device_resident=device_resident)
                    note = getattr(model.runner, "fallback_note", "")
                    if note:
                        console.print(f"[yellow]note[/]: {escape(str(path))}: {escape(note)}")
    ratios = gray_color_ratios(timings)
    console.print(latency_table(timings))
    if ratios:
        console.print(ratio_table(ratios))
    speedups = backend_speedups(timings)
    if speedups:
        console.print(speedup_table(speedups))
    return {"kind": "latency", "machine": machine_info(),
            "settings": {"backends": backends, "batch_sizes": batch_sizes, "warmup": warmup, "iters": iters,
                         "threads": threads, "device": device, "end_to_end": end_to_end,
                         "device_resident": device_resident,
                         "torch_options": torch_options.to_dict() if torch_options else None},
            "timings": timings_json(timings), "gray_over_color": ratios, "torch_over_onnxruntime": speedups}


def _save(result: dict, path: Path | None) -> None:
    from gxr.core.fileio import write_json

    if path is not None:
        write_json(path, result)
        console.print(f"wrote {path}")


@app.command()
@handle_errors
def latency(
    models: list[Path] = typer.Argument(..., help="Models: repository entries / model.onnx / model.pt / run dirs"),
    backend: str = typer.Option("auto", help="auto (by file type) | onnxruntime | torch, or a list: onnxruntime,torch "
                                "(a repository entry runs under torch from its source checkpoint)"),
    batch_sizes: str = typer.Option("1,8,32", help="Comma-separated batch sizes"),
    warmup: int = typer.Option(5),
    iters: int = typer.Option(30),
    threads: int | None = typer.Option(None, help="Intra-op threads for torch and ONNX Runtime"),
    end_to_end: bool = typer.Option(False, "--end-to-end", help="Also time decode + resize + gray/color + "
                                    "normalize + inference from PNG files of real test images"),
    data: str | None = typer.Option(None, help="Data spec for --end-to-end images (default: the model's)"),
    device: str = typer.Option("cpu", help="cpu | cuda"),
    precision: str = typer.Option("fp32", help="torch: fp32 | bf16 | fp16 (autocast)"),
    channels_last: bool = typer.Option(False, help="torch: channels-last memory format"),
    cuda_graphs: bool = typer.Option(False, help="torch: capture and replay CUDA graphs (needs --device cuda)"),
    torch_input: str = typer.Option("float", help="torch: float (normalized on the host) | uint8 (raw pixels, "
                                    "normalized on the device like --input uint8 exports)"),
    device_resident: bool = typer.Option(False, help="torch: also time with the input already on the device "
                                         "(CUDA events on a GPU)"),
    json_out: Path | None = typer.Option(None, "--json", help="Write the results JSON here"),
    matrix: bool = typer.Option(False, "--matrix", help="Precision/backend matrix: each model x backend (e.g. "
                                "onnxruntime,openvino,openvino:bf16) timed in its own block, speed-up vs the FP32 "
                                "model under ONNX Runtime and the test AUC delta beside it"),
    auc_images: int = typer.Option(1000, help="--matrix: at most this many test images for each cell's AUC (0: skip)"),
    noise_threshold: float = typer.Option(1.10, help="--matrix: warn when p90/p50 is above this"),
) -> None:
    """ms/image p50/p90/p99 and images/s per model and batch size; gray/color ratios when both are given."""
    from gxr.core.errors import GxrError

    if matrix:
        _save(_run_matrix(models, backend, _int_list(batch_sizes, "--batch-sizes"), warmup, iters, threads, data,
                          auc_images, noise_threshold), json_out)
        return

    if torch_input not in ("float", "uint8"):
        raise GxrError(f"--torch-input {torch_input!r}: choose float or uint8")
    backends = [b.strip() for b in backend.split(",") if b.strip()]
    options = None
    if any(b in ("torch", "auto") for b in backends):
        from gxr.backends.torch_runner import TorchOptions

        options = TorchOptions(precision, channels_last, cuda_graphs, torch_input == "uint8").validate(device)
    result = run_latency(models, backends, _int_list(batch_sizes, "--batch-sizes"), warmup, iters, threads,
                         end_to_end, data, device, torch_options=options, device_resident=device_resident)
    _save(result, json_out)


def _run_matrix(models: list[Path], backend: str, batch_sizes: list[int], warmup: int, iters: int,
                threads: int | None, data: str | None, auc_images: int, noise_threshold: float) -> dict:
    from gxr.bench.matrix import matrix_table, run_matrix
    from gxr.core.progress import make_progress

    backends = [b.strip() for b in backend.split(",") if b.strip() and b.strip() != "auto"] or ["onnxruntime"]
    with make_progress(console) as progress:
        task = progress.add_task("matrix", total=len(models) * len(backends) * len(batch_sizes), status="")
        result = run_matrix(models, backends, batch_sizes, warmup, iters, threads, data, auc_images,
                            lambda s: progress.update(task, advance=1, status=s), noise_threshold)
    console.print(matrix_table(result["rows"]))
    for warning in result["warnings"]:
        console.print(f"[yellow]warning[/]: {escape(warning)}")
    return result


@app.command()
@handle_errors
def parity(
    ref: Path = typer.Argument(..., help="Reference model (e.g. model.pt)"),
    candidate: Path = typer.Argument(..., help="Candidate model (e.g. the exported repository entry)"),
    data: str | None = typer.Option(None, help="Data spec (default: the reference model's data)"),
    split: str = typer.Option("test", help="train | val | test"),
    limit: int | None = typer.Option(None, help="At most this many images"),
    json_out: Path | None = typer.Option(None, "--json"),
) -> None:
    """Max abs / relative error, label agreement and AUC difference of two runners on real images."""
    from gxr.bench.parity import parity as run_parity
    from gxr.core.provenance import machine_info
    from gxr.data import open_source
    from gxr.runtime import data_spec_for, load

    with load(ref) as r, load(candidate) as c:
        spec = data_spec_for(data, r, c)
        result = run_parity(r, c, open_source(spec).split(split), limit)
    result.update(kind="parity", data=spec, split=split, machine=machine_info())
    table = Table(title=f"parity: {candidate} vs {ref} ({result['images']} images)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("max_abs_error", "max_rel_error", "label_agreement", "ref_mean_auc", "candidate_mean_auc",
                "auc_difference"):
        v = result[key]
        table.add_row(key, "n/a" if v is None else f"{v:.4g}")
    console.print(table)
    _save(result, json_out)


def run_compare(gray: Path, color: Path, data: str | None, split: str, limit: int | None, out: Path | None,
                title: str, iters: int = 20) -> dict:
    from gxr.bench.compare import compare_gray_color
    from gxr.core.fileio import write_json, write_text
    from gxr.core.provenance import machine_info
    from gxr.core.render import comparison_markdown, comparison_table
    from gxr.data import open_source
    from gxr.runtime import data_spec_for, load

    with load(gray) as g, load(color) as c:
        if g.info.channels != 1 or c.info.channels != 3:
            from gxr.core.errors import GxrError

            raise GxrError(f"--gray must be a 1-channel and --color a 3-channel model "
                           f"(got {g.info.channels} and {c.info.channels})")
        spec = data_spec_for(data, g, c)
        result = compare_gray_color(g, c, open_source(spec).split(split), limit, iters)
    result.update(kind="gray-vs-color", data=spec, split=split, machine=machine_info())
    console.print(comparison_table(result, title))
    if out is not None:
        write_json(out.with_suffix(".json"), result)
        write_text(out.with_suffix(".md"), comparison_markdown(result, title))
        console.print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return result


def _compare_command(default_title: str):
    @handle_errors
    def command(
        gray: Path = typer.Option(..., help="Gray (1-channel) model"),
        color: Path = typer.Option(..., help="Color (3-channel) model"),
        data: str | None = typer.Option(None, help="Data spec (default: the gray model's data)"),
        split: str = typer.Option("test"),
        limit: int | None = typer.Option(None, help="At most this many test images"),
        iters: int = typer.Option(20, help="Timed batch-1 runs per model for ms/image"),
        out: Path | None = typer.Option(None, help="Write OUT.json and OUT.md (default: bench/results/<name>-<time>)"),
    ) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_compare(gray, color, data, split, limit, out or Path("bench/results") / f"{default_title}-{stamp}",
                    f"gray vs color ({default_title})", iters)

    return command


app.command("nih", help="The paper's Table 2 + 4 on NIH ChestX-ray14: per-label AUC, DeLong p, ms/image.")(
    _compare_command("nih"))
app.command("compare", help="Gray vs color on any labelled set: per-label AUC, DeLong p, ms/image.")(
    _compare_command("compare"))
