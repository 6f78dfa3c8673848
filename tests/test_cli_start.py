"""A command loads what it uses: `enforce --help` and a command's own help answer without the Temporal SDK,
the workflows or the cryptography, which are most of a command's start (bench/cli.py has the figures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from enforce.main import app
sys.argv = ["enforce", *sys.argv[1:]]
code = None
try:
    app()  # what `enforce` runs (its entry point then leaves at once, with no chance to report)
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

NOT_FOR_HELP = ("temporalio", "workflows", "activities", "cryptography", "structlog", "jinja2", "holidays")


def loaded(*args: str) -> tuple[int, set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"}
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["code"], {m.split(".")[0] for m in data["modules"]}


@pytest.mark.parametrize("args", [["--help"], ["list", "--help"], ["show", "--help"], ["act", "--help"]])
def test_help_loads_neither_the_sdk_nor_the_workflows(args):
    code, modules = loaded(*args)
    assert code in (0, None)
    assert not modules & set(NOT_FOR_HELP), sorted(modules & set(NOT_FOR_HELP))
