"""The identity encoder: the image itself as a 3-channel feature map at stride 1."""

from __future__ import annotations

import torch

from uvatar.encode.base import Encoder, FeatureMap

__all__ = ["RGBEncoder"]


class RGBEncoder(Encoder):
    """"rgb": features = the (3, H, W) image in [0, 1], stride 1, channels ["r", "g", "b"]."""

    name = "rgb"
    channels = 3
    stride = 1.0

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)

    def _encode(self, x: torch.Tensor) -> FeatureMap:
        """x: (1, 3, H, W) in [0, 1] -> FeatureMap (3, H, W)."""
        _, _, h, w = x.shape
        return FeatureMap(x[0].clone(), 1.0, (w, h), self.name, ["r", "g", "b"])
