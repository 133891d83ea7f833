"""ST-LPIPS, the shift-tolerant learned perceptual distance (Ghildyal & Liu, ECCV 2022), offline.

Mirrors ``stlpips_pytorch.stlpips.LPIPS(net=..., variant="shift_tolerant")`` in eval mode with the
wheel's weights (loaded strictly, unlike the original's ``strict=False``): inputs in [0, 1] go to
[-1, 1], through the ScalingLayer, through the anti-aliased trunk; per tap the channel vectors are
unit-normalised, squared differences are weighted by the learned 1x1 "lin" head, averaged over space,
and summed over the five taps.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from uvatar.encode._stlpips_weights import load_stlpips_state_dict
from uvatar.encode.base import image_to_tensor
from uvatar.encode.vgg import LPIPS_SCALE, LPIPS_SHIFT, BlurPool, SlicedTrunk, STVGG16Features, unit_normalize
from uvatar.errors import InputError

__all__ = ["STLPIPS", "STAlexNetFeatures", "stlpips_distance"]

_CHANNELS = {"vgg": (64, 128, 256, 512, 512), "alex": (64, 192, 384, 256, 256)}


class STAlexNetFeatures(SlicedTrunk):
    """Shift-tolerant AlexNet trunk (conv1 at stride 1 + BlurPools). (B, 3, H, W) -> 5 taps relu1..relu5."""

    def __init__(self) -> None:
        super().__init__()
        layers = [
            nn.Conv2d(3, 64, kernel_size=11, stride=1, padding=2), BlurPool(64), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=1), BlurPool(64), nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=1), BlurPool(192), nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
        ]
        self._add_slices(layers, (0, 3, 7, 11, 13, 15))  # stlpips_pytorch's slicing, hence its parameter names


class _Scaling(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT)[None, :, None, None])
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE)[None, :, None, None])


class _Lin(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        # index 0 is the original's Dropout, a no-op in eval mode
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(c, 1, kernel_size=1, bias=False))


class STLPIPS(nn.Module):
    """ST-LPIPS distance module (frozen, eval). forward(a, b): (B, 3, H, W) in [0, 1] twice -> (B,).

    Differentiable, so it can serve as a training loss. ``net`` is "vgg" or "alex".
    """

    def __init__(self, net: str = "vgg") -> None:
        super().__init__()
        if net not in _CHANNELS:
            raise InputError(f"ST-LPIPS net must be 'vgg' or 'alex', got {net!r}")
        self.net_name = net
        self.scaling_layer = _Scaling()
        self.net = STVGG16Features() if net == "vgg" else STAlexNetFeatures()
        for k, c in enumerate(_CHANNELS[net]):
            self.add_module(f"lin{k}", _Lin(c))
        self.load_state_dict(load_stlpips_state_dict(net), strict=True)
        self.eval().requires_grad_(False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape != b.shape or a.ndim != 4 or a.shape[1] != 3:
            raise InputError(f"ST-LPIPS needs two (B, 3, H, W) images of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
        sl = self.scaling_layer
        fa = self.net(((2 * a - 1) - sl.shift) / sl.scale)
        fb = self.net(((2 * b - 1) - sl.shift) / sl.scale)
        total = a.new_zeros(a.shape[0])
        for k in range(5):
            d = (unit_normalize(fa[k]) - unit_normalize(fb[k])) ** 2
            total = total + getattr(self, f"lin{k}").model(d).mean(dim=(1, 2, 3))
        return total


@functools.lru_cache(maxsize=4)
def _metric(net: str, device: str) -> STLPIPS:
    return STLPIPS(net).to(device)


def stlpips_distance(img_a: np.ndarray | torch.Tensor, img_b: np.ndarray | torch.Tensor, net: str = "vgg",
                     device: str | torch.device = "cpu") -> float:
    """ST-LPIPS distance between two (H, W, 3) RGB images in [0, 1] of the same size (0 = identical).

    ``net``: "vgg" (default) or "alex" (the ST-LPIPS authors' default). Images must be >= 32 pixels a side.
    """
    a = image_to_tensor(img_a, device)
    b = image_to_tensor(img_b, device)
    if a.shape != b.shape:
        raise InputError(f"stlpips_distance needs images of one size, got {tuple(img_a.shape)} and {tuple(img_b.shape)}")
    if min(a.shape[-2:]) < 32:
        raise InputError(f"stlpips_distance needs images of at least 32x32 pixels, got {a.shape[-1]}x{a.shape[-2]}")
    with torch.no_grad():
        return float(_metric(net, str(torch.device(device)))(a, b)[0])
