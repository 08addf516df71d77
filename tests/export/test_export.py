"""`gxr export`: ONNX + manifest + Triton config, parity on real images, bad input."""

import json

import numpy as np
import onnx
import pytest

from gxr.core.fileio import sha256_file
from tests.helpers import expect_cli_error, run_gxr


def test_uint8_export_writes_checked_onnx_and_full_manifest(exported, trained_runs):
    for key, version_dir in exported.items():
        manifest = json.loads((version_dir / "manifest.json").read_text())
        model = onnx.load(str(version_dir / "model.onnx"))
        onnx.checker.check_model(model)
        graph_input = model.graph.input[0]
        assert graph_input.name == "pixels" and graph_input.type.tensor_type.elem_type == onnx.TensorProto.UINT8
        assert graph_input.type.tensor_type.shape.dim[0].dim_param == "batch"   # dynamic batch axis
        for field in ("arch", "channels", "input", "normalization", "labels", "task", "source", "onnx", "parity",
                      "gxr_version", "exported_at"):
            assert field in manifest, field
        assert manifest["onnx"]["sha256"] == sha256_file(version_dir / "model.onnx")
        assert manifest["source"]["sha256"] == sha256_file(trained_runs[key] / "model.pt")
        parity = manifest["parity"]
        assert parity["max_rel_error"] <= 1e-3 and parity["label_agreement"] == 1.0 and parity["images"] == 32
        assert (version_dir.parent / "config.pbtxt").read_text().count("TYPE_UINT8") == 1


def test_color_uint8_graph_accepts_gray_and_replicates_it(exported):
    import onnxruntime as ort

    manifest = json.loads((exported["color"] / "manifest.json").read_text())
    assert manifest["input"]["accepted_channels"] == [1, 3]
    assert manifest["parity"]["gray_input_max_abs_diff"] == 0.0
    session = ort.InferenceSession(str(exported["color"] / "model.onnx"), providers=["CPUExecutionProvider"])
    gray = np.random.default_rng(0).integers(0, 256, (3, 1, 32, 32), dtype=np.uint8)
    one = session.run(None, {"pixels": gray})[0]
    three = session.run(None, {"pixels": np.repeat(gray, 3, axis=1)})[0]
    np.testing.assert_array_equal(one, three)


def test_float_export_and_versioning(tmp_path, trained_runs):
    run = trained_runs["gray"]
    first = run_gxr("export", str(run), "--repo", str(tmp_path), "--name", "g")
    assert first.returncode == 0, first.stderr
    second = run_gxr("export", str(run), "--repo", str(tmp_path), "--name", "g", "--batch", "1:4:16")
    assert second.returncode == 0, second.stderr
    manifest = json.loads((tmp_path / "g" / "2" / "manifest.json").read_text())
    assert manifest["input"]["dtype"] == "float32" and manifest["batch"] == {"min": 1, "opt": 4, "max": 16}
    expect_cli_error("export", str(run), "--repo", str(tmp_path), "--name", "g", "--version", "1",
                     names=tmp_path / "g" / "1", needles=["already exists", "next free: 3"], watch=[tmp_path])
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["1", "2", "config.pbtxt", "labels.txt"]


def test_trt_without_tensorrt_is_one_line_with_install_hint(tmp_path, trained_runs):
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    expect_cli_error("export", str(trained_runs["gray"]), "--repo", str(tmp_path), "--trt", names=None,
                     needles=["TensorRT is not installed", "pip install 'gxr[gpu]'"], watch=[tmp_path])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("args,needle", [
    (("--batch", "8:1:4"), "need 1 <= MIN <= OPT <= MAX"),
    (("--input", "int4"), "input dtype 'int4': choose float or uint8"),
])
def test_bad_export_options(tmp_path, trained_runs, args, needle):
    expect_cli_error("export", str(trained_runs["gray"]), "--repo", str(tmp_path), *args, names=None, needles=[needle],
                     watch=[tmp_path, trained_runs["gray"]])


def test_export_of_missing_or_foreign_checkpoint(tmp_path):
    expect_cli_error("export", str(tmp_path / "nope"), names=tmp_path / "nope", needles=["model checkpoint not found"],
                     watch=[tmp_path])
    foreign = tmp_path / "model.pt"
    import torch

    torch.save({"weights": torch.zeros(1)}, foreign)
    expect_cli_error("export", str(foreign), "--repo", str(tmp_path / "m"), names=foreign,
                     needles=["not a gxr model checkpoint"], watch=[tmp_path])
