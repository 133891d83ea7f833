"""Off-body pieces that float off the body in the reference pose (uvatar.dualuv.floaters), on toy meshes."""

import numpy as np
import torch

from uvatar.body.skinning import bound_points_to_world, world_points_to_bound
from uvatar.dualuv.floaters import HOLD_M, hold_floating_matter, matter_components, matter_components_reference, touching_body, unanchored
from uvatar.dualuv.offbody import OffBodySamples

STEP = 0.01  # the toy meshes' grid, metres


def _patch(x0: float, count: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """A flat square patch at z = 0 from ``(x0, 0)``, ``count`` x ``count`` cells of :data:`STEP`:
    vertices ``(V, 3)`` and faces ``(F, 3)``."""
    xs, ys = np.meshgrid(np.arange(count + 1) * STEP + x0, np.arange(count + 1) * STEP, indexing="ij")
    vertices = torch.tensor(np.stack([xs, ys, np.zeros_like(xs)], -1).reshape(-1, 3), dtype=torch.float32)
    at = lambda i, j: i * (count + 1) + j  # noqa: E731
    faces = [[at(i, j), at(i + 1, j), at(i + 1, j + 1)] for i in range(count) for j in range(count)]
    faces += [[at(i, j), at(i + 1, j + 1), at(i, j + 1)] for i in range(count) for j in range(count)]
    return vertices, torch.tensor(faces)


def _two_patches():
    """Patch A at x 0-0.1 m and patch B at x 0.2-0.3 m; in the reference pose B has moved 0.5 m along
    x (as an arm moves between the photo's pose and the reference pose). Returns posed and rest vertices,
    faces, and the faces of each patch."""
    va, fa = _patch(0.0)
    vb, fb = _patch(0.2)
    posed = torch.cat([va, vb])
    faces = torch.cat([fa, fb + len(va)])
    rest = posed.clone()
    rest[len(va):, 0] += 0.5
    return posed, rest, faces, torch.arange(len(fa)), torch.arange(len(fa), len(faces))


def _samples(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor, allowed: list[torch.Tensor]) -> OffBodySamples:
    """Off-body samples at ``points (N, 3)``, each bound to the face (of its ``allowed`` faces) whose
    centre is nearest, as :func:`~uvatar.dualuv.offbody.sample_off_body` binds to the nearest body pixel."""
    centres = vertices[faces].mean(1)
    face = torch.stack([a[torch.argmin((centres[a] - p).norm(dim=-1))] for p, a in zip(points, allowed, strict=True)])
    bary = torch.full((len(points), 3), 1 / 3)
    n = len(points)
    return OffBodySamples(face, bary, world_points_to_bound(vertices, faces, face, bary, points), torch.eye(3).expand(n, 3, 3).clone(),
                          torch.rand(n, 3), torch.zeros(n, 2), torch.full((n,), STEP), torch.zeros(n), torch.zeros(n))  # fmt: skip


def _hanging_strip(posed, faces, faces_a, faces_b):
    """A column of matter standing on patch A (x = 0.05) up to 5 cm, then a strip 5 cm above the
    patches to x = 0.25; the strip's part beyond x = 0.15 is bound to patch B."""
    column = [torch.tensor([0.05, 0.05, z]) for z in np.arange(0.005, 0.05, STEP)]
    strip = [torch.tensor([x, 0.05, 0.05]) for x in np.arange(0.05, 0.255, STEP)]
    points = torch.stack(column + strip).float()
    allowed = [faces_b if float(p[0]) >= 0.15 else faces_a for p in points]
    return points, _samples(points, posed, faces, allowed)


def test_components_agree_with_all_pairs():
    """Sheets, a strand and lone points: the nearest-neighbour components are the all-pairs ones."""
    gen = torch.Generator().manual_seed(0)
    grid = torch.stack(torch.meshgrid(torch.arange(15.0), torch.arange(15.0), indexing="ij"), -1).reshape(-1, 2) * STEP
    sheet = torch.cat([grid, torch.zeros(len(grid), 1)], 1)
    points = torch.cat([
        sheet, sheet + torch.tensor([0.0, 0.0, 0.1]),  # two parallel sheets 10 cm apart
        torch.tensor([[0.3, 0.0, z] for z in np.arange(0, 0.1, STEP)]).float(),  # a strand as tall as the gap between them, off to the side
        torch.rand(20, 3, generator=gen) + 1.0,  # lone points
    ])  # fmt: skip
    extents = torch.full((len(points),), 1.2 * STEP)
    fast, plain = matter_components(points, extents).numpy(), matter_components_reference(points, extents).numpy()
    # the same partition: each fast label maps to one plain label and back
    pairs = set(zip(fast.tolist(), plain.tolist(), strict=True))
    assert len(pairs) == len(set(fast.tolist())) == len(set(plain.tolist()))
    assert len(set(plain.tolist())) >= 3 + 1  # both sheets and the strand apart, lone points their own


def test_unanchored_marks_pieces_without_an_anchor():
    labels = torch.tensor([0, 0, 1, 1, 2])
    anchored = torch.tensor([False, True, False, False, False])
    assert unanchored(labels, anchored).tolist() == [False, False, True, True, True]


def test_touching_body_is_within_the_reach_and_not_beyond_reach_plus_edge():
    vertices, faces = _patch(0.0)
    heights = torch.tensor([0.0, 0.004, 0.011, 0.05])
    points = torch.stack([torch.tensor([0.033, 0.047, h]) for h in heights])
    touches = touching_body(points, torch.full((4,), 0.012), vertices, faces)
    # within its reach (0.012) of the plane it touches; beyond reach plus the longest edge (0.0141) it does not
    assert touches[:3].all() and not touches[3]


def test_a_piece_torn_off_in_the_reference_pose_rides_the_matter_it_hung_on():
    posed, rest, faces, faces_a, faces_b = _two_patches()
    points, samples = _hanging_strip(posed, faces, faces_a, faces_b)
    on_b = torch.isin(samples.face, faces_b)
    held, stats = hold_floating_matter(samples, [], posed, rest, faces)
    assert stats["off_body_floating"] == int(on_b.sum()) > 0  # the part bound to B floats 5 cm above it
    assert stats["off_body_held"] == stats["off_body_floating"]
    assert hold_floating_matter(held, [], posed, rest, faces)[1]["off_body_floating"] == 0  # nothing floats now
    assert torch.isin(held.face, faces_a).all()
    # in the photo's pose nothing moves (float32 offsets of ~0.1 m: ~1e-8 m); patch A does not move between
    # the poses, so in the reference pose the held piece is where the photo put it too
    assert torch.allclose(held.world_points(posed, faces), points, atol=1e-5)
    assert torch.allclose(held.world_points(rest, faces), points, atol=1e-5)
    # the ray frames keep their world directions
    _, before = bound_points_to_world(posed[None], faces, samples.face, samples.barycentrics)
    _, after = bound_points_to_world(posed[None], faces, held.face, held.barycentrics)
    assert torch.allclose(before[0] @ samples.ray_frames, after[0] @ held.ray_frames, atol=1e-5)


def test_a_piece_far_from_held_matter_stays_where_it_was_bound():
    posed, rest, faces, faces_a, faces_b = _two_patches()
    lone = torch.tensor([[0.25, 0.05, 0.05 + 0.02 + HOLD_M]])  # above patch B, out of reach of the strip
    points, strip = _hanging_strip(posed, faces, faces_a, faces_b)
    alone = _samples(lone, posed, faces, [faces_b])
    samples = OffBodySamples.concatenate([strip, alone])
    held, stats = hold_floating_matter(samples, [], posed, rest, faces)
    assert held.face[-1] == alone.face[0]
    assert hold_floating_matter(held, [], posed, rest, faces)[1]["off_body_floating"] == 1  # it alone still floats
