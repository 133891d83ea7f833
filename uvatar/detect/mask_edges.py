"""The person mask's edge snapped to the photo's colours.

MediaPipe segments the person at 256 px; upsampled to the photo, the mask's 0.5 contour runs several
pixels off the person's outline, mostly outwards: a band of background (the blue seal behind Obama
podium's hair, a white wall beside a shoulder) counts as the person. Those pixels become the avatar's
off-body Gaussians at the outline: from the photo's own camera they sit where the photo shows them, but
from the side and the back they are specks and lines of the background's colour on the hair, the face's
side and the shoulders.

Each person pixel within ``band`` of the mask's edge is compared with two colours: the nearest person
pixel deeper inside than ``band`` (the person's colour there) and the nearest pixel at least ``gap``
pixels outside the mask (the background's colour there; 3x3 means of both, against noise). A pixel
nearer the background's colour than the person's is background, and leaves the mask, when it is
connected to the outside through such pixels (a background-coloured patch enclosed by the person, a logo
on a shirt, stays). The mask only shrinks, and only in the band: the person's interior, and pixels the
segmentation left out, are untouched.

:func:`snap_mask_edges` finds the nearest pixels with OpenCV's labelled distance transform;
:func:`snap_mask_edges_reference` is the same rule with SciPy's exact Euclidean transform (tests hold the
two together).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["snap_mask_edges", "snap_mask_edges_reference", "EDGE_BAND", "BACKGROUND_GAP_PX"]

#: the band inside the mask's edge that is checked, as a fraction of the image's longer side: the
#: upsampled segmentation's contour strays up to ~1 % of it (Obama podium, 1480 px: a 5-10 px blue band)
EDGE_BAND = 0.01
#: the background's colour is read this many pixels outside the mask (the contour itself mixes both)
BACKGROUND_GAP_PX = 2


def _band_px(shape: tuple[int, int], band: float) -> int:
    return max(2, round(band * max(shape)))


def _background_like(rgb: np.ndarray, person_rgb: np.ndarray, background_rgb: np.ndarray) -> np.ndarray:
    """``(...)`` bool: colours ``rgb (..., 3)`` nearer ``background_rgb`` than ``person_rgb`` (both ``(..., 3)``)."""
    return np.linalg.norm(rgb - background_rgb, axis=-1) < np.linalg.norm(rgb - person_rgb, axis=-1)


def _open_to_outside(candidates: np.ndarray, person: np.ndarray) -> np.ndarray:
    """``candidates (H, W)`` bool restricted to the parts joined (4-connected) to the non-person pixels
    through candidates: removing them punches no hole into the person."""
    count, labels = cv2.connectedComponents((candidates | ~person).astype(np.uint8), connectivity=4)
    outside = np.zeros(count, bool)
    outside[np.unique(labels[~person])] = True
    outside[0] = False  # label 0: the person's kept pixels
    return candidates & outside[labels]


def _nearest_pixels(sources: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the nearest pixel of ``sources (H, W)`` bool to each pixel ``(rows[i], cols[i])``
    (OpenCV's labelled distance transform: each source pixel is its own label, in raster order)."""
    _, labels = cv2.distanceTransformWithLabels((~sources).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    source_rows, source_cols = np.nonzero(sources)
    index = labels[rows, cols] - 1
    return source_rows[index], source_cols[index]


def snap_mask_edges(image: np.ndarray, mask: np.ndarray, band: float = EDGE_BAND, gap: int = BACKGROUND_GAP_PX) -> np.ndarray:
    """The person ``mask (H, W)`` float in [0, 1] with the background-coloured pixels of its edge band set
    to 0 (module docstring); ``image (H, W, 3)`` float RGB in [0, 1]. Returns a new ``(H, W)`` float32 mask
    (the input when it has no interior deeper than the band, or no background beside it)."""
    mask = np.asarray(mask, np.float32)
    person = mask > 0.5
    width = _band_px(person.shape, band)
    depth = cv2.distanceTransform(person.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    interior = depth > width
    outside = ~cv2.dilate(person.astype(np.uint8), np.ones((2 * gap + 1, 2 * gap + 1), np.uint8)).astype(bool)
    if not interior.any() or not outside.any():
        return mask
    image = np.asarray(image, np.float32)
    smooth = cv2.blur(image, (3, 3))
    rows, cols = np.nonzero(person & ~interior)  # the band
    person_rgb = smooth[_nearest_pixels(interior, rows, cols)]
    background_rgb = smooth[_nearest_pixels(outside, rows, cols)]
    candidates = np.zeros_like(person)
    candidates[rows, cols] = _background_like(image[rows, cols], person_rgb, background_rgb)
    out = mask.copy()
    out[_open_to_outside(candidates, person)] = 0.0
    return out


def snap_mask_edges_reference(image: np.ndarray, mask: np.ndarray, band: float = EDGE_BAND, gap: int = BACKGROUND_GAP_PX) -> np.ndarray:
    """:func:`snap_mask_edges` with SciPy's exact Euclidean distances and nearest pixels (the plain
    version: slower, the same rule)."""
    from scipy.ndimage import binary_dilation, distance_transform_edt, label, uniform_filter

    mask = np.asarray(mask, np.float32)
    person = mask > 0.5
    width = _band_px(person.shape, band)
    interior = distance_transform_edt(person) > width
    outside = ~binary_dilation(person, np.ones((3, 3), bool), iterations=gap)
    if not interior.any() or not outside.any():
        return mask
    image = np.asarray(image, np.float32)
    smooth = np.stack([uniform_filter(image[..., c], 3, mode="mirror") for c in range(3)], -1)
    _, (in_rows, in_cols) = distance_transform_edt(~interior, return_indices=True)
    _, (out_rows, out_cols) = distance_transform_edt(~outside, return_indices=True)
    candidates = person & ~interior & _background_like(image, smooth[in_rows, in_cols], smooth[out_rows, out_cols])
    labels, _ = label(candidates | ~person)
    open_labels = np.unique(labels[~person])
    out = mask.copy()
    out[candidates & np.isin(labels, open_labels[open_labels > 0])] = 0.0
    return out
