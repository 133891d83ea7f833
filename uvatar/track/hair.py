"""Hair from one photo: where it is (the hair pixels), which shipped hairstyle explains it, and how big.

The photo's hair (:func:`hair_evidence`), at the templates' working size
(:data:`uvatar.track.templates.WORK_SIDE` pixels along the longer side):

* skin colour: the median of the person's pixels on the body's lower face (cheeks, mouth, chin);
* hair colour: the person's pixels just above the body's skull outline (the hair that stands above the
  bald body model's head; the mask eroded by 2 px, its soft edge is background), or, when too few, the
  non-skin pixels on the body's scalp (short hair); too few of those too (under
  :data:`MIN_HAIR_FRACTION` of the head's box) and the person has no hair to fit. Their colour clusters
  (:func:`hair_clusters`) that look like the skin (a high forehead), or are the skin in more light
  (:func:`lit_skin`: a lit forehead above the shaded cheeks), or look like the background beside the
  head (the person mask reaching past the hair), or lie halfway between a hair cluster and such a
  background one (their blend along the mask's soft edge: :func:`_blends`) are not the hair's; the hair
  colour is the median of the samples nearest the others;
* hair pixels: person pixels near the head (its box widened by one head width each side and reaching one
  head height below the chin, where long hair falls), neither on the face's skin up to the hairline nor
  on the body's torso or arms (clothes there look like hair too often), that are closer to the hair
  colour than to the skin colour and within ``tolerance`` of one of its colour clusters (hair has
  highlights and shadows), below the chin not on the mask's soft edge (its outer 2 px: along a dark
  collar, the shoulders or a helmet ring they are a line of mixed pixels in the hair's colour that
  joins the hair at the neck and made short hair look long), in connected parts that reach above the
  chin.

The hairstyle (:func:`choose_hair`): every shipped hairstyle is fitted to the body
(:func:`uvatar.assets.fit_assets`), scaled about the skull's centre by the middle of :data:`SCALES`
(the best :data:`REFINE_STYLES` then by each), drawn in the photo's camera in front of the body's depth,
and scored by the intersection over union of its VISIBLE pixels with the hair pixels. The best one is kept when its IoU reaches :data:`MIN_IOU`
(otherwise: no hair). Styles that reach the back (the catalogue's ``loose`` hair: long, braid,
ponytail) are tried only when hair pixels beside the face reach below the chin (:func:`below_chin_hair`),
and score only when their own visible pixels cover :data:`LOOSE_EXPLAINS` of that hair (a ponytail behind a
frontal head covers none of it: Obama podium's suit beside his jaw, of the hair's dark colour, made his
hair "long" and a ponytail won by its cap); among styles within :data:`TIE_IOU` of
the best, the most compact is chosen (the photo saw the front; behind the head, it assumes least).
The chosen one is then grown to the hair's outline above the head where the photo shows more hair than it
has (a bun, puffs, volume; :func:`uvatar.track.hair_outline.grow_to_outline`, with the person mask's
pixels near the head as the outline: the hair pixels miss its frizzy or lit edge). The chosen mesh is the
shell the hair's colours are projected onto (:mod:`uvatar.dualuv.template_shell`), which trims it to the
photo's outline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from scipy.ndimage import binary_dilation, binary_erosion, label

from uvatar.assets import AssetMesh, asset_info, asset_names, fit_assets
from uvatar.body.parts import PART_NAMES
from uvatar.io.image import area_resize
from uvatar.render.mesh import rasterize_mesh
from uvatar.track.hair_outline import grow_to_outline
from uvatar.track.templates import ShellTemplate, work_frame

__all__ = ["HairEvidence", "HairChoice", "hair_evidence", "hair_clusters", "colour_clusters", "lit_skin", "choose_hair", "below_chin_hair", "scale_mesh", "fit_hair", "hair_template", "MIN_IOU", "SCALES"]

log = logging.getLogger(__name__)

SCALES = (0.92, 1.0, 1.12, 1.28, 1.45)  # sizes tried for each hairstyle, about the skull's centre
REFINE_STYLES = 3  # styles tried at every size (the others only at the middle one)
TIE_IOU = 0.03  # hairstyles this close to the best IoU count as tied: the most compact one is chosen
MIN_IOU = 0.25  # a best IoU below this says no shipped hairstyle explains the photo: no hair template
HAIR_BIND_PARTS = ("head", "torso")  # hair rides the head, long hair also the back and shoulders
FOREHEAD_M = 0.055  # the hairline's height above the eyes on the reference body (a forehead is 5-6 cm)
LONG_BELOW_CHIN = 0.08  # hair pixels this many head heights below the chin: long hair (styles reaching the back)
LOOSE_EXPLAINS = 0.25  # a style that reaches the back must itself cover this share of that hair (seen from the photo)
MIN_HAIR_FRACTION = 0.02  # hair-colour evidence above the skull, as a fraction of the head box's pixels
MIN_CLUSTER_SHARE = 0.2  # colour clusters of the hair samples holding less than this are no hair colour
LIT_SKIN_CHROMA = 0.035  # a cluster this near the skin's chromaticity and brighter than it is the lit forehead
SKIN_CLUSTER_DIST = 0.12  # a cluster of the hair samples this close (RGB) to the skin is forehead above the bald body's skull
BACKGROUND_CLUSTER_DIST = 0.07  # ... this close to a colour of the background beside the head is the person mask's halo
BLEND_DIST = 0.06  # a hair cluster this near the segment between another hair cluster and a background one ...
BLEND_T = (0.25, 0.75)  # ... and this far along it is their blend (:func:`_blends`)
BACKGROUND_RING_PX = 3  # the background beside the head starts this many working pixels outside the mask (its soft edge)
SKIN_GUESS = (0.75, 0.55, 0.45)  # the skin colour when the lower face is hidden (a back view)


@dataclass
class HairEvidence:
    """The photo's hair at the working size.

    Attributes:
        pixels: ``(h, w)`` bool hair pixels; roi: ``(h, w)`` bool the region they were looked for in.
        skin: ``(3,)`` RGB of the face's skin; hair: ``(3,)`` RGB of the hair, or None (no hair seen).
        camera: the photo's camera resized to ``(w, h)``.
        head_box: ``(x0, y0, x1, y1)`` the body's head in working pixels, from its top to its chin.
        person: ``(h, w)`` bool the person mask inside ``roi``, or None (the hair's outline: hair pixels
            miss its frizzy, lit or blurred edge, whose colours mix with the background's).
    """

    pixels: np.ndarray
    roi: np.ndarray
    skin: np.ndarray
    hair: np.ndarray | None
    camera: object
    head_box: tuple[float, float, float, float]
    person: np.ndarray | None = None

    @property
    def long(self) -> bool:
        """Hair pixels beside the face reach :data:`LONG_BELOW_CHIN` head heights below the chin
        (:func:`below_chin_hair`)."""
        return bool(below_chin_hair(self).any())


@dataclass
class HairChoice:
    """The hairstyle that explains the photo.

    Attributes:
        name: catalogue name, or None (no hair template); scale: size about the head joint;
        iou: its visible pixels' IoU with the hair pixels; scores: best IoU of every hairstyle.
        mesh: the fitted, scaled :class:`~uvatar.assets.AssetMesh` in the photo's pose, or None.
    """

    name: str | None
    scale: float
    iou: float
    scores: dict = field(default_factory=dict)
    mesh: AssetMesh | None = None
    outline_growth: float = 0.0

    def to_dict(self) -> dict:
        return {"hairstyle": self.name, "scale": self.scale, "iou": round(self.iou, 4), "outline_growth_m": round(self.outline_growth, 4),
                "scores": {k: round(v, 4) for k, v in self.scores.items()}}  # fmt: skip


def _head_faces(body) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(F,)`` bool each: head faces, the face's skin up to the hairline (front), the scalp (top), and
    the lower face (below the eyes and well in front of the neck: cheeks, mouth, chin; hair seldom
    covers it, so its colour is the skin's)."""
    rest = body.forward(body.default_params(1))
    centres = rest.vertices[0][body.faces].mean(1).cpu()
    bones = rest.bone_poses[0].cpu()
    eye_z = float(bones[body.bone_index("eye.L"), 2, 3])
    head_y = float(bones[body.bone_index("head"), 1, 3])
    head = (body.face_parts == PART_NAMES.index("head")).cpu()
    face_skin = head & (centres[:, 2] < eye_z + FOREHEAD_M) & (centres[:, 1] < head_y - 0.02)
    scalp = head & (centres[:, 2] > eye_z + 0.06)
    lower_face = head & (centres[:, 2] < eye_z - 0.01) & (centres[:, 1] < head_y - 0.06)
    return head, face_skin, scalp, lower_face


def hair_evidence(image: np.ndarray, mask: np.ndarray, vertices: torch.Tensor, body, camera, tolerance: float = 0.22) -> HairEvidence:
    """The hair pixels of a photo (module docstring).

    Args:
        image: ``(H, W, 3)`` float RGB in [0, 1]; mask: ``(H, W)`` person mask in [0, 1].
        vertices: ``(V, 3)`` the fitted body in the photo's world; camera: the photo's camera.
        tolerance: largest RGB distance from the hair colour of a hair pixel.
    """
    cam, person = work_frame(mask, camera)
    h, w = person.shape
    rgb = area_resize(image, w, h).numpy()
    raster = rasterize_mesh(vertices, body.faces, cam)
    face_id = raster.face_index.cpu().numpy()
    on_body = face_id >= 0
    head, face_skin, scalp, lower_face = (t.numpy() for t in _head_faces(body))
    fid = np.clip(face_id, 0, None)
    skin_px = on_body & face_skin[fid] & person
    scalp_px = on_body & scalp[fid] & person
    head_px = on_body & head[fid]
    lower_px = on_body & lower_face[fid] & person
    skin = np.median(rgb[lower_px], 0) if lower_px.sum() >= 10 else np.array(SKIN_GUESS)

    pixels, _ = cam.project(vertices[body.faces[torch.as_tensor(head)].reshape(-1)])
    x0, y0 = pixels.min(0).values.tolist()
    x1, _ = pixels.max(0).values.tolist()
    chin, _ = cam.project(vertices[body.faces[torch.as_tensor(lower_face)].reshape(-1)])
    y1 = float(chin[:, 1].max())
    head_w, head_h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    rows, cols = np.mgrid[0:h, 0:w]
    around_head = (cols >= x0 - head_w) & (cols <= x1 + head_w) & (rows >= y0 - 0.6 * head_h)  # one head width each side
    # down to one head height below the chin, off the body's torso and arms (clothes there look like hair too often)
    roi = around_head & (rows <= y1 + head_h) & ~(on_body & ~head[fid])

    # above the skull: person pixels in the head's columns above the highest head pixel of the column
    top = np.where(head_px.any(0), head_px.argmax(0), -1)
    inner = binary_erosion(person, iterations=2)  # the mask's soft edge mixes in the background
    above = inner & ~on_body & (rows < top[None, :]) & (rows >= top[None, :] - 0.35 * head_h) & (top[None, :] >= 0)
    far_from_skin = np.linalg.norm(rgb - skin, axis=-1) > 0.15
    samples = rgb[above]
    if len(samples) < MIN_HAIR_FRACTION * head_w * head_h:  # nothing stands above the skull: short hair, on the scalp
        samples = rgb[scalp_px & far_from_skin]
    if len(samples) < MIN_HAIR_FRACTION * head_w * head_h:
        hair = None
        hair_px = np.zeros((h, w), bool)
    else:
        background = rgb[around_head & (rows <= y1) & ~binary_dilation(person, iterations=BACKGROUND_RING_PX)]
        hair, d_hair = _hair_colours(samples, rgb, skin, background)
        d_skin = np.linalg.norm(rgb - skin, axis=-1)
        # below the chin, not on the mask's soft edge: there it runs along a collar, the shoulders or a
        # helmet ring in a dark line of mixed pixels that joins the hair at the neck (short hair looked long)
        edge_below_chin = ~inner & (rows > y1)
        hair_px = person & roi & ~skin_px & ~edge_below_chin & (d_hair < d_skin) & (d_hair < tolerance)
        hair_px = _attached_to_head(hair_px, y1)
    return HairEvidence(hair_px, roi, skin, hair, cam, (x0, y0, x1, y1), person & roi)


def below_chin_hair(evidence: HairEvidence) -> np.ndarray:
    """``(h, w)`` bool: the hair pixels beside the face (within a quarter head width of its sides: a
    collar or a helmet ring of the hair's colour reaches out to the shoulders) more than
    :data:`LONG_BELOW_CHIN` head heights below the chin: long hair falls there."""
    x0, _, x1, y1 = evidence.head_box
    head_w, head_h = max(x1 - x0, 1.0), max(y1 - evidence.head_box[1], 1.0)
    rows, cols = np.mgrid[0 : evidence.pixels.shape[0], 0 : evidence.pixels.shape[1]]
    beside = (cols >= x0 - 0.25 * head_w) & (cols <= x1 + 0.25 * head_w)
    return evidence.pixels & beside & (rows > y1 + LONG_BELOW_CHIN * head_h)


def _attached_to_head(hair_px: np.ndarray, chin_row: float) -> np.ndarray:
    """The connected parts of ``hair_px (h, w)`` that reach above ``chin_row``: hair grows from the head;
    a hair-coloured blob lower down (a collar, a bag strap) is not hair."""
    labels, count = label(hair_px)
    if count == 0:
        return hair_px
    rows = np.arange(hair_px.shape[0])[:, None]
    attached = np.unique(labels[(labels > 0) & (rows <= chin_row)])
    return np.isin(labels, attached[attached > 0])


def colour_clusters(data: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``k`` colour clusters of ``data (N, 3)``: centres ``(k', 3)`` and the share of the data each holds ``(k',)``
    (``k' = min(k, N)``; OpenCV's k-means++, seeded: the same photo gives the same clusters)."""
    import cv2

    data = np.ascontiguousarray(data, dtype=np.float32)
    k = min(k, len(data))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1e-3)
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(data, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    return centres, np.bincount(labels.ravel(), minlength=k) / len(data)


def hair_clusters(samples: np.ndarray, skin: np.ndarray, background: np.ndarray | None = None, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The hair's colours among the ``k`` colour clusters of ``samples (N, 3)`` (hair has highlights and
    shadows: one colour and one tolerance would take only its middle tone).

    A cluster is the hair's when it holds at least :data:`MIN_CLUSTER_SHARE` of the samples (a few stray
    pixels are no hair colour) and lies neither within :data:`SKIN_CLUSTER_DIST` of ``skin (3,)`` (the
    forehead of a high hairline, above the body's skull), nor is that skin lit (:func:`lit_skin`), nor
    within :data:`BACKGROUND_CLUSTER_DIST` of
    one of ``k`` clusters of ``background (M, 3)`` (the colours beside the head: the person mask reaching
    past the hair into a window behind it), nor a blend of another hair cluster and such a background one
    (:func:`_blends`). When that leaves none, the share alone decides: the photo's
    hair looks like its skin or its background, and nothing tells them apart.

    Returns:
        the hair's cluster centres ``(a, 3)`` and those rejected as skin or background ``(b, 3)``.
    """
    centres, share = colour_clusters(samples, k)
    centres = centres[share >= MIN_CLUSTER_SHARE]
    keep = (np.linalg.norm(centres - skin, axis=-1) >= SKIN_CLUSTER_DIST) & ~lit_skin(centres, skin)
    if background is not None and len(background) >= k:
        background_centres, _ = colour_clusters(background, k)
        is_background = np.linalg.norm(centres[:, None] - background_centres[None], axis=-1).min(1) < BACKGROUND_CLUSTER_DIST
        keep &= ~is_background & ~_blends(centres, keep & ~is_background, is_background)
    if not keep.any():
        return centres, centres[:0]
    return centres[keep], centres[~keep]


def _blends(centres: np.ndarray, hair: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``(k,)`` bool: clusters of ``centres (k, 3)`` that lie between a ``hair (k,)`` cluster and a
    ``background (k,)`` one (within :data:`BLEND_DIST` of the segment joining them, a quarter to three
    quarters along it): the mask's soft edge and the hair's fringe over a background of the hair's tone
    mix the two (Obama arms crossed's grey hair before a pale window: a third of the samples above his
    skull, 0.04 off that segment at 0.47 along it, made the window beside his head hair, and an afro won)."""
    out = np.zeros(len(centres), bool)
    for i in np.nonzero(hair)[0]:
        for h in np.nonzero(hair)[0]:
            if h == i:
                continue
            for b in np.nonzero(background)[0]:
                span = centres[b] - centres[h]
                t = float((centres[i] - centres[h]) @ span / max(float(span @ span), 1e-9))
                off = np.linalg.norm(centres[h] + t * span - centres[i])
                out[i] |= (BLEND_T[0] <= t <= BLEND_T[1]) and off < BLEND_DIST
    return out


def lit_skin(colours: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: ``colours (N, 3)`` that are the skin ``(3,)`` in more light: its chromaticity (the
    colour divided by its sum) within :data:`LIT_SKIN_CHROMA`, and at least as bright. The lower face the
    skin colour is taken from is often in the brow's and nose's shade, the forehead above it lit; a lit
    forehead then lies far from the skin in RGB (Biden three-quarter's: 0.24) but not in chromaticity
    (0.03). Hair clusters of the skin's chromaticity (blond, light brown) were darker than the face on
    the photos measured (docs/completion_eval.md); a brighter one would be dropped here, leaving the
    hair its darker tones."""
    colours = np.atleast_2d(colours)
    chroma = colours / np.clip(colours.sum(-1, keepdims=True), 1e-6, None)
    near = np.linalg.norm(chroma - skin / max(float(skin.sum()), 1e-6), axis=-1) < LIT_SKIN_CHROMA
    return near & (colours.sum(-1) >= skin.sum())


def _hair_colours(samples: np.ndarray, rgb: np.ndarray, skin: np.ndarray, background: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The hair's colour (median of the ``samples (N, 3)`` nearer one of the hair's clusters than the
    rejected ones, :func:`hair_clusters`) and every pixel of ``rgb (h, w, 3)``'s distance ``(h, w)`` to
    the nearest hair cluster."""
    hair, rejected = hair_clusters(samples, skin, background)
    to_hair = np.linalg.norm(samples[:, None] - hair[None], axis=-1).min(1)
    to_rejected = np.linalg.norm(samples[:, None] - rejected[None], axis=-1).min(1) if len(rejected) else np.inf
    dist = np.linalg.norm(rgb[:, :, None, :] - hair[None, None], axis=-1).min(-1)
    return np.median(samples[to_hair <= to_rejected], 0), dist


def scale_mesh(mesh: AssetMesh, scale: float, posed_centre: torch.Tensor, rest_centre: torch.Tensor) -> AssetMesh:
    """``mesh`` scaled by ``scale`` about ``posed_centre (3,)`` (posed vertices) and ``rest_centre (3,)`` (rest)."""
    if scale == 1.0:
        return mesh
    return replace(
        mesh,
        vertices=posed_centre + scale * (mesh.vertices - posed_centre),
        rest_vertices=rest_centre + scale * (mesh.rest_vertices - rest_centre),
    )


def _skull_centre(body, output) -> tuple[torch.Tensor, torch.Tensor]:
    """``(3,)`` posed and ``(3,)`` rest centre of the skull: the head joint moved up by half the
    distance to the eyes' height twice over (hair grows around the skull, not the neck)."""
    head, eye = body.bone_index("head"), body.bone_index("eye.L")
    out = []
    for poses in (output.bone_poses, output.rest_bone_poses):
        joint = poses[0, head, :3, 3].detach().cpu()
        eyes = poses[0, eye, :3, 3].detach().cpu()
        up = poses[0, head, :3, :3].detach().cpu() @ torch.tensor([0.0, 0.0, 1.0])
        out.append(joint + up * float((eyes - joint) @ up))
    return out[0], out[1]


def _extent(mesh: AssetMesh) -> float:
    """Vertical extent (metres) of a hairstyle in the rest pose."""
    z = mesh.rest_vertices[:, 2]
    return float(z.max() - z.min())


def _visible_hair(mesh: AssetMesh, body_depth: torch.Tensor, camera) -> np.ndarray:
    """``(h, w)`` bool: pixels where ``mesh`` (both sides drawn) is nearer than the body, whose depth
    buffer ``body_depth (h, w)`` (``inf`` off the body) was drawn in the same ``camera``."""
    raster = rasterize_mesh(mesh.vertices.float(), mesh.faces, camera, cull_backfaces=False)
    return (raster.depth < body_depth).cpu().numpy()


def choose_hair(evidence: HairEvidence, body, params, output=None, names: list[str] | None = None, grow_outline: bool = True) -> HairChoice:
    """The hairstyle (or none) and size that best explain ``evidence`` (module docstring).

    Args:
        body: BodyModel; params: the photo's batch-1 body parameters; output: ``body.forward(params)``.
        names: hairstyles to try (default: every shipped one).
        grow_outline: grow the chosen one to the hair's outline above the head
            (:func:`uvatar.track.hair_outline.grow_to_outline`).
    """
    if evidence.hair is None or not evidence.pixels.any():
        return HairChoice(None, 1.0, 0.0, {})
    if output is None:
        with torch.no_grad():
            output = body.forward(params)
    names = asset_names("hair") if names is None else names
    long_hair = below_chin_hair(evidence)
    if not long_hair.any():  # the photo shows no hair below the chin: styles that reach the back are invented
        names = [n for n in names if not asset_info(n).loose]
    posed_centre, rest_centre = _skull_centre(body, output)
    vertices = output.vertices[0].detach().cpu()
    roi = evidence.roi
    hair = evidence.pixels
    body_raster = rasterize_mesh(vertices, body.faces, evidence.camera)
    body_depth = body_raster.depth
    tried, scores = [], {}

    def score(mesh: AssetMesh, scale: float) -> None:
        visible = _visible_hair(scale_mesh(mesh, scale, posed_centre, rest_centre), body_depth, evidence.camera) & roi
        union = (visible | hair).sum()
        iou = float((visible & hair).sum() / union) if union else 0.0
        if mesh.loose and (visible & long_hair).sum() < LOOSE_EXPLAINS * long_hair.sum():
            iou = 0.0  # its length hangs where the photo shows no hair (a ponytail behind a frontal head)
        scores[mesh.name] = max(scores.get(mesh.name, 0.0), iou)
        tried.append((iou, mesh, scale))

    meshes = fit_assets(names, body, params, output=output)
    for mesh in meshes:  # every style at the middle size, then the best few at every size
        score(mesh, SCALES[len(SCALES) // 2])
    for _, mesh, _ in sorted(tried, key=lambda t: -t[0])[:REFINE_STYLES]:
        for scale in SCALES:
            if scale != SCALES[len(SCALES) // 2]:
                score(mesh, scale)
    best_iou = max(t[0] for t in tried)
    # the photo sees the front: styles that explain it equally well differ behind the head, where the
    # most compact one (smallest vertical extent) assumes least
    iou, mesh, scale = min((t for t in tried if t[0] >= best_iou - TIE_IOU), key=lambda t: _extent(t[1]) * t[2])
    if mesh is None or iou < MIN_IOU:
        log.info("hair: no hairstyle explains the photo's hair (best IoU %.2f < %.2f)", iou, MIN_IOU)
        return HairChoice(None, 1.0, iou, scores)
    fitted, growth = scale_mesh(mesh, scale, posed_centre, rest_centre), 0.0
    if grow_outline:
        outline = hair if evidence.person is None else hair | evidence.person
        face_id = body_raster.face_index.cpu()
        head = (face_id >= 0) & (body.face_parts.cpu()[face_id.clamp(min=0)] == PART_NAMES.index("head"))
        fitted, growth = grow_to_outline(fitted, outline, evidence.camera, posed_centre, rest_centre, head.numpy())
    log.info("hair: %s at scale %.2f (IoU %.2f with the photo's hair pixels), grown to its outline by up to %.1f cm", mesh.name, scale, iou, 100 * growth)
    return HairChoice(mesh.name, scale, iou, scores, fitted, growth)


def fit_hair(view, body) -> tuple[HairChoice, HairEvidence | None]:
    """Hair of one :class:`~uvatar.track.view.FittedView`: its evidence and the chosen hairstyle (a view
    without a person mask: no hair, no evidence)."""
    if view.mask is None:
        return HairChoice(None, 1.0, 0.0, {}), None
    with torch.no_grad():
        output = body.forward(view.params)
    evidence = hair_evidence(view.image, view.mask, output.vertices[0].detach().cpu(), body, view.camera)
    return choose_hair(evidence, body, view.params, output), evidence


def hair_template(view, body) -> tuple[ShellTemplate | None, HairChoice]:
    """The fitted hairstyle of a :class:`~uvatar.track.view.FittedView` as a shell template (None: no
    hair template), and the choice behind it (for the report)."""
    choice, evidence = fit_hair(view, body)
    if choice.mesh is None or evidence is None:
        return None, choice
    template = ShellTemplate(choice.name, "hair", choice.mesh.vertices.float(), choice.mesh.faces, evidence.pixels, evidence.camera, HAIR_BIND_PARTS,
                             skin=evidence.skin)
    return template, choice
