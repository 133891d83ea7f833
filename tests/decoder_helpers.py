"""Small decoder configs and synthetic subjects shared by the decoder and training tests."""

from __future__ import annotations

import dataclasses

from uvatar.model.mae import DecoderConfig
from uvatar.train.loop import TrainConfig
from uvatar.train.losses import LossWeights

#: a decoder small enough for unit tests (64² core, 32² shell, one block of width 32)
MICRO = DecoderConfig(name="micro", resolution=64, shell_resolution=32, patch=8, width=32, depth=1, heads=2)
#: a short training run on 48 px views, no perceptual term (the VGG trunk dominates CPU time)
FAST_TRAIN = TrainConfig(steps=4, lr=1e-3, warmup_steps=1, image_size=48, log_every=1, checkpoint_every=2, val_every=1000,
                         perceptual_views=0, loss=LossWeights(perceptual=0.0), keep_checkpoints=0)  # fmt: skip


def fast_train(**changes) -> TrainConfig:
    return dataclasses.replace(FAST_TRAIN, **changes)
