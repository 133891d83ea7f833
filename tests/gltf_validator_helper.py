"""Run the Khronos glTF-Validator (tools/gltf-validator, an npm package) from tests.

``validate_glb(path)`` returns the validator's JSON report, or skips the test with the reason when
node is missing or the npm package is not installed (``npm ci --prefix tools/gltf-validator``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "gltf-validator"


def validate_glb(path) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; the Khronos glTF validator runs on node (apt-get install nodejs)")
    if not (TOOL / "node_modules" / "gltf-validator").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(f"gltf-validator is not installed in {TOOL} and npm is missing; run 'npm ci --prefix {TOOL}'")
        install = subprocess.run([npm, "ci", "--prefix", str(TOOL), "--no-audit", "--no-fund"], capture_output=True, text=True, timeout=300)
        if install.returncode != 0:
            pytest.skip(f"could not install gltf-validator ('npm ci --prefix {TOOL}'): {install.stderr.strip()[-300:]}")
    result = subprocess.run([node, str(TOOL / "validate.js"), str(path)], capture_output=True, text=True, timeout=120)
    if result.returncode not in (0, 1):
        raise AssertionError(f"the validator could not run: {result.stderr}")
    return json.loads(result.stdout)
