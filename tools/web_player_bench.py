"""Measure the web player on real avatars: exported sizes, page load time and frame rate in headless
Chromium (software WebGL: SwiftShader on the CPU, not a GPU), and agreement with UVatar's CPU render of
the same pose and camera (mask IoU, colour error).

    .venv/bin/python tools/web_player_bench.py out/head/avatar.uvatar [more.uvatar ...] [--size 512]

Prints one JSON line per avatar. Needs chromium (make test-tools).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    from chromium_helper import Page

    from uvatar.animate import load_motion
    from uvatar.animate.render import motion_params
    from uvatar.avatar import Avatar
    from uvatar.body.model import load_body_model
    from uvatar.camera import Camera
    from uvatar.export import export_avatar
    from uvatar.export.web_encoding import rest_state

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("avatars", nargs="+", type=Path)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--motion", default="wave")
    parser.add_argument("--frame", type=int, default=20)
    parser.add_argument("--shots", type=Path, default=None, help="folder to save page | CPU screenshots in")
    args = parser.parse_args()
    torch.set_num_threads(1)
    body = load_body_model()
    import math

    for path in args.avatars:
        avatar = Avatar.load(path)
        with tempfile.TemporaryDirectory() as tmp:
            site = Path(tmp) / "site"
            started = time.perf_counter()
            summary = export_avatar(path, "web", site, body=body)
            export_s = time.perf_counter() - started
            motion = load_motion(args.motion, body)
            _, rest = rest_state(body, avatar)
            params = motion_params(motion, body, avatar.phenotypes, avatar.facial, frames=[args.frame])
            truth = avatar.on_vertices(body.forward_from_rest(params, rest).vertices[0], body.faces)
            low, high = truth.means.min(0).values, truth.means.max(0).values
            centre = (low + high) / 2
            fov = 30.0
            reach = float(max(high[2] - low[2], high[0] - low[0])) / 2
            eye = [float(centre[0]), float(centre[1]) - (1.1 * reach / math.tan(math.radians(fov / 2)) + float(high[1] - low[1]) / 2), float(centre[2])]
            cpu = truth.render(Camera.look_at(eye, centre.tolist(), args.size, args.size, fov_y_deg=fov), background=(1.0, 1.0, 1.0))
            camera = json.dumps({"eye": eye, "target": centre.tolist(), "up": [0, 0, 1], "fovDeg": fov})
            opened = time.perf_counter()
            with Page((site / "index.html").resolve().as_uri(), Path(tmp) / "profile", args.size, args.size) as page:
                page.wait_for("location.protocol === 'file:' && document.readyState === 'complete'", timeout=300)
                info = page.evaluate("window.uvatar.ready", timeout=600)
                ready_s = time.perf_counter() - opened
                fps = page.evaluate("window.uvatar.measureFps(5000)", timeout=600)
                page.evaluate(f"window.uvatar.setGui(false); window.uvatar.setMotion({json.dumps(args.motion)}); window.uvatar.pause(); "
                              f"window.uvatar.setFrame({args.frame}); window.uvatar.setCamera({camera}); window.uvatar.setBackground([1, 1, 1])")
                for background in ("white", "black"):
                    if background == "black":
                        page.evaluate("window.uvatar.setBackground([0, 0, 0])")
                    page.evaluate("window.uvatar.frames(3)", timeout=600)
                    page.evaluate("new Promise(r => setTimeout(r, 1500))")
                    page.evaluate("window.uvatar.frames(2)", timeout=600)
                    shot = page.screenshot().astype(np.float32) / 255
                    white = shot if background == "white" else white
                    black = shot
        alpha = np.clip(1 - (white - black).mean(-1), 0, 1)
        cpu_mask, page_mask = cpu.alpha.numpy() > 0.5, alpha > 0.5
        both = cpu_mask & page_mask
        colour = np.abs(white[both] - cpu.image.numpy()[both]) * 255
        if args.shots:
            from PIL import Image

            args.shots.mkdir(parents=True, exist_ok=True)
            row = np.concatenate([white, cpu.image.numpy()], 1)
            Image.fromarray((row * 255).clip(0, 255).astype(np.uint8)).save(args.shots / f"{path.parent.name}.png")
        print(json.dumps({
            "avatar": str(path), "gaussians": summary["gaussians"], "bytes": summary["bytes"], "export_s": round(export_s, 1),
            "page_ready_s": round(ready_s, 2), "page_load_ms": round(info["loadMs"]), "page_timing_ms": {k: round(v) for k, v in info["timing"].items() if v is not None},
            "fps_swiftshader": round(fps["fps"], 2), "size": args.size,
            "mask_iou": round(float(both.sum() / (cpu_mask | page_mask).sum()), 4),
            "colour_error_mean_255": round(float(colour.mean()), 2), "colour_error_p95_255": round(float(np.percentile(colour.max(-1), 95)), 1),
            "loadavg": open("/proc/loadavg").read().split()[:3],
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
