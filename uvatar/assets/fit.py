"""Fitting an asset template onto a shaped and posed Anny body, and skinning it with the body.

The maths is MakeHuman's (``shared/proxy.py``: ``Proxy.getCoords``, ``TMatrix.getMatrix``,
``Proxy.getVertexWeights``), in Anny's frame:

1. The body's rest mesh of the current shape (and face) gives hm08's vertices: Anny's vertex ``i`` is
   hm08 vertex ``body.base_mesh_vertex_indices[i]``; hm08 vertices Anny lacks (helper geometry) are
   re-evaluated from their binding to body triangles (:class:`~uvatar.assets.store.HelperBinding`).
2. Scale factors, one per MakeHuman axis ``n`` (x, y up, z forward): ``s_n = |p_a[n] - p_b[n]| / ref_n``
   for the asset's named vertex pair ``(a, b)`` and reference distance ``ref_n`` (MakeHuman units,
   decimetres), measured on the current rest body.
3. Each asset vertex in rest: ``sum_k w_k p[r_k] + 0.1 * A (s * d)`` with its three hm08 references
   ``r_k``, weights ``w_k`` and offset ``d`` (MakeHuman axes), ``A`` turning MakeHuman's axes into
   Anny's (x -> x, y -> z, z -> -y) and 0.1 turning decimetres into metres.
4. Posing: linear blend skinning with the body's bone transforms and per-vertex bone weights
   ``sum_k w_k W[r_k]`` (negative parts dropped, rows renormalised), ``W`` being the body's skinning
   weights (a helper vertex takes its triangle's barycentric blend). An asset vertex that follows one
   body vertex (a single-index line) therefore moves exactly as that body vertex does.

:func:`fit_asset` is the vectorised path; :func:`fit_asset_reference` computes the same thing vertex
by vertex in float64 numpy (the test oracle).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from uvatar.assets.catalogue import asset_info
from uvatar.assets.store import AssetData, load_asset_data, load_helper_binding
from uvatar.body.skinning import bound_points_to_world, linear_blend_skinning_dense
from uvatar.errors import InputError

__all__ = [
    "MH_AXES_IN_ANNY",
    "AssetMesh",
    "fit_asset",
    "fit_asset_reference",
    "fit_assets",
    "fit_data",
    "hidden_body_faces",
    "hm08_points",
    "scale_factors",
]

MH_UNIT_M = 0.1  # one MakeHuman unit (decimetre) in metres
# MakeHuman axis n -> (Anny axis, sign): x -> +x, y (up) -> +z, z (forward) -> -y
MH_AXES_IN_ANNY: tuple[tuple[int, float], ...] = ((0, 1.0), (2, 1.0), (1, -1.0))
HM08_VERTICES = 19158


@dataclass
class AssetMesh:
    """An asset fitted to one body.

    Attributes:
        name, kind, loose: from the catalogue (:class:`~uvatar.assets.catalogue.AssetInfo`).
        vertices: ``(N, 3)`` posed vertices, metres, in the body's world (translation included).
        rest_vertices: ``(N, 3)`` the same in the body's rest pose (its shape and face).
        faces: ``(F, 3)`` int64 triangles, counter-clockwise seen from outside.
        uvs: ``(T, 2)`` texture coordinates (v up); face_uvs: ``(F, 3)`` int64 indices into ``uvs``.
        skin_weights: ``(N, J)`` bone weights (rows sum to 1) for :meth:`pose`.
        hidden_body_vertices: ``(D,)`` int64 Anny vertices the asset covers (MakeHuman's ``delete_verts``).
    """

    name: str
    kind: str
    loose: bool
    vertices: torch.Tensor
    rest_vertices: torch.Tensor
    faces: torch.Tensor
    uvs: torch.Tensor
    face_uvs: torch.Tensor
    skin_weights: torch.Tensor
    hidden_body_vertices: torch.Tensor

    @property
    def uv_corners(self) -> torch.Tensor:
        """``(F, 3, 2)`` per-corner texture coordinates (as ``BodyModel.uv_corners``)."""
        return self.uvs[self.face_uvs]

    def pose(self, bone_transforms: torch.Tensor) -> torch.Tensor:
        """``(B, N, 3)`` vertices under ``(B, J, 4, 4)`` rest-to-posed bone transforms of the same body
        shape (``BodyOutput.bone_transforms``), e.g. the frames of a motion."""
        rest = self.rest_vertices.to(bone_transforms)[None].expand(bone_transforms.shape[0], -1, -1)
        return linear_blend_skinning_dense(rest, self.skin_weights.to(bone_transforms), bone_transforms)


# ---------------------------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class _Layout:
    """Where each hm08 vertex lives for one body model: rows ``0..V-1`` are Anny's vertices, rows
    ``V..V+H-1`` the bound helpers; ``row[hm08]`` is -1 for hm08 vertices no asset needs."""

    row: torch.Tensor  # (19158,) int64
    n_body: int
    helper_triangle_rows: torch.Tensor  # (H, 3) int64 Anny vertex indices
    helper_barycentrics: torch.Tensor  # (H, 3)
    helper_offsets: torch.Tensor  # (H, 3)


@functools.lru_cache(maxsize=4)
def _layout(body) -> _Layout:
    helpers = load_helper_binding()
    anny_hm08 = body.base_mesh_vertex_indices.cpu()
    row = torch.full((HM08_VERTICES,), -1, dtype=torch.int64)
    row[anny_hm08] = torch.arange(len(anny_hm08))
    tri_rows = row[helpers.triangle]
    if (tri_rows < 0).any() or (row[helpers.hm08] >= 0).any():
        raise InputError("the asset data does not match this Anny mesh; rebuild it with python tools/build_assets.py")
    row[helpers.hm08] = len(anny_hm08) + torch.arange(len(helpers.hm08))
    return _Layout(row, len(anny_hm08), tri_rows, helpers.barycentrics, helpers.offsets)


def _rows(layout: _Layout, hm08: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Rows of hm08 indices; references with zero weight may point anywhere (row 0)."""
    rows = layout.row[hm08]
    if weights is not None:
        rows = torch.where(weights == 0, torch.zeros_like(rows), rows)
    if (rows < 0).any():
        raise InputError("an asset refers to hm08 vertices the shipped data does not bind; rebuild it")
    return rows


def hm08_points(vertices: torch.Tensor, body) -> torch.Tensor:
    """Anny vertices followed by the bound helper vertices.

    Args:
        vertices: ``(B, V, 3)`` body vertices (rest or posed), metres.
        body: the :class:`~uvatar.body.model.BodyModel` they come from.
    Returns:
        ``(B, V + H, 3)``: rows as in the layout (``_layout(body).row[hm08]`` gives the row of an hm08 vertex).
    """
    layout = _layout(body)
    device = vertices.device
    helpers, _ = bound_points_to_world(
        vertices,
        layout.helper_triangle_rows.to(device),
        torch.arange(len(layout.helper_triangle_rows), device=device),
        layout.helper_barycentrics.to(vertices),
        layout.helper_offsets.to(vertices),
    )
    return torch.cat([vertices, helpers], 1)


def scale_factors(points: torch.Tensor, pairs: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """MakeHuman's per-axis offset scales measured on a body.

    Args:
        points: ``(B, R, 3)`` hm08 points in Anny's frame, metres (:func:`hm08_points`).
        pairs: ``(3, 2)`` int64 rows of the vertex pair for MakeHuman's x, y, z axes.
        references: ``(3,)`` reference distances, MakeHuman units.
    Returns:
        ``(B, 3)`` scales for MakeHuman's x, y, z.
    """
    out = []
    for n, (axis, _) in enumerate(MH_AXES_IN_ANNY):
        span = (points[:, pairs[n, 0], axis] - points[:, pairs[n, 1], axis]).abs() / MH_UNIT_M
        out.append(span / float(references[n]))
    return torch.stack(out, -1)


def _offsets_in_anny(offsets: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``(N, 3)`` MakeHuman-axis offsets and ``(B, 3)`` scales -> ``(B, N, 3)`` metres in Anny's axes."""
    scaled = offsets[None] * scales[:, None, :]
    out = torch.zeros_like(scaled)
    for n, (axis, sign) in enumerate(MH_AXES_IN_ANNY):
        out[..., axis] = sign * MH_UNIT_M * scaled[..., n]
    return out


def _fit_rest(data: AssetData, points: torch.Tensor, layout: _Layout) -> torch.Tensor:
    """``(B, N, 3)`` asset vertices on hm08 ``points`` ``(B, R, 3)`` (steps 2 and 3 of the module doc)."""
    rows = _rows(layout, data.refs, data.weights)
    pairs = _rows(layout, data.scales[:, :2].long())
    scales = scale_factors(points, pairs, data.scales[:, 2])
    weights = data.weights.to(points)
    base = (points[:, rows] * weights[None, :, :, None]).sum(2)
    return base + _offsets_in_anny(data.offsets.to(points), scales)


@functools.lru_cache(maxsize=4)
def _weight_table(body) -> torch.Tensor:
    """``(V + H, J)`` bone weights of the layout's rows: Anny's vertices, then the helpers (their
    triangle's barycentric blend); computed once per body model."""
    layout = _layout(body)
    body_w = body.skinning_weight_matrix.cpu()
    helper_w = (layout.helper_barycentrics[..., None] * body_w[layout.helper_triangle_rows]).sum(1)
    return torch.cat([body_w, helper_w], 0)


def _skin_weights(data: AssetData, body, layout: _Layout) -> torch.Tensor:
    """``(N, J)`` bone weights of the asset's vertices (step 4)."""
    table = _weight_table(body)
    rows = _rows(layout, data.refs, data.weights)
    w = (data.weights[..., None] * table[rows]).sum(1).clamp_min(0.0)
    return w / w.sum(-1, keepdim=True).clamp_min(1e-12)


def _hidden(data: AssetData, layout: _Layout) -> torch.Tensor:
    rows = layout.row[data.delete_verts]
    return rows[(rows >= 0) & (rows < layout.n_body)]


def fit_data(data: AssetData, body, output, points: torch.Tensor | None = None):
    """Fit stored (or hand-made) :class:`AssetData` to a body's first item.

    Args:
        data: the asset's bindings; body: :class:`~uvatar.body.model.BodyModel`;
        output: ``body.forward(params)`` (:class:`~uvatar.body.model.BodyOutput`, item 0 is used);
        points: :func:`hm08_points` of its rest vertices, if already computed.
    Returns:
        rest vertices ``(N, 3)``, posed vertices ``(N, 3)``, skin weights ``(N, J)``.
    """
    layout = _layout(body)
    if points is None:
        points = hm08_points(output.rest_vertices[:1].detach().float().cpu(), body)
    rest_vertices = _fit_rest(data, points, layout)[0]
    weights = _skin_weights(data, body, layout)
    transforms = output.bone_transforms[:1].detach().float().cpu()
    posed = linear_blend_skinning_dense(rest_vertices[None], weights, transforms)[0]
    return rest_vertices, posed, weights


# ---------------------------------------------------------------------------------------------- public
def fit_assets(names: list[str], body, params, output=None) -> list[AssetMesh]:
    """Fit several assets to one body (the body is evaluated once).

    Args:
        names: catalogue names (unknown names raise a one-line :class:`InputError` listing them).
        body: :class:`~uvatar.body.model.BodyModel`.
        params: :class:`~uvatar.body.model.BodyParams` with batch 1 (shape, pose, face, translation).
        output: ``body.forward(params)`` if already computed.
    Returns:
        one :class:`AssetMesh` per name, in the body's world.
    """
    infos = [asset_info(n) for n in names]
    if params.batch_size != 1:
        raise InputError(f"fit_assets takes one body (params batch 1); got batch {params.batch_size}")
    if output is None:
        with torch.no_grad():
            output = body.forward(params)
    layout = _layout(body)
    points = hm08_points(output.rest_vertices[:1].detach().float().cpu(), body)
    meshes = []
    for info in infos:
        data = load_asset_data(info.name)
        rest_vertices, posed, weights = fit_data(data, body, output, points)
        meshes.append(
            AssetMesh(
                name=info.name,
                kind=info.kind,
                loose=info.loose,
                vertices=posed,
                rest_vertices=rest_vertices,
                faces=data.faces,
                uvs=data.uvs,
                face_uvs=data.face_uvs,
                skin_weights=weights,
                hidden_body_vertices=_hidden(data, layout),
            )
        )
    return meshes


def fit_asset(name: str, body, params, output=None) -> AssetMesh:
    """Fit one asset to a shaped and posed body: :func:`fit_assets` for one name."""
    return fit_assets([name], body, params, output)[0]


def hidden_body_faces(meshes: list[AssetMesh], body) -> torch.Tensor:
    """``(F,)`` bool: body faces with a vertex hidden by any of the fitted ``meshes`` (to leave out when
    drawing the body under them, as MakeHuman does)."""
    hidden = torch.zeros(body.n_vertices, dtype=torch.bool)
    for mesh in meshes:
        hidden[mesh.hidden_body_vertices] = True
    return hidden[body.faces.cpu()].any(1)


# ---------------------------------------------------------------------------------------------- reference
def fit_asset_reference(name: str, body, params) -> np.ndarray:
    """Plain twin of :func:`fit_asset`: ``(N, 3)`` posed vertices computed vertex by vertex in float64
    numpy from the stored data (no shared code with the fast path beyond the body's forward)."""
    data = load_asset_data(name)
    helpers = load_helper_binding()
    with torch.no_grad():
        out = body.forward(params)
    rest = out.rest_vertices[0].double().cpu().numpy()
    transforms = out.bone_transforms[0].double().cpu().numpy()
    anny_of = {int(h): i for i, h in enumerate(body.base_mesh_vertex_indices.tolist())}
    helper_of = {int(h): k for k, h in enumerate(helpers.hm08.tolist())}
    bone_idx = body.vertex_bone_indices.cpu().numpy()
    bone_w = body.vertex_bone_weights.double().cpu().numpy()

    def point(h: int) -> np.ndarray:
        if h in anny_of:
            return rest[anny_of[h]]
        k = helper_of[h]
        a, b, c = (rest[anny_of[int(v)]] for v in helpers.triangle[k])
        tangent = (b - a) / np.linalg.norm(b - a)
        normal = np.cross(b - a, c - a)
        normal /= np.linalg.norm(normal)
        frame = np.stack([tangent, np.cross(normal, tangent), normal], 1)
        bary = helpers.barycentrics[k].double().numpy()
        return bary[0] * a + bary[1] * b + bary[2] * c + frame @ helpers.offsets[k].double().numpy()

    def bone_weights(h: int) -> dict[int, float]:
        out: dict[int, float] = {}
        if h in anny_of:
            parts = [(anny_of[h], 1.0)]
        else:
            k = helper_of[h]
            parts = [(anny_of[int(v)], float(w)) for v, w in zip(helpers.triangle[k], helpers.barycentrics[k])]
        for v, f in parts:
            for j, w in zip(bone_idx[v], bone_w[v]):
                out[int(j)] = out.get(int(j), 0.0) + f * float(w)
        return out

    scale = []
    for n, (axis, _) in enumerate(MH_AXES_IN_ANNY):
        a, b, reference = data.scales[n].tolist()
        scale.append(abs(point(int(a))[axis] - point(int(b))[axis]) / MH_UNIT_M / reference)
    result = np.zeros((len(data.refs), 3))
    for i in range(len(data.refs)):
        refs, ws = data.refs[i].tolist(), data.weights[i].double().tolist()
        d = data.offsets[i].double().numpy() * np.array(scale) * MH_UNIT_M
        p = sum(w * point(r) for r, w in zip(refs, ws) if w != 0) + np.array([d[0], -d[2], d[1]])
        bones: dict[int, float] = {}
        for r, w in zip(refs, ws):
            if w != 0:
                for j, bw in bone_weights(r).items():
                    bones[j] = bones.get(j, 0.0) + w * bw
        bones = {j: w for j, w in bones.items() if w > 0}
        total = sum(bones.values())
        m = sum(w / total * transforms[j] for j, w in bones.items())
        result[i] = m[:3, :3] @ p + m[:3, 3]
    return result
