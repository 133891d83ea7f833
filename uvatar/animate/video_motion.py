"""A motion from a video of a person: track every (N-th) frame, keep what the framing shows, smooth.

The video tracker (:func:`uvatar.track.video.track_video`) follows the person through the frames as
they stream in: one body shape for the clip, each frame warm-started from the ones before, with
velocity and acceleration priors, left/right kept through turns, re-initialised when the detector's
landmarks disagree with the prediction. Frames where nobody is found are filled from their neighbours.
The framing of the clip (the most common regime of its first frames, or the one asked for) decides
what the motion drives:

* ``head``: the head and neck only, plus the facial actions. The head's world rotation (everything the
  fit put on root, spine, neck and head) is spread evenly over neck01, neck02, neck03 and head, so a
  body left in the reference pose turns its head as the person's head turned in the video;
* ``half``: spine, arms, hands, neck, head and face; the root keeps only its turn about the vertical
  (its lean moves into the lowest spine bone) so the unseen legs stand straight;
* ``full``: every bone, and the root's path relative to the first frame.

Rotations are smoothed over time by a Savitzky-Golay filter on quaternions (hemisphere-aligned, then
renormalised; :func:`uvatar.animate.rotations.smooth_rotvecs`), translation and facial weights by the
same filter, then bone angles are clamped to :mod:`uvatar.animate.limits`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import roma
import torch

from uvatar.animate.motion import MAX_FPS, MIN_FPS, Motion
from uvatar.animate.rotations import interpolate_rotvecs, smooth_rotvecs, smooth_signal, world_from_local
from uvatar.errors import InputError, NoPersonError

__all__ = ["VideoMotionConfig", "motion_from_video", "motion_from_fits", "REGIME_BONES"]

log = logging.getLogger(__name__)

_HEAD_CHAIN = ("neck01", "neck02", "neck03", "head")
_LEGS = ("pelvis", "upperleg", "lowerleg", "foot", "toe")

#: Which bones a motion of each framing drives (by label prefix; "all" drives every bone but the eyes).
REGIME_BONES = {
    "head": _HEAD_CHAIN,
    "half": ("root", "spine", "clavicle", "shoulder", "upperarm", "lowerarm", "wrist", "metacarpal", "finger", "neck", "head"),
    "full": ("all",),
}


@dataclass(frozen=True)
class VideoMotionConfig:
    """Knobs of :func:`motion_from_video`.

    Attributes:
        every: track every N-th frame (the motion's frame rate is the video's divided by N).
        max_frames: stop after this many tracked frames (None: the whole video).
        smooth_s: Savitzky-Golay window in seconds (0 turns smoothing off).
        regime: "head", "half" or "full" to override the framing read from the clip.
        fov_deg: field-of-view prior of the tracker over the longer image side.
        dense: the tracker's dense surface term (optical flow, ``VideoTrackConfig.w_flow``): steadier raw
            fits (joint jitter 8.1 -> 4.9 mm/frame² on the shared head clip, 46.5 -> 37.4 on the dance
            clip) at 13-25 % fewer frames a second; off by default, since a motion is smoothed afterwards and
            tracking speed is what a motion needs (the avatar evaluations and ``uvatar clips``, which
            need registration, use it).
    """

    every: int = 1
    max_frames: int | None = None
    smooth_s: float = 0.25
    regime: str | None = None
    fov_deg: float = 45.0
    dense: bool = False

    def validate(self) -> None:
        if not isinstance(self.every, int) or self.every < 1:
            raise InputError(f"--every must be an integer >= 1; got {self.every!r}")
        if self.max_frames is not None and self.max_frames < 1:
            raise InputError(f"--max-frames must be >= 1; got {self.max_frames}")
        if self.smooth_s < 0:
            raise InputError(f"--smooth must be >= 0 seconds; got {self.smooth_s}")
        if self.regime not in (None, "head", "half", "full"):
            raise InputError(f"--regime must be head, half or full; got {self.regime!r}")


@dataclass
class _FrameFit:
    index: int  # frame index in the video
    rotvecs: torch.Tensor | None  # (J, 3)
    translation: torch.Tensor | None  # (3,)
    facial: torch.Tensor | None  # (52,)
    regime: str | None
    landmark_rel_box: float | None
    seconds: float  # wall time of detecting and fitting this frame
    cpu_seconds: float = 0.0


def motion_from_video(
    path: str | Path,
    body,
    config: VideoMotionConfig = VideoMotionConfig(),
    on_frame: Callable[[int], None] | None = None,
) -> Motion:
    """Track a video into a :class:`Motion` (module doc).

    Args:
        path: the video (anything ffmpeg reads).
        body: :class:`~uvatar.body.model.BodyModel`.
        on_frame: called with the running count after each tracked frame (progress bars).
    Raises:
        InputError: unreadable video or bad options. NoPersonError: nobody in any frame.
    """
    from uvatar.io.video import iter_video
    from uvatar.track.video import VideoTrackConfig, track_video

    config.validate()
    frames, video_fps = iter_video(path, max_frames=config.max_frames, stride=config.every)
    if not video_fps > 0:
        log.warning("%s does not say its frame rate; assuming 25 fps", path)
        video_fps = 25.0
    if not MIN_FPS <= video_fps / config.every <= MAX_FPS:  # checked before hours of tracking, not after
        frames.close()
        raise InputError(
            f"{path} at {video_fps:g} fps with --every {config.every} gives a motion of {video_fps / config.every:g} frames "
            f"per second; motions play at {MIN_FPS:g} to {MAX_FPS:g}: choose a smaller --every"
        )
    fits: list[_FrameFit] = []
    detection = set()
    start = time.perf_counter()
    track_config = VideoTrackConfig(fov_deg=config.fov_deg, regime=config.regime)
    if not config.dense:
        track_config = dataclasses.replace(track_config, w_flow=0.0)
    for k, tracked in enumerate(track_video(frames, body, track_config)):
        detection.add(tracked.detection)
        fit = tracked.fit
        if fit is not None:
            p = fit.params
            fits.append(_FrameFit(k * config.every, p.rotvecs[0].detach(), p.translation[0].detach(), p.facial[0].detach(),
                                  fit.regime, fit.residuals.get("landmark_rel_box"), tracked.seconds, tracked.cpu_seconds))  # fmt: skip
        else:
            log.info("frame %d: nobody found; filled from its neighbours", k * config.every)
            fits.append(_FrameFit(k * config.every, None, None, None, None, None, tracked.seconds, tracked.cpu_seconds))
        if on_frame is not None:
            on_frame(k + 1)
    wall = time.perf_counter() - start
    if not fits:
        raise InputError(f"{path} gave no frames to track; check --max-frames and the video")
    motion = motion_from_fits(fits, body, video_fps / config.every, config)
    motion.name = Path(path).stem
    # detection: where MediaPipe ran ("worker", or in-process: asked for, or "degraded" when the worker could not start)
    motion.meta.update(source_video=str(Path(path).resolve()), video_fps=round(video_fps, 4), every=config.every,
                       track_s=round(wall, 2), tracked_frames_per_s=round(len(fits) / max(wall, 1e-9), 3),
                       detection=", ".join(sorted(detection)), dense_registration=config.dense)  # fmt: skip
    return motion


def motion_from_fits(fits: list[_FrameFit], body, fps: float, config: VideoMotionConfig = VideoMotionConfig()) -> Motion:
    """Turn per-frame fits into a smoothed, framing-aware motion (the part of :func:`motion_from_video`
    after tracking; separate so that it can be tested without a detector)."""
    from uvatar.animate.limits import clamp_to_limits

    valid = [k for k, f in enumerate(fits) if f.rotvecs is not None]
    if not valid:
        raise NoPersonError("nobody was found in any frame of the video; use a clip where one person is visible")
    regimes = Counter(f.regime for f in fits if f.regime is not None)
    regime = config.regime or regimes.most_common(1)[0][0]
    frames = len(fits)
    positions = _fill_positions(frames, valid)
    rotvecs = interpolate_rotvecs(torch.stack([fits[k].rotvecs for k in valid]), positions)  # (T, J, 3)
    translation = _lerp(torch.stack([fits[k].translation for k in valid]), positions)
    facial = _lerp(torch.stack([fits[k].facial for k in valid]), positions).clamp(0, 1)

    rotvecs, translation, driven = _framing(rotvecs, translation, body, regime)
    window = int(round(config.smooth_s * fps)) | 1
    if config.smooth_s > 0 and window >= 3:
        rotvecs[:, driven] = smooth_rotvecs(rotvecs[:, driven], window)
        translation = smooth_signal(translation, window)
        facial = smooth_signal(facial, window).clamp(0, 1)
    rotvecs = clamp_to_limits(rotvecs, body.bone_labels)
    residuals = [f.landmark_rel_box for f in fits if f.landmark_rel_box is not None]
    seconds = [f.seconds for f in fits]
    meta = {
        "source": "video",
        "regime": regime,
        "regimes": dict(regimes),
        "frames_tracked": len(valid),
        "frames_filled": frames - len(valid),
        "source_frames": [f.index for f in fits],
        "smooth_window_frames": window if config.smooth_s > 0 and window >= 3 else 0,
        "landmark_rel_box_mean": round(float(np.mean(residuals)), 5) if residuals else None,
        "track_s_per_frame": round(float(np.mean(seconds)), 3),
        "track_cpu_s_per_frame": round(float(np.mean([f.cpu_seconds for f in fits])), 3),
    }
    return Motion(
        fps=float(fps), rotvecs=rotvecs, translation=translation, bone_labels=list(body.bone_labels),
        bones=[body.bone_labels[c] for c in driven], facial=facial, facial_labels=list(body.facial_labels),
        facial_mode="replace", loop=False, meta=meta,
    )  # fmt: skip


def _fill_positions(frames: int, valid: list[int]) -> torch.Tensor:
    """Fractional positions into the valid-frame list for every frame (linear between known ones)."""
    return torch.tensor(np.interp(np.arange(frames), valid, np.arange(len(valid))), dtype=torch.float32)


def _lerp(values: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    lo = positions.floor().long()
    hi = (lo + 1).clamp(max=values.shape[0] - 1)
    alpha = (positions - lo.float()).reshape(-1, *([1] * (values.dim() - 1)))
    return values[lo] * (1 - alpha) + values[hi] * alpha


def _driven_bones(body, regime: str) -> list[int]:
    prefixes = REGIME_BONES[regime]
    if prefixes == ("all",):
        return [c for c, b in enumerate(body.bone_labels) if not b.startswith("eye")]
    return [c for c, b in enumerate(body.bone_labels) if b.startswith(prefixes)]


def _framing(rotvecs: torch.Tensor, translation: torch.Tensor, body, regime: str) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Per-frame fit parameters -> what a motion of this framing drives (module doc)."""
    frames = rotvecs.shape[0]
    driven = _driven_bones(body, regime)
    out = torch.zeros_like(rotvecs)
    if regime == "head":
        local = roma.rotvec_to_rotmat(rotvecs)
        world = world_from_local(local, list(body.bone_parents))
        head = roma.rotmat_to_rotvec(world[:, body.bone_index("head")])  # (T, 3)
        for label in _HEAD_CHAIN:
            out[:, body.bone_index(label)] = head / len(_HEAD_CHAIN)
        return out, torch.zeros(frames, 3), driven
    out[:, driven] = rotvecs[:, driven]
    if regime == "half":
        root = roma.rotvec_to_rotmat(rotvecs[:, 0])
        forward = root @ torch.tensor([0.0, -1.0, 0.0])
        yaw = torch.atan2(forward[:, 0], -forward[:, 1])
        turn = torch.stack([torch.zeros_like(yaw), torch.zeros_like(yaw), yaw], -1)
        lean = roma.rotvec_to_rotmat(turn).transpose(-1, -2) @ root
        spine = body.bone_index("spine05")
        out[:, 0] = turn
        out[:, spine] = roma.rotmat_to_rotvec(lean @ roma.rotvec_to_rotmat(rotvecs[:, spine]))
        return out, torch.zeros(frames, 3), driven
    return out, translation - translation[:1], driven
