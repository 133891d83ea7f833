"""Video tracking on a real clip: speed, steadiness and re-projection, video tracker against per-frame fits.

For each frame the fitted body's 23 COCO joints (Anny's regressor, metres, in the clip's camera frame:
both trackers use the same camera for a clip) and the mean re-projection error of the visible body
landmarks (pixels and over the person-box height, against the detections that tracker used) are kept.

* jitter: mean absolute 3D acceleration of the joints, ``|J[t+1] - 2 J[t] + J[t-1]|`` in millimetres per
  frame squared, over runs of consecutive tracked frames (:func:`joint_jitter`);
* yaw: the root's turn per frame, unwrapped (video tracker), and the torso's yaw from the camera
  (:func:`uvatar.data.clips.fitted_yaw`); :func:`turn_report` says whether a turn is monotonic;
* time: wall and CPU seconds per frame (detection included), and the process's peak memory.

Command line: ``python -m uvatar.eval.video_tracking VIDEO --tracker video|photo [--max-frames N]
[--every N] [--out OUT.json] [--plot YAW.png]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from pathlib import Path

import numpy as np
import torch

__all__ = ["joint_jitter", "turn_report", "evaluate_tracking", "main"]

log = logging.getLogger(__name__)


def joint_jitter(joints: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean absolute acceleration ``|J[t+1] - 2 J[t] + J[t-1]|`` (units of ``joints`` per frame^2).

    Args:
        joints: ``(T, K, 3)`` joint positions per frame.
        valid: ``(T,)`` bool, frames that were tracked (a triple counts only when all three are).
    """
    joints = np.asarray(joints, dtype=np.float64)
    if len(joints) < 3:
        return float("nan")
    valid = np.ones(len(joints), bool) if valid is None else np.asarray(valid, bool)
    ok = valid[:-2] & valid[1:-1] & valid[2:]
    if not ok.any():
        return float("nan")
    acc = np.linalg.norm(joints[2:] - 2 * joints[1:-1] + joints[:-2], axis=-1)  # (T-2, K)
    return float(acc[ok].mean())


def turn_report(yaw_deg: np.ndarray, tolerance_deg: float = 2.0) -> dict:
    """Is an unwrapped yaw sequence one monotonic turn? -> ``{"total_deg", "monotonic", "reversals", "steps_deg"}``.

    A step against the turn's overall direction larger than ``tolerance_deg`` is a reversal.
    """
    yaw = np.asarray(yaw_deg, dtype=np.float64)
    steps = np.diff(yaw)
    total = float(yaw[-1] - yaw[0]) if len(yaw) else 0.0
    direction = np.sign(total) or 1.0
    reversals = int((steps * direction < -tolerance_deg).sum())
    return {"total_deg": round(total, 2), "monotonic": reversals == 0, "reversals": reversals,
            "min_step_deg": round(float((steps * direction).min()), 2) if len(steps) else None,
            "max_step_deg": round(float((steps * direction).max()), 2) if len(steps) else None}  # fmt: skip


def evaluate_tracking(video: str | Path, tracker: str = "video", max_frames: int | None = None, every: int = 1) -> dict:
    """Track ``video`` with ``tracker`` ("video": :func:`uvatar.track.video.track_video`; "photo": each frame
    on its own with :func:`uvatar.track.track_photo`) and measure it (module doc)."""
    from uvatar.body.model import load_body_model
    from uvatar.data.clips import fitted_yaw
    from uvatar.errors import InputError, NoPersonError
    from uvatar.io.video import iter_video

    if tracker not in ("video", "photo"):
        raise InputError(f"tracker must be video or photo; got {tracker!r}")
    body = load_body_model()
    frames, fps = iter_video(video, max_frames=max_frames, stride=every)
    rows = []
    wall, cpu = time.perf_counter(), time.process_time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_cpu = before.ru_utime + before.ru_stime

    def row(index, fit, seconds, cpu_seconds, extra):
        if fit is None:
            return {"frame": index * every, "tracked": False, "seconds": round(seconds, 4), "cpu_seconds": round(cpu_seconds, 4)}
        with torch.no_grad():
            joints = body.keypoints.coco(body.forward(fit.params.detach()).vertices)[0].numpy()
        return {"frame": index * every, "tracked": True, "joints": joints.tolist(), "landmark_px": fit.residuals.get("landmark_px"),
                "landmark_rel_box": fit.residuals.get("landmark_rel_box"), "torso_yaw_deg": round(fitted_yaw(body, fit, use_head=False), 2),
                "seconds": round(seconds, 4), "cpu_seconds": round(cpu_seconds, 4), **extra}  # fmt: skip

    if tracker == "video":
        from uvatar.track.video import track_video

        for tracked in track_video(frames, body):
            extra = {"root_yaw_deg": tracked.yaw_deg, "swapped": tracked.swapped, "reinit": tracked.reinit}
            rows.append(row(tracked.index, tracked.fit, tracked.seconds, tracked.cpu_seconds, extra))
    else:
        from uvatar.track import track_photo

        for index, frame in enumerate(frames):
            start, start_cpu = time.perf_counter(), time.process_time()
            try:
                fit, _ = track_photo(frame.astype(np.float32) / 255.0, body)
            except NoPersonError:
                fit = None
            rows.append(row(index, fit, time.perf_counter() - start, time.process_time() - start_cpu, {}))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the detection worker, once it has ended
    cpu += children.ru_utime + children.ru_stime - children_cpu
    tracked_rows = [r for r in rows if r["tracked"]]
    valid = np.array([r["tracked"] for r in rows])
    joints = np.array([r["joints"] if r["tracked"] else np.zeros((23, 3)) for r in rows])
    summary = {
        "frames": len(rows),
        "tracked": len(tracked_rows),
        "jitter_mm_per_frame2": round(1000 * joint_jitter(joints, valid), 3),
        "landmark_px_mean": round(float(np.mean([r["landmark_px"] for r in tracked_rows if r["landmark_px"] is not None])), 3),
        "landmark_rel_box_mean": round(float(np.mean([r["landmark_rel_box"] for r in tracked_rows if r["landmark_rel_box"] is not None])), 5),
        "wall_s": round(wall, 2),
        "frames_per_s": round(len(rows) / wall, 3),
        "cpu_s_per_frame": round(cpu / len(rows), 4),  # this process and the detection worker
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "worker_peak_rss_mb": round(children.ru_maxrss / 1024, 1),  # the largest child process's (the detector)
    }
    if tracker == "video" and tracked_rows:
        summary["turn"] = turn_report(np.array([r["root_yaw_deg"] for r in tracked_rows]))
        summary["swapped_frames"] = sum(bool(r.get("swapped")) for r in tracked_rows)
        summary["reinit_frames"] = sum(bool(r.get("reinit")) for r in tracked_rows)
    for r in rows:
        r.pop("joints", None)
    return {"video": str(video), "fps": fps, "every": every, "tracker": tracker, "summary": summary, "rows": rows}


def plot_yaw(results: list[dict], path: str | Path, title: str = "") -> None:
    """Root yaw (video tracker, unwrapped) and torso yaw per frame of each result, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from uvatar.io.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    for result in results:
        rows = [r for r in result["rows"] if r["tracked"]]
        frames = [r["frame"] for r in rows]
        if result["tracker"] == "video":
            ax.plot(frames, [r["root_yaw_deg"] for r in rows], "o-", label="video tracker: root yaw (unwrapped)")
            swapped = [r for r in rows if r.get("swapped")]
            if swapped:
                ax.plot([r["frame"] for r in swapped], [r["root_yaw_deg"] for r in swapped], "rx", ms=9, label="left/right labels swapped")
        torso = np.degrees(np.unwrap(np.radians([r["torso_yaw_deg"] for r in rows])))
        ax.plot(frames, -torso, "s--", ms=3, label=f"{result['tracker']} tracker: torso yaw from the camera (unwrapped, sign flipped)")
    ax.set_xlabel("frame")
    ax.set_ylabel("degrees")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Speed, jitter and re-projection of the video tracker (or per-frame photo fits) on a clip.")
    parser.add_argument("video")
    parser.add_argument("--tracker", default="video", choices=("video", "photo"))
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--out", default=None, help="JSON with per-frame rows")
    parser.add_argument("--plot", default=None, help="PNG of the yaw per frame")
    args = parser.parse_args(argv)
    from uvatar.eval import log_progress_to_stderr

    log_progress_to_stderr(log)
    result = evaluate_tracking(args.video, args.tracker, args.max_frames, args.every)
    if args.out:
        from uvatar.io.atomic import atomic_write_text

        atomic_write_text(Path(args.out), json.dumps(result, indent=1))
    if args.plot:
        plot_yaw([result], args.plot, f"{Path(args.video).name}: {args.tracker} tracker")
    print(json.dumps(result["summary"], indent=1))  # noqa: T201 - command-line output


if __name__ == "__main__":
    main()
