"""`gxr bench latency | parity | compare | nih`: parse, call one gxr.bench suite, render, save JSON."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape

from gxr.bench.noise import SPREAD_LIMIT
from gxr.cli.common import console, handle_errors
from gxr.cli.show import print_latency, save_comparison, save_json

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
                                    "normalize + inference from image files (--images, or real test images), "
                                    "per stage, and images/s with and without the decode pool"),
    data: str | None = typer.Option(None, help="Data spec for --end-to-end images (default: the model's)"),
    images: Path | None = typer.Option(None, help="Time --end-to-end on these image files (a folder, searched "
                                       "recursively, or one file) instead of test images of --data"),
    stream: int = typer.Option(48, help="--end-to-end: images per stream for images/s with and without the "
                               "decode pool"),
    formats: str = typer.Option("", help="--end-to-end: also time the files made into these formats at run time "
                                "(temporary, never kept): jpeg, dicom-mono2|mono1-uncompressed|rle|jpegls|j2k, "
                                "dicom (every DICOM one), all"),
    decoders: str = typer.Option("auto", help="--end-to-end stage breakdowns with these decoders: auto (the "
                                 "'fast' extra where installed) and/or pillow, e.g. auto,pillow"),
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
    noise_threshold: float = typer.Option(SPREAD_LIMIT, help="--matrix: warn when p90/p50 is above this"),
) -> None:
    """ms/image p50/p90/p99 and images/s per model and batch size; gray/color ratios when both are given."""
    from gxr.bench.suites import LatencyOptions, run_latency
    from gxr.core.errors import GxrError
    from gxr.core.progress import make_progress

    if matrix:
        save_json(_run_matrix(models, backend, _int_list(batch_sizes, "--batch-sizes"), warmup, iters, threads, data,
                          auc_images, noise_threshold), json_out)
        return

    if torch_input not in ("float", "uint8"):
        raise GxrError(f"--torch-input {torch_input!r}: choose float or uint8")
    backends = tuple(b.strip() for b in backend.split(",") if b.strip())
    sizes = tuple(_int_list(batch_sizes, "--batch-sizes"))
    torch_options = None
    if any(b in ("torch", "auto") for b in backends):
        from gxr.backends.torch_runner import TorchOptions

        torch_options = TorchOptions(precision, channels_last, cuda_graphs, torch_input == "uint8").validate(device)
    from gxr.bench.inputfiles import parse_formats
    from gxr.core.fastdecode import DECODER_CHOICES

    decoder_list = tuple(d.strip() for d in decoders.split(",") if d.strip()) or ("auto",)
    if any(d not in DECODER_CHOICES for d in decoder_list):
        raise GxrError(f"--decoders {decoders!r}: choose from {', '.join(DECODER_CHOICES)}")
    options = LatencyOptions(backends=backends, batch_sizes=sizes,
                             warmup=warmup, iters=iters, threads=threads, device=device, torch_options=torch_options,
                             device_resident=device_resident, end_to_end=end_to_end, data=data, images=images,
                             stream=stream, formats=parse_formats(formats) if formats else (),
                             decoders=decoder_list)
    with make_progress(console) as progress:
        task = progress.add_task("latency", total=options.steps(models), status="")
        report = run_latency(models, options, on_step=lambda s: progress.update(task, advance=1, status=s))
    print_latency(report)
    save_json(report.to_json(), json_out)


def _run_matrix(models: list[Path], backend: str, batch_sizes: list[int], warmup: int, iters: int,
                threads: int | None, data: str | None, auc_images: int, noise_threshold: float) -> dict:
    from gxr.bench.matrix import run_matrix
    from gxr.bench.noise import NoiseRule
    from gxr.core.progress import make_progress
    from gxr.core.render import matrix_table

    backends = [b.strip() for b in backend.split(",") if b.strip() and b.strip() != "auto"] or ["onnxruntime"]
    with make_progress(console) as progress:
        task = progress.add_task("matrix", total=len(models) * len(backends) * len(batch_sizes), status="")
        result = run_matrix(models, backends, batch_sizes, warmup, iters, threads, data, auc_images,
                            lambda s: progress.update(task, advance=1, status=s),
                            NoiseRule(spread_limit=noise_threshold))
    console.print(matrix_table(result["rows"]))
    for warning in result["warnings"]:
        console.print(f"[yellow]warning[/]: {escape(warning)}")
    return result


@app.command()
@handle_errors
def parity(
    ref: Path = typer.Argument(..., help="Reference model (e.g. model.pt)"),
    candidate: Path = typer.Argument(..., help="Candidate model (e.g. the exported repository entry)"),
    json_out: Path | None = typer.Option(None, "--json", help="Write the results JSON here"),
    data: str | None = typer.Option(None, help="Data spec (default: the reference model's data)"),
    limit: int | None = typer.Option(None, help="At most this many images"),
    split: str = typer.Option("test", help="train | val | test"),
) -> None:
    """Max abs / relative error, label agreement and AUC difference of two runners on real images."""
    from gxr.bench.parity import run_parity
    from gxr.core.render import comparator_table

    report = run_parity(ref, candidate, data=data, split=split, limit=limit)
    console.print(comparator_table(report.result, f"parity: {candidate} vs {ref} ({report.result.tensor.images} "
                                                  f"{split} images)"))
    if report.result.auc.left_out:
        console.print(escape(f"note: not in the mean AUC (fewer than {report.result.auc.min_positives} positives or "
                             f"negatives): {', '.join(report.result.auc.left_out)}"))
    save_json(report.to_json(), json_out)


def _default_out(kind: str) -> Path:
    return Path("bench/results") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def _gray_vs_color_command(kind: str, suite_name: str):
    """A command with the gray/color options that runs gxr.bench.compare.<suite_name> (run_compare or run_nih)."""

    @handle_errors
    def command(
        gray: Path = typer.Option(..., help="Gray (1-channel) model"),
        color: Path = typer.Option(..., help="Color (3-channel) model"),
        data: str | None = typer.Option(None, help="Data spec (default: the gray model's data)"),
        split: str = typer.Option("test"),
        limit: int | None = typer.Option(None, help="At most this many test images"),
        iters: int = typer.Option(20, help="Timed batch-1 runs per model for ms/image"),
        out: Path | None = typer.Option(None, help=f"Write OUT.json and OUT.md (default: bench/results/{kind}-<time>)"),
        min_positives: int = typer.Option(10, help="A label needs this many positives and negatives for a p-value "
                                          "and a place in the mean AUC"),
    ) -> None:
        from gxr.bench import compare as suites
        from gxr.core.errors import GxrError

        if min_positives < 1:
            raise GxrError(f"--min-positives {min_positives}: must be >= 1")
        suite = getattr(suites, suite_name)
        result = suite(gray, color, data=data, split=split, limit=limit, iters=iters, min_positives=min_positives)
        save_comparison(result, out or _default_out(kind))

    return command


app.command("compare", help="Gray vs color on any labelled set: per-label AUC, DeLong p, ms/image.")(
    _gray_vs_color_command("compare", "run_compare"))
app.command("nih", help="The paper's Tables 2 + 4 on NIH ChestX-ray14: the 14 labels in its order, AUC and DeLong p "
            "per label, ms/image, and the paper's own numbers beside the measured ones.")(
    _gray_vs_color_command("nih", "run_nih"))


@app.command("serve")
@handle_errors
def serve_load(
    target: str = typer.Argument(..., help="http://127.0.0.1:PORT of a running Open Inference Protocol server, or a "
                                 "model repository to serve with `gxr serve` for the run (loopback only)"),
    model: str | None = typer.Option(None, help="Model name (default: the repository's only model)"),
    protocol: str = typer.Option("http", help="http (Triton's binary tensors) | http-json (JSON tensors) | grpc"),
    input_kind: str = typer.Option("uint8", "--input", help="uint8 (pixels preprocessed here with the model's "
                                   "recorded preprocessing) | encoded (the image files' bytes: PNG, JPEG, DICOM)"),
    clients: int = typer.Option(8, help="Concurrent clients, one request in flight each"),
    duration: float = typer.Option(10.0, help="Seconds of timed load (the run stops at --duration or --requests)"),
    requests: int = typer.Option(100_000, help="At most this many timed requests"),
    warmup: float = typer.Option(2.0, help="Seconds of untimed load first"),
    timeout: float = typer.Option(30.0, help="Per-request timeout, seconds"),
    images: Path | None = typer.Option(None, help="Image files or a folder (default: real test images of the "
                                       "model's data)"),
    image_count: int = typer.Option(64, help="At most this many distinct images, sent round-robin"),
    data: str | None = typer.Option(None, help="Data spec for the default images"),
    batch_sizes: str = typer.Option("1,8,16,32", help="In-process predict batch sizes (capped at the model's max)"),
    inprocess_seconds: float = typer.Option(3.0, help="Timed seconds per in-process batch size (0: skip; "
                                            "repository only)"),
    compare_batching: bool = typer.Option(False, "--compare-batching", help="Repository: run with dynamic batching "
                                          "on, then off"),
    backend: str = typer.Option("onnxruntime", help="Repository: the server's and the in-process model's backend"),
    threads: int | None = typer.Option(None, help="Repository: inference threads (server and in-process)"),
    max_batch: int | None = typer.Option(None, help="Repository: the server's --max-batch"),
    max_queue_delay_ms: float | None = typer.Option(None, help="Repository: the server's --max-queue-delay-ms"),
    grpc_port: int = typer.Option(8001, help="URL: the server's gRPC port on the same host"),
    token_file: Path | None = typer.Option(None, help="Bearer token file, if the server requires one"),
    json_out: Path | None = typer.Option(None, "--json", help="Write the results JSON here (default: "
                                         "bench/results/serve-<model>-<time>.json)"),
) -> None:
    """Throughput, p50/p90/p99 latency, errors, server RSS and batch sizes under N concurrent clients, beside the
    in-process predict throughput of the same model."""
    from gxr.bench.serve import ServeBenchOptions, run_serve_bench
    from gxr.core.progress import make_progress
    from gxr.core.render import serve_bench_tables

    options = ServeBenchOptions(model=model, protocol=protocol, input=input_kind, clients=clients,
                                duration_s=duration, requests=requests, warmup_s=warmup, timeout_s=timeout,
                                images=images, image_count=image_count, data=data,
                                batch_sizes=tuple(_int_list(batch_sizes, "--batch-sizes")),
                                inprocess_s=inprocess_seconds, compare_batching=compare_batching, backend=backend,
                                threads=threads, max_batch=max_batch, max_queue_delay_ms=max_queue_delay_ms,
                                grpc_port=grpc_port, token_file=token_file)
    with make_progress(console) as progress:
        task = progress.add_task("serve", total=100, status="")
        result = run_serve_bench(target, options, on_step=lambda s, f: progress.update(
            task, completed=round(100 * f), status=escape(s)))
    for table in serve_bench_tables(result):
        console.print(table)
    for warning in result.warnings:
        console.print(f"[bold yellow]warning[/]: {escape(warning)}")
    save_json(result.to_json(), json_out or Path(f"{_default_out('serve-' + result.model)}.json"))
