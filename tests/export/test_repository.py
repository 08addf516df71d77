"""The model repository: Triton configs valid for every version (parsed with Triton's own schema), input
contracts that cannot break each other, stale staging folders, one export per name at a time."""

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import pytest

from gxr.core.errors import GxrError
from gxr.core.repository import name_lock, staged_version, version_manifests
from gxr.export.onnx_export import export_model
from gxr.export.options import ExportOptions
from tests.helpers import Snapshot, expect_cli_error, run_gxr

_ONNX_TO_TRITON = {onnx.TensorProto.UINT8: "TYPE_UINT8", onnx.TensorProto.FLOAT: "TYPE_FP32"}


def triton_schema():
    """tritonclient's model_config_pb2, loaded from its file (tritonclient.grpc's package import wants grpcio)."""
    spec = importlib.util.find_spec("tritonclient")
    if spec is None:
        pytest.skip("tritonclient is not installed")
    path = Path(spec.origin).parent / "grpc" / "model_config_pb2.py"
    module_spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def parse_config(model_dir: Path):
    from google.protobuf import text_format

    schema = triton_schema()
    return text_format.Parse((model_dir / "config.pbtxt").read_text(), schema.ModelConfig()), schema


def check_config_matches_every_version(model_dir: Path) -> None:
    config, schema = parse_config(model_dir)
    assert config.name == model_dir.name and config.platform == "onnxruntime_onnx"
    assert config.version_policy.WhichOneof("policy_choice") == "all"
    labels = (model_dir / config.output[0].label_filename).read_text().split()
    for manifest in version_manifests(model_dir):
        graph = onnx.load(str(model_dir / str(manifest.version) / "model.onnx")).graph
        (inp,), (out,) = config.input, config.output
        g_in, g_out = graph.input[0], graph.output[0]
        assert (inp.name, out.name) == (g_in.name, g_out.name)
        assert schema.DataType.Name(inp.data_type) == _ONNX_TO_TRITON[g_in.type.tensor_type.elem_type]
        assert schema.DataType.Name(out.data_type) == _ONNX_TO_TRITON[g_out.type.tensor_type.elem_type]
        graph_dims = [d.dim_value if d.HasField("dim_value") else -1 for d in g_in.type.tensor_type.shape.dim]
        assert graph_dims[0] == -1 and list(inp.dims) == graph_dims[1:]    # batch axis left to Triton
        assert list(out.dims) == [d.dim_value for d in g_out.type.tensor_type.shape.dim][1:]
        assert config.max_batch_size <= manifest.batch.max
        assert labels == manifest.info.labels


def test_exported_configs_parse_with_tritons_schema_and_match_the_graphs(exported):
    for version_dir in exported.values():
        check_config_matches_every_version(version_dir.parent)


def test_a_second_contract_under_one_name_is_refused_and_both_stay_servable(tmp_path, trained_runs):
    run = trained_runs["gray"]
    assert run_gxr("export", str(run), "--repo", str(tmp_path), "--name", "g", "--batch", "1:8:32").returncode == 0
    assert run_gxr("export", str(run), "--repo", str(tmp_path), "--name", "g", "--batch", "1:4:16").returncode == 0
    check_config_matches_every_version(tmp_path / "g")          # two float versions, max batch 16 fits both
    assert parse_config(tmp_path / "g")[0].max_batch_size == 16
    expect_cli_error("export", str(run), "--repo", str(tmp_path), "--name", "g", "--input", "uint8",
                     names=tmp_path / "g",
                     needles=["version 1 takes float32 'input'", "uint8 'pixels'", "export under another name"],
                     watch=[tmp_path])
    assert run_gxr("export", str(run), "--repo", str(tmp_path), "--name", "g-uint8", "--input",
                   "uint8").returncode == 0
    check_config_matches_every_version(tmp_path / "g")
    check_config_matches_every_version(tmp_path / "g-uint8")


def test_stale_staging_folders_are_removed_with_a_note(tmp_path, trained_runs):
    stale = tmp_path / "g" / ".staging-1.abcd"
    stale.mkdir(parents=True)
    (stale / "model.onnx").write_bytes(b"half an export")
    result = run_gxr("export", str(trained_runs["gray"]), "--repo", str(tmp_path), "--name", "g")
    assert result.returncode == 0, result.stderr
    assert not stale.exists() and "interrupted export" in result.stdout
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["1", "config.pbtxt", "labels.txt"]


def test_a_concurrent_export_to_the_same_name_is_one_line(tmp_path, trained_runs):
    (tmp_path / "g").mkdir()
    with name_lock(tmp_path / "g"):    # another export holds the name
        expect_cli_error("export", str(trained_runs["gray"]), "--repo", str(tmp_path), "--name", "g",
                         names=tmp_path / "g", needles=["another export to this model name is in progress"],
                         watch=[tmp_path])


def test_a_failed_staging_leaves_nothing_and_published_versions_are_untouched(tmp_path):
    with staged_version(tmp_path, "m") as (stage, version):
        (stage / "a.txt").write_text("v1")
    snapshot = Snapshot(tmp_path)
    with pytest.raises(GxrError, match="already exists"):
        with staged_version(tmp_path, "m", version=1):
            pass
    with pytest.raises(RuntimeError):
        with staged_version(tmp_path, "m") as (stage, version):
            assert version == 2
            (stage / "a.txt").write_text("half")
            raise RuntimeError("killed")
    snapshot.assert_unchanged()
    with pytest.raises(RuntimeError):
        with staged_version(tmp_path, "new") as (stage, version):
            raise RuntimeError("first export of a name fails")
    assert not (tmp_path / "new").exists()


def test_the_parity_gate_trips_on_tampered_weights_and_writes_nothing(tmp_path, trained_runs, monkeypatch):
    import copy

    import torch

    import gxr.export.onnx_export as ox

    real_export = ox._export_graph

    def export_tampered(module, *args, **kwargs):
        tampered = copy.deepcopy(module)
        with torch.no_grad():
            tampered.fc.bias.add_(5.0)
        real_export(tampered, *args, **kwargs)

    monkeypatch.setattr(ox, "_export_graph", export_tampered)
    with pytest.raises(GxrError, match="differs from PyTorch beyond tolerance"):
        export_model(trained_runs["gray"], tmp_path, ExportOptions(name="g"))
    assert not (tmp_path / "g").exists()


def test_ort_matches_torch_at_batch_1_opt_max_and_above_max(tmp_path, trained_runs):
    import gxr
    from gxr.core.manifest import BatchRange

    version_dir, manifest = export_model(trained_runs["color"], tmp_path,
                                         ExportOptions(name="c", input_dtype="uint8", batch=BatchRange(1, 4, 8)))
    onnx_model, torch_model = gxr.load(version_dir), gxr.load(trained_runs["color"])
    rng = np.random.default_rng(0)
    for batch in (1, 4, 8, 9):
        pixels = rng.integers(0, 256, (batch, 3, 32, 32), dtype=np.uint8)
        onnx_logits = onnx_model.runner.infer({"pixels": pixels})["logits"]   # the graph itself, unsplit
        np.testing.assert_allclose(onnx_logits, torch_model.logits_from_pixels(pixels), rtol=1e-4, atol=1e-5)
