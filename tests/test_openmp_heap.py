"""Process-wide settings: the OpenMP spin default set on import, the heap kept by the CLI."""

import os
import subprocess
import sys

from uvatar.heap import keep_freed_memory


def _spin_after_import(env_value):
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if env_value is not None:
        env["GOMP_SPINCOUNT"] = env_value
    code = "import os, uvatar; print(os.environ.get('GOMP_SPINCOUNT'))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_import_sets_a_short_openmp_spin_unless_the_user_chose_one():
    assert _spin_after_import(None) == "10000"
    assert _spin_after_import("300000") == "300000"


def test_keep_freed_memory_is_idempotent():
    first = keep_freed_memory()
    assert isinstance(first, bool) and keep_freed_memory() == first

