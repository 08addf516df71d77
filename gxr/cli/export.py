"""`gxr export`"""

from __future__ import annotations

from pathlib import Path

import typer

from gxr.cli.common import console, handle_errors, say


@handle_errors
def export(
    model: Path = typer.Argument(..., help="Run directory or model.pt"),
    name: str | None = typer.Option(None, help="Model name in the repository (default: run directory name)"),
    version: int | None = typer.Option(None, help="Version number (default: next free)"),
    repo: Path = typer.Option(Path("models"), help="Model repository root"),
    opset: int = typer.Option(17, help="ONNX opset"),
    batch: str = typer.Option("1:8:32", help="MIN:OPT:MAX batch (TensorRT profile, Triton max batch)"),
    input: str = typer.Option("float", "--input", help="float: normalized float32 input; uint8: raw pixels, "
                              "normalized in the graph"),
    data: str | None = typer.Option(None, help="Data spec for the parity check (default: the checkpoint's)"),
    image_size: int | None = typer.Option(None, help="Export at another input size than trained"),
    exporter: str = typer.Option("torchscript", help="torchscript | dynamo (needs onnxscript)"),
    trt: bool = typer.Option(False, "--trt", help="Also build a TensorRT engine (model.plan)"),
) -> None:
    """Export a checkpoint to ONNX in the model repository, checked against PyTorch on real images."""
    from gxr.core.manifest import BatchRange

    batch_range = BatchRange.parse(batch)
    if trt:
        from gxr.core.lazy import lazy_import

        lazy_import("tensorrt", "a TensorRT engine")
    from gxr.export.onnx_export import export_model

    out_dir, manifest = export_model(model, repo, name=name, version=version, opset=opset, batch=batch_range,
                                     input_dtype=input, data_spec=data, image_size=image_size, exporter=exporter,
                                     say=say)
    p = manifest.parity
    console.print(f"parity vs PyTorch on {p['images']} real images ({p['provider']}): max abs error "
                  f"{p['max_abs_error']:.3g}, max rel error {p['max_rel_error']:.3g}, label agreement "
                  f"{p['label_agreement']:.1%}")
    console.print(f"wrote {out_dir}/model.onnx + manifest.json")
    if trt:
        from gxr.export.trt import build_engine

        console.print(f"wrote {build_engine(out_dir, say=say)}")
