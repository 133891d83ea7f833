"""FittedView: one photo with its fitted body and camera, what every stage after tracking takes.

Reconstruction builds it from a tracked photo (:func:`fitted_view`); training and evaluation build it
from the TRUE body and camera of a synthetic or rendered subject; the projection
(:func:`uvatar.dualuv.project_view`) and the decoders read only this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from uvatar.body.model import BodyModel, BodyParams
from uvatar.camera import Camera
from uvatar.track.proxyfit import ProxyFit

__all__ = ["FittedView", "fitted_view"]


@dataclass
class FittedView:
    """A photo and the body fitted to it.

    Attributes:
        image: ``(H, W, 3)`` float32 RGB in [0, 1], the photo as fitted (upright).
        mask: ``(H, W)`` float32 person mask in [0, 1] at the photo's resolution, or None (no segmentation).
        params: the body parameters (batch 1) posing the body in this photo; ``params.phenotypes`` is the
            shape the avatar gets.
        vertices: ``(V, 3)`` float32 posed body in the photo's world, metres.
        camera: the photo's :class:`~uvatar.camera.Camera` (OpenCV convention).
        fit: the :class:`~uvatar.track.ProxyFit` it came from (regime, residuals), or None for truth.
    """

    image: np.ndarray
    mask: np.ndarray | None
    params: BodyParams
    vertices: torch.Tensor
    camera: Camera
    fit: ProxyFit | None = None

    @property
    def phenotypes(self) -> torch.Tensor:
        """``(6,)`` the body's shape."""
        return self.params.phenotypes[0]

    @property
    def facial(self) -> torch.Tensor:
        """``(52,)`` the face's expression parameters."""
        return self.params.facial[0]

    @property
    def mask_tensor(self) -> torch.Tensor | None:
        """``(H, W)`` float32 tensor of :attr:`mask`, or None."""
        return None if self.mask is None else torch.as_tensor(self.mask, dtype=torch.float32)


def fitted_view(image: np.ndarray, fit: ProxyFit, mask: np.ndarray | None, body: BodyModel, phenotypes: torch.Tensor | None = None) -> FittedView:
    """The :class:`FittedView` of a tracked photo.

    Args:
        image: ``(H, W, 3)`` the photo as fitted; fit: its :class:`ProxyFit`; mask: ``(H, W)`` or None.
        body: the body model that poses ``fit.params``.
        phenotypes: ``(1, 6)`` a shape shared by several photos of one person (default: the fit's own).
    """
    params = fit.params.detach()
    if phenotypes is not None:
        params.phenotypes = phenotypes.clone()
    vertices = body.forward(params).vertices[0].detach()
    return FittedView(image, mask, params, vertices, fit.camera, fit)
