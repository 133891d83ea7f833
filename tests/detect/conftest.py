"""Fixtures for the detector tests: the real photos in ../shared/realdata and a detection cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REALDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata"
REGIMES = ("head", "half", "full")


def real_photos() -> list[Path]:
    """The labelled photos, sorted; empty when the shared folder is absent."""
    if not REALDATA.is_dir():
        return []
    return sorted(p for r in REGIMES for p in (REALDATA / r).glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})


def load_rgb(path: Path) -> np.ndarray:
    """``(H, W, 3)`` float32 RGB in [0, 1], EXIF orientation applied."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.float32) / 255.0


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(f"real photos not found at {REALDATA.resolve()} (the shared data folder is absent)")
    return REALDATA


@pytest.fixture(scope="session")
def detections_of():
    """``detections_of(path)`` -> Detections, computed once per photo per session."""
    from uvatar.detect import detect

    cache: dict[Path, object] = {}

    def get(path: Path):
        if path not in cache:
            cache[path] = detect(load_rgb(path), source=path.name)
        return cache[path]

    return get
