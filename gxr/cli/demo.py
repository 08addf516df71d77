"""`gxr demo`: the main job on the shipped real data, end to end, under one output folder."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from gxr.cli.common import console, handle_errors


@handle_errors
def demo(
    out: Path | None = typer.Option(None, help="Output folder (default: runs/demo-<time>)"),
    data: str | None = typer.Option(None, help="Data spec (default: nih:$GXR_DATA/nih, the real NIH1000 images)"),
    arch: str = typer.Option("inception_v3"),
    epochs: int = typer.Option(5),
    image_size: int = typer.Option(128, help="Input size (the shipped NIH images are 64 px; Inception-V3 needs >= 75)"),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(1e-3, help="Higher than the paper's 1e-4: no ImageNet weights here, so training "
                             "starts from scratch"),
    init_gray: Path | None = typer.Option(None, help="Pre-trained weights for the gray model (e.g. gxr convert of "
                                          "a color one)"),
    init_color: Path | None = typer.Option(None, help="Pre-trained weights for the color model"),
    iters: int = typer.Option(20, help="Timed runs per model and batch size"),
) -> None:
    """Fine-tune gray and color models, export both to ONNX (uint8 input), check parity, compare AUCs
    (DeLong) and latency."""
    from gxr.bench.compare import run_compare
    from gxr.bench.suites import run_latency
    from gxr.cli.show import print_latency, save_comparison
    from gxr.core.errors import GxrError
    from gxr.core.fileio import write_json
    from gxr.data import data_root
    from gxr.export.onnx_export import export_model
    from gxr.train import run_training
    from gxr.train.recipes import FinetuneRecipe
    from gxr.train.report import ConsoleReporter

    if data is None:
        root = data_root()
        if root is None:
            raise GxrError("no data found: set GXR_DATA or put the shared data folder at ../shared/data")
        data = f"nih:{root / 'nih'}"
    out = out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    started = time.perf_counter()
    runs, exported = {}, {}
    for key, channels, init in (("gray", 1, init_gray), ("color", 3, init_color)):
        console.rule(f"[bold]1/4 fine-tune {key} ({channels}-channel) {arch}")
        recipe = FinetuneRecipe(arch=arch, channels=channels, epochs=epochs, batch_size=batch_size, lr=lr,
                                image_size=image_size, patience=epochs)
        runs[key] = run_training(recipe, data, out / key, init=init, reporter=ConsoleReporter(console))
    for key in runs:
        console.rule(f"[bold]2/4 export {key} to ONNX (uint8 input) + parity")
        path, manifest = export_model(out / key, out / "models", name=key, input_dtype="uint8", data_spec=data)
        p = manifest.parity
        console.print(f"{path}: max rel error {p['max_rel_error']:.2e}, label agreement {p['label_agreement']:.0%} "
                      f"on {p['images']} real test images")
        exported[key] = {"path": str(path), "parity": p}
    console.rule("[bold]3/4 gray vs color on the test split (DeLong)")
    comparison = run_compare(out / "models" / "gray", out / "models" / "color", data=data, iters=iters,
                             title=f"gray vs color {arch} ({data})")
    save_comparison(comparison, out / "bench-nih")
    console.rule("[bold]4/4 latency: ONNX Runtime and PyTorch, compute-only and end-to-end")
    latency = run_latency([out / "models" / "gray", out / "models" / "color"], backends=["onnxruntime", "torch"],
                          batch_sizes=[1, 8], warmup=3, iters=iters, end_to_end=True, data=data,
                          labels=["gray", "color"])
    print_latency(latency)
    write_json(out / "latency.json", latency.to_json())
    summary = {"data": data, "arch": arch, "image_size": image_size, "epochs": epochs,
               "test_mean_auc": {k: r["test"]["mean_auc"] for k, r in runs.items()},
               "exported": exported, "comparison_mean_auc": comparison.mean_auc,
               "seconds": time.perf_counter() - started}
    write_json(out / "summary.json", summary)
    console.print(f"[bold green]done[/] in {summary['seconds'] / 60:.1f} min; everything is under [bold]{out}[/]")
