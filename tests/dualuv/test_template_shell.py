"""Shell-UV on a fitted hair template (uvatar.dualuv.template_shell, uvatar.model.template_gaussians):
even samples, carving to the photo's outline, colours only from the seen hair, and hair behind the head
of the avatar seen from the back."""

import math

import numpy as np
import torch
from hair_helpers import HAIR, SKIN, hair_photo

from uvatar.avatar import Avatar
from uvatar.camera import Camera
from uvatar.dualuv.template_shell import (
    project_template,
    sample_surface,
    template_front_depth,
)
from uvatar.dualuv.views import project_view, uv_config
from uvatar.model.projection import decode_projection
from uvatar.model.template_gaussians import fill_template_colors
from uvatar.track.hair import hair_template


def test_surface_samples_are_even_and_inside_their_faces():
    vertices = torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0], [0.1, 0.1, 0.02]])
    faces = torch.tensor([[0, 1, 2], [1, 3, 2]])
    spacing = 0.005
    points, normals, face, bary = sample_surface(vertices, faces, spacing)
    again, _, _, _ = sample_surface(vertices, faces, spacing)
    assert torch.equal(points, again)  # deterministic
    corners = vertices[faces]
    area = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]).norm(dim=-1) / 2
    expected = (area / spacing**2).round()
    counts = torch.bincount(face, minlength=2)
    assert torch.equal(counts, expected.long())  # one per spacing² of area, rounded per face
    # every point is a convex combination of its face's corners: its barycentrics (solved back) are >= 0
    a, b, c = corners[face, 0], corners[face, 1], corners[face, 2]
    m = torch.stack([b - a, c - a], -1)
    uv = torch.linalg.lstsq(m, (points - a)[..., None]).solution[..., 0]
    tolerance = 1e-5  # float32 solve of well-conditioned 2x2 systems on 0.1 m triangles
    assert (uv >= -tolerance).all() and (uv.sum(-1) <= 1 + tolerance).all()
    assert (bary >= 0).all() and torch.allclose((bary[:, :, None] * corners[face]).sum(1), points, atol=1e-7)
    assert torch.allclose(normals.norm(dim=-1), torch.ones(len(normals)), atol=1e-6)


def test_hair_template_is_carved_to_the_photo_and_coloured_from_it(body):
    view, _ = hair_photo(body, "long01")
    template, _ = hair_template(view, body)
    assert template is not None
    small = torch.nn.functional.interpolate(torch.as_tensor(view.mask)[None, None], size=template.pixels.shape, mode="area")[0, 0].numpy()
    samples = project_template(template, view.image, small, view.vertices, body)
    assert len(samples) > 1000 and samples.seen.any() and (~samples.seen).any()
    # the face's skin in the photo comes with the hair (the fill leaves skin under thin hair out of its sources)
    assert template.skin is not None and torch.allclose(samples.skin, torch.as_tensor(template.skin, dtype=torch.float32))
    assert (samples.skin - torch.tensor(SKIN)).abs().max() < 0.02
    # carving: every kept point projects inside the person mask widened by carve_px (2 px) + 1 px rounding
    from scipy.ndimage import binary_dilation

    pixels, _ = template.camera.project(samples.points)
    grown = binary_dilation(small > 0.5, iterations=3)
    col = pixels[:, 0].floor().long().clamp(0, grown.shape[1] - 1).numpy()
    row = pixels[:, 1].floor().long().clamp(0, grown.shape[0] - 1).numpy()
    assert grown[row, col].all()
    # seen points carry the photo's hair (flat colour; the edge ring is coloured like the unseen)
    assert (samples.colors[samples.seen] - torch.tensor(HAIR)).abs().max() < 0.02
    # the fill only copies seen colours: every filled colour is one of them, never the skin
    filled = fill_template_colors(samples)
    seen_colours = {tuple(c) for c in samples.colors[samples.seen].tolist()}
    assert all(tuple(c) in seen_colours for c in filled[~samples.seen].tolist())
    # skin under thin hair among the seen points (every tenth one): none of it is carried to the unseen
    from dataclasses import replace

    colours = samples.colors.clone()
    seen_index = torch.nonzero(samples.seen)[:, 0]
    colours[seen_index[::10]] = torch.tensor(SKIN)
    filled = fill_template_colors(replace(samples, colors=colours))
    assert (filled[~samples.seen] - torch.tensor(HAIR)).abs().max() < 0.02
    # the photo's off-body hair pixels get the template's front as their depth
    depth = template_front_depth([template], template.camera, template.camera.height, template.camera.width)
    assert torch.isfinite(depth[torch.as_tensor(template.pixels)]).float().mean() > 0.9


def _back_camera(body, view, size: int = 256) -> Camera:
    head = body.forward(view.params).bone_poses[0, body.bone_index("head"), :3, 3]
    target = head.detach() + torch.tensor([0.0, 0.0, -0.05])
    return Camera.look_at(target + torch.tensor([0.0, 1.3, 0.0]), target, size, size, fov_y_deg=30.0)


def _nape_region(body, view, truth, camera) -> torch.Tensor:
    """``(H, W)`` bool: where the true hair covers the neck from behind, 3 to 11 cm below the head joint."""
    from uvatar.render.mesh import rasterize_mesh

    head_row = camera.project(body.forward(view.params).bone_poses[0, body.bone_index("head"), :3, 3].detach()[None])[0][0, 1]
    hair_raster = rasterize_mesh(truth.vertices.float(), truth.faces, camera, cull_backfaces=False)
    body_depth = rasterize_mesh(view.vertices, body.faces, camera).depth
    rows = torch.arange(camera.height)[:, None].expand(-1, camera.width)
    metres_per_px = 2 * 1.3 * math.tan(math.radians(15)) / camera.height
    band = (rows > head_row + 0.03 / metres_per_px) & (rows < head_row + 0.11 / metres_per_px)
    return (hair_raster.depth < body_depth) & band


def _hair_fraction(body, view, gaussians, camera, region) -> float:
    """Share of ``region``'s pixels that show the hair's colour in the avatar of ``gaussians``."""
    avatar = Avatar.from_gaussians(gaussians, view.phenotypes, view.facial)
    image = avatar.on_vertices(view.vertices, body.faces).render(camera).image
    near_hair = (image - torch.tensor(HAIR)).norm(dim=-1) < 0.1
    return float(near_hair[region].float().mean())


def test_avatar_has_long_hair_behind_its_head(body):
    """From the back, just below the skull (3 to 11 cm below the head joint: the nape, where the photo
    shows the hair reaching beside the neck), the avatar shows the hair's colour with the template, and
    mostly the bare neck's skin without it."""
    view, truth = hair_photo(body, "long01")
    template, _ = hair_template(view, body)
    config = uv_config(256, 128)
    camera = _back_camera(body, view)
    region = _nape_region(body, view, truth, camera)
    assert region.sum() > 200
    fractions = []
    for templates in ([], [template]):
        view.templates = templates
        uv = project_view(body, view, _rgb_features(view.image), config)
        fractions.append(_hair_fraction(body, view, decode_projection(uv, body, view.phenotypes, view.facial), camera, region))
    # measured: 0.43 without (the scalp's hair colour and the flat off-body pixels reach part of the nape),
    # 0.96 with the template
    assert fractions[1] - fractions[0] > 0.3, f"the template adds little hair behind the head: {fractions}"
    assert fractions[1] > 0.8, f"hair behind the head covers only {fractions[1]:.2f} of the true hair's pixels"


def test_the_learned_decoder_keeps_the_hair_template(body):
    """The shipped learned decoder keeps the template's Gaussians as the baseline makes them (the same
    places, sizes and colours as the projection decoder's: it composes over the projection avatar and
    recolours only Core-UV texels), so its avatar has the hair behind the head too."""
    from uvatar.dualuv.views import project_requests
    from uvatar.model.decoder import get_decoder

    view, truth = hair_photo(body, "long01")
    template, _ = hair_template(view, body)
    view.templates = [template]
    decoder = get_decoder("default", body)
    uvs = project_requests(body, [view], decoder.projections(256, 128))
    learned = decoder.decode(uvs, body, view.phenotypes, view.facial)
    baseline = decode_projection(uvs["avatar"], body, view.phenotypes, view.facial)
    n = baseline.meta["stats"]["n_template"]
    assert n > 1000 and learned.meta["stats"]["n_template"] == n and learned.meta["templates"] == baseline.meta["templates"]
    for name in ("face_index", "barycentrics", "offsets", "rotations_wxyz", "scales", "colors", "opacities", "layer"):
        assert torch.equal(getattr(learned, name)[len(baseline) - n : len(baseline)], getattr(baseline, name)[-n:]), name
    camera = _back_camera(body, view)
    fraction = _hair_fraction(body, view, learned, camera, _nape_region(body, view, truth, camera))
    assert fraction > 0.8, f"hair behind the head covers only {fraction:.2f} of the true hair's pixels"


def _rgb_features(image: np.ndarray):
    from uvatar.encode import get_encoder

    return get_encoder("rgb")(image)


def test_skin_is_not_hair():  # the two colours of the synthetic photos must be told apart by the fill checks
    assert math.dist(HAIR, SKIN) > 0.3


def test_hidden_hair_is_not_drawn_just_under_the_seen_skin(body, monkeypatch):
    """A hairstyle's points just behind the body's front (under the forehead the photo saw bare) showed
    through the skin in the photo's own view (Gaussians sorted by their centres interleave) and put hair
    on the forehead from above: the drawn points behind the body lie at least UNDER_SEEN_M behind its
    front at their pixel. Without that margin the long hair of the synthetic photo has such points."""
    from uvatar.dualuv import template_shell
    from uvatar.render.mesh import rasterize_mesh, visible_points

    view, _ = hair_photo(body, "long01")
    template, _ = hair_template(view, body)
    small = torch.nn.functional.interpolate(torch.as_tensor(view.mask)[None, None], size=template.pixels.shape, mode="area")[0, 0].numpy()
    camera = template.camera
    raster = rasterize_mesh(view.vertices, body.faces.cpu(), camera)

    def behind_by(samples):
        pixels, depth = camera.project(samples.points)
        col = pixels[:, 0].floor().long().clamp(0, camera.width - 1)
        row = pixels[:, 1].floor().long().clamp(0, camera.height - 1)
        behind = samples.drawn & ~visible_points(samples.points, raster, camera, depth_tol=0.0)
        return (depth - raster.depth[row, col])[behind]

    gaps = behind_by(project_template(template, view.image, small, view.vertices, body))
    assert len(gaps) > 1000 and (gaps >= template_shell.UNDER_SEEN_M - 1e-6).all()
    monkeypatch.setattr(template_shell, "UNDER_SEEN_M", 0.0)
    gaps = behind_by(project_template(template, view.image, small, view.vertices, body))
    assert (gaps < 0.01).sum() > 50
