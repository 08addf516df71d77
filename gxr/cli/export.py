"""`gxr export`"""

from __future__ import annotations

from pathlib import Path

import typer

from gxr.cli.common import console, handle_errors, say


@handle_errors
def export(
    model: Path = typer.Argument(..., help="Run directory or model.pt (with --trt also an exported version: "
                                 "its engine goes into a new version)"),
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
    precision: str = typer.Option("fp32", help="fp32 | fp16 (FP16 graph, FP32 I/O) | int8 (static Q/DQ, "
                                  "calibrated on real training images)"),
    calib: str | None = typer.Option(None, help="int8: data spec whose training split calibrates "
                                     "(default: the model's own training data; never its test split)"),
    calib_count: int = typer.Option(64, help="int8: number of calibration images"),
    calib_method: str = typer.Option("minmax", help="int8: minmax | entropy | percentile"),
    auc_tolerance: float = typer.Option(0.005, help="fp16/int8: refuse the export when the mean test AUC drops "
                                        "more than this below FP32"),
) -> None:
    """Export a checkpoint to ONNX in the model repository, checked against PyTorch on real images."""
    from gxr.core.manifest import BatchRange
    from gxr.export.options import ExportOptions
    from gxr.export.quantize import Calibration

    options = ExportOptions(name=name, version=version, opset=opset, batch=BatchRange.parse(batch), input_dtype=input,
                            data_spec=data, image_size=image_size, exporter=exporter, precision=precision,
                            calib=Calibration(calib, calib_count, calib_method) if precision == "int8" else None,
                            auc_tolerance=auc_tolerance, trt=trt).validate()
    if trt:
        from gxr.core.lazy import lazy_import

        lazy_import("tensorrt", "a TensorRT engine")
        if (Path(model) / "manifest.json").is_file() or Path(model).name == "model.onnx":   # an exported version
            from gxr.export.trt import engine_version

            out_dir, _ = engine_version(model, say)
            console.print(f"wrote {out_dir}/model.plan + model.onnx + manifest.json")
            return
    from gxr.core.modelinfo import resolve_model_pt

    resolve_model_pt(model)   # a missing checkpoint is refused before torch is imported
    from gxr.export.onnx_export import export_model

    out_dir, manifest = export_model(model, repo, options, say)
    p = manifest.parity
    console.print(f"parity vs PyTorch on {p['images']} real images ({p['provider']}): max abs error "
                  f"{p['max_abs_error']:.3g}, max rel error {p['max_rel_error']:.3g}, label agreement "
                  f"{p['label_agreement']:.1%}")
    low = (manifest.precision or {}).get("parity_vs_fp32")
    if low:
        console.print(f"{precision} vs FP32 on {low['images']} real test images: label agreement "
                      f"{low['label_agreement']:.1%}, max abs error {low['max_abs_error']:.3g}, mean AUC "
                      f"{low['fp32_mean_auc']:.4f} -> {low['mean_auc']:.4f} (delta {low['auc_delta_mean']:+.4f})")
    console.print(f"wrote {out_dir}/model.onnx{' + model.plan' if trt else ''} + manifest.json")
