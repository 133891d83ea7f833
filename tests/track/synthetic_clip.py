"""A synthetic clip with known truth: one textured Anny subject (uvatar.data.photo) turning on the spot
while its arms swing, rendered by the mesh renderer from a fixed camera over a fixed background."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class SyntheticClip:
    frames: list[np.ndarray]  # (H, W, 3) uint8
    joints_cam: np.ndarray  # (T, 23, 3) truth COCO joints in the camera frame, metres
    yaw_deg: np.ndarray  # (T,) truth root turn
    fov_deg: float  # the truth camera's field of view over the (square) image side
    phenotypes: torch.Tensor  # (1, 6)


def make_clip(body, frames: int = 32, turn_deg: float = 360.0, size: int = 384, seed: int = 11) -> SyntheticClip:
    from uvatar.data.photo import _background, _rng, _sample_scene, render_scene

    rng = _rng(seed, "full")
    scene = _sample_scene(body, rng, "full", size)
    background = _background(rng, size)
    shoulder = {s: body.bone_index(f"upperarm01.{s}") for s in ("L", "R")}
    out, joints, yaws = [], [], []
    R, t = scene.camera.R.double().numpy(), scene.camera.t.double().numpy()
    for k in range(frames):
        params = scene.params.detach()
        yaw = turn_deg * k / frames
        params.rotvecs[0, 0] = torch.tensor([0.0, 0.0, math.radians(yaw)])
        swing = 0.35 * math.sin(2 * math.pi * k / 12)  # arms swing forward and back, opposite sides
        params.rotvecs[0, shoulder["L"], 0] += swing
        params.rotvecs[0, shoulder["R"], 0] -= swing
        with torch.no_grad():
            posed = body.forward(params)
        image, cover = render_scene(body, dataclasses.replace(scene, vertices=posed.vertices[0]), scene.camera)
        photo = np.clip(image + (1 - cover[..., None]) * background, 0, 1)
        out.append((photo * 255 + 0.5).astype(np.uint8))
        world = body.keypoints.coco(posed.vertices)[0].double().numpy()
        joints.append(world @ R.T + t)
        yaws.append(yaw)
    fov = 2 * math.degrees(math.atan(0.5 * size / float(scene.camera.K[0, 0])))
    return SyntheticClip(out, np.array(joints), np.array(yaws), fov, scene.params.phenotypes.clone())
