"""What a synthetic subject wears from the asset catalogue: the choice, the garment pieces, the textures.

The synthetic data's 3D branch dresses its subjects with MakeHuman's CC0 hair, outfits, shoes, hats
and eyelashes through the asset layer (:mod:`uvatar.assets`, the same fitting and skinning the
reconstruction uses), on top of the painted body of :mod:`uvatar.data.appearance`:

1. :func:`draw_wardrobe` turns the painted look (hair style, top, bottom, shoes) into template choices
   with plausible frequencies: a hairstyle of the look's style (bald and buzz-cut heads keep the painted
   scalp), the top piece of one outfit and a bottom piece as long as the look's (shorts or long
   trousers) of the same or another outfit (a painted skirt or dress stays a shell cone when no
   template skirt is drawn; capris stay painted), shoes unless barefoot, a hat
   sometimes, eyelashes mostly. Its random stream is its own, so the painted look does not change.
2. :func:`outfit_pieces` splits an outfit into ``top``, ``bottom`` (separable outfits) or ``full``
   (one-piece suits, worn whole) by the height of its connected parts on the reference body.
3. :func:`dress_subject` fits the chosen templates to the subject's shape and pose, keeps the chosen
   pieces, and lists the body faces they hide (MakeHuman's ``delete_verts``, per piece: only hidden
   vertices under the piece, so a top from one outfit over trousers from another leaves no hole).
4. :func:`paint_piece` paints each piece's texture in its own UV map, by rules on its points on the
   REFERENCE body (so patterns keep their scale): garments take the look's colours and patterns
   (:func:`uvatar.data.appearance.pattern_colours`), an irregular grain, darker seams along the UV
   islands' borders, shading from the garment's own folds (concavity of its reference mesh), sometimes
   a chest print; hair takes the look's colour with strands across the head, darker hollows,
   lighter lengths and coverage that frays at the mesh's open borders (alpha-tested at 0.5, so the
   outline is strand-shaped); shoes get soles.

Hair and the pieces of loose garments (:attr:`WornPiece.shell`) are the Shell layer of the sample's
truth; tight pieces are clothing on the body (the decoder's Core layer).

>>> # doctest: +SKIP
>>> worn, hidden = dress_subject(body, params, output, appearance.info["wardrobe"], appearance.info)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from uvatar.assets import asset_info, asset_names, fit_assets
from uvatar.body.skinning import vertex_normals
from uvatar.data.appearance import (
    fabric_variation,
    garment_colour,
    pattern_colours,
)
from uvatar.data.atlas import pad_islands

__all__ = ["HAIR_TEMPLATES", "WardrobeConfig", "WornPiece", "draw_wardrobe", "dress_subject", "outfit_pieces", "paint_piece"]

#: Hairstyle templates for the painted look's hair styles (bald and buzz have none).
HAIR_TEMPLATES: dict[str, tuple[str, ...]] = {
    "short": ("short01", "short02", "short03", "short04"),
    "bob": ("bob01", "bob02"),
    "medium": ("bob01", "bob02", "short04"),
    "long": ("long01",),
    "ponytail": ("ponytail01",),
    "bun": ("braid01", "ponytail01"),
    "afro": ("afro01",),
}
SKIRT_OUTFITS = ("female_elegantsuit01",)
MAX_RASTER_PAIRS = 4_000_000  # (triangle, texel) candidates of a UV map's rasterization, at most
UNDER_PIECE_M = 0.03  # a hidden body vertex belongs to the piece with a vertex this close (spacing ~1-2 cm)
GRAIN = 0.04  # fabric grain: +-4 % brightness
SEAM_DARKENING = 0.12  # stitching at the UV islands' borders
FOLD_SHADE_PER_M = 60.0  # darkening per metre a vertex lies behind its neighbours' mean (smoothed; 2 mm: 12 %)


@dataclass(frozen=True)
class WardrobeConfig:
    """How often templates replace the painted hair and clothes.

    Attributes:
        hair_prob: a subject with hair (not bald, not buzz-cut) wears a hairstyle template.
        top_prob: the top is an outfit's top piece (else the painted top stays).
        bottom_prob: trousers or shorts are an outfit's bottom piece (else painted).
        skirt_prob: a painted skirt becomes the template skirt (else it stays a painted shell cone).
        same_outfit_prob: the bottom comes from the top's own outfit.
        shoes_prob: shod subjects wear shoe templates.
        hat_prob, lashes_prob: a hat; eyelashes.
        texture_size: side of each piece's texture, texels.
    """

    hair_prob: float = 0.9
    top_prob: float = 0.8
    bottom_prob: float = 0.8
    skirt_prob: float = 0.5
    same_outfit_prob: float = 0.4
    shoes_prob: float = 0.9
    hat_prob: float = 0.04
    lashes_prob: float = 0.8
    texture_size: int = 512


@dataclass
class WornPiece:
    """One fitted, posed and painted template piece.

    Attributes:
        name: catalogue name; piece: ``hair``, ``top``, ``bottom``, ``full``, ``shoes``, ``hat`` or
            ``eyelashes``; shell: part of the Shell layer (hair, loose garments).
        vertices: ``(N, 3)`` float32 posed, world metres; faces ``(F, 3)`` int64; uv_corners ``(F, 3, 2)``
            float32 (v up); rgba: ``(S, S, 4)`` uint8 sRGB colour and coverage (row 0 at v = 1).
    """

    name: str
    piece: str
    shell: bool
    vertices: np.ndarray
    faces: np.ndarray
    uv_corners: np.ndarray
    rgba: np.ndarray


# ---------------------------------------------------------------------------------------------- choice
def _weighted(rng, names: list[str], weights: list[float]) -> str:
    p = np.asarray(weights, float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _outfit_weights(names: list[str], gender: float) -> list[float]:
    feminine = gender > 0.5
    return [(3.0 if feminine else 0.5) if n.startswith("female") else (0.5 if feminine else 3.0) for n in names]


def draw_wardrobe(rng: np.random.Generator, look: dict, gender: float, config: WardrobeConfig = WardrobeConfig()) -> dict:
    """Template choices for a painted ``look`` (:func:`uvatar.data.appearance.paint_appearance`'s draws).

    Returns a dict: ``hair``, ``top``, ``bottom``, ``shoes``, ``hat``, ``eyelashes`` (catalogue names or
    None; ``top`` and ``bottom`` are outfits whose piece is worn, equal for a one-piece suit) and
    ``seed`` (the textures' random seed).
    """
    u = rng.uniform
    out = {"hair": None, "top": None, "bottom": None, "shoes": None, "hat": None, "eyelashes": None}
    style = look["hair_style"]
    if style in HAIR_TEMPLATES and u() < config.hair_prob:
        out["hair"] = str(rng.choice(HAIR_TEMPLATES[style]))
    outfits = asset_names("outfit")
    separable = [n for n in outfits if set(outfit_pieces(n)) == {"top", "bottom"} and n not in SKIRT_OUTFITS]
    # bottoms as long as the look's: shorts end above the knee, trousers, jeans and leggings below it
    shorts = look["bottom"] == "shorts"
    bottoms = [n for n in separable if _bottom_above_knee(n) == shorts] if look["bottom"] != "capri" else []
    whole = [n for n in outfits if "full" in outfit_pieces(n)]
    if look["top"] != "dress" and u() < config.top_prob:
        pool = separable + whole
        out["top"] = _weighted(rng, pool, _outfit_weights(pool, gender))
    if out["top"] is not None and "full" in outfit_pieces(out["top"]):
        out["bottom"] = out["top"]
    elif look["bottom"] == "skirt":
        if u() < config.skirt_prob:
            out["bottom"] = SKIRT_OUTFITS[0]
    elif u() < config.bottom_prob and bottoms:  # capris (no template) stay painted
        if out["top"] in bottoms and u() < config.same_outfit_prob:
            out["bottom"] = out["top"]
        else:
            out["bottom"] = _weighted(rng, bottoms, _outfit_weights(bottoms, gender))
    if look["shoes"] != "barefoot" and u() < config.shoes_prob:
        out["shoes"] = str(rng.choice(asset_names("shoes")))
    if u() < config.hat_prob and style not in ("afro", "long", "ponytail", "bun"):
        out["hat"] = str(rng.choice(asset_names("hat")))
    if u() < config.lashes_prob:
        out["eyelashes"] = str(rng.choice(asset_names("eyelashes")))
    out["seed"] = int(rng.integers(2**31 - 1))
    return out


# ---------------------------------------------------------------------------------------------- pieces
@functools.cache
def _reference_body():
    """The reference body (average shape, rest pose): model, parameters, output, COCO points, rest vertices."""
    from uvatar.body.model import load_body_model

    body = load_body_model()
    params = body.default_params(1)
    with torch.no_grad():
        output = body.forward(params)
    coco = dict(zip(body.keypoints.coco_labels, body.keypoints.coco(output.vertices)[0].cpu().numpy().astype(np.float64)))
    return body, params, output, coco, output.rest_vertices[0].cpu().numpy().astype(np.float64)


@functools.cache
def _reference(name: str):
    """The asset fitted to the reference body, the body's COCO points and rest vertices ``(V, 3)``."""
    body, params, output, coco, rest_body = _reference_body()
    (mesh,) = fit_assets([name], body, params, output=output)
    return mesh, coco, rest_body


def _components(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """``(F,)`` connected-component label of each face (faces sharing a vertex are connected)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_vertices, n_vertices))
    _, labels = connected_components(graph, directed=False)
    return labels[faces[:, 0]]


@functools.cache
def outfit_pieces(name: str) -> dict[str, np.ndarray]:
    """Face indices of an outfit's pieces: ``{"top": ..., "bottom": ...}`` or ``{"full": ...}`` (and a
    one-piece suit's separate jacket joins ``full``).

    A connected part reaching from above the waist to below the knees is a one-piece suit; otherwise a
    part whose top lies 20 cm or more above the hips is a top, the rest bottoms. Small parts (buttons)
    join the piece of their height.
    """
    mesh, coco, _ = _reference(name)
    faces = mesh.faces.numpy()
    z = mesh.rest_vertices.numpy()[:, 2]
    hip = 0.5 * (coco["left_hip"][2] + coco["right_hip"][2])
    knee = 0.5 * (coco["left_knee"][2] + coco["right_knee"][2])
    labels = _components(faces, len(z))
    kinds = {}
    for label in np.unique(labels):
        fz = z[faces[labels == label]]
        lo, hi = float(fz.min()), float(fz.max())
        if lo < knee and hi > hip + 0.2:
            kinds[label] = "full"
        elif hi > hip + 0.2 or (float(fz.mean()) > hip and (labels == label).sum() < 200):
            kinds[label] = "top"
        else:
            kinds[label] = "bottom"
    if "full" in kinds.values():
        return {"full": np.arange(len(faces))}
    return {kind: np.nonzero(np.isin(labels, [k for k, v in kinds.items() if v == kind]))[0] for kind in ("top", "bottom")
            if kind in kinds.values()}


@functools.cache
def _bottom_above_knee(name: str) -> bool:
    """True if the outfit's bottom piece ends above the knees (shorts) on the reference body."""
    mesh, coco, _ = _reference(name)
    z = mesh.rest_vertices.numpy()[np.unique(mesh.faces.numpy()[outfit_pieces(name)["bottom"]]), 2]
    return float(z.min()) > 0.5 * (coco["left_knee"][2] + coco["right_knee"][2])


def _piece_hidden(name: str, faces: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """The asset's hidden body vertices that lie under the piece ``faces``: within
    :data:`UNDER_PIECE_M` of one of its vertices, on the reference body (a top's long sleeves hang as
    low as the trousers in the rest pose, so heights alone would not tell)."""
    from scipy.spatial import cKDTree

    mesh, _, rest_body = _reference(name)
    piece = mesh.rest_vertices.numpy()[np.unique(faces)]
    distance, _ = cKDTree(piece).query(rest_body[hidden], distance_upper_bound=UNDER_PIECE_M)
    return hidden[np.isfinite(distance)]


# ---------------------------------------------------------------------------------------------- textures
@functools.lru_cache(maxsize=64)
def _texels(name: str, size: int) -> dict:
    """Per-texel facts of an asset's UV map (cached): covered texel index, reference point, interpolated
    open-border distance and concavity, distance to the island's edge (texels), nearest covered texel.
    The map is smaller than ``size`` where its triangles' UV boxes would make over
    :data:`MAX_RASTER_PAIRS` (triangle, texel) candidates (its ``size`` entry says)."""
    from scipy import ndimage

    from uvatar.body.uv import rasterize_uv

    mesh, coco, _ = _reference(name)
    faces = mesh.faces.numpy()
    rest = mesh.rest_vertices.numpy().astype(np.float64)
    uv = mesh.uv_corners.numpy()
    boxes = float(np.prod(uv.max(1) - uv.min(1), axis=1).sum())  # UV bounding boxes, in units of the map
    while size > 64 and boxes * size * size > MAX_RASTER_PAIRS:  # cards that each span the map (afro01)
        size //= 2
    raster = rasterize_uv(mesh.uv_corners.float(), size)
    idx, face, bary = (t.cpu().numpy() for t in raster.covered())
    pos = np.einsum("nk,nkd->nd", bary, rest[faces[face]])
    border, concave = _vertex_fields(rest, faces)
    covered = raster.mask.cpu().numpy()
    edge = ndimage.distance_transform_edt(covered)[np.divmod(idx, size)]
    _, nearest = ndimage.distance_transform_edt(~covered, return_indices=True)
    return {  # index, size and nearest_flat: the layout atlas.pad_islands pads with
        "index": idx, "face": face, "pos": pos, "size": size, "coco": coco,
        "nearest_flat": (nearest[0] * size + nearest[1]).reshape(-1).astype(np.int32),
        "border": np.einsum("nk,nk->n", bary, border[faces[face]]).astype(np.float32),
        "concave": np.einsum("nk,nk->n", bary, concave[faces[face]]).astype(np.float32),
        "edge": edge.astype(np.float32),
    }


def _vertex_fields(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex distance (metres, along edges, capped at 5 cm) to the mesh's open border, and its
    concavity: how far (metres) the vertex lies behind the mean of its neighbours along its normal."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    n = len(vertices)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    length = np.linalg.norm(vertices[unique[:, 0]] - vertices[unique[:, 1]], axis=1)
    graph = coo_matrix((length, (unique[:, 0], unique[:, 1])), shape=(n, n)).tocsr()
    open_vertices = np.unique(unique[counts == 1])
    border = np.full(n, 0.05)
    if len(open_vertices):
        border = np.minimum(dijkstra(graph, directed=False, indices=open_vertices, min_only=True, limit=0.05), 0.05)
    normals = vertex_normals(torch.from_numpy(vertices)[None], torch.from_numpy(faces))[0].numpy()
    adjacency = coo_matrix((np.ones(2 * len(unique)), (np.r_[unique[:, 0], unique[:, 1]], np.r_[unique[:, 1], unique[:, 0]])), shape=(n, n)).tocsr()
    degree = np.asarray(adjacency.sum(1)).ravel().clip(1)
    mean = adjacency @ vertices / degree[:, None]
    concave = np.einsum("nd,nd->n", mean - vertices, normals)
    for _ in range(3):  # folds, not single-vertex noise
        concave = adjacency @ concave / degree
    return border.astype(np.float32), concave.astype(np.float32)


def _to_u8(values: np.ndarray) -> np.ndarray:
    return (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _geometry(t: dict) -> dict:
    """The pattern coordinates of :func:`uvatar.data.appearance.pattern_colours` for the texels."""
    pos, coco = t["pos"], t["coco"]
    x, y, z = (pos[:, i].astype(np.float32) for i in range(3))
    torso_y = 0.5 * (coco["left_hip"][1] + coco["left_shoulder"][1])
    theta = np.arctan2(x, -(y - torso_y)).astype(np.float32)
    return {"x": x, "y": y, "z": z, "u_coord": (theta * 0.15).astype(np.float32)}


def _garment(t: dict, sel: np.ndarray, rng: np.random.Generator, base: np.ndarray, kind: str | None, chest_print: bool) -> np.ndarray:
    """Colours ``(M, 3)`` of a garment piece's selected texels."""
    g = _geometry(t)
    colour, _ = pattern_colours(rng, g, sel, base, kind)
    x, z = g["x"][sel], g["z"][sel]
    # irregular grain (value noise over ~1 cm cells, not a periodic weave that would alias into moire)
    grain = _value_noise(rng, g["u_coord"][sel] + 0.5 * x, z, 0.01)
    colour = colour * (1.0 + GRAIN * grain)[:, None] * fabric_variation(g, sel, rng)[:, None]
    if chest_print:
        coco = t["coco"]
        cz = 0.65 * coco["left_shoulder"][2] + 0.35 * coco["left_hip"][2]
        cx = float(rng.choice([0.0, 0.07]))
        front = t["pos"][sel, 1] < coco["left_shoulder"][1] - 0.03
        half = rng.uniform(0.025, 0.07)
        shape = str(rng.choice(["box", "ring", "diamond"]))
        dx, dz = np.abs(x - cx) / half, np.abs(z - cz) / half
        inside = {"box": (dx < 1) & (dz < 0.6), "ring": np.abs(np.hypot(dx, dz) - 0.75) < 0.2, "diamond": dx + dz < 1}[shape]
        colour[front & inside] = garment_colour(rng, avoid=base)
    seam = np.clip(1.0 - t["edge"][sel] / 2.0, 0.0, 1.0)  # stitching along the pattern pieces' borders
    shade = np.clip(1.0 - FOLD_SHADE_PER_M * np.maximum(t["concave"][sel], 0.0), 0.8, 1.0)  # folds
    return colour * (1.0 - SEAM_DARKENING * seam)[:, None] * shade[:, None]


def _value_noise(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, cell, wrap_a: int | None = None) -> np.ndarray:
    """Smooth random values in [-1, 1] at points ``(a, b)`` (``(M,)`` each): a random lattice of ``cell``
    spacing (one number or one per coordinate), bilinearly interpolated with a smoothstep. ``wrap_a``:
    the lattice repeats every ``wrap_a`` cells along ``a`` (an angle: no seam where it wraps)."""
    ca, cb = (cell, cell) if np.isscalar(cell) else cell
    ua, ub = np.asarray(a, np.float64) / ca, np.asarray(b, np.float64) / cb
    ia, ib = np.floor(ua).astype(np.int64), np.floor(ub).astype(np.int64)
    fa, fb = ua - ia, ub - ib
    fa, fb = fa * fa * (3 - 2 * fa), fb * fb * (3 - 2 * fb)
    na, nb = wrap_a or 257, 257  # the lattice repeats after 257 cells (2.6 m at 1 cm): nobody is that wide
    table = rng.uniform(-1.0, 1.0, (na, nb))

    def at(i, j):
        return table[i % na, j % nb]

    top = at(ia, ib) * (1 - fa) + at(ia + 1, ib) * fa
    bottom = at(ia, ib + 1) * (1 - fa) + at(ia + 1, ib + 1) * fa
    return (top * (1 - fb) + bottom * fb).astype(np.float32)


def _hair(t: dict, rng: np.random.Generator, colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colours ``(N, 3)`` and coverage ``(N,)`` of a hairstyle's texels."""
    pos, coco = t["pos"], t["coco"]
    centre = 0.5 * (np.asarray(coco["left_ear"]) + np.asarray(coco["right_ear"]))
    d = pos - centre
    phi = np.arctan2(d[:, 0], -d[:, 1])
    phase = rng.uniform(0, 2 * np.pi, 4)
    wave = rng.uniform(0.0, 12.0)
    bend = wave * np.sin(25 * pos[:, 2]) / 260.0
    # clumps and strands: value noise across the head (irregular, ~ 1 cm and ~ 1.5 mm at the ears), slowly along it
    clumps = _value_noise(rng, phi + bend, pos[:, 2], (2 * np.pi / 40, 0.08), wrap_a=40)
    strands = _value_noise(rng, phi + bend, pos[:, 2], (2 * np.pi / 600, 0.04), wrap_a=600)
    strands = 0.85 + 0.1 * clumps + 0.14 * strands
    depth = np.clip(1.0 - FOLD_SHADE_PER_M * np.maximum(t["concave"], 0.0), 0.7, 1.0)  # hollows darker
    below_ears = np.clip((centre[2] - pos[:, 2]) / 0.35, 0.0, 1.0)
    tips = 1.0 + rng.uniform(0.0, 0.25) * below_ears
    rgb = colour[None] * (strands * depth * tips)[:, None]
    fray = 0.35 * np.sin(phase[3] + 1500 * phi) * np.sin(phase[0] + 700 * pos[:, 2])
    alpha = np.clip(t["border"] / 0.012 + fray, 0.0, 1.0)
    return rgb, alpha


def paint_piece(name: str, piece: str, faces_kept: np.ndarray, look: dict, seed: int, size: int = 512) -> np.ndarray:
    """``(S, S, 4)`` uint8 texture of one worn piece (module docstring, step 4).

    Args:
        name: catalogue name; piece: as :attr:`WornPiece.piece`; faces_kept: ``(F',)`` the piece's faces
            (texels of other faces stay transparent); look: the painted look (``appearance.info``);
            seed: the texture's seed (with the name and piece: same inputs, same texture).
    """
    t = _texels(name, size)
    rng = np.random.default_rng([seed, sum(map(ord, name)), sum(map(ord, piece))])
    n = len(t["index"])
    sel = np.isin(t["face"], faces_kept)
    rgb = np.zeros((n, 3), np.float32)
    alpha = sel.astype(np.float32)
    if piece == "hair":
        rgb, hair_alpha = _hair(t, rng, np.asarray(look["hair"], np.float32))
        alpha = alpha * hair_alpha
    elif piece == "eyelashes":
        rgb[:] = np.asarray(look["hair"], np.float32) * 0.3
        alpha = alpha * np.clip(t["border"] / 0.0015 + 0.3 * np.sin(4000 * t["pos"][:, 0]), 0, 1)
    elif piece == "shoes":
        base = np.asarray(look["shoe_colour"], np.float32)
        rgb[sel] = _garment(t, sel, rng, base, "solid", False)
        floor = t["pos"][:, 2].min()
        sole = sel & (t["pos"][:, 2] < floor + 0.025)
        rgb[sole] = [0.92, 0.92, 0.9] if rng.uniform() < 0.4 else [0.08, 0.07, 0.06]
    elif piece == "hat":
        base = garment_colour(rng)
        rgb[sel] = _garment(t, sel, rng, base, "solid", False)
    else:
        top_kind = look.get("top_pattern") if piece in ("top", "full") else look.get("bottom_pattern")
        key = "top_colour" if piece in ("top", "full") else ("top_colour" if look.get("dress") else "bottom_colour")
        base = np.asarray(look[key], np.float32)
        kind = "denim" if piece == "bottom" and look.get("bottom") == "jeans" else top_kind
        rgb[sel] = _garment(t, sel, rng, base, kind, piece in ("top", "full") and rng.uniform() < 0.1)
    return pad_islands(_to_u8(np.concatenate([rgb, alpha[:, None]], 1)), t)


# ---------------------------------------------------------------------------------------------- fitting
def _pieces_of(choice: dict) -> list[tuple[str, str]]:
    """``[(name, piece), ...]`` worn for a :func:`draw_wardrobe` choice."""
    out = []
    if choice.get("hair"):
        out.append((choice["hair"], "hair"))
    top, bottom = choice.get("top"), choice.get("bottom")
    if top and "full" in outfit_pieces(top):
        out.append((top, "full"))
    else:
        if top:
            out.append((top, "top"))
        if bottom:
            out.append((bottom, "bottom"))
    for kind in ("shoes", "hat", "eyelashes"):
        if choice.get(kind):
            out.append((choice[kind], kind))
    return out


def dress_subject(body, params, output, choice: dict, look: dict, config: WardrobeConfig = WardrobeConfig()) -> tuple[list[WornPiece], np.ndarray]:
    """Fit, pose and paint the pieces of a :func:`draw_wardrobe` ``choice`` on one subject.

    Args:
        body: :class:`~uvatar.body.model.BodyModel`; params: batch-1 body parameters; output:
            ``body.forward(params)``; look: the painted look (colours); config: texture size.
    Returns:
        the worn pieces and ``(F,)`` bool: the body faces they hide (not drawn).
    """
    pieces = _pieces_of(choice)
    hidden_faces = np.zeros(len(body.faces), bool)
    if not pieces:
        return [], hidden_faces
    names = list(dict.fromkeys(name for name, _ in pieces))
    meshes = {m.name: m for m in fit_assets(names, body, params, output=output)}
    faces_all = body.faces.cpu().numpy()
    hidden_vertices = np.zeros(body.n_vertices, bool)
    worn = []
    for name, piece in pieces:
        mesh = meshes[name]
        faces = mesh.faces.numpy()
        kept = outfit_pieces(name)[piece] if piece in ("top", "bottom", "full") else np.arange(len(faces))
        hidden = mesh.hidden_body_vertices.numpy()
        if piece in ("top", "bottom"):
            hidden = _piece_hidden(name, faces[kept], hidden)
        hidden_vertices[hidden] = True
        loose = bool(asset_info(name).loose) and piece in ("hair", "bottom", "full")
        worn.append(WornPiece(
            name, piece, piece == "hair" or loose,
            mesh.vertices.numpy().astype(np.float32), faces[kept].astype(np.int64),
            mesh.uv_corners.numpy()[kept].astype(np.float32),
            paint_piece(name, piece, kept, look, int(choice.get("seed", 0)), config.texture_size),
        ))
    hidden_faces = hidden_vertices[faces_all].all(1)
    return worn, hidden_faces
