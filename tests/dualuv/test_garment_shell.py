"""Loose garments (uvatar.dualuv.garment_shell) and matter that hangs from the torso
(uvatar.dualuv.offbody.spanning_matter / rebind), on a synthetic front photo of a body in a skirt."""

import math

import numpy as np
import torch

from uvatar.body.parts import PART_NAMES, vertex_parts
from uvatar.body.shell import shell_offsets
from uvatar.camera import Camera
from uvatar.dualuv.garment_shell import BAND_M, LOOSE_M, bridge_gaps, garment_inflation, garment_template
from uvatar.dualuv.offbody import OPEN_GAP, rebind, sample_off_body, spanning_matter
from uvatar.dualuv.views import view_shell_offsets
from uvatar.encode import get_encoder
from uvatar.render.mesh import rasterize_mesh
from uvatar.track.view import FittedView

SIZE = 256


def front_view(body):
    """The reference body (its A-pose) seen from the front 3.2 m away, ``SIZE`` pixels square: its params,
    ``body.forward`` output, vertices ``(V, 3)``, camera and body mask ``(SIZE, SIZE)`` bool."""
    params = body.default_params(1)
    with torch.no_grad():
        out = body.forward(params)
    vertices = out.vertices[0].cpu()
    centre = (vertices.amax(0) + vertices.amin(0)) / 2
    camera = Camera.look_at(centre + torch.tensor([0.0, -3.2, 0.0]), centre, SIZE, SIZE, fov_y_deg=40.0)
    return params, out, vertices, camera, rasterize_mesh(vertices, body.faces, camera).mask.numpy()


def _skirt_photo(body, flare_m: float = 0.12):
    """A front view of the reference body (legs apart in its A-pose) whose person mask adds a trapezoid
    skirt from the hips to above the knees, ``flare_m`` wider than the hips at its hem on each side."""
    params, out, vertices, camera, body_mask = front_view(body)
    bones = out.bone_poses[0]
    hip = bones[body.bone_index("upperleg01.L"), :3, 3].cpu()
    knee = bones[body.bone_index("lowerleg01.L"), :3, 3].cpu()
    (hip_px, knee_px), _ = camera.project(torch.stack([hip, knee]))[0], None
    top, hem = int(hip_px[1]), int(hip_px[1] + 0.8 * (knee_px[1] - hip_px[1]))
    half_hip = abs(float(hip_px[0]) - SIZE / 2) + 0.08 * camera.K[0, 0].item() / 3.2
    flare = flare_m * camera.K[0, 0].item() / 3.2
    mask = body_mask.copy()
    for row in range(top, hem):
        half = half_hip + flare * (row - top) / max(hem - top, 1)
        mask[row, max(0, int(SIZE / 2 - half)):int(SIZE / 2 + half) + 1] = True
    image = np.full((SIZE, SIZE, 3), 0.8, np.float32)
    image[mask & ~body_mask] = (0.7, 0.1, 0.2)  # the skirt's off-body pixels
    return FittedView(image, mask.astype(np.float32), params, vertices, camera), (top, hem)


def test_inflation_is_round_the_body_and_zero_on_head_hands_feet(body):
    offsets = shell_offsets(body).cpu().clone()
    left_thigh_side = torch.nonzero(body.forward(body.default_params(1)).vertices[0, :, 0] > 0.15).squeeze(1)
    offsets[left_thigh_side] += 0.1  # the silhouette fit widened some sideways vertices only
    inflation = garment_inflation(body, offsets)
    parts = torch.as_tensor(vertex_parts(body))
    for name in ("head", "hands", "feet", "arms"):
        assert (inflation[parts == PART_NAMES.index(name)] == 0).all()
    assert float(inflation.max()) <= 0.1 + 1e-6  # never more than the widening itself


def test_a_flare_seen_beside_the_hips_hangs_round_the_seat(body):
    """A jacket's flare widens the hips' side vertices (the legs part); the torso's vertices at the same
    heights (the seat, at the back) hang at the same distance, not on the body."""
    rest = body.forward(body.default_params(1)).vertices[0].detach().cpu()
    parts = torch.as_tensor(vertex_parts(body))
    legs, torso = parts == PART_NAMES.index("legs"), parts == PART_NAMES.index("torso")
    hips = (rest[:, 2] > float(rest[torso, 2].min())) & (rest[:, 2] < float(rest[legs, 2].max()))
    offsets = shell_offsets(body).cpu().clone()
    offsets[legs & hips & (rest[:, 0].abs() > 0.1)] += 0.06  # the flare, seen beside the hips only
    inflation = garment_inflation(body, offsets)
    seat = torso & hips & (rest[:, 1] > 0.05)  # the torso's back at those heights (the body faces -y)
    assert seat.sum() > 10 and float(inflation[seat].min()) >= LOOSE_M
    assert float(inflation[torso & (rest[:, 2] > float(rest[legs, 2].max()) + 0.2)].max()) == 0  # the chest stays


def test_bands_between_loose_ones_are_bridged():
    per_band = torch.tensor([0.0, 0.05, 0.0, 0.01, 0.04, 0.02, 0.06, 0.01, 0.0])
    bridged = bridge_gaps(per_band)
    assert torch.equal(bridged, torch.tensor([0.0, 0.05, 0.04, 0.04, 0.04, 0.04, 0.06, 0.01, 0.0]))
    assert torch.equal(bridge_gaps(torch.tensor([0.0, 0.05, 0.0])), torch.tensor([0.0, 0.05, 0.0]))  # one loose band: nothing between


def test_a_coat_seen_loose_at_two_heights_is_one_garment(body):
    """A coat whose silhouette shows beside the hips and the chest, hidden at the waist (an arm hangs there):
    the waist's bands are inflated too, not left as a gap between two rings."""
    rest = body.forward(body.default_params(1)).vertices[0].detach().cpu()
    torso = torch.as_tensor(vertex_parts(body)) == PART_NAMES.index("torso")
    sides = torso & (rest[:, 0].abs() > 0.1)
    offsets = shell_offsets(body).cpu().clone()
    for low, high in ((0.0, 0.08), (0.24, 0.32)):
        offsets[sides & (rest[:, 2] >= low) & (rest[:, 2] < high)] += 0.06
    inflation = garment_inflation(body, offsets)
    waist = torso & (rest[:, 2] >= 0.12) & (rest[:, 2] < 0.2)
    assert waist.sum() > 10 and float(inflation[waist].min()) >= LOOSE_M
    assert float(inflation[torso & (rest[:, 2] > 0.44)].max()) == 0  # above the highest loose band: no garment


def test_a_hem_over_the_seat_is_coloured_like_the_torso(body):
    """The garment's faces on the legs at the torso's heights (the hips rule) take their unseen colour
    from the nearest torso face; the legs' faces below the torso keep their own (a skirt's)."""
    view, _ = _skirt_photo(body)
    template = garment_template(body, view, view_shell_offsets(body, view))
    assert template is not None and template.colour_faces is not None
    face_parts = body.face_parts.cpu()
    source, colour = template.source_faces, template.colour_faces
    legs, torso = PART_NAMES.index("legs"), PART_NAMES.index("torso")
    rest = body.forward(body.default_params(1)).vertices[0].detach().cpu()
    parts = torch.as_tensor(vertex_parts(body))
    torso_low = float(rest[parts == torso, 2].min())
    highest = rest[body.faces.cpu()[source], 2].max(1).values  # each garment face's highest vertex
    moved = colour != source
    assert bool(moved.any())
    assert (face_parts[source[moved]] == legs).all() and (face_parts[colour[moved]] == torso).all()
    below = (face_parts[source] == legs) & (highest < torso_low - 2 * BAND_M)
    assert bool(below.any()) and not bool(moved[below].any())  # the skirt below the seat keeps its own
    assert torch.equal(colour[face_parts[source] == torso], source[face_parts[source] == torso])
    assert float(highest[moved].min()) >= math.floor(torso_low / BAND_M) * BAND_M  # at the torso's heights


def test_tight_photo_gets_no_garment(body):
    view, _ = _skirt_photo(body)
    view.mask = rasterize_mesh(view.vertices, body.faces, view.camera).mask.float().numpy()  # the body alone
    assert garment_template(body, view, view_shell_offsets(body, view)) is None


def test_skirt_gives_a_garment_shell_on_the_hips_and_legs(body):
    view, _ = _skirt_photo(body)
    template = garment_template(body, view, view_shell_offsets(body, view))
    assert template is not None and template.source_faces is not None
    parts = body.face_parts.cpu()[template.source_faces]
    assert set(parts.unique().tolist()) <= {PART_NAMES.index("torso"), PART_NAMES.index("legs")}
    assert (parts == PART_NAMES.index("legs")).any()
    # its surface lies off the body by the loose threshold at least
    lifted = (template.vertices - view.vertices).norm(dim=-1)[template.faces.reshape(-1)]
    assert float(lifted.min()) >= LOOSE_M - 1e-6


def test_skirt_between_the_legs_rides_the_hips(body):
    view, (top, hem) = _skirt_photo(body)
    raster = rasterize_mesh(view.vertices, body.faces, view.camera)
    features = get_encoder("rgb")(view.image)
    samples = sample_off_body(features, raster, view.vertices, body.faces.cpu(), view.camera, torch.as_tensor(view.mask > 0.5),
                              shell_offsets(body).cpu(), max_side=SIZE)  # fmt: skip
    spanning = spanning_matter(samples, raster, body)
    legs = body.face_parts.cpu() == PART_NAMES.index("legs")
    gap = legs[samples.face] & (samples.pixels[:, 1] > top + 2) & (samples.pixels[:, 1] < hem - 2) & ((samples.pixels[:, 0] - SIZE / 2).abs() < 3)
    assert gap.any() and spanning[gap].all()  # the pixels right between the legs
    torso = body.face_parts.cpu() == PART_NAMES.index("torso")
    from uvatar.dualuv.template_shell import bind_to_nearest_faces

    points = samples.world_points(view.vertices, body.faces.cpu())
    face, bary, _ = bind_to_nearest_faces(points[spanning], view.vertices, body, ("torso",))
    moved = rebind(samples, spanning, view.vertices, body.faces.cpu(), face, bary)
    assert torso[moved.face[spanning]].all()
    # the same points and ray directions in the photo's pose (float32 frames of ~0.3 m offsets: ~1e-7 m)
    again = moved.world_points(view.vertices, body.faces.cpu())
    assert torch.allclose(again, points, atol=1e-5)
    from uvatar.body.skinning import bound_points_to_world

    _, old = bound_points_to_world(view.vertices[None], body.faces.cpu(), samples.face, samples.barycentrics)
    _, new = bound_points_to_world(view.vertices[None], body.faces.cpu(), moved.face, moved.barycentrics)
    assert torch.allclose(old[0] @ samples.ray_frames, new[0] @ moved.ray_frames, atol=1e-5)
    assert math.isclose(float(spanning.float().mean()), float(spanning.float().mean()))  # a number, not NaN


def test_trousers_inner_edges_stay_on_their_legs(body):
    """Baggy trousers: the person mask is each leg widened by a few pixels, with the background still
    showing between the legs. Their inner edges lie in the gap between the body's legs (the rule without
    the mask takes them for a skirt), but each row of the gap is open, so they stay on their legs; the
    skirt's rows, which the mask closes, still ride the hips with the mask given."""
    from scipy.ndimage import binary_dilation

    params, out, vertices, camera, body_mask = front_view(body)
    raster = rasterize_mesh(vertices, body.faces, camera)
    legs = body.face_parts.cpu() == PART_NAMES.index("legs")
    leg_pixels = (raster.face_index >= 0).numpy() & legs[raster.face_index.clamp(min=0)].numpy()
    person = body_mask | binary_dilation(leg_pixels, iterations=3)  # 3 px of trouser round each leg
    image = np.full((SIZE, SIZE, 3), 0.8, np.float32)
    image[person & ~body_mask] = (0.1, 0.15, 0.3)
    view = FittedView(image, person.astype(np.float32), params, vertices, camera)
    features = get_encoder("rgb")(view.image)
    samples = sample_off_body(features, raster, vertices, body.faces.cpu(), camera, torch.as_tensor(person), shell_offsets(body).cpu(), max_side=SIZE)
    old_rule = spanning_matter(samples, raster, body)
    new_rule = spanning_matter(samples, raster, body, torch.as_tensor(person))
    # rows where the background shows between the body's legs (below the crotch, which the 3 px close)
    cols = np.arange(SIZE)
    left = leg_pixels & (cols[None] < SIZE / 2)
    right = leg_pixels & (cols[None] >= SIZE / 2)
    open_rows = np.zeros(SIZE, bool)
    for r in range(SIZE):
        if left[r].any() and right[r].any():
            open_rows[r] = (~person[r, cols[left[r]].max() + 1 : cols[right[r]].min()]).mean() > OPEN_GAP
    in_open = torch.as_tensor(open_rows)[samples.pixels[:, 1].floor().long()]
    assert int((old_rule & in_open).sum()) > 100  # the inner edges below the crotch lie in the legs' gap
    assert int((old_rule & ~in_open).sum()) > 0  # and the crotch's closed rows have some too
    assert not (new_rule & in_open).any()  # and stay on their legs
    assert torch.equal(new_rule, old_rule & ~in_open)  # the crotch's closed rows still ride the hips

    skirt, (top, hem) = _skirt_photo(body)
    samples = sample_off_body(get_encoder("rgb")(skirt.image), raster, vertices, body.faces.cpu(), camera, torch.as_tensor(skirt.mask > 0.5),
                              shell_offsets(body).cpu(), max_side=SIZE)  # fmt: skip
    with_mask = spanning_matter(samples, raster, body, torch.as_tensor(skirt.mask > 0.5))
    gap = legs[samples.face] & (samples.pixels[:, 1] > top + 2) & (samples.pixels[:, 1] < hem - 2) & ((samples.pixels[:, 0] - SIZE / 2).abs() < 3)
    assert gap.any() and with_mask[gap].all()
    assert torch.equal(with_mask, spanning_matter(samples, raster, body))  # the skirt's rows are all closed
    holed = skirt.mask > 0.5
    middle = (top + hem) // 2
    holed[middle - 3 : middle + 3, SIZE // 2 - 6 : SIZE // 2 + 6] = False  # a fold's hole inside the mask, the gap's whole width
    assert torch.equal(spanning_matter(samples, raster, body, torch.as_tensor(holed)), with_mask)  # no way out: not open


def test_garment_inflation_is_the_same_every_run(body):
    """A vertex on the border of two parts belongs to one of them every time: its part was written by a
    parallel scatter with repeated indices, whose winner changed from call to call (the same photo's
    avatar then differed by a few dozen garment Gaussians between runs)."""
    gen = torch.Generator().manual_seed(0)
    fitted = shell_offsets(body).cpu() + 0.08 * torch.rand(body.n_vertices, generator=gen)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(2, threads))
    try:
        first = garment_inflation(body, fitted)
        for _ in range(6):
            assert torch.equal(garment_inflation(body, fitted), first)
    finally:
        torch.set_num_threads(threads)


def _hair_region(body, vertices, bones, camera, height: int, width: int) -> np.ndarray:
    """``(height, width)`` bool: long hair in a front view, from the top of the head to 10 cm below the
    shoulder joints and 15 cm each side of the head's centre (beside the neck it reaches ~9 cm past it)."""
    head = body.face_parts.cpu() == PART_NAMES.index("head")
    top = vertices[body.faces.cpu()[head].reshape(-1)][:, 2].max()
    centre = bones[body.bone_index("head"), :3, 3].cpu().clone()
    shoulder = bones[body.bone_index("upperarm01.L"), 2, 3].cpu()
    corners = torch.stack([centre + torch.tensor([-0.15, 0.0, 0.0]), centre + torch.tensor([0.15, 0.0, 0.0])])
    corners[0, 2], corners[1, 2] = top, shoulder - 0.10
    (x0, y0), (x1, y1) = camera.project(corners)[0].tolist()
    rows, cols = np.mgrid[0:height, 0:width]
    return (cols >= x0) & (cols <= x1) & (rows >= y0) & (rows <= y1)


def test_long_hair_beside_the_neck_is_no_garment(body):
    """Long hair widens the silhouette beside the neck; that widening is the hair's (another template's
    matter), not a garment's: a garment grown from it rose up the back of the neck and stood out through
    the hair at the nape (the woman with the phone's back, in her shirt's yellow)."""
    from uvatar.track.templates import work_frame

    params = body.default_params(1)
    with torch.no_grad():
        out = body.forward(params)
    vertices, bones = out.vertices[0].cpu(), out.bone_poses[0].cpu()
    centre = (vertices.amax(0) + vertices.amin(0)) / 2
    camera = Camera.look_at(centre + torch.tensor([0.0, -3.2, 0.0]), centre, SIZE, SIZE, fov_y_deg=40.0)
    body_mask = rasterize_mesh(vertices, body.faces, camera).mask.numpy()
    mask = body_mask | _hair_region(body, vertices, bones, camera, SIZE, SIZE)
    view = FittedView(np.full((SIZE, SIZE, 3), 0.8, np.float32), mask.astype(np.float32), params, vertices, camera)
    offsets = view_shell_offsets(body, view)
    work_camera, person = work_frame(view.mask, camera)
    hair = _hair_region(body, vertices, bones, work_camera, *person.shape) & person
    assert garment_template(body, view, offsets) is not None  # without knowing the hair: a "garment" at the neck
    assert garment_template(body, view, offsets, exclude=hair) is None


def test_a_garment_keeps_its_back_near_the_outline_with_smaller_splats(body):
    """The skirt's surface behind its own front near the mask's edge (where the rays pass beside the body) is
    drawn, its splats shrunk to at least EDGE_SPLAT_MIN of the sample spacing; taken as hair (which keeps
    the older rule) the same template drops those points, so the garment has more drawn points, and every
    point the hair rule draws the garment draws too, at full size."""
    import dataclasses

    from uvatar.dualuv.template_shell import EDGE_SPLAT_MIN, project_template

    view, _ = _skirt_photo(body, flare_m=0.2)
    template = garment_template(body, view, view_shell_offsets(body, view))
    assert template is not None
    small = torch.nn.functional.interpolate(torch.as_tensor(view.mask)[None, None], size=template.pixels.shape, mode="area")[0, 0].numpy()
    spacing = 0.004
    garment = project_template(template, view.image, small, view.vertices, body, spacing=spacing)
    as_hair = project_template(dataclasses.replace(template, kind="hair"), view.image, small, view.vertices, body, spacing=spacing)
    shrunk = garment.drawn & (garment.spacing < spacing)
    assert int(shrunk.sum()) > 20  # test setup: the skirt's back near its outline
    assert (garment.spacing >= EDGE_SPLAT_MIN * spacing * (1 - 1e-6)).all() and (garment.spacing <= spacing).all()
    assert (as_hair.spacing == spacing).all()
    assert int(garment.drawn.sum()) == int(as_hair.drawn.sum()) + int(shrunk.sum())
    # the hair rule's drawn points are among the garment's full-size ones (same even samples, same order)
    full = garment.drawn & (garment.spacing == spacing)
    hair_points = {tuple(p) for p in as_hair.points[as_hair.drawn].tolist()}
    assert hair_points == {tuple(p) for p in garment.points[full].tolist()}


def test_a_widening_across_a_folded_arm_is_no_garment(body, monkeypatch):
    """A torso vertex widened to a point nearest the pixel of a bent arm that lies in front of the vertex
    reaches across the arm (its sleeve), not along cloth hanging from the torso: it does not count. Straight
    arms (the reference A-pose) flag nothing; the same arms taken for bent flag only torso vertices behind
    them, none level with them (the torso's sides at the arms' depth); moved 10 cm nearer the camera in the
    raster (folded in front), they flag more, those sides among them, each nearest an arm pixel."""
    import dataclasses

    from scipy.ndimage import distance_transform_edt

    from uvatar.body.skinning import vertex_normals
    from uvatar.dualuv import offbody
    from uvatar.dualuv.garment_shell import across_folded_arm
    from uvatar.dualuv.offbody import FOLDED_IN_FRONT_M

    _, _, vertices, camera, _ = front_view(body)
    raster = rasterize_mesh(vertices, body.faces, camera)
    face_id = raster.face_index.numpy()
    normals = vertex_normals(vertices[None], body.faces.cpu())[0]
    widened, _ = camera.project(vertices + 0.15 * normals)  # 15 cm out along the normals: the sides reach past the arms
    col = widened[:, 0].floor().long().clamp(0, SIZE - 1).numpy()
    row = widened[:, 1].floor().long().clamp(0, SIZE - 1).numpy()
    assert not across_folded_arm(body, vertices, camera, raster, row, col).any()

    parts = body.face_parts.cpu()
    arms = (parts == PART_NAMES.index("arms")) | (parts == PART_NAMES.index("hands"))
    monkeypatch.setattr(offbody, "bent_limb_faces", lambda *args, **kwargs: arms)
    torso = vertex_parts(body) == PART_NAMES.index("torso")
    _, (near_row, near_col) = distance_transform_edt(face_id < 0, return_indices=True)
    nearest = face_id[near_row[row, col], near_col[row, col]]
    arm_depth = raster.depth.numpy()[near_row[row, col], near_col[row, col]]
    _, depth = camera.project(vertices)
    level = torso & arms.numpy()[nearest] & (np.abs(depth.numpy() - arm_depth) < FOLDED_IN_FRONT_M)
    at_side = across_folded_arm(body, vertices, camera, raster, row, col)
    assert level.sum() > 20 and not (at_side & level).any()
    assert (depth.numpy()[at_side] > arm_depth[at_side] + FOLDED_IN_FRONT_M).all()

    on_arm = raster.mask & arms[raster.face_index.clamp(min=0)]
    folded = dataclasses.replace(raster, depth=torch.where(on_arm, raster.depth - 0.1, raster.depth))
    across = across_folded_arm(body, vertices, camera, folded, row, col)
    assert across.sum() > at_side.sum() and (across & level).sum() > 10 and not (across & ~torso).any()
    assert arms.numpy()[nearest[across]].all()
