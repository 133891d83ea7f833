"""Dual-UV: the closed-form projection of fitted views' features into the body's UV space.

Public API: :func:`project_view` / :func:`project_views` (fitted views -> :class:`UVFeatures`: Core-UV,
Shell-UV and the off-body samples, as data), :func:`project_requests` (what a decoder asked for, each
distinct projection once), :func:`choose_core_resolution`, :func:`uv_config`.
"""

from uvatar.dualuv.blend import blend_uv_features
from uvatar.dualuv.offbody import OffBodySamples
from uvatar.dualuv.project import DualUVConfig, UVFeatures
from uvatar.dualuv.views import (
    ProjectionRequest,
    choose_core_resolution,
    project_requests,
    project_view,
    project_views,
    uv_config,
    view_shell_offsets,
)

__all__ = [
    "DualUVConfig", "UVFeatures", "OffBodySamples", "ProjectionRequest", "project_view", "project_views",
    "project_requests", "blend_uv_features", "choose_core_resolution", "uv_config", "view_shell_offsets",
]  # fmt: skip
