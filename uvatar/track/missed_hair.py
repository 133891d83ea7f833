"""Hair the person mask left out: puffs, frizz and curls against a plain background.

MediaPipe's segmentation (:mod:`uvatar.detect.holistic`) often stops short of hair that stands off the
head: on the turnaround clip's front frame it keeps one of two puffs and leaves out most of the other.
Whatever the mask leaves out is lost twice: the hair template is carved to the mask
(:func:`uvatar.dualuv.template_shell.project_template`), so the side and back of the head lose that
volume, and the photo's own pixels there are never drawn.

A pixel outside the mask is the hair's when (:func:`missed_hair`):

* it lies in the region hair is looked for in (:func:`uvatar.track.hair.hair_evidence`: one head width
  beside the head, down to one head height below the chin, off the torso and arms);
* its colour is within ``tolerance`` of one of the hair's colour clusters and nearer them by at least
  :data:`BACKGROUND_MARGIN` than the background's colours, sampled on the region's rim (:data:`RIM_PX`),
  off the person: nearer the head they may be the missed hair itself;
* its piece of such pixels (8-connected) touches the hair pixels inside the mask, does not run on to the
  region's rim (a piece that does is the background continuing beyond where hair could be), and stands
  out against the ring round it (:data:`SURROUND_PX`): the ring's median distance to the hair's colours
  exceeds :data:`SURROUND_APART`, a plain background, not a dark wall the hair's colour.

Without the rim and ring tests the dark window frames behind Obama's head (arms crossed) were 20525 pixels
of "hair" (with the rim test alone, 1620); with both, on the 14 photos of ../shared/realdata and the
turnaround clip's front frame only a puff, hair behind a cheek, an ear's edge and a few stray pixels are
added (docs/completion_eval.md, "Hair the person mask left out"). Dark hair in front of a dark wall is
not told apart from the wall: nothing is added there. The rule runs on the photo at full size; the hair's
colours and the region come from the working-size evidence.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import binary_dilation, binary_erosion, find_objects, label

from uvatar.track.hair import BACKGROUND_RING_PX, colour_clusters, hair_clusters, hair_evidence

__all__ = ["BACKGROUND_MARGIN", "RIM_PX", "SURROUND_APART", "SURROUND_PX", "missed_hair"]

BACKGROUND_MARGIN = 0.15  # RGB distance a missed hair pixel must lie nearer the hair's colours than the background's
SURROUND_PX = 2  # working pixels: the ring round a piece of missed hair that must not look like hair
SURROUND_APART = 0.45  # the ring's median RGB distance to the hair's colours must exceed this (a plain background)
RIM_PX = 4  # working pixels: the background is sampled on this rim of the region hair is looked for in


def _nearest(rgb: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``(...)`` RGB distance of every colour of ``rgb (..., 3)`` to the nearest of ``centres (k, 3)``."""
    return np.sqrt(((rgb[..., None, :] - centres) ** 2).sum(-1)).min(-1)


def _to_full(small: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(h, w)`` bool at the working size -> ``(height, width)`` bool, nearest pixel."""
    h, w = small.shape
    rows = np.minimum((np.arange(height) + 0.5) * h / height, h - 1).astype(int)
    cols = np.minimum((np.arange(width) + 0.5) * w / width, w - 1).astype(int)
    return small[rows[:, None], cols[None, :]]


def missed_hair(image: np.ndarray, mask: np.ndarray, vertices: torch.Tensor, body, camera, tolerance: float = 0.22) -> np.ndarray:
    """``(H, W)`` bool: the hair pixels the person mask leaves out (module docstring).

    Args:
        image: ``(H, W, 3)`` float RGB in [0, 1]; mask: ``(H, W)`` person mask in [0, 1].
        vertices: ``(V, 3)`` the fitted body in the photo's world; camera: the photo's camera.
        tolerance: largest RGB distance from the hair's colours of a hair pixel.
    """
    height, width = mask.shape
    none = np.zeros((height, width), bool)
    evidence = hair_evidence(image, mask, vertices, body, camera, tolerance)
    if evidence.hair is None or not evidence.pixels.any():
        return none
    roi = _to_full(evidence.roi, height, width)
    person = mask > 0.5
    # the background from the region's rim, off the person: pixels nearer the head may be the missed hair itself
    step = max(1, round(height / evidence.roi.shape[0]))
    rim = roi & ~binary_erosion(roi, iterations=RIM_PX * step)
    background = image[rim & ~binary_dilation(person, iterations=BACKGROUND_RING_PX * step)]
    if len(background) < 3:
        return none
    hair_in_mask = _to_full(evidence.pixels, height, width) & person
    samples = image[hair_in_mask]
    if len(samples) < 3:
        return none
    hair, _ = hair_clusters(samples, evidence.skin)
    background_centres, _ = colour_clusters(background, 3)
    candidate = roi & ~person
    to_hair = np.full((height, width), np.inf)
    to_background = np.zeros((height, width))
    to_hair[candidate] = _nearest(image[candidate], hair)
    to_background[candidate] = _nearest(image[candidate], background_centres)
    candidate &= (to_hair < tolerance) & (to_hair + BACKGROUND_MARGIN < to_background)
    seeds = binary_dilation(hair_in_mask, iterations=2)
    pieces, _ = label(candidate, structure=np.ones((3, 3)))
    touching = np.unique(pieces[seeds])
    open_ended = np.unique(pieces[rim & ~person])  # a piece running on to the region's rim is the background
    kept = []
    pad = SURROUND_PX * step
    boxes = find_objects(pieces)
    for piece in np.setdiff1d(touching[touching > 0], open_ended).tolist():
        rows, cols = boxes[piece - 1]
        box = (slice(max(rows.start - pad, 0), rows.stop + pad), slice(max(cols.start - pad, 0), cols.stop + pad))
        inside = pieces[box] == piece
        ring = binary_dilation(inside, iterations=pad) & ~inside & ~person[box]
        if ring.any() and np.median(_nearest(image[box][ring], hair)) > SURROUND_APART:  # stands out against what is around it
            kept.append(piece)
    return np.isin(pieces, kept) & candidate
