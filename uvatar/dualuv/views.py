"""Dual-UV of fitted views: the stage's entry points (one view, several views, the Core-UV resolution).

A view's shell is the body's base shell (:func:`uvatar.body.shell.shell_offsets`) widened to the person's
silhouette where the view has a person mask (:func:`uvatar.dualuv.shell_fit.silhouette_shell_offsets`);
its features are projected by :func:`uvatar.dualuv.project.project_dual_uv`; several views blend
(:func:`uvatar.dualuv.blend.blend_uv_features`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from uvatar.body.model import rest_vertices
from uvatar.body.parts import PART_NAMES
from uvatar.body.shell import shell_offsets
from uvatar.body.uv import texel_footprint
from uvatar.camera import Camera
from uvatar.dualuv.blend import blend_uv_features
from uvatar.dualuv.garment_shell import garment_template
from uvatar.dualuv.project import DualUVConfig, UVFeatures, project_dual_uv
from uvatar.dualuv.shell_fit import silhouette_shell_offsets
from uvatar.dualuv.shoe_shell import shoe_template
from uvatar.encode import get_encoder
from uvatar.track.view import FittedView

__all__ = ["ProjectionRequest", "view_shell_offsets", "project_view", "project_views", "project_requests", "choose_core_resolution", "uv_config"]


@dataclass(frozen=True)
class ProjectionRequest:
    """One Dual-UV projection a decoder needs: the encoder (None: the run's ``--encoder``) and the grids."""

    encoder: str | None
    config: DualUVConfig


def view_shell_offsets(body, view: FittedView) -> torch.Tensor:
    """``(V,)`` metres: the shell of ``view``'s body, fitted to its person mask when it has one."""
    offsets = shell_offsets(body)
    mask = view.mask_tensor
    if mask is None:
        return offsets
    return silhouette_shell_offsets(view.vertices, body.faces.cpu(), view.camera, mask, offsets.cpu())


def uv_config(core_resolution: int, shell_resolution: int) -> DualUVConfig:
    """The projection's config at these grid sides: supersampled 2x up to a 512² core, else 1x."""
    return DualUVConfig(core_resolution=core_resolution, shell_resolution=shell_resolution, supersample=2 if core_resolution <= 512 else 1)


def view_templates(body, view: FittedView, shell_offsets: torch.Tensor, config: DualUVConfig) -> list:
    """The view's shell templates: its fitted ones (hair) and, with ``config.garment_shell``, the loose
    garment its silhouette shows (:func:`uvatar.dualuv.garment_shell.garment_template`, off the hair), and
    with ``config.shoe_shell`` the shoes round its feet (:func:`uvatar.dualuv.shoe_shell.shoe_template`)."""
    templates = list(view.templates)
    if config.garment_shell and view.mask is not None:
        hair = [t.pixels for t in templates if t.kind == "hair"]
        garment = garment_template(body, view, shell_offsets, hair[0] if hair else None)
        if garment is not None:
            templates.append(garment)
    if config.shoe_shell and view.mask is not None:
        shoes = shoe_template(body, view)
        if shoes is not None:
            templates.append(shoes)
    return templates


def project_view(body, view: FittedView, feature_map, config: DualUVConfig, shell_offsets: torch.Tensor | None = None) -> UVFeatures:
    """Core-UV and Shell-UV (and the off-body samples, and the shell templates) of one fitted view's
    feature map.

    ``shell_offsets (V,)``: the view's shell when already computed (:func:`view_shell_offsets`).
    """
    offsets = view_shell_offsets(body, view) if shell_offsets is None else shell_offsets
    start = time.perf_counter()
    templates = view_templates(body, view, offsets, config)
    garment_s = time.perf_counter() - start
    rest = rest_vertices(body, view.params.phenotypes, view.params.facial)
    uv = project_dual_uv(feature_map, body, view.vertices, view.camera, view.mask_tensor, offsets, config, templates, view.image, rest)
    uv.stats["garment_fit_s"] = round(garment_s, 4)
    return uv


def project_views(body, views: list[FittedView], feature_maps: list, config: DualUVConfig) -> UVFeatures:
    """Dual-UV of several views of one person, blended (one view: its own)."""
    per_view = [project_view(body, view, features, config) for view, features in zip(views, feature_maps, strict=True)]
    return blend_uv_features(per_view) if len(per_view) > 1 else per_view[0]


def project_requests(body, views: list[FittedView], requests: dict[str, ProjectionRequest], encoder: str = "rgb",
                     device: str = "cpu") -> dict[str, UVFeatures]:  # fmt: skip
    """Every projection a decoder asked for (:meth:`uvatar.model.decoder.Decoder.projections`), by name.

    Each view's photo is encoded once per encoder and its shell fitted once; requests that are the same
    (encoder and grids) are projected once and shared. ``encoder``: the run's (requests with None).
    """
    offsets = [view_shell_offsets(body, view) for view in views]
    feature_maps: dict[str, list] = {}
    done: dict[tuple[str, DualUVConfig], UVFeatures] = {}
    out = {}
    for name, request in requests.items():
        key = (request.encoder or encoder, request.config)
        if key not in done:
            if key[0] not in feature_maps:
                encode = get_encoder(key[0], device=device)
                feature_maps[key[0]] = [encode(view.image) for view in views]
            per_view = [project_view(body, v, f, request.config, o) for v, f, o in zip(views, feature_maps[key[0]], offsets, strict=True)]
            done[key] = blend_uv_features(per_view) if len(per_view) > 1 else per_view[0]
        out[name] = done[key]
    return out


def choose_core_resolution(regime: str, body, vertices: torch.Tensor, camera: Camera) -> int:
    """Core-UV resolution from the framing: 1024 when a texel of the 512 map would cover more than
    ~1.5 photo pixels on the torso or face (head and close half-body photos), else 512."""
    if regime == "head":
        return 1024
    torso = body.face_parts == PART_NAMES.index("torso")
    side = texel_footprint(vertices, body.faces, body.uv_corners, 512)[torso].median()
    depth = camera.world_to_camera(vertices[body.faces[torso]].mean(1)).median(0).values[2]
    pixels = float(side * camera.K[0, 0] / depth.clamp(min=1e-3))
    return 1024 if pixels > 1.5 else 512
