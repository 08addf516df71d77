"""`gxr --help` and `gxr serve --help` load none of the server libraries (they are imported by `gxr serve` only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import REPO

SERVER_LIBRARIES = ("starlette", "uvicorn", "anyio", "grpc", "google", "prometheus_client", "tritonclient", "ray")

_PROBE = """
import json, sys
from gxr.cli.main import main
seen = {}
for argv in (["gxr", "--help"], ["gxr", "serve", "--help"]):
    sys.argv = argv
    try:
        main()
    except SystemExit as exc:
        seen[argv[-2]] = exc.code
print("\\n" + json.dumps({"exits": seen, "modules": sorted({m.partition(".")[0] for m in sys.modules})}))
"""


def test_help_loads_no_server_library():
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, cwd=REPO, check=True,
                            env={**os.environ, "COLUMNS": "200"})
    help_text, _, last = result.stdout.rstrip().rpartition("\n")
    probe = json.loads(last)
    assert probe["exits"] == {"gxr": 0, "serve": 0}
    assert " serve " in help_text and "--max-queue-delay-ms" in help_text and "--token-file" in help_text
    assert set(probe["modules"]).isdisjoint(SERVER_LIBRARIES), sorted(set(probe["modules"]) & set(SERVER_LIBRARIES))
