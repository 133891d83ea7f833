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
