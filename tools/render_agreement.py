"""Agreement of the compiled CPU renderer (numba) with the brute-force reference, forward and backward.

    python tools/render_agreement.py

Prints, per dtype and scene (avatar-like scenes of 600 Gaussians seen at 48x48, and one with a wider
camera), the largest |difference| of image and alpha, of depth (metres), and the largest gradient
difference relative to the largest gradient of each tensor. The tests bound the same differences by
per-pixel float rounding (tests/render/test_gaussians.py); this prints the figures.
"""

from __future__ import annotations

import torch

from uvatar.camera import Camera
from uvatar.render.gaussians import render_gaussians
from uvatar.render.gaussians_bench import avatar_scene


def _run(params, camera, background, backend):
    leaves = [p.clone().requires_grad_(True) for p in params]
    out = render_gaussians(*leaves, camera, background=background, backend=backend)
    (out.image.sum() + out.alpha.sum() + 0.1 * out.depth.sum()).backward()
    return out, [p.grad for p in leaves]


def main() -> None:
    for dtype in (torch.float32, torch.float64):
        for seed, fov in ((0, 40.0), (1, 40.0), (2, 25.0)):
            scene = avatar_scene(600, size=48, seed=seed)
            params = [p.to(dtype) for p in scene.params()]
            camera = Camera.look_at([0.0, -3.0, 0.9], [0.0, 0.0, 0.9], 48, 48, fov_y_deg=fov)
            background = torch.tensor([0.2, 0.5, 0.9], dtype=dtype)
            ref, g_ref = _run(params, camera, background, "reference")
            fast, g_fast = _run(params, camera, background, "numba")
            with torch.no_grad():
                colour = max(float((ref.image - fast.image).abs().max()), float((ref.alpha - fast.alpha).abs().max()))
                depth = float((ref.depth - fast.depth).abs().max())
                grad = max(float((a - b).abs().max()) / max(float(a.abs().max()), 1e-30) for a, b in zip(g_ref, g_fast))
            print(f"{str(dtype)[6:]} seed {seed} fov {fov:g}: image/alpha {colour:.2e}, depth {depth:.2e} m, "
                  f"gradients {grad:.2e} of the largest")  # fmt: skip


if __name__ == "__main__":
    main()
