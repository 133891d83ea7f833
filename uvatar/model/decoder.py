"""The decoder stage's contract: Dual-UV features in, per-texel Gaussians (:class:`UVGaussians`) out.

Two implementations share it: the training-free projection baseline
(:class:`uvatar.model.projection.ProjectionDecoder`) and the learned MAE decoder
(:class:`uvatar.model.learned.LearnedDecoder`, residuals over the same baseline). A decoder says which
projections it needs (:meth:`Decoder.projections`: a name -> encoder and grid sizes), the orchestrator
projects the fitted views once per distinct request (:mod:`uvatar.dualuv`), and the decoder turns them
into :class:`UVGaussians`, which :meth:`uvatar.avatar.Avatar.from_gaussians` binds to the body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch

from uvatar.dualuv.project import UVFeatures
from uvatar.dualuv.views import ProjectionRequest

__all__ = ["UVGaussians", "ProjectionRequest", "Decoder", "get_decoder"]

_PER_GAUSSIAN = ("face_index", "barycentrics", "offsets", "rotations_wxyz", "scales", "colors", "opacities", "layer")


@dataclass
class UVGaussians:
    """Gaussians bound to faces of the canonical body (the layout of :data:`uvatar.avatar.LAYOUT`).

    Attributes:
        face_index: ``(N,)`` int64; barycentrics ``(N, 3)``; offsets ``(N, 3)`` metres in the face frame;
        rotations_wxyz ``(N, 4)`` in the face frame; scales ``(N, 3)`` metres; colors ``(N, 3)`` in [0, 1];
        opacities ``(N,)``; layer ``(N,)`` uint8 (0 Core-UV, 1 Shell-UV). Tensors may carry gradients.
        meta: how they were made (decoder, resolutions, stats).
    """

    face_index: torch.Tensor
    barycentrics: torch.Tensor
    offsets: torch.Tensor
    rotations_wxyz: torch.Tensor
    scales: torch.Tensor
    colors: torch.Tensor
    opacities: torch.Tensor
    layer: torch.Tensor
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.face_index.shape[0])

    def select(self, keep: torch.Tensor, detach: bool = True) -> "UVGaussians":
        """The Gaussians where ``keep (N,)`` bool is true (detached unless ``detach`` is False), same meta."""
        return UVGaussians(*((getattr(self, name).detach() if detach else getattr(self, name))[keep] for name in _PER_GAUSSIAN), meta=self.meta)

    def extend(self, other: "UVGaussians") -> "UVGaussians":
        """These Gaussians followed by ``other``'s (in this one's dtypes and device), this one's meta."""
        return UVGaussians(*(torch.cat([getattr(self, name), getattr(other, name).to(getattr(self, name))]) for name in _PER_GAUSSIAN),
                           meta=self.meta)  # fmt: skip


class Decoder(Protocol):
    """What :func:`uvatar.reconstruct.reconstruct` (and evaluation) call on any decoder."""

    name: str

    def projections(self, core_resolution: int, shell_resolution: int) -> dict[str, ProjectionRequest]:
        """The projections :meth:`decode` reads, by name, for an avatar at these grid sides."""

    def decode(self, uvs: dict[str, UVFeatures], body, phenotypes: torch.Tensor, facial: torch.Tensor) -> UVGaussians:
        """Gaussians from the requested projections (``phenotypes (6,)``, ``facial (52,)``: the subject's)."""


def get_decoder(spec: str, body, device: str = "cpu") -> Decoder:
    """``"projection"`` -> :class:`~uvatar.model.projection.ProjectionDecoder`; ``"default"``, a decoder
    file or a run folder -> :class:`~uvatar.model.learned.LearnedDecoder`."""
    if spec == "projection":
        from uvatar.model.projection import ProjectionDecoder

        return ProjectionDecoder()
    from uvatar.model.learned import LearnedDecoder

    return LearnedDecoder.load(spec, body, device)
