"""Training subjects for the decoder: inputs from the TRUE body and camera of one view, truth in several views.

A :class:`TrainSubject` holds what one training step needs for one person: the decoder inputs and
baseline (:func:`uvatar.model.inputs.prepare_subject`, projected from the input view with the true
posed body and camera, no tracker in the loop), the true posed vertices, and ground-truth views
(image composited over white, coverage, camera, a label and a directed-consistency weight).

The subjects come from the readers of :mod:`uvatar.data.truth` (``synthetic:N``, a ``uvatar synth``
folder, a ``uvatar clips`` folder, or ``A+B``); :class:`PreparedSource` prepares each on first use
(``source[i]``) and keeps it in memory.

An ``over_projection`` decoder (:class:`~uvatar.model.mae.DecoderConfig`) is trained over the avatar
``uvatar reconstruct`` would build from the input view: the hairstyle fitted to the photo
(:func:`uvatar.track.hair.hair_template`), the projection decoder's avatar at ``avatar_resolution``
(:func:`uvatar.model.learned.over_projection_parts`), kept with the subject as its
:class:`~uvatar.model.compose.Composition`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from uvatar.data.truth import RawSubject, TrainView, open_subjects
from uvatar.dualuv.views import project_requests
from uvatar.errors import InputError
from uvatar.model.compose import Composition
from uvatar.model.inputs import prepare_subject
from uvatar.model.learned import decoder_projections, over_projection_parts
from uvatar.model.mae import DecoderConfig, DecoderInputs
from uvatar.track.hair import hair_template

__all__ = ["TrainSubject", "PreparedSource", "open_source", "prepare_raw"]

log = logging.getLogger(__name__)


@dataclass
class TrainSubject:
    """One training subject (module docstring). ``vertices (V, 3)``: the true posed body; ``composition``:
    the projection avatar an ``over_projection`` decoder composes over (None for the others)."""

    key: str
    framing: str
    inputs: DecoderInputs
    base: object
    vertices: torch.Tensor
    views: list[TrainView]
    info: dict = field(default_factory=dict)
    composition: Composition | None = None


def prepare_raw(body, config: DecoderConfig, raw: RawSubject, encoder=None, pixel_shell: bool = True, avatar_resolution: int = 256) -> TrainSubject:
    """The :class:`TrainSubject` of a raw subject: decoder inputs and baseline from its input view (for an
    ``over_projection`` decoder also the projection avatar at ``avatar_resolution``, with the fitted hair)."""
    info = {**raw.info, "exact": raw.exact}
    if not config.over_projection:
        inputs, base = prepare_subject(body, raw.view, config, encoder=encoder, pixel_shell=pixel_shell)
        return TrainSubject(raw.key, raw.framing, inputs, base, raw.view.vertices, raw.views, info)
    if avatar_resolution % config.resolution or avatar_resolution % 2:
        raise InputError(f"avatar_resolution {avatar_resolution} must be an even multiple of the decoder's resolution {config.resolution}")
    view = raw.view
    template, hair = hair_template(view, body)
    view.templates = [template] if template is not None else []
    uvs = project_requests(body, [view], decoder_projections(config, avatar_resolution, avatar_resolution // 2))
    inputs, base, composition = over_projection_parts(uvs, body, view.phenotypes, view.facial, config)
    info["hair"] = hair.name
    return TrainSubject(raw.key, raw.framing, inputs, base, view.vertices, raw.views, info, composition)


class PreparedSource:
    """The subjects of a :mod:`uvatar.data.truth` reader, prepared on first use and kept.

    Args:
        subjects: a reader (``len``, ``raw(i)``, ``describe()``).
        body: BodyModel; config: the decoder's config (map sizes, encoder).
        pixel_shell: give subjects the photo-pixel shell Gaussians (synthetic subjects have nothing off the
            body, so the samples only catch the background at the silhouette).
    """

    def __init__(self, subjects, body, config: DecoderConfig, pixel_shell: bool = True, avatar_resolution: int = 256) -> None:
        self.subjects, self.body, self.config, self.pixel_shell = subjects, body, config, pixel_shell
        self.avatar_resolution = avatar_resolution
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
            self._cache[index] = prepare_raw(self.body, self.config, self.raw(index), self._encoder, self.pixel_shell, self.avatar_resolution)
        return self._cache[index]


def open_source(spec: str, body, config: DecoderConfig, size: int = 128, seed: int = 0, azimuths=(0.0, 90.0, 180.0, 270.0),
                pixel_shell: bool = True, avatar_resolution: int = 256) -> PreparedSource:  # fmt: skip
    """The prepared subjects of a ``--data`` spec (:func:`uvatar.data.truth.open_subjects`); ``avatar_resolution``:
    the projection avatar's atlas side for an ``over_projection`` decoder.

    Raises:
        InputError: a malformed spec or a folder without shards or clips.
    """
    return PreparedSource(open_subjects(spec, body, size, seed, azimuths), body, config, pixel_shell, avatar_resolution)
