"""The person mask, cleaned with the fitted body: matter the body can neither wear nor hold goes.

MediaPipe's segmentation (:mod:`uvatar.detect.holistic`) labels pixels, not people: furniture behind a
seated person, floor captions and shadows at the feet, or another object touching the person's blob can
be called "person". Whatever the mask keeps beyond the body becomes off-body Shell Gaussians
(:func:`uvatar.dualuv.offbody.sample_off_body`), so such matter would be carried on the avatar. The
fitted body says where the person is; three rules, the first two from geometry alone:

1. **Reach.** A pixel may be person only within a part-dependent distance of the body's silhouette
   (:class:`PersonMaskConfig`: 0.25 m around the head for hair and hats, 0.45 m around the hands for
   held bags, ...), measured in the image plane at the depth of the nearest body pixel of that part
   (``pixels = metres * focal / depth``). The allowed region is the union over the six parts
   (:data:`uvatar.body.parts.PART_NAMES`), so hair hanging beside the shoulders is judged by the head's
   reach as well as the torso's. The body is rasterized on a canvas padded beyond the photo, so body
   parts just out of frame still count.
2. **Below the soles.** Nothing of a standing, sitting or kneeling person lies below the lowest body
   point along the body's own "down" (the root bone's -Z): pixels beyond that line, plus a margin for
   shoe soles and fit error, go (floor captions, shadows, reflections). Only when the soles are in view.
3. **Islands and stumps.** The mask outside a thin core band around the silhouette falls into connected
   pieces. A piece that does not touch the core (an island: a caption's letter, another object) goes. A
   piece is a cut object when rules 1-2 removed more than half of it, or when it touches the body at the
   feet only and reaches beyond the feet's own reach (what hangs on the feet alone can only be shoes):
   the part of it the rules left (its stump: a chair's seat next to the hip, a caption's letters next to
   the shoes) goes where its colours are nearer to the removed part's than to the person's (mask pixels
   inside the silhouette). Colour decides here only, between two samples of the same photo: a white
   dress touching a brown chair keeps its side, and a tie keeps.

Limits (what stays, what goes wrongly): matter within its reach that is not the stump of a cut object
stays whatever it is: in a close-up the whole frame is within ~0.3 m of the body, so a flag or a curtain
touching the person stays, and in a full-body photo so does an object the hand touches (a scooter she
leans on) or a caption letter within 0.10 m of the shoes. A gown or a train spreading more than 0.3 m
from the legs, or lying on the floor in front of the feet seen from above, is cut. The rules trust the
fit: a badly fitted arm moves the allowed region with it (the reaches include ~5 cm for that), and a
mask blob the fitted body does not come within 4 cm of is taken for an island.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from uvatar.body.parts import PART_NAMES
from uvatar.camera import Camera
from uvatar.errors import InputError
from uvatar.render.mesh import rasterize_mesh

__all__ = ["PersonMaskConfig", "clean_person_mask"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PersonMaskConfig:
    """Limits of :func:`clean_person_mask`, metres in the image plane at the body's depth.

    The reaches are generous on purpose (worn and held matter must stay; each includes ~5 cm of fit
    error and MediaPipe's soft edge):

    - ``head`` 0.25: hair (voluminous curls stand ~0.15 m off the scalp) and hats (a sun hat's brim
      reaches ~0.2 m beyond the head's outline).
    - ``torso`` 0.20: open coats and jackets, hoods, long hair over the shoulders, a backpack from the side.
    - ``arms`` 0.15: sleeves and the arm's fit error.
    - ``hands`` 0.45: held objects; a shopping bag hangs ~0.4 m below the hand.
    - ``legs`` 0.30: skirts and dresses flaring from the thighs, wide trousers.
    - ``feet`` 0.10: shoes (the body model is barefoot: soles, heels, toe caps).

    Attributes:
        sole_margin: how far below the body's lowest point (along its down axis) matter may still be
            person: soles and heels under a barefoot model (~5 cm) and fit error.
        core_margin: the band around the silhouette that counts as the body itself when the mask is cut
            into pieces (MediaPipe's soft edge plus fit error).
        cut_fraction: a piece of which rules 1-2 removed more than this fraction is a cut object: its
            stump goes where its colours are the removed part's rather than the person's.
        colour_apart: the person's colours are sampled inside the silhouette at least this far from the
            piece judged (an object overlapping the body's outline is not the person).
        work_side: the rules run on a copy of the mask at most this many pixels on its longer side (the
            limits are centimetres, tens of pixels; the result is upsampled bilinearly).
        threshold: mask values above it are person when cutting the mask into pieces.
        missed_hair: hair the segmentation left out is added back after the cleanup
            (:func:`uvatar.track.missed_hair.missed_hair`; applied by :func:`uvatar.track.view.fitted_view`).
    """

    head: float = 0.25
    torso: float = 0.20
    arms: float = 0.15
    hands: float = 0.45
    legs: float = 0.30
    feet: float = 0.10
    sole_margin: float = 0.06
    core_margin: float = 0.04
    cut_fraction: float = 0.5
    colour_apart: float = 0.15
    work_side: int = 256
    threshold: float = 0.5
    missed_hair: bool = True

    def reach(self) -> tuple[float, ...]:
        """The reach of every part, in the order of :data:`~uvatar.body.parts.PART_NAMES`."""
        return tuple(float(getattr(self, name)) for name in PART_NAMES)


def _resize(image: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    """``(H, W)`` float tensor to ``(height, width)``."""
    if image.shape == (height, width):
        return image
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    return torch.nn.functional.interpolate(image[None, None], size=(height, width), mode=mode, **kwargs)[0, 0]


def _padded(camera: Camera, pad: int) -> Camera:
    """The same camera on a canvas ``pad`` pixels larger on every side."""
    K = camera.K.clone()
    K[0, 2] += pad
    K[1, 2] += pad
    return Camera(K, camera.R, camera.t, camera.width + 2 * pad, camera.height + 2 * pad)


def _below_soles(vertices, up, camera, silhouette, margin_m) -> np.ndarray | None:
    """``(h, w)`` bool: canvas pixels beyond the body's lowest point along ``-up`` plus ``margin_m``."""
    up = torch.nn.functional.normalize(torch.as_tensor(up, dtype=torch.float32).reshape(3), dim=0)
    lowest = vertices[torch.argmin(vertices @ up)]
    pixels, depth = camera.project(torch.stack([lowest, lowest - 0.1 * up]))
    x, y = float(pixels[0, 0]), float(pixels[0, 1])
    if not bool((depth > 0).all()) or not (0 <= x < camera.width and 0 <= y < camera.height):
        return None  # the soles are not on the canvas: the line would be drawn through the cut-off body
    down = (pixels[1] - pixels[0]).numpy().astype(np.float64)
    if np.linalg.norm(down) < 1e-6:  # the camera looks along the body's axis: no "below" in the image
        return None
    down /= np.linalg.norm(down)
    rows, cols = np.mgrid[0 : silhouette.shape[0], 0 : silhouette.shape[1]]
    along = (cols + 0.5) * down[0] + (rows + 0.5) * down[1]
    margin_px = margin_m * float(camera.K[0, 0]) / float(depth[0])
    return along > along[silhouette].max() + margin_px


def _small_image(image, height: int, width: int) -> np.ndarray:
    """``(H, W, 3)`` RGB in [0, 1] -> ``(height, width, 3)`` float32 CIE Lab, area-averaged."""
    import cv2

    rgb = torch.as_tensor(np.asarray(image), dtype=torch.float32)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise InputError(f"image must be (H, W, 3) RGB in [0, 1]; got {tuple(rgb.shape)}")
    small = torch.nn.functional.interpolate(rgb.permute(2, 0, 1)[None], size=(height, width), mode="area")[0]
    return cv2.cvtColor(np.ascontiguousarray(small.permute(1, 2, 0).clamp(0, 1).numpy()), cv2.COLOR_RGB2LAB)


def _stumps(pieces, cut, kept, core, colours, body_inside, apart: float, samples: int = 4000, neighbours: int = 8, ratio: float = 0.75) -> np.ndarray:
    """``(h, w)`` bool: the kept pixels of cut pieces that belong to the object that was cut.

    With ``colours`` (``(h, w, 3)`` Lab): a kept pixel of a cut piece goes when its colour is clearly nearer
    (mean distance to its ``neighbours`` nearest samples, under ``ratio`` times) to the colours of that
    piece's removed part than to the person's (``body_inside``: mask pixels inside the body's silhouette,
    at least ``apart`` pixels from the piece, so that the object's own pixels where it overlaps the body's
    outline, a chair in front of the thigh, a caption over the shoes, do not count as the person's):
    a chair's stump goes, a white dress that the chair touches stays, and so does the stump of a gown cut
    by its reach (its colours are the person's too: a tie keeps). Without colours: when it is nearer in
    the image to the piece's removed part than to the ``core`` band. A 5x5 majority vote smooths the
    decisions.
    """
    from scipy.ndimage import distance_transform_edt, uniform_filter
    from scipy.spatial import cKDTree

    candidate = cut[pieces] & kept
    if not candidate.any():
        return candidate
    foreign = cut[pieces] & ~kept
    rng = np.random.default_rng(0)

    def subsample(values):
        return values if len(values) <= samples else values[rng.choice(len(values), samples, replace=False)]

    vote = np.zeros(candidate.shape, bool)
    if colours is not None:
        for index in np.flatnonzero(cut):
            own = pieces == index
            here, there = own & candidate, own & foreign
            person = body_inside & (distance_transform_edt(~own) > apart)
            if not here.any() or there.sum() < neighbours or person.sum() < neighbours:
                continue
            k = neighbours
            person_tree = cKDTree(subsample(colours[person]))
            to_object = cKDTree(subsample(colours[there])).query(colours[here], k)[0].reshape(here.sum(), -1).mean(1)
            to_person = person_tree.query(colours[here], k)[0].reshape(here.sum(), -1).mean(1)
            vote[here] = to_object < ratio * to_person
    else:
        vote = candidate & (distance_transform_edt(~foreign) < distance_transform_edt(~core))
    share = uniform_filter(vote.astype(np.float32), 5) / np.maximum(uniform_filter(candidate.astype(np.float32), 5), 1e-6)
    return candidate & (share > 0.5)


def clean_person_mask(
    mask,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    face_parts: torch.Tensor,
    up: torch.Tensor | None = None,
    image=None,
    config: PersonMaskConfig = PersonMaskConfig(),
) -> tuple[np.ndarray, dict]:
    """Drop mask matter that the fitted body cannot wear or hold (rules in the module docstring).

    Args:
        mask: ``(H, W)`` float person mask in [0, 1] (numpy or torch) at the camera's resolution.
        vertices: ``(V, 3)`` float posed body in the photo's world, metres; faces: ``(F, 3)`` int64.
        camera: the photo's camera (``camera.height, camera.width == H, W``).
        face_parts: ``(F,)`` int64 part of every face, an index into :data:`~uvatar.body.parts.PART_NAMES`.
        up: ``(3,)`` the body's up direction in the world (the posed root bone's +Z); None skips rule 2.
        image: ``(H, W, 3)`` float RGB in [0, 1], the photo: tells the stump of a cut object from worn
            matter it touches by colour (rule 3); None decides by position alone.
        config: the limits.
    Returns:
        ``(mask, stats)``: the cleaned ``(H, W)`` float32 mask (the input times a keep map in [0, 1]) and
        ``{"dropped_fraction", "dropped_far", "dropped_below_soles", "dropped_pieces"}``: fractions of
        the mask's mass (sum of values) removed in all and by each rule (exclusive, in that order;
        the three are measured at the working resolution), plus ``"work_scale"``.
    Raises:
        InputError: ``mask`` is not ``(camera.height, camera.width)``, or ``face_parts`` not ``(F,)``.
    """
    from scipy.ndimage import binary_dilation, binary_erosion, distance_transform_edt, label

    person = torch.as_tensor(np.asarray(mask), dtype=torch.float32)
    if person.ndim != 2 or tuple(person.shape) != (camera.height, camera.width):
        raise InputError(f"mask must be (H, W) = ({camera.height}, {camera.width}), the camera's size; got {tuple(person.shape)}")
    vertices = torch.as_tensor(vertices, dtype=torch.float32).detach().cpu()
    faces = torch.as_tensor(faces).cpu()
    face_parts = torch.as_tensor(face_parts).cpu()
    if face_parts.shape != (faces.shape[0],):
        raise InputError(f"face_parts must be (F,) = ({faces.shape[0]},); got {tuple(face_parts.shape)}")
    nothing = {"dropped_fraction": 0.0, "dropped_far": 0.0, "dropped_below_soles": 0.0, "dropped_pieces": 0.0}
    total = float(person.double().sum())
    if total <= 0:
        return person.numpy().copy(), nothing | {"work_scale": 1.0}

    height, width = person.shape
    scale = min(1.0, config.work_side / max(height, width))
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    small = _resize(person, h, w, "area").numpy()
    small_camera = camera.resized(w, h)
    focal = float(small_camera.K[0, 0])
    reach = config.reach()
    nearest_depth = float(small_camera.world_to_camera(vertices)[:, 2].clamp(min=1e-3).min())
    pad = min(math.ceil(max(reach) * focal / nearest_depth), max(h, w) // 2)
    canvas = _padded(small_camera, pad)
    raster = rasterize_mesh(vertices, faces, canvas, cull_backfaces=False)
    face = raster.face_index.cpu()
    silhouette = (face >= 0).numpy()
    if not silhouette[pad : pad + h, pad : pad + w].any():
        log.debug("person mask: the body is not in the photo; mask left as it is")
        return person.numpy().copy(), nothing | {"work_scale": scale}
    part = torch.where(face >= 0, face_parts[face.clamp(min=0)], torch.full_like(face, -1)).numpy()
    depth = raster.depth.cpu().numpy()

    allowed = np.zeros_like(silhouette)
    core = np.zeros_like(silhouette)
    nearest = np.full(silhouette.shape, np.inf)
    nearest_part = np.full(silhouette.shape, -1)
    feet = PART_NAMES.index("feet")
    shoes = np.zeros_like(silhouette)  # within the feet's own reach
    for index, metres in enumerate(reach):
        of_part = part == index
        if not of_part.any():
            continue
        distance, (rows, cols) = distance_transform_edt(~of_part, return_indices=True)
        pixels_per_metre = focal / depth[rows, cols]
        allowed |= distance <= metres * pixels_per_metre
        core |= distance <= config.core_margin * pixels_per_metre
        nearer = distance < nearest
        nearest[nearer], nearest_part[nearer] = distance[nearer], index
        if index == feet:
            shoes = distance <= metres * pixels_per_metre
    below = None if up is None else _below_soles(vertices, up, canvas, silhouette, config.sole_margin)
    crop = (slice(pad, pad + h), slice(pad, pad + w))
    allowed, core, nearest_part, shoes = allowed[crop], core[crop], nearest_part[crop], shoes[crop]
    below = np.zeros_like(allowed) if below is None else below[crop]
    kept = allowed & ~below

    # rule 3: pieces of the mask outside the core band: islands go, and so do the stumps of cut objects
    pieces, count = label((small > config.threshold) & ~core, structure=np.ones((3, 3), bool))
    dropped_piece = np.zeros_like(kept)
    if count:
        size = np.bincount(pieces.ravel(), minlength=count + 1)
        removed = np.bincount(pieces.ravel(), weights=(~kept).ravel(), minlength=count + 1)
        contact = binary_dilation(core) & (pieces > 0)
        touching = np.bincount(pieces[contact], minlength=count + 1) > 0
        off_feet = np.bincount(pieces[contact & (nearest_part != feet)], minlength=count + 1) > 0
        beyond_shoes = np.bincount(pieces.ravel(), weights=(~(shoes & kept)).ravel(), minlength=count + 1) > 0
        island = ~touching
        # cut: mostly removed, or held on at the feet only and reaching beyond the feet's own reach: what
        # hangs on the feet alone can only be shoes (a caption, a shadow, the floor)
        cut = touching & ((removed > config.cut_fraction * np.maximum(size, 1)) | (~off_feet & beyond_shoes))
        island[0] = cut[0] = False
        colours = None if image is None else _small_image(image, h, w)
        body_inside = binary_erosion(silhouette[crop], iterations=2) & (small > config.threshold)
        apart = config.colour_apart * focal / float(np.median(depth[silhouette]))
        stumps = _stumps(pieces, cut, kept, core, colours, body_inside, apart)
        gone = island[pieces] | stumps
        # their soft edges (mask values below the threshold, outside every piece) go with them
        dropped_piece = (gone | binary_dilation(gone, iterations=2) & ~core & (pieces == 0)) & kept

    keep = kept & ~dropped_piece
    small_total = max(float(small.sum()), 1e-12)
    stats = {
        "dropped_far": float(small[~allowed].sum()) / small_total,
        "dropped_below_soles": float(small[allowed & below].sum()) / small_total,
        "dropped_pieces": float(small[dropped_piece].sum()) / small_total,
    }
    keep_full = _resize(torch.as_tensor(keep, dtype=torch.float32), height, width, "bilinear").clamp(0.0, 1.0)
    cleaned = (person * keep_full).numpy().astype(np.float32)
    dropped = max(0.0, 1.0 - float(cleaned.sum(dtype=np.float64)) / total)  # cleaned <= mask pixelwise
    stats = {"dropped_fraction": dropped} | stats | {"work_scale": scale}
    log.debug("person mask: dropped %.2f%% of the mask (far %.2f%%, below the soles %.2f%%, cut pieces %.2f%%)",
              *(100 * stats[k] for k in ("dropped_fraction", "dropped_far", "dropped_below_soles", "dropped_pieces")))  # fmt: skip
    return cleaned, stats
