"""`import gxr` and `gxr --help` stay light: no torch, no TensorRT, under a second."""

import subprocess
import sys
import time

from tests.helpers import REPO, run_gxr

HEAVY = ("torch", "tensorrt", "onnxruntime", "torchvision", "openvino")


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    return {m for m in out.stdout.strip().split(",") if m}


def test_import_gxr_imports_no_heavy_framework():
    assert _imported_after("import gxr") == set()


def test_cli_module_imports_no_heavy_framework():
    assert _imported_after("import gxr.cli.main") == set()


def test_help_is_fast_and_lists_commands():
    start = time.perf_counter()
    result = run_gxr("--help")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0
    for command in ("train", "export", "bench", "predict", "convert", "demo", "study"):
        assert command in result.stdout
    assert elapsed < 3.0   # generous for a loaded CI box; the import itself is checked above


def test_version():
    from gxr import __version__

    result = run_gxr("--version")
    assert result.stdout.strip() == f"gxr {__version__}"


def test_usage_errors_are_one_line_with_exit_2():
    from tests.helpers import assert_one_line_error

    assert_one_line_error(run_gxr("train", "finetune", "--bogus"), "No such option: --bogus", names=None)
    assert_one_line_error(run_gxr("export"), "Missing argument", names=None)
    assert_one_line_error(run_gxr("train", "finetune", "--data", "x", "--out", "y", "--channels", "two"),
                          "Invalid value for '--channels'", names=None)


def test_bare_command_shows_help_and_exits_0():
    result = run_gxr("bench")
    assert result.returncode == 0 and result.stdout.count("Usage: gxr bench") == 1


def test_gxr_debug_prints_the_cause_chain_before_the_one_line_error(tmp_path):
    plain = run_gxr("export", str(tmp_path / "nope.json"))
    debug = run_gxr("export", str(tmp_path / "nope.json"), env={"GXR_DEBUG": "1"})
    assert plain.returncode == debug.returncode == 2 and "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr and "GxrError" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()
