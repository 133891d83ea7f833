"""``uvatar clips``: the 2D generation branch: user-supplied clips of one person -> weakly correlated views.

For each video (one person per clip, e.g. made by a video generator from :mod:`uvatar.data.prompts`):

1. frames are read with a stride (``--stride``) and saved as ``frames/<frame>.jpg``;
2. the kept frames are tracked as one clip (:func:`uvatar.track.video.track_video`: one shape, warm
   starts, left/right kept through turns): ``fits/<frame>.json`` (+ ``.safetensors``);
3. each fitted frame gets a view label from the fitted body's orientation relative to its camera
   (:func:`fitted_yaw`; labels of :func:`uvatar.data.cameras.view_label`: front, three_quarter,
   side, back);
4. directed consistency (:func:`directed_pairs`): supervision may flow only from a more reliable
   view to a less reliable one, by level front (0) > three_quarter (1) > side (2) > back (3). An edge
   ``src -> dst`` exists when ``level(src) < level(dst)``; with ``same_level_edges`` (default) also
   between frames of one level, from the more confident fit to the less confident one (ties: the
   earlier frame first). Reliability is thus a strict order ``(level, -confidence, frame)``, so the
   graph has no cycle (no two frames supervise each other, which amplifies identity drift). A clip
   that never turns (a talking head: all front) still gives pairs across expressions and head
   motion. Weight: ``conf(src) * exp(-|t_src - t_dst| / tau) / max(1, level(dst) - level(src))``:
   confident, close in time (generated clips drift), same or adjacent levels (front -> three-quarter
   -> side -> back) first. Each frame keeps its ``max_in_edges`` strongest incoming edges.

Output per clip (written to a temporary folder and renamed, so a clip folder is complete or absent;
clips already done are skipped)::

    OUT/<clip>/frames/000120.jpg      the frame (source frame number 120)
    OUT/<clip>/masks/000120.png       the detector's person mask (8-bit) of that frame
    OUT/<clip>/fits/000120.json       ProxyFit (regime, params, camera, residuals, confidence)
    OUT/<clip>/views.json             per frame: time, view label, yaw, regime, confidence, or the error
    OUT/<clip>/graph.json             levels, nodes, weighted edges src -> dst, acyclic: true

The fitted yaw of a BACK view is the weak spot: MediaPipe assumes a visible face and can mirror a back
view into a front one. The video tracker follows the turn from the frames before and swaps the
detector's left/right labels when the prediction says so (``fits/<frame>.json``: residual
``swapped``); a clip that opens on a back view still starts from the detector's reading.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from uvatar.data.cameras import VIEW_LABELS, view_label
from uvatar.errors import InputError

__all__ = ["ClipsConfig", "fitted_yaw", "directed_pairs", "is_acyclic", "ingest_clip", "run_clips"]

log = logging.getLogger(__name__)

#: Reliability level of each view label (lower is more reliable).
LEVELS = {label: i for i, label in enumerate(VIEW_LABELS)}


@dataclass(frozen=True)
class ClipsConfig:
    """Options of ``uvatar clips``.

    Attributes:
        stride: keep every ``stride``-th frame; max_frames: stop after that many kept frames (None: all).
        fov_deg: field-of-view prior of the tracker, degrees.
        tau_s: time constant of the edge weights, seconds.
        max_in_edges: strongest incoming edges kept per frame.
        min_confidence: frames whose fit confidence is lower get no outgoing edges.
        same_level_edges: pairs within one view level, from the more to the less confident fit.
    """

    stride: int = 10
    max_frames: int | None = None
    fov_deg: float = 45.0
    tau_s: float = 2.0
    max_in_edges: int = 4
    min_confidence: float = 0.2
    same_level_edges: bool = True


def fitted_yaw(body, fit, use_head: bool | None = None) -> float:
    """Signed yaw in degrees of the fitted person relative to its camera (0: facing the camera).

    The facing direction is the torso's, ``(left - right shoulders and hips) x (up)`` of the posed fit,
    or, for head framings (``use_head``; default: when ``fit.regime == "head"``), the head bone's
    forward direction. The angle is taken around the body's up axis between that and the direction
    to the camera, positive when the camera is on the person's left.
    """
    use_head = fit.regime == "head" if use_head is None else use_head
    with torch.no_grad():
        out = body.forward(fit.params)
        coco = dict(zip(body.keypoints.coco_labels, body.keypoints.coco(out.vertices)[0].double().numpy()))
        if use_head:
            neutral = fit.params.detach()
            neutral.rotvecs = torch.zeros_like(neutral.rotvecs)
            head = body.bone_index("head")
            rot = out.bone_poses[0, head, :3, :3].double() @ body.forward(neutral).bone_poses[0, head, :3, :3].double().T
    left = 0.5 * (coco["left_shoulder"] + coco["left_hip"])
    right = 0.5 * (coco["right_shoulder"] + coco["right_hip"])
    pelvis = 0.5 * (coco["left_hip"] + coco["right_hip"])
    neck = 0.5 * (coco["left_shoulder"] + coco["right_shoulder"])
    lateral, up = left - right, neck - pelvis
    up = up / np.linalg.norm(up)
    facing = rot.numpy() @ np.array([0.0, -1.0, 0.0]) if use_head else np.cross(lateral, up)
    to_camera = fit.camera.center.double().numpy() - (coco["nose"] if use_head else 0.5 * (pelvis + neck))
    # project both onto the plane perpendicular to the body's up axis
    facing = facing - (facing @ up) * up
    to_camera = to_camera - (to_camera @ up) * up
    return float(math.degrees(math.atan2(np.cross(facing, to_camera) @ up, facing @ to_camera)))


def directed_pairs(nodes: list[dict], config: ClipsConfig = ClipsConfig()) -> list[dict]:
    """Weighted edges ``{src, dst, weight}`` (indices into ``nodes``) from more to less reliable views.

    Args:
        nodes: dicts with ``view`` (label), ``time_s`` and ``confidence``; nodes without a view are skipped.
    """
    edges_by_dst: dict[int, list[dict]] = {}
    for j, dst in enumerate(nodes):
        if dst.get("view") is None:
            continue
        for i, src in enumerate(nodes):
            if src.get("view") is None or src.get("confidence", 0.0) < config.min_confidence:
                continue
            gap = LEVELS[dst["view"]] - LEVELS[src["view"]]
            if gap < 0 or (gap == 0 and not (config.same_level_edges and _more_confident(src, i, dst, j))):
                continue
            weight = src["confidence"] * math.exp(-abs(src["time_s"] - dst["time_s"]) / config.tau_s) / max(1, gap)
            edges_by_dst.setdefault(j, []).append({"src": i, "dst": j, "weight": round(weight, 5)})
    edges = []
    for j in sorted(edges_by_dst):
        strongest = sorted(edges_by_dst[j], key=lambda e: (-e["weight"], e["src"]))[: config.max_in_edges]
        edges += sorted(strongest, key=lambda e: e["src"])
    return edges


def _more_confident(a: dict, i: int, b: dict, j: int) -> bool:
    """Whether node ``a`` (index ``i``) is more reliable than node ``b`` of the same level: higher fit
    confidence, ties broken by the earlier index (a strict order, so no cycles)."""
    return (-a.get("confidence", 0.0), i) < (-b.get("confidence", 0.0), j)


def is_acyclic(n_nodes: int, edges: list[dict]) -> bool:
    """Whether the directed graph has no cycle (Kahn's algorithm)."""
    indegree = [0] * n_nodes
    out: dict[int, list[int]] = {}
    for e in edges:
        indegree[e["dst"]] += 1
        out.setdefault(e["src"], []).append(e["dst"])
    ready = [i for i in range(n_nodes) if indegree[i] == 0]
    seen = 0
    while ready:
        i = ready.pop()
        seen += 1
        for j in out.get(i, []):
            indegree[j] -= 1
            if indegree[j] == 0:
                ready.append(j)
    return seen == n_nodes


def ingest_clip(
    video: str | Path, out: str | Path, body=None, config: ClipsConfig = ClipsConfig(),
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Ingest one clip into ``out/<clip stem>/`` (module docstring). Returns the clip's summary.

    Raises:
        InputError: unreadable video or no frame.
    """
    import dataclasses

    from uvatar.body.model import load_body_model
    from uvatar.io.atomic import atomic_dir, atomic_write_text
    from uvatar.io.image import save_image
    from uvatar.io.video import iter_video
    from uvatar.track.video import VideoTrackConfig, track_video

    video = Path(video)
    target = Path(out) / video.stem
    if (target / "graph.json").exists():
        log.info("%s: already ingested, skipped", target)
        return json.loads((target / "graph.json").read_text())["summary"]
    body = body or load_body_model()
    frames, fps = iter_video(video, max_frames=config.max_frames, stride=config.stride)
    fps = fps or 25.0
    nodes = []
    start = time.perf_counter()
    with atomic_dir(target) as tmp:

        def saved(frames):  # each frame is written as it streams past (the clip is never held in memory)
            for k, frame in enumerate(frames):
                save_image(tmp / "frames" / f"{k * config.stride:06d}.jpg", frame, quality=92)
                yield frame

        def save_mask(k: int, det) -> None:
            if det is not None and det.mask is not None:
                save_image(tmp / "masks" / f"{k * config.stride:06d}.png", np.asarray(det.mask, np.float32))

        tracking = track_video(saved(frames), body, VideoTrackConfig(fov_deg=config.fov_deg), on_detection=save_mask)
        for tracked in tracking:
            number = tracked.index * config.stride
            name = f"{number:06d}"
            node = {"frame": number, "name": name, "time_s": round(number / fps, 3), "view": None}
            fit = tracked.fit
            if fit is None:  # nobody in this frame: kept in views.json, no fit, no edges
                node["error"] = f"no person found in frame {number}"
            else:
                fit.save(tmp / "fits" / f"{name}.json")
                yaw = fitted_yaw(body, fit)
                node.update(view=view_label(yaw), yaw_deg=round(yaw, 2), regime=fit.regime,
                            confidence=round(float(fit.confidence), 4), low_confidence=bool(fit.low_confidence))
            nodes.append(node)
            if progress:
                progress(1)
        if not nodes:
            raise InputError(f"{video} gave no frames; pass a readable video or lower --stride")
        edges = directed_pairs(nodes, config)
        counts = {label: sum(1 for n in nodes if n["view"] == label) for label in VIEW_LABELS}
        summary = {"clip": video.name, "frames": len(nodes), "fitted": sum(1 for n in nodes if n["view"]),
                   "views": counts, "edges": len(edges), "seconds": round(time.perf_counter() - start, 1)}
        atomic_write_text(tmp / "views.json", json.dumps({"clip": str(video), "fps": fps, "stride": config.stride,
                                                          "frames": nodes}, indent=1))
        graph = {"levels": LEVELS, "nodes": [{"frame": n["frame"], "view": n["view"], "time_s": n["time_s"],
                                              "confidence": n.get("confidence")} for n in nodes],
                 "edges": edges, "acyclic": is_acyclic(len(nodes), edges), "config": dataclasses.asdict(config),
                 "summary": summary}
        atomic_write_text(tmp / "graph.json", json.dumps(graph, indent=1))
    return summary


def run_clips(videos: list[str | Path], out: str | Path, config: ClipsConfig = ClipsConfig(), body=None,
              progress: Callable[[int], None] | None = None, overwrite: bool = False) -> dict:
    """Ingest every clip of ``videos`` into ``out`` and write ``out/clips.json`` (all summaries).

    ``out`` is checked first (:func:`~uvatar.io.output_dir.check_output_dir`): a non-empty folder UVatar
    did not write needs ``overwrite``; clips already ingested there are kept and skipped.
    """
    from uvatar.body.model import load_body_model
    from uvatar.io.atomic import atomic_write_text
    from uvatar.io.output_dir import MARKER, check_output_dir, marker_text, read_marker

    if not videos:
        raise InputError("pass at least one video clip")
    check_output_dir(out, inputs=videos, overwrite=overwrite)
    names = [Path(v).stem for v in videos]
    if len(set(names)) != len(names):
        raise InputError("two clips have the same file name; rename one (outputs are named after the clip)")
    body = body or load_body_model()
    summaries = [ingest_clip(v, out, body, config, progress) for v in videos]
    atomic_write_text(Path(out) / "clips.json", json.dumps({"clips": summaries}, indent=1))
    ours = set(read_marker(Path(out)) or []) | {"clips.json"} | set(names)  # each clip folder has its own marker too
    atomic_write_text(Path(out) / MARKER, marker_text(ours))
    return {"clips": summaries}
