"""How deep off-body matter reaches along the photo's ray (uvatar.dualuv.offbody.matter_reach and the
pieces it stands on), on exact geometry and on a synthetic front photo of a body in a skirt."""

import math

import numpy as np
import torch

from tests.dualuv.test_garment_shell import SIZE, _skirt_photo, front_view
from uvatar.body.shell import shell_offsets
from uvatar.dualuv.offbody import (STRAIGHT_LIMB_DEG, TUBE_BEYOND_M, between_body_parts, body_axes, distance_to_axes, matter_reach, neighbourhood_median,
                                   sample_off_body, straight_axes)
from uvatar.encode import get_encoder
from uvatar.render.mesh import rasterize_mesh


def test_reach_is_the_half_chord_of_the_tube_that_meets_the_mask_edge():
    """A tube of radius R round an axis; a point at x from the axis, on a ray across the axis direction
    through it: the ray's chord through the tube, found by intersecting line and circle."""
    x = torch.tensor([0.0, 0.03, 0.05, 0.05, 0.12, 0.2], dtype=torch.float64)
    e = torch.tensor([0.04, 0.0, 0.02, 0.1, 0.05, 0.01], dtype=torch.float64)
    radius = x + e
    # the ray: points (x, t); inside the circle while x^2 + t^2 <= R^2
    t = torch.linspace(0, 0.5, 500_001, dtype=torch.float64)
    half_chord = torch.stack([t[(xi**2 + t**2) <= ri**2].max() for xi, ri in zip(x, radius)])
    assert torch.allclose(matter_reach(x, e), half_chord, atol=1e-6)  # the grid's step
    assert float(matter_reach(torch.tensor([0.05]), torch.tensor([0.0]))) == 0.0  # nothing at the mask's edge
    assert float(matter_reach(torch.tensor([0.05]), torch.tensor([-0.01]))) == 0.0


def _between_reference(body: np.ndarray, person: np.ndarray) -> np.ndarray:
    out = np.zeros_like(body)
    for r, c in zip(*np.nonzero(person & ~body)):
        left = right = False
        k = c - 1
        while k >= 0 and person[r, k]:
            left |= body[r, k]
            k -= 1
        k = c + 1
        while k < body.shape[1] and person[r, k]:
            right |= body[r, k]
            k += 1
        out[r, c] = left and right
    return out


def test_between_body_parts_matches_a_walk_along_each_row():
    rng = np.random.default_rng(4)
    person = rng.random((40, 60)) > 0.15
    body = person & (rng.random((40, 60)) > 0.6)
    got = between_body_parts(torch.as_tensor(body), torch.as_tensor(person)).numpy()
    assert np.array_equal(got, _between_reference(body, person))
    person_row = torch.tensor([[1, 1, 1, 1, 1, 0, 1, 1]], dtype=torch.bool)
    body_row = torch.zeros_like(person_row)
    body_row[0, [0, 3]] = True
    # 1 and 2 lie between body pixels; 4 has body on its left only (its run ends at the gap); 6, 7 none
    assert between_body_parts(body_row, person_row)[0].tolist() == [False, True, True, False, False, False, False, False]


def test_distance_to_axes_matches_dense_points_on_the_segments():
    gen = torch.Generator().manual_seed(2)
    axes = torch.randn(5, 2, 3, generator=gen, dtype=torch.float64)
    points = torch.randn(200, 3, generator=gen, dtype=torch.float64) * 1.5
    t = torch.linspace(0, 1, 20_001, dtype=torch.float64)
    dense = axes[:, :1] + t[None, :, None] * (axes[:, 1:] - axes[:, :1])  # (S, T, 3)
    brute = (points[:, None, None] - dense[None]).norm(dim=-1)  # (N, S, T)
    distance, beside, which = distance_to_axes(points, axes)
    # the dense points are 1/20000 of a segment apart (at most ~3e-4): the nearest is within half of that
    assert torch.allclose(distance, brute.amin((1, 2)), atol=2e-4)
    nearest_t = t[brute.amin(1).argmin(1)]
    assert torch.equal(beside, (nearest_t > 0) & (nearest_t < 1))
    assert not beside.all() and beside.any()
    assert torch.equal(which, brute.amin(2).argmin(1))


def _reach_inputs(body, view):
    """What :func:`sample_off_body` needs for reaches from a synthetic ``view``: the body's raster, the
    person mask ``(H, W)`` bool, the body's axes and every face allowed a reach."""
    raster = rasterize_mesh(view.vertices, body.faces, view.camera)
    person = torch.as_tensor(view.mask > 0.5)
    keypoints = body.keypoints.coco(view.vertices[None].to(body.device))[0].cpu()
    axes = body_axes(keypoints, body.keypoints.coco_labels)
    return raster, person, axes, torch.ones(len(body.faces), dtype=torch.bool)


def test_neighbourhood_median_matches_a_loop_over_the_window():
    rng = np.random.default_rng(7)
    where = rng.random((23, 31)) > 0.4
    values = rng.random(int(where.sum())).astype(np.float32)
    got = neighbourhood_median(torch.as_tensor(values), torch.as_tensor(where), 2).numpy()
    grid = np.full(where.shape, np.nan, np.float32)
    grid[where] = values
    want = []
    for r, c in zip(*np.nonzero(where)):  # row-major, as the values
        window = grid[max(r - 2, 0):r + 3, max(c - 2, 0):c + 3]
        present = np.sort(window[~np.isnan(window)])
        want.append(present[(len(present) - 1) // 2])  # the lower middle of an even count, as torch's nanmedian
    assert np.array_equal(got, np.array(want, np.float32))


def test_a_reach_on_a_few_isolated_rows_takes_its_neighbours(body):
    """The skirt's off-body pixels lie on a template's front (which places them, no reach) on every row
    but two: those two rows' tube reach stands alone among their neighbours' zeros and takes their median
    (a comb of needles from the side, else); with no template anywhere every row keeps its tube."""
    view, (top, hem) = _skirt_photo(body, flare_m=0.12)
    raster, person, axes, every_face = _reach_inputs(body, view)
    args = (get_encoder("rgb")(view.image), raster, view.vertices, body.faces.cpu(), view.camera, person, shell_offsets(body).cpu())
    plain = sample_off_body(*args, max_side=SIZE, reach_faces=every_face, axes=axes)
    middle = (top + hem) // 2
    alone = (plain.pixels[:, 1].long() >= middle) & (plain.pixels[:, 1].long() <= middle + 1)
    assert (plain.reach[alone] > 0).sum() > 10  # test setup: the tube reaches on those rows
    front = torch.where(person & ~raster.mask, raster.depth[raster.mask].median(), torch.tensor(float("inf")))
    front[middle:middle + 2] = float("inf")
    samples = sample_off_body(*args, max_side=SIZE, reach_faces=every_face, axes=axes, front_depth=front)
    assert torch.equal(samples.pixels, plain.pixels)
    assert (samples.reach[~alone] == 0).all() and (samples.reach[alone] == 0).all()


def test_a_bent_limb_gives_no_axis_for_a_tube(body):
    rest = body.forward(body.default_params(1)).vertices
    axes = body_axes(body.keypoints.coco(rest)[0], body.keypoints.coco_labels)
    assert straight_axes(axes).all()  # the A-pose: limbs straight, feet and torso always
    bent = axes.clone()
    elbow, wrist = bent[0, 1], bent[1, 1]
    forearm = (wrist - elbow).norm()
    upper = torch.nn.functional.normalize(bent[0, 1] - bent[0, 0], dim=0)
    side = torch.nn.functional.normalize(torch.linalg.cross(upper, torch.tensor([0.0, 1.0, 0.0])), dim=0)
    for degrees, straight in ((STRAIGHT_LIMB_DEG - 5, True), (STRAIGHT_LIMB_DEG + 5, False)):
        turn = math.radians(degrees)
        bent[1, 1] = elbow + forearm * (math.cos(turn) * upper + math.sin(turn) * side)
        usable = straight_axes(bent)
        assert usable[:2].tolist() == [straight, straight] and usable[2:].all()  # the other limbs untouched


def test_the_skirt_reaches_back_where_it_is_an_outline_and_not_between_the_legs(body):
    view, (top, hem) = _skirt_photo(body, flare_m=0.12)
    raster = rasterize_mesh(view.vertices, body.faces, view.camera)
    features = get_encoder("rgb")(view.image)
    person = torch.as_tensor(view.mask > 0.5)
    keypoints = body.keypoints.coco(view.vertices[None].to(body.device))[0].cpu()
    axes = body_axes(keypoints, body.keypoints.coco_labels)
    every_face = torch.ones(len(body.faces), dtype=torch.bool)
    args = (features, raster, view.vertices, body.faces.cpu(), view.camera, person, shell_offsets(body).cpu())
    samples = sample_off_body(*args, max_side=SIZE, reach_faces=every_face, axes=axes)
    plain = sample_off_body(*args, max_side=SIZE)
    assert (plain.reach == 0).all() and torch.equal(plain.pixels, samples.pixels)
    col, row = samples.pixels[:, 0], samples.pixels[:, 1]
    skirt = (row > top + 2) & (row < hem - 2)
    centre = (col - SIZE / 2).abs() < 3
    assert (samples.reach[skirt & centre] == 0).all()  # between the legs: body on both sides
    outside = skirt & ((col - SIZE / 2).abs() > (col[skirt] - SIZE / 2).abs().max() - 8)  # the hem's outer columns
    assert outside.any() and (samples.reach[outside] > 0).all()
    # never deeper than the tube round the nearest axis through the mask's edge along the sample's row (the
    # edge in any direction is no farther than along the row, and the reach grows with that distance)
    points = samples.world_points(view.vertices, body.faces.cpu())
    to_axis, _, _ = distance_to_axes(points, axes)
    _, depth = view.camera.project(points)
    mask = torch.as_tensor(view.mask > 0.5)
    cols = torch.arange(SIZE).float() + 0.5
    row_index = row.long()
    right_end = torch.where(mask[row_index], cols[None], -1.0).amax(1)
    left_end = torch.where(mask[row_index], cols[None], float(SIZE)).amin(1)
    along_row = torch.minimum(right_end - col, col - left_end).clamp(min=0) + 1.0  # pixels, one to spare for the grid
    bound = matter_reach(to_axis, along_row * depth / float(view.camera.K[0, 0]))
    assert (samples.reach <= bound + 1e-6).all()


def test_matter_far_beyond_the_body_is_as_deep_as_it_is_thick(body):
    """A skirt whose hem flares 30 cm beside the hips: its samples more than TUBE_BEYOND_M beyond the
    body's outline (an object held there, not cloth round the legs) reach at most their distance to the
    mask's edge; nearer ones keep the tube round the axis, which is deeper."""
    view, (top, hem) = _skirt_photo(body, flare_m=0.3)
    raster, person, axes, every_face = _reach_inputs(body, view)
    samples = sample_off_body(get_encoder("rgb")(view.image), raster, view.vertices, body.faces.cpu(), view.camera, person,
                              shell_offsets(body).cpu(), max_side=SIZE, reach_faces=every_face, axes=axes)  # fmt: skip
    from scipy.ndimage import distance_transform_edt

    points = samples.world_points(view.vertices, body.faces.cpu())
    _, depth = view.camera.project(points)
    metres = depth / float(view.camera.K[0, 0])
    rows, cols = samples.pixels[:, 1].long(), samples.pixels[:, 0].long()
    to_body = torch.as_tensor(distance_transform_edt(~raster.mask.numpy()), dtype=torch.float32)[rows, cols] * metres
    to_edge = torch.as_tensor(distance_transform_edt(np.pad(person.numpy(), 1))[1:-1, 1:-1], dtype=torch.float32)[rows, cols] * metres
    # the samples' depth is their body pixel's (float32 projection): 1e-6 relative spares the comparison
    far = to_body > TUBE_BEYOND_M * (1 + 1e-6)
    near = (to_body < TUBE_BEYOND_M * (1 - 1e-6)) & (samples.reach > 0)
    assert far.sum() > 100 and near.sum() > 100  # test setup: both kinds on the skirt
    assert (samples.reach[far] <= to_edge[far] * (1 + 1e-5)).all()
    assert (samples.reach[near] > to_edge[near] * 1.01).any()  # the tube: deeper than the edge is far


def test_matter_beside_a_limb_folded_in_front_rides_the_torso_when_near_it(body):
    """Samples whose nearest body pixel is on a bent limb's faces (the legs stand in for folded arms: the
    raster's leg pixels are moved 10 cm nearer the camera, in front of the torso) are bound to the nearest
    torso pixel when that is within BESIDE_BENT_M, at that pixel's depth and with no reach; farther ones
    stay on the limb. A limb behind the torso's depth keeps every sample. The same pixels either way."""
    import dataclasses

    from scipy.ndimage import distance_transform_edt

    from uvatar.body.parts import PART_NAMES
    from uvatar.dualuv.offbody import BESIDE_BENT_M, REACH_MEDIAN_PX

    view, (top, hem) = _skirt_photo(body, flare_m=0.3)
    raster, person, axes, every_face = _reach_inputs(body, view)
    legs = (body.face_parts == PART_NAMES.index("legs")).cpu()
    torso_faces = (body.face_parts == PART_NAMES.index("torso")).cpu()
    on_leg_pixels = raster.mask & legs[raster.face_index.clamp(min=0)]
    features, encoder_args = get_encoder("rgb")(view.image), (view.vertices, body.faces.cpu(), view.camera, person, shell_offsets(body).cpu())

    def sample(shift_m: float, bent: bool):
        shifted = dataclasses.replace(raster, depth=torch.where(on_leg_pixels, raster.depth + shift_m, raster.depth))
        extra = {"bent_faces": legs, "torso_faces": torso_faces} if bent else {}
        return sample_off_body(features, shifted, *encoder_args, max_side=SIZE, reach_faces=every_face, axes=axes, **extra), shifted

    plain, _ = sample(-0.1, bent=False)
    moved, shifted = sample(-0.1, bent=True)
    assert torch.equal(plain.pixels, moved.pixels)
    rows, cols = moved.pixels[:, 1].long(), moved.pixels[:, 0].long()
    torso = raster.mask & torso_faces[raster.face_index.clamp(min=0)]
    to_torso_px, (near_r, near_c) = distance_transform_edt(~torso.numpy(), return_indices=True)
    torso_depth = raster.depth[torch.as_tensor(near_r)[rows, cols], torch.as_tensor(near_c)[rows, cols]]
    to_torso = torch.as_tensor(to_torso_px, dtype=torch.float32)[rows, cols] * torso_depth / float(view.camera.K[0, 0])
    on_legs = legs[plain.face]
    # a grid of stride 1 (SIZE samples a side): the distance transform above is the sampler's own
    near = on_legs & (to_torso < BESIDE_BENT_M * (1 - 1e-5))
    far = on_legs & (to_torso > BESIDE_BENT_M * (1 + 1e-5))
    assert near.sum() > 50 and far.sum() > 50  # test setup: the skirt's top is beside the hips, its hem far below them
    assert torso_faces[moved.face[near]].all() and (moved.reach[near] == 0).all()
    assert legs[moved.face[far]].all() and torch.equal(moved.offsets[far], plain.offsets[far])
    # each moved sample lies on its pixel's ray at the depth of the torso pixel it is now bound to
    points = moved.world_points(view.vertices, body.faces.cpu())
    pixels, depth = view.camera.project(points[near])
    assert torch.allclose(pixels, moved.pixels[near], atol=1e-2)
    assert torch.allclose(depth, torso_depth[near], rtol=1e-4)
    untouched = ~on_legs
    assert torch.equal(moved.face[untouched], plain.face[untouched]) and torch.equal(moved.offsets[untouched], plain.offsets[untouched])
    # the limb behind the torso: its sleeve is at its own depth, nothing moves
    behind, _ = sample(0.1, bent=True)
    behind_plain, _ = sample(0.1, bent=False)
    assert torch.equal(behind.face, behind_plain.face) and torch.equal(behind.offsets, behind_plain.offsets)


def test_no_tube_beside_a_folded_limb(body):
    """Matter within BESIDE_BENT_M of a bent limb's pixels is the coat round the folded arm, not a tube round
    another axis: no reach there (the legs stand in for folded arms, as above); farther matter keeps the
    reach it has without bent limbs, and there is some within that distance that had one."""
    from scipy.ndimage import distance_transform_edt

    from uvatar.body.parts import PART_NAMES
    from uvatar.dualuv.offbody import BESIDE_BENT_M, REACH_MEDIAN_PX

    view, _ = _skirt_photo(body, flare_m=0.3)
    raster, person, axes, every_face = _reach_inputs(body, view)
    legs = (body.face_parts == PART_NAMES.index("legs")).cpu()
    torso_faces = (body.face_parts == PART_NAMES.index("torso")).cpu()
    features, args = get_encoder("rgb")(view.image), (view.vertices, body.faces.cpu(), view.camera, person, shell_offsets(body).cpu())
    common = {"max_side": SIZE, "reach_faces": every_face, "axes": axes}
    plain = sample_off_body(features, raster, *args, **common)
    folded = sample_off_body(features, raster, *args, **common, bent_faces=legs, torso_faces=torso_faces)
    assert torch.equal(plain.pixels, folded.pixels)
    # metres to the nearest bent-limb pixel at the sample's depth (stride 1: the sampler's own transform)
    to_bent_px = torch.as_tensor(distance_transform_edt(~(raster.mask & legs[raster.face_index.clamp(min=0)]).numpy()), dtype=torch.float32)
    _, depth = view.camera.project(plain.world_points(view.vertices, body.faces.cpu()))
    to_bent = to_bent_px[plain.pixels[:, 1].long(), plain.pixels[:, 0].long()] * depth / float(view.camera.K[0, 0])
    near = to_bent < BESIDE_BENT_M * (1 - 1e-4)
    # farther by the reach's median window (REACH_MEDIAN_PX grid pixels, one to spare): a reach beside the zeros
    # near the limb may be an outlier among them and take their median
    window = (REACH_MEDIAN_PX + 1) * depth / float(view.camera.K[0, 0])
    far = to_bent > BESIDE_BENT_M * (1 + 1e-4) + window
    assert (plain.reach[near] > 0).sum() > 50  # test setup: the skirt beside the legs is a tube without bent limbs
    assert (folded.reach[near] == 0).all()
    assert (plain.reach[far] > 0).sum() > 50 and torch.equal(folded.reach[far], plain.reach[far])


def _jacket_photo(body, flare_m: float = 0.06):
    """A front view of the reference body whose person mask adds ``flare_m`` of matter beside the torso on
    both sides, from the hips up to the chest (a boxy jacket seen past the body's outline)."""
    from uvatar.track.view import FittedView

    params, out, vertices, camera, body_mask = front_view(body)
    bones = out.bone_poses[0]
    hip = bones[body.bone_index("upperleg01.L"), :3, 3].cpu()
    chest = hip + torch.tensor([0.0, 0.0, 0.3])
    (hip_px, chest_px), _ = camera.project(torch.stack([hip, chest]))[0], None
    flare = int(flare_m * camera.K[0, 0].item() / 3.2)
    mask = body_mask.copy()
    for row in range(int(chest_px[1]), int(hip_px[1])):
        cols = np.nonzero(body_mask[row, SIZE // 2 - 40:SIZE // 2 + 40])[0] + SIZE // 2 - 40  # the torso's run
        if len(cols):
            mask[row, max(0, cols.min() - flare):cols.min()] = True
            mask[row, cols.max() + 1:cols.max() + 1 + flare] = True
    image = np.full((SIZE, SIZE, 3), 0.8, np.float32)
    image[mask & ~body_mask] = (0.5, 0.4, 0.3)
    return FittedView(image, mask.astype(np.float32), params, vertices, camera)


def test_torso_half_depth_is_the_extent_of_the_torso_bands_along_the_view(body):
    from uvatar.body.parts import PART_NAMES
    from uvatar.dualuv.offbody import torso_half_depth

    view = _jacket_photo(body)
    faces = body.faces.cpu()
    torso_faces = (body.face_parts == PART_NAMES.index("torso")).cpu()
    axes = body_axes(body.keypoints.coco(view.vertices[None].to(body.device))[0].cpu(), body.keypoints.coco_labels)
    axis = axes[-1]
    direction = torch.nn.functional.normalize(axis[1] - axis[0], dim=0)
    points = axis[0] + torch.linspace(0.05, 0.4, 8)[:, None] * direction + torch.tensor([0.2, 0.0, 0.0])
    band = 0.03
    got = torso_half_depth(view.vertices, faces, torso_faces, axis, points, view.camera, band)
    ids = torch.unique(faces[torso_faces].reshape(-1))
    verts = view.vertices[ids].double()
    bands = torch.floor((verts - axis[0].double()) @ direction.double() / band)
    along = verts @ view.camera.R[2].double()
    for point, value in zip(points.double(), got):
        b = torch.floor((point - axis[0].double()) @ direction.double() / band)
        near = (bands - b).abs() <= 1
        expected = (along[near].max() - along[near].min()) / 2
        # float32 against float64 on metre-scale coordinates: a few ulps of 1 m (and a vertex on a band's
        # border may fall either side of it; none did here)
        assert abs(float(value) - float(expected)) < 1e-5
    assert (got > 0.05).all() and (got < 0.2).all()  # a torso is 10-40 cm deep


def test_matter_beside_the_torso_reaches_no_deeper_than_the_torso(body):
    """Matter round the torso's axis reaches along the ray at most the torso's half depth at its height
    plus its distance beyond the body's outline; without the torso's faces it is the round tube's."""
    from scipy.ndimage import distance_transform_edt

    from uvatar.body.parts import PART_NAMES
    from uvatar.dualuv.offbody import torso_half_depth

    view = _jacket_photo(body, flare_m=0.1)
    raster, person, axes, every_face = _reach_inputs(body, view)
    torso_faces = (body.face_parts == PART_NAMES.index("torso")).cpu()
    args = (get_encoder("rgb")(view.image), raster, view.vertices, body.faces.cpu(), view.camera, person, shell_offsets(body).cpu())
    tube = sample_off_body(*args, max_side=SIZE, reach_faces=every_face, axes=axes)
    capped = sample_off_body(*args, max_side=SIZE, reach_faces=every_face, axes=axes, torso_faces=torso_faces)
    assert torch.equal(tube.pixels, capped.pixels) and torch.equal(tube.face, capped.face)
    points = capped.world_points(view.vertices, body.faces.cpu())
    _, _, which = distance_to_axes(points, axes)
    round_torso = (which == len(axes) - 1) & (tube.reach > 0)
    assert round_torso.sum() > 50  # test setup: the jacket beside the waist
    _, depth = view.camera.project(points)
    rows, cols = capped.pixels[:, 1].long(), capped.pixels[:, 0].long()
    beyond = torch.as_tensor(distance_transform_edt(~raster.mask.numpy()), dtype=torch.float32)[rows, cols] * depth / float(view.camera.K[0, 0])
    bound = torso_half_depth(view.vertices, body.faces.cpu(), torso_faces, axes[-1], points, view.camera) + beyond
    assert (capped.reach[round_torso] <= bound[round_torso] * (1 + 1e-5)).all()
    assert (capped.reach[round_torso] < tube.reach[round_torso]).any()  # the round tube was deeper somewhere
    assert torch.equal(capped.reach[~round_torso], tube.reach[~round_torso])


def test_matter_on_a_template_front_rides_no_arm(body):
    """A coat 10 px round the whole body of a front photo, its front drawn by a template (the front depth
    map finite over it): with ``front_faces`` leaving out the arms and hands, no sample on that front is
    bound to them (those beside the arms ride the torso, as they did the arm's swing before), and every
    sample keeps its point in the photo's pose."""
    from scipy.ndimage import binary_dilation, distance_transform_edt

    from uvatar.body.parts import PART_NAMES

    _, _, vertices, camera, body_mask = front_view(body)
    person = binary_dilation(body_mask, iterations=10)
    raster = rasterize_mesh(vertices, body.faces, camera)
    _, (near_r, near_c) = distance_transform_edt(~body_mask, return_indices=True)
    front = torch.where(torch.as_tensor(person & ~body_mask), raster.depth[near_r, near_c] - 0.05, torch.tensor(float("inf")))
    parts = body.face_parts.cpu()
    limbs = (parts == PART_NAMES.index("arms")) | (parts == PART_NAMES.index("hands"))
    image = np.full((SIZE, SIZE, 3), 0.5, np.float32)
    args = (get_encoder("rgb")(image), raster, vertices, body.faces.cpu(), camera, torch.as_tensor(person), shell_offsets(body).cpu())
    plain = sample_off_body(*args, max_side=SIZE, front_depth=front)
    held = sample_off_body(*args, max_side=SIZE, front_depth=front, front_faces=~limbs)
    assert torch.equal(plain.pixels, held.pixels)
    assert int(limbs[plain.face].sum()) > 100  # test setup: the coat beside the arms is bound to them without the rule
    assert not bool(limbs[held.face].any())
    # the same point in the photo's pose: the depth is the template's, only what it rides on changes
    # (float32 round trips through two face frames, 3.2 m from the origin where an ulp is 2.4e-7 m: 1.2e-7
    # measured; the bound allows eight ulps)
    assert torch.allclose(held.world_points(vertices, body.faces.cpu()), plain.world_points(vertices, body.faces.cpu()), rtol=0, atol=2e-6)
