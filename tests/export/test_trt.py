"""The TensorRT code path without TensorRT: one-line errors, and (with a fake `tensorrt` module standing in
for the builder) staging into a new version, the timing cache, the build record and the load check.
Nothing here claims TensorRT ran: the fake only records what gxr asked of it."""

import enum
import hashlib
import json
import sys
import types

import pytest

from gxr.core.errors import GxrError
from tests.helpers import assert_one_line_error, run_gxr

HAS_TRT = "tensorrt" in sys.modules or __import__("importlib.util").util.find_spec("tensorrt") is not None
GPU = {"gpu": "NVIDIA L4", "compute_capability": "8.9"}


class _FakeConfig:
    def __init__(self, calls):
        self.calls, self.cache = calls, None

    def set_memory_pool_limit(self, pool, size):
        self.calls.append(("workspace", size))

    def create_timing_cache(self, data):
        self.calls.append(("timing_cache_in", bytes(data)))
        self.cache = types.SimpleNamespace(serialize=lambda: bytes(data) + b"+entries")
        return self.cache

    def set_timing_cache(self, cache, ignore_mismatch):
        self.calls.append(("set_timing_cache", ignore_mismatch))

    def get_timing_cache(self):
        return self.cache

    def add_optimization_profile(self, profile):
        self.calls.append(("profile", dict(profile.shapes)))


class _FakeCreationFlag(enum.IntEnum):
    """Network creation flags with values of the fake's own (TensorRT 10 has EXPLICIT_BATCH 0, STRONGLY_TYPED 1):
    the code must pass the flag it names, not a number it knows."""
    EXPLICIT_BATCH = 0
    PREFER_AOT_PYTHON_PLUGINS = 2
    STRONGLY_TYPED = 3
    PREFER_JIT_PYTHON_PLUGINS = 4


def fake_tensorrt(calls, fail_build=False):
    """The few TensorRT 10 names gxr uses, recording every call (network flags by name)."""

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, lo, opt, hi):
            self.shapes[name] = (lo, opt, hi)

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            # TensorRT's contract: the mask holds bit (1 << int(flag)) for each requested flag
            requested = {f.name for f in _FakeCreationFlag if flags & (1 << int(f))}
            assert flags == sum(1 << int(f) for f in _FakeCreationFlag if f.name in requested), f"stray bits {flags}"
            calls.append(("network_flags", requested))
            return object()

        def create_builder_config(self):
            return _FakeConfig(calls)

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            return None if fail_build else b"fake-plan-bytes"

    class OnnxParser:
        def __init__(self, network, logger):
            self.num_errors = 0

        def parse_from_file(self, path):
            calls.append(("parse", path))
            return True

    logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    return types.SimpleNamespace(__version__="10.9.0", Logger=logger, Builder=Builder, OnnxParser=OnnxParser,
                                 NetworkDefinitionCreationFlag=_FakeCreationFlag,
                                 MemoryPoolType=types.SimpleNamespace(WORKSPACE=0))


@pytest.fixture
def fake_trt(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(calls))
    monkeypatch.setattr("gxr.backends.trt_compat.cuda_device_identity", lambda device=0: dict(GPU))
    monkeypatch.setenv("GXR_CACHE", str(tmp_path / "cache"))
    return calls


def _tree_digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed here")
def test_export_trt_without_tensorrt_is_one_line(tmp_path, trained_runs, low_precision):
    result = run_gxr("export", str(trained_runs["gray"]), "--repo", str(tmp_path), "--trt")
    assert_one_line_error(result, "TensorRT is not installed", names=None)
    assert not any(tmp_path.iterdir())
    assert_one_line_error(run_gxr("export", str(low_precision["int8"]), "--trt"), "TensorRT is not installed",
                          names=None)


def test_engine_goes_into_a_new_version_and_the_published_one_is_untouched(tmp_path, fake_trt, low_precision):
    import shutil

    from gxr.export.trt import engine_version

    repo = tmp_path / "models"
    shutil.copytree(low_precision["int8"].parent, repo / "gray-int8")
    published = repo / "gray-int8" / "1"
    before = _tree_digest(published)
    new_dir, typed = engine_version(published)
    manifest = typed.to_dict()   # what manifest.json holds
    assert new_dir == repo / "gray-int8" / "2" and _tree_digest(published) == before
    assert sorted(p.name for p in new_dir.iterdir()) == ["manifest.json", "model.onnx", "model.plan"]
    engine = json.loads((new_dir / "manifest.json").read_text())["tensorrt"]
    assert engine == manifest["tensorrt"]
    assert (engine["version"], engine["gpu"], engine["compute_capability"], engine["precision"]) == \
        ("10.9.0", "NVIDIA L4", "8.9", "int8")
    assert engine["profile"] == {"min": [1, 1, 32, 32], "opt": [8, 1, 32, 32], "max": [32, 1, 32, 32]}
    assert manifest["derived_from"]["version"] == 1 and manifest["version"] == 2
    assert ("network_flags", {"STRONGLY_TYPED"}) in fake_trt and ("set_timing_cache", False) in fake_trt
    assert engine["timing_cache"]["reused"] is False
    # a second build reuses (and extends) the cache written by the first
    third, _ = engine_version(published)
    cache_in = [c[1] for c in fake_trt if c[0] == "timing_cache_in"]
    assert cache_in == [b"", b"+entries"] and json.loads((third / "manifest.json").read_text())[
        "tensorrt"]["timing_cache"]["reused"] is True


def test_failed_build_leaves_no_version(tmp_path, monkeypatch, fake_trt, low_precision):
    import shutil

    from gxr.export.trt import engine_version

    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt([], fail_build=True))
    shutil.copytree(low_precision["int8"].parent, tmp_path / "m")
    with pytest.raises(GxrError, match="engine build failed"):
        engine_version(tmp_path / "m" / "1")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "config.pbtxt", "labels.txt"]


def test_engine_from_another_gpu_or_version_fails_saying_where_it_was_built(fake_trt):
    from gxr.backends.trt_compat import check_engine_loads_here, engine_mismatch

    built = {"version": "10.9.0", **GPU}
    check_engine_loads_here(built, "m/2/model.plan", "m/1")   # same TensorRT and GPU: loads
    assert engine_mismatch(built, {"version": "10.9.0", **GPU}) is None
    other = {"version": "10.3.0", "gpu": "NVIDIA A100", "compute_capability": "8.0"}
    with pytest.raises(GxrError) as err:
        check_engine_loads_here(other, "m/2/model.plan", "m/1")
    message = str(err.value)
    assert "built with TensorRT 10.3.0 for NVIDIA A100 (compute capability 8.0)" in message
    assert "TensorRT 10.9.0 here" in message and "NVIDIA L4 (compute capability 8.9) here" in message
    assert "gxr export m/1 --trt" in message and "\n" not in message


@pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed here")
def test_loading_a_plan_without_tensorrt_is_one_line(tmp_path, fake_trt, low_precision, pneumonia_spec):
    import shutil

    from gxr.data import open_source
    from gxr.export.trt import engine_version

    shutil.copytree(low_precision["int8"].parent, tmp_path / "m")
    new_dir, _ = engine_version(tmp_path / "m" / "1")
    png = tmp_path / "x.png"
    open_source(pneumonia_spec).split("test").images.open(0).save(png)
    for args in (("predict", str(new_dir / "model.plan"), str(png)),
                 ("predict", str(new_dir), str(png), "--backend", "tensorrt")):
        assert_one_line_error(run_gxr(*args), "TensorRT is not installed", names=None)
