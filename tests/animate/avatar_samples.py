"""A small synthetic avatar for animation tests (a few thousand Gaussians spread over the body)."""

from __future__ import annotations

import torch

from uvatar.avatar import Avatar


def small_avatar(body, n: int = 4000, seed: int = 0) -> Avatar:
    g = torch.Generator().manual_seed(seed)
    faces = body.faces.shape[0]
    bary = torch.rand(n, 3, generator=g) + 0.05
    opacities = torch.full((n,), 0.9)
    opacities[:10] = 1e-3  # invisible: the poser may drop these
    from uvatar.track.fit import photo_camera

    camera = photo_camera(96, 128)
    fit_rotvecs = torch.zeros(1, body.n_bones, 3)
    fit_rotvecs[0, body.bone_index("lowerleg01.L")] = torch.tensor([0.0, -0.5, 0.0])
    return Avatar(
        face_index=torch.randint(0, faces, (n,), generator=g),
        barycentrics=bary / bary.sum(-1, keepdim=True),
        offsets=torch.randn(n, 3, generator=g) * 0.004,
        rotations_wxyz=torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=-1),
        scales=torch.full((n, 3), 0.025),
        colors=torch.rand(n, 3, generator=g) * 0.5,
        opacities=opacities,
        layer=torch.zeros(n, dtype=torch.uint8),
        phenotypes=torch.full((6,), 0.5),
        facial=torch.zeros(52),
        meta={"fit_camera": camera.to_dict(), "fit_params": {"rotvecs": fit_rotvecs.tolist(), "translation": [[0.0, 2.6, 0.0]]}},
    )
