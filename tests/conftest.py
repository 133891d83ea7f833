"""Shared fixtures: the body model (built once per session) and the shared data folder."""

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
