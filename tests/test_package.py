"""`import gxr` and `gxr --help` stay light: no torch, ONNX Runtime, OpenVINO, TensorRT, matplotlib or scipy, and
a few hundred modules in all (what start-up time depends on, measured without a clock)."""

import json
import os
import subprocess
import sys

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


HELP_FORBIDDEN = (*HEAVY, "onnx", "matplotlib", "scipy")
HELP_MODULE_BOUND = 450   # measured: ~330 (typer + rich + gxr.cli); numpy alone adds ~120, onnx ~260, torch ~1100

_HELP_PROBE = """
import json, sys
sys.argv = ["gxr", "--help"]
from gxr.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print("\\n" + json.dumps({"exit": code, "modules": sorted(sys.modules)}))
"""


def test_help_is_fast_and_lists_commands():
    """`gxr --help` in a fresh interpreter: every command listed, no heavy framework imported and a bounded
    number of modules loaded (a clock on a shared machine would measure the machine)."""
    result = subprocess.run([sys.executable, "-c", _HELP_PROBE], capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "COLUMNS": "200"}, check=True)
    help_text, _, last = result.stdout.rstrip().rpartition("\n")
    probe = json.loads(last)
    assert probe["exit"] == 0
    for command in ("train", "export", "bench", "predict", "convert", "demo", "study", "models", "nets"):
        assert f" {command} " in help_text, command
    top_level = {m.partition(".")[0] for m in probe["modules"]}
    assert top_level.isdisjoint(HELP_FORBIDDEN), sorted(top_level & set(HELP_FORBIDDEN))
    assert len(probe["modules"]) < HELP_MODULE_BOUND, len(probe["modules"])
    assert run_gxr("--help").stdout.rstrip() == help_text.rstrip()   # the console entry point: the same help


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
