"""Helpers shared by tests (import as ``from body_helpers import ...``)."""

import torch


def random_params(body, batch: int, seed: int = 0, scale: float = 0.35):
    """Random but plausible body parameters: small random rotations, random shape, random face."""
    gen = torch.Generator().manual_seed(seed)
    params = body.default_params(batch)
    params.rotvecs = torch.randn(batch, body.n_bones, 3, generator=gen) * scale
    params.translation = torch.randn(batch, 3, generator=gen) * 0.5
    params.phenotypes = torch.rand(batch, len(body.phenotype_labels), generator=gen)
    params.facial = torch.rand(batch, len(body.facial_labels), generator=gen) * 0.5
    return params


def chain_depth(body) -> int:
    """Longest parent chain of the skeleton (bones from the root to the deepest one)."""
    parents = body.bone_parents

    def depth(i):
        d = 0
        while parents[i] >= 0:
            i, d = parents[i], d + 1
        return d

    return max(depth(i) for i in range(body.n_bones))


def posing_tolerance(body, *outputs) -> float:
    """First-order rounding bound (metres) on one float32 evaluation of posed vertices or bone poses.

    The kinematic chain composes up to ``chain_depth`` 4x4 transforms (4-term dot products: gamma(4) per
    level, on the magnitudes |R| |x| + |t|), then the vertex transform (gamma(4)) and the sum over up to
    K skinning weights (gamma(K)): gamma(4 D + 4 + K) times the magnitude max |rest vertex| + max |bone
    translation| of ``outputs`` (BodyOutput). Two implementations differ by at most twice this.
    """
    from float_bounds import gamma

    n = 4 * chain_depth(body) + 4 + int(body.vertex_bone_indices.shape[1])
    magnitude = max(
        float(o.rest_vertices.abs().max()) + float(o.bone_transforms[..., :3, 3].abs().max())
        + float(o.bone_poses[..., :3, 3].abs().max())
        for o in outputs
    )  # fmt: skip
    return gamma(n) * magnitude


def skinning_tolerance(body, *outputs) -> float:
    """Rounding bound (metres) on one float32 linear-blend skinning of given transforms: the vertex
    transform (gamma(4)) and up to K weights (gamma(K)) on max |rest vertex| + max |bone translation|."""
    from float_bounds import gamma

    n = 4 + int(body.vertex_bone_indices.shape[1])
    magnitude = max(float(o.rest_vertices.abs().max()) + float(o.bone_transforms[..., :3, 3].abs().max()) for o in outputs)
    return gamma(n) * magnitude
