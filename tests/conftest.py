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


def random_params(body, batch: int, seed: int = 0, scale: float = 0.35):
    """Random but plausible body parameters: small random rotations, random shape, random face."""
    gen = torch.Generator().manual_seed(seed)
    params = body.default_params(batch)
    params.rotvecs = torch.randn(batch, body.n_bones, 3, generator=gen) * scale
    params.translation = torch.randn(batch, 3, generator=gen) * 0.5
    params.phenotypes = torch.rand(batch, len(body.phenotype_labels), generator=gen)
    params.facial = torch.rand(batch, len(body.facial_labels), generator=gen) * 0.5
    return params
