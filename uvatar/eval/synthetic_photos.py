"""Synthetic portrait photos with known truth: moved to :mod:`uvatar.data.photo` (re-exported here)."""

from uvatar.data.photo import (  # noqa: F401
    FRAMINGS,
    SyntheticPhoto,
    SyntheticScene,
    contact_sheet,
    make_synthetic_photo,
    paint_texture,
    render_scene,
    sample_body_params,
    synthetic_scene,
)

__all__ = [
    "FRAMINGS", "SyntheticPhoto", "SyntheticScene", "make_synthetic_photo", "synthetic_scene", "render_scene",
    "sample_body_params", "paint_texture", "contact_sheet",
]  # fmt: skip
