"""Animate an avatar with a motion: pose the body per frame, move the Gaussians with it, render, write mp4.

Per frame: the motion's parameters (with the avatar's shape and face) go through
:meth:`BodyModel.forward_from_rest` (the rest state is built once), :class:`~uvatar.animate.pose.GaussianPoser`
puts the Gaussians on the posed mesh, and :meth:`PosedGaussians.render` draws them. Cameras:

* ``front``: fixed, in front of the body (slightly above), framing every frame's body;
* ``orbit``: one turn around the body over the animation, framing every frame;
* ``input``: the camera of the avatar's photo (``avatar.meta["fit_camera"]``), and the photo's body
  pose for every bone the motion does not drive, so a head-only motion animates the photo as taken.

Bones the motion does not drive stay at the reference pose (``front``, ``orbit``) or the photo's pose
(``input``); the motion plays in the frame of the base pose's root (:func:`motion_params`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import roma
import torch

from uvatar.animate.motion import MAX_FPS, MAX_FRAMES, MIN_FPS, Motion
from uvatar.animate.pose import GaussianPoser
from uvatar.body.model import BodyModel, BodyParams
from uvatar.camera import Camera
from uvatar.errors import InputError
from uvatar.threads import stage_threads

__all__ = ["AnimateConfig", "CAMERAS", "motion_params", "posed_vertices", "animation_cameras", "animate_avatar"]

log = logging.getLogger(__name__)

CAMERAS = ("front", "orbit", "input")


@dataclass(frozen=True)
class AnimateConfig:
    """How to render an animation.

    Attributes:
        camera: "front", "orbit" or "input" (module doc).
        size: longer image side of the render, pixels.
        frames: output frames, 1 to :data:`~uvatar.animate.motion.MAX_FRAMES` (None: the motion once;
            more than the motion loops it if it loops, else holds its last frame).
        fps: output frame rate, ``MIN_FPS`` to ``MAX_FPS`` (None: the motion's own; otherwise the motion
            is resampled, only as far as the frames rendered).
        side_by_side: put the motion's source video frame left of the render (video-driven motions).
        fov_deg: vertical field of view of the front/orbit cameras.
        elevation_deg: height of the front/orbit cameras above the body centre, degrees.
        background: RGB in [0, 1].
        backend: renderer backend (see :func:`uvatar.render.gaussians.render_gaussians`).
        threads: torch CPU threads while animating; 0 (the default): the cores free now, re-read every
            :data:`~uvatar.threads.RECHECK_S` (measured on the shared 2-core machine, load ~5: one
            650K-Gaussian 512x512 render took 3.8 s wall on one thread and 24-53 s on two, whose
            threads spin-wait on each other when another process holds a core); > 0 forces a count.
        relative: play the motion as changes from its first frame on top of the base pose
            (:func:`motion_params`); None: only for video motions with ``camera="input"``, so the
            first frame shows the photo as taken and the avatar follows the person's movements.
    """

    camera: str = "front"
    size: int = 512
    frames: int | None = None
    fps: float | None = None
    side_by_side: bool = False
    fov_deg: float = 30.0
    elevation_deg: float = 5.0
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    backend: str = "auto"
    threads: int = 0
    relative: bool | None = None

    def validate(self) -> None:
        if self.camera not in CAMERAS:
            raise InputError(f"--camera {self.camera!r} is unknown; use one of {', '.join(CAMERAS)}")
        if not 16 <= int(self.size) <= 4096:
            raise InputError(f"--size must be between 16 and 4096 pixels; got {self.size}")
        if self.frames is not None and not 1 <= int(self.frames) <= MAX_FRAMES:
            raise InputError(f"--frames must be from 1 to {MAX_FRAMES}; got {self.frames}")
        if self.fps is not None and not MIN_FPS <= self.fps <= MAX_FPS:
            raise InputError(f"--fps must be between {MIN_FPS:g} and {MAX_FPS:g} frames per second; got {self.fps}")
        if int(self.threads) < 0:
            raise InputError(f"--threads must be >= 0 (0: the free cores); got {self.threads}")


def motion_params(
    motion: Motion,
    body: BodyModel,
    phenotypes: torch.Tensor,
    facial: torch.Tensor,
    base: BodyParams | None = None,
    relative: bool = False,
    frames: list[int] | None = None,
) -> BodyParams:
    """Body parameters ``(T, ...)`` of motion frames for one avatar.

    Driven bones take the *world* rotation the motion gives them (relative to the reference pose),
    turned with the base pose's root: ``G_c = R_base_root G_c^motion``. Undriven bones keep the base
    pose's rotation relative to their parent. So a head motion sets where the head points (relative to
    the way the body faces) whatever the base pose's spine does, and a walk turns with the base body.
    With the reference pose as base this is the motion itself.

    With ``relative=True`` driven bones instead start from the base pose and follow the motion's
    changes since its first frame: ``G_c(t) = R (G_c^motion(t) G_c^motion(0)^T) R^T G_c^base``
    (``R`` the base root), so frame 0 is the base pose (the photo, for ``--camera input``); translation
    and facial weights likewise add their changes since frame 0 to the base's and the avatar's.

    Args:
        motion: the motion (rig checked against ``body``).
        phenotypes: ``(6,)`` the avatar's shape.
        facial: ``(52,)`` the avatar's own expression (replaced or added to, by ``motion.facial_mode``).
        base: batch-1 parameters for the bones the motion does not drive (default: reference pose);
            its root translation is added to the motion's (turned with its root).
        relative: play the motion's changes from its first frame on top of ``base`` (see above).
        frames: the motion frames to pose, in any order, repeats allowed (default: all, in order);
            only these are computed, so a few frames of a long motion cost a few frames.
    Returns:
        :class:`BodyParams` with batch ``T = len(frames)`` (``motion.n_frames`` by default).
    """
    from uvatar.animate.rotations import local_from_world, world_from_local

    motion.check_rig(body)
    take = torch.arange(motion.n_frames) if frames is None else torch.as_tensor(frames, dtype=torch.long).reshape(-1)
    count = int(take.shape[0])
    parents = list(body.bone_parents)
    base_rot = torch.zeros(body.n_bones, 3) if base is None else base.rotvecs[0].detach().float()
    base_trans = torch.zeros(3) if base is None else base.translation[0].detach().float()
    base_local = roma.rotvec_to_rotmat(base_rot)  # (J, 3, 3)
    motion_world = world_from_local(roma.rotvec_to_rotmat(motion.rotvecs[take]), parents)  # (T, J, 3, 3)
    first_world = world_from_local(roma.rotvec_to_rotmat(motion.rotvecs[:1]), parents) if relative else None  # (1, J, 3, 3)
    driven = set(body.bone_index(b) for b in motion.bones)
    turn = base_local[0]
    world = [None] * len(parents)
    base_world = world_from_local(base_local, parents)  # (J, 3, 3)
    for c, p in enumerate(parents):
        if c in driven and relative:
            change = motion_world[:, c] @ first_world[:, c].transpose(-1, -2)
            world[c] = turn @ change @ turn.T @ base_world[c]
        elif c in driven:
            world[c] = turn @ motion_world[:, c]
        else:
            world[c] = (world[p] if p >= 0 else torch.eye(3).expand(count, 3, 3)) @ base_local[c]
    rotvecs = roma.rotmat_to_rotvec(local_from_world(torch.stack(world, 1), parents))
    shift = motion.translation[take] - motion.translation[:1] if relative else motion.translation[take]
    translation = base_trans + shift @ turn.T
    face = facial.reshape(1, -1).float().expand(count, -1)
    if motion.facial is not None and relative:  # the avatar's own expression plus the motion's changes
        face = (face + motion.facial[take] - motion.facial[:1]).clamp(0, 1)
    elif motion.facial is not None:
        face = motion.facial[take] if motion.facial_mode == "replace" else (face + motion.facial[take]).clamp(0, 1)
    return BodyParams(rotvecs, translation, phenotypes.reshape(1, -1).float().expand(count, -1).clone(), face.clone())


@torch.no_grad()
def posed_vertices(body: BodyModel, params: BodyParams, chunk: int = 16) -> torch.Tensor:
    """``(T, V, 3)`` posed vertices of batched params of one shape (its rest state is built once)."""
    rest = body.rest_state(params.phenotypes[:1])
    out = []
    for start in range(0, params.batch_size, chunk):
        part = BodyParams(*(t[start : start + chunk] for t in params.tensors().values()))
        out.append(body.forward_from_rest(part, rest).vertices)
    return torch.cat(out)


#: Motion frames posed at once while animating (16 posed meshes of 13,718 vertices: 2.6 MB).
_CHUNK = 16


class _BodyFrames:
    """Posed body vertices of chosen motion frames for one avatar, made on demand, a chunk at a time,
    so that the memory and time of posing follow the frames rendered, never the motion's length.

    Args: as :func:`motion_params` (``avatar`` brings the shape and face).
    """

    def __init__(self, motion: Motion, body: BodyModel, avatar, base: BodyParams | None, relative: bool) -> None:
        self.motion, self.body, self.avatar, self.base, self.relative = motion, body, avatar, base, relative
        with torch.no_grad():
            self.rest = body.rest_state(avatar.phenotypes.reshape(1, -1).float())  # built once

    @torch.no_grad()
    def vertices(self, frames: list[int]) -> torch.Tensor:
        """``(len(frames), V, 3)`` posed vertices of motion ``frames``."""
        params = motion_params(self.motion, self.body, self.avatar.phenotypes, self.avatar.facial, self.base, self.relative, frames=frames)
        return self.body.forward_from_rest(params, self.rest).vertices


def animation_cameras(config: AnimateConfig, n_frames: int, bounds: tuple[torch.Tensor, torch.Tensor], fit_camera: dict | None = None) -> list[Camera]:
    """One camera per output frame.

    Args:
        bounds: ``(3,)`` lower and upper corners (metres) of everything drawn over the whole animation.
        fit_camera: ``avatar.meta["fit_camera"]`` for ``camera="input"``.
    """
    if config.camera == "input":
        if not fit_camera:
            raise InputError("--camera input needs the photo's camera, which this avatar lacks; use --camera front")
        cam = Camera.from_dict(fit_camera)
        scale = config.size / max(cam.width, cam.height)
        cam = cam.resized(max(2, round(cam.width * scale)), max(2, round(cam.height * scale)))
        return [cam] * n_frames
    low, high = bounds
    centre = (low + high) / 2
    half = (high - low) / 2
    tan = math.tan(math.radians(config.fov_deg) / 2)
    if config.camera == "front":
        reach = max(float(half[2]), float(half[0]))  # square image: height and width share the fov
        radius = 1.08 * reach / tan + float(half[1])
        cams = [_view(centre, radius, 0.0, config)]
        return cams * n_frames
    reach = max(float(half[2]), float(torch.linalg.norm(half[:2])))
    radius = 1.08 * reach / tan + float(torch.linalg.norm(half[:2]))
    return [_view(centre, radius, 360.0 * i / n_frames, config) for i in range(n_frames)]


def _view(centre: torch.Tensor, radius: float, azimuth_deg: float, config: AnimateConfig) -> Camera:
    from uvatar.camera import orbit

    return orbit(centre, radius, 1, config.size, config.size, fov_y_deg=config.fov_deg, elevation_deg=config.elevation_deg, start_azimuth_deg=azimuth_deg)[0]


def _fit_base(avatar, body: BodyModel) -> BodyParams:
    fit = avatar.meta.get("fit_params")
    if not fit:
        raise InputError("--camera input needs the photo's fitted pose, which this avatar lacks; use --camera front")
    params = body.default_params(1)
    try:
        params.rotvecs = torch.tensor(fit["rotvecs"], dtype=torch.float32).reshape(1, body.n_bones, 3)
        params.translation = torch.tensor(fit["translation"], dtype=torch.float32).reshape(1, 3)
    except (KeyError, TypeError, ValueError, RuntimeError):
        raise InputError(f"the avatar's fitted pose is not {body.n_bones} bone rotations and a translation; reconstruct it again or use --camera front") from None
    return params


def _source_frames(motion: Motion, indices: list[int], height: int) -> dict[int, np.ndarray]:
    """The motion's source video frames needed for ``indices`` (motion frames), resized to ``height``."""
    from PIL import Image

    from uvatar.io.video import iter_video

    video = motion.meta.get("source_video")
    sources = motion.meta.get("source_frames")
    if not video or not sources:
        raise InputError("--side-by-side needs a motion made from a video by 'uvatar motion'; drop --side-by-side")
    if not Path(video).is_file():
        raise InputError(f"--side-by-side needs the motion's source video at {video}; put it back or drop --side-by-side")
    wanted = {int(sources[i]) for i in set(indices)}
    frames, _ = iter_video(video)
    found: dict[int, np.ndarray] = {}
    try:
        for k, frame in enumerate(frames):
            if k in wanted:
                width = max(2, round(frame.shape[1] * height / frame.shape[0]))
                found[k] = np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))
            if k >= max(wanted):
                break
    finally:
        frames.close()  # stops ffmpeg
    missing = wanted - set(found)
    if missing:
        raise InputError(f"the source video {video} has fewer frames than the motion uses (frame {min(missing)}); re-make the motion")
    return {i: found[int(sources[i])] for i in set(indices)}


def animate_avatar(
    avatar,
    motion: Motion,
    body: BodyModel,
    out_path: str | Path,
    config: AnimateConfig = AnimateConfig(),
    frames_ply: str | Path | None = None,
    on_frame: Callable[[int], None] | None = None,
    overwrite: bool = False,
) -> dict:
    """Render ``avatar`` driven by ``motion`` into ``out_path`` (.mp4 or .gif), atomically.

    Args:
        avatar: :class:`~uvatar.avatar.Avatar`.
        motion: :class:`Motion` for ``body``'s rig.
        out_path: the video to write.
        config: :class:`AnimateConfig`.
        frames_ply: a folder to receive the posed Gaussians of every frame as 3DGS ``frame_00000.ply``,
            ... (about 65 bytes per Gaussian per frame; :func:`~uvatar.io.atomic.atomic_dir`).
        on_frame: called with each output frame's index after it is written (progress bars).
        overwrite: let ``frames_ply`` be a non-empty folder UVatar did not write (its other files kept).
    Returns:
        a report: frames, fps, seconds in total and per frame (pose / render / write), Gaussians, camera.
    """
    config.validate()
    with stage_threads("animate", int(config.threads)) as threads:
        return _animate(avatar, motion, body, out_path, config, frames_ply, on_frame, threads, overwrite)


def _animate(avatar, motion, body, out_path, config, frames_ply, on_frame, threads, overwrite) -> dict:
    from uvatar.io.atomic import atomic_dir
    from uvatar.io.ply import write_gaussian_ply
    from uvatar.io.video import VideoWriter

    start = time.perf_counter()
    motion.check_rig(body)
    motion, n_out, motion_frames = _output_motion(motion, config)
    indices = [motion.frame_index(i) for i in range(n_out)]
    base = _fit_base(avatar, body) if config.camera == "input" else None
    relative = config.relative if config.relative is not None else (config.camera == "input" and motion.meta.get("source") == "video")
    body_frames = _BodyFrames(motion, body, avatar, base, relative)  # poses only the frames asked for
    poser = GaussianPoser(avatar, body.faces)
    bounds = _bounds(poser, body_frames, sorted(set(indices)))
    cameras = animation_cameras(config, n_out, bounds, avatar.meta.get("fit_camera"))
    sources = _source_frames(motion, indices, cameras[0].height) if config.side_by_side else None
    setup_s = time.perf_counter() - start

    timings = {"pose_s": 0.0, "render_s": 0.0, "write_s": 0.0}
    background = tuple(float(c) for c in config.background)
    loop_start, cpu_start = time.perf_counter(), time.process_time()
    with contextlib.ExitStack() as stack:  # the video and the .ply folder appear together, or neither
        ply_tmp = stack.enter_context(atomic_dir(frames_ply, overwrite=overwrite)) if frames_ply is not None else None
        video = stack.enter_context(VideoWriter(out_path, fps=motion.fps))
        stack.enter_context(torch.no_grad())
        vertices = None
        for i, (index, camera) in enumerate(zip(indices, cameras, strict=True)):
            threads.recheck()  # fewer threads as soon as another job takes a core
            t0 = time.perf_counter()
            if i % _CHUNK == 0:  # the next output frames' bodies (a looping motion's frames are posed again)
                vertices = body_frames.vertices(indices[i : i + _CHUNK])
            gaussians = poser(vertices[i % _CHUNK])
            t1 = time.perf_counter()
            image = gaussians.render(camera, background=background, backend=config.backend).image.clamp(0, 1)
            frame = (image.cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
            t2 = time.perf_counter()
            if sources is not None:
                frame = np.concatenate([sources[index], frame], 1)
            video.append(frame)
            if ply_tmp is not None:
                write_gaussian_ply(ply_tmp / f"frame_{i:05d}.ply", gaussians.to_ply_cloud())
            timings["pose_s"] += t1 - t0
            timings["render_s"] += t2 - t1
            timings["write_s"] += time.perf_counter() - t2
            if on_frame is not None:
                on_frame(i)
    loop_s = time.perf_counter() - loop_start
    cpu_s = time.process_time() - cpu_start
    total_s = time.perf_counter() - start
    return {
        "output": str(out_path),
        "motion": motion.name,
        "motion_frames": motion_frames,
        "frames": n_out,
        "fps": round(float(motion.fps), 4),
        "camera": config.camera,
        "relative": bool(relative),
        "size": [cameras[0].width + (sources[indices[0]].shape[1] if sources else 0), cameras[0].height],
        "gaussians": len(poser),
        "threads": threads.count,
        "setup_s": round(setup_s, 3),
        "total_s": round(total_s, 3),
        "s_per_frame": round(loop_s / n_out, 4),
        "frames_per_s": round(n_out / loop_s, 3),
        "cpu_s_per_frame": round(cpu_s / n_out, 4),
        "per_frame": {k: round(v / n_out, 4) for k, v in timings.items()},
        "frames_ply": str(frames_ply) if frames_ply is not None else None,
    }


def _output_motion(motion: Motion, config: AnimateConfig) -> tuple[Motion, int, int]:
    """The motion at the output frame rate, the number of output frames, and the motion's length in
    frames at that rate. Resampling stops at the last frame rendered (``--frames 2`` of a long motion
    resamples 2 frames)."""
    if config.fps is None or abs(config.fps - motion.fps) <= 1e-6:
        n_out = int(config.frames) if config.frames is not None else motion.n_frames
        return motion, n_out, motion.n_frames
    full = motion.resampled_frames(config.fps)
    n_out = int(config.frames) if config.frames is not None else full
    return motion.resample(config.fps, first=min(n_out, full)), n_out, full


@torch.no_grad()
def _bounds(poser: GaussianPoser, body_frames: _BodyFrames, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Corners of the box holding the body of every motion frame in ``indices`` (posed a chunk at a
    time), widened by how far the Gaussians (frame ``indices[0]``: hair, clothes, 2 sigma) reach beyond
    that frame's mesh."""
    low = high = first_vertices = None
    for start in range(0, len(indices), _CHUNK):
        part = body_frames.vertices(indices[start : start + _CHUNK])  # (<=16, V, 3)
        first_vertices = part[0] if first_vertices is None else first_vertices
        part_low, part_high = part.amin((0, 1)), part.amax((0, 1))
        low = part_low if low is None else torch.minimum(low, part_low)
        high = part_high if high is None else torch.maximum(high, part_high)
    first = poser(first_vertices)
    reach = 2.0 * first.scales.amax(-1, keepdim=True)
    g_low = torch.quantile((first.means - reach)[::7], 0.001, dim=0)
    g_high = torch.quantile((first.means + reach)[::7], 0.999, dim=0)
    v_low, v_high = first_vertices.amin(0), first_vertices.amax(0)
    return low - (v_low - g_low).clamp(min=0), high + (g_high - v_high).clamp(min=0)
