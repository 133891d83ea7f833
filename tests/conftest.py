"""Shared fixtures: the body model (built once per session), the shared data folder, and Ctrl-C as Python raises it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
os.environ.setdefault("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def body():
    from uvatar.body.model import load_body_model

    return load_body_model()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "realdata").is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


@pytest.fixture
def dropped_ctrl_c():
    """Ctrl-C raises KeyboardInterrupt for the test (a shell's background job starts with it ignored), and
    the function it yields sends one that is dropped as the fork's hooks drop it (logging's at-fork hook
    prints "Exception ignored" and goes on): what :func:`uvatar.errors.interrupts_held` guards against."""
    import signal
    import time

    def send_and_drop() -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # the handler runs here ...
        except KeyboardInterrupt:
            pass  # ... and its exception is dropped

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield send_and_drop
    finally:
        signal.signal(signal.SIGINT, before)
