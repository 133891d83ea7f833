"""FittedView: one photo with its fitted body and camera, what every stage after tracking takes.

Reconstruction builds it from a tracked photo (:func:`fitted_view`); training and evaluation build it
from the TRUE body and camera of a synthetic or rendered subject; the projection
(:func:`uvatar.dualuv.project_view`) and the decoders read only this.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from uvatar.body.model import BodyModel, BodyParams
from uvatar.camera import Camera
from uvatar.track.missed_hair import missed_hair
from uvatar.track.person_mask import PersonMaskConfig, clean_person_mask
from uvatar.track.proxyfit import ProxyFit

__all__ = ["FittedView", "fitted_view"]

log = logging.getLogger(__name__)


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
        templates: fitted hair and garment surfaces (:class:`~uvatar.track.templates.ShellTemplate`) the
            projection also projects onto; empty when none were fitted.
        mask_cleanup: what :func:`~uvatar.track.person_mask.clean_person_mask` removed from the detected
            mask (``dropped_fraction`` and per rule) and the share of it added back as missed hair
            (``added_missed_hair``), or None when the mask was not cleaned.
    """

    image: np.ndarray
    mask: np.ndarray | None
    params: BodyParams
    vertices: torch.Tensor
    camera: Camera
    fit: ProxyFit | None = None
    templates: list = field(default_factory=list)
    mask_cleanup: dict | None = None

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


def fitted_view(
    image: np.ndarray,
    fit: ProxyFit,
    mask: np.ndarray | None,
    body: BodyModel,
    phenotypes: torch.Tensor | None = None,
    mask_config: PersonMaskConfig | None = PersonMaskConfig(),
) -> FittedView:
    """The :class:`FittedView` of a tracked photo.

    Args:
        image: ``(H, W, 3)`` the photo as fitted; fit: its :class:`ProxyFit`; mask: ``(H, W)`` or None.
        body: the body model that poses ``fit.params``.
        phenotypes: ``(1, 6)`` a shape shared by several photos of one person (default: the fit's own).
        mask_config: the limits of the person-mask cleanup (:mod:`uvatar.track.person_mask`: matter the
            posed body can neither wear nor hold is removed); None keeps the detected mask as it is.
    """
    params = fit.params.detach()
    if phenotypes is not None:
        params.phenotypes = phenotypes.clone()
    out = body.forward(params)
    vertices = out.vertices[0].detach()
    cleanup = None
    if mask is not None and mask_config is not None:
        up = out.bone_transforms[0, body.bone_index("root"), :3, 2].detach().cpu()  # the root's +Z: the body's up
        mask, cleanup = clean_person_mask(mask, vertices.cpu(), body.faces.cpu(), fit.camera, body.face_parts.cpu(), up=up,
                                          image=image, config=mask_config)  # fmt: skip
        if mask_config.missed_hair:
            added = missed_hair(image, mask, vertices.cpu(), body, fit.camera)
            mask = np.where(added, np.float32(1.0), mask).astype(np.float32)
            cleanup["added_missed_hair"] = round(float(added.sum()) / max(float((mask > mask_config.threshold).sum()), 1.0), 5)
            if added.any():
                log.info("person mask: %d hair pixels the segmentation left out added back", int(added.sum()))
        log.debug("person mask cleanup: %s", cleanup)
    return FittedView(image, mask, params, vertices, fit.camera, fit, mask_cleanup=cleanup)
