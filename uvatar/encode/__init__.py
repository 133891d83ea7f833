"""Frozen image encoders by name: ``Image -> FeatureMap (C x h x w)``.

>>> from uvatar.encode import get_encoder
>>> enc = get_encoder("rgb")
>>> enc.channels, enc.stride
(3, 1.0)

Heavy backends (the ST-LPIPS VGG weights, ViT checkpoints) are loaded only when asked for.
"""

from uvatar.encode.base import Encoder, FeatureMap, available_encoders, get_encoder, image_to_tensor
from uvatar.encode.stlpips import STLPIPS, stlpips_distance

__all__ = ["FeatureMap", "Encoder", "get_encoder", "available_encoders", "image_to_tensor", "STLPIPS",
           "stlpips_distance"]
