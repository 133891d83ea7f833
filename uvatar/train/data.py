"""Training subjects for the decoder: inputs from the TRUE body and camera of one view, truth in several views.

A :class:`TrainSubject` holds what one training step needs for one person: the decoder inputs and
baseline (:func:`uvatar.model.inputs.prepare_subject`, projected from the input view with the true
posed body and camera, no tracker in the loop), the true posed vertices, and ground-truth views
(image composited over white, coverage, camera, a label and a directed-consistency weight).

The subjects come from the readers of :mod:`uvatar.data.truth` (``synthetic:N``, a ``uvatar synth``
folder, a ``uvatar clips`` folder, or ``A+B``); :class:`PreparedSource` prepares each on first use
(``source[i]``) and keeps it in memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from uvatar.data.truth import RawSubject, TrainView, open_subjects
from uvatar.model.inputs import prepare_subject
from uvatar.model.mae import DecoderConfig, DecoderInputs

__all__ = ["TrainSubject", "PreparedSource", "open_source", "prepare_raw"]

log = logging.getLogger(__name__)


@dataclass
class TrainSubject:
    """One training subject (module docstring). ``vertices (V, 3)``: the true posed body."""

    key: str
    framing: str
    inputs: DecoderInputs
    base: object
    vertices: torch.Tensor
    views: list[TrainView]
    info: dict = field(default_factory=dict)


def prepare_raw(body, config: DecoderConfig, raw: RawSubject, encoder=None, pixel_shell: bool = True) -> TrainSubject:
    """The :class:`TrainSubject` of a raw subject: decoder inputs and baseline from its input view."""
    inputs, base = prepare_subject(body, raw.view, config, encoder=encoder, pixel_shell=pixel_shell)
    return TrainSubject(raw.key, raw.framing, inputs, base, raw.view.vertices, raw.views, {**raw.info, "exact": raw.exact})


class PreparedSource:
    """The subjects of a :mod:`uvatar.data.truth` reader, prepared on first use and kept.

    Args:
        subjects: a reader (``len``, ``raw(i)``, ``describe()``).
        body: BodyModel; config: the decoder's config (map sizes, encoder).
        pixel_shell: give subjects the photo-pixel shell Gaussians (synthetic subjects have nothing off the
            body, so the samples only catch the background at the silhouette).
    """

    def __init__(self, subjects, body, config: DecoderConfig, pixel_shell: bool = True) -> None:
        self.subjects, self.body, self.config, self.pixel_shell = subjects, body, config, pixel_shell
        self._cache: dict[int, TrainSubject] = {}
        self._encoder = None

    def __len__(self) -> int:
        return len(self.subjects)

    def describe(self) -> dict:
        return self.subjects.describe()

    def raw(self, index: int) -> RawSubject:
        return self.subjects.raw(index)

    def __getitem__(self, index: int) -> TrainSubject:
        if index not in self._cache:
            if self.config.encoder != "rgb" and self._encoder is None:
                from uvatar.encode import get_encoder

                self._encoder = get_encoder(self.config.encoder)
            self._cache[index] = prepare_raw(self.body, self.config, self.raw(index), self._encoder, self.pixel_shell)
        return self._cache[index]


def open_source(spec: str, body, config: DecoderConfig, size: int = 128, seed: int = 0, azimuths=(0.0, 90.0, 180.0, 270.0),
                pixel_shell: bool = True) -> PreparedSource:  # fmt: skip
    """The prepared subjects of a ``--data`` spec (:func:`uvatar.data.truth.open_subjects`).

    Raises:
        InputError: a malformed spec or a folder without shards or clips.
    """
    return PreparedSource(open_subjects(spec, body, size, seed, azimuths), body, config, pixel_shell)
