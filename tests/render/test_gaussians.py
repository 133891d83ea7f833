"""render_gaussians: the torch tile renderer against the brute-force reference and closed forms."""

import math

import pytest
import torch

from uvatar.camera import Camera
from uvatar.errors import DependencyError, InputError
from uvatar.render.gaussians import RenderOutput, render_gaussians

# Worst errors measured on this machine (float32, tile vs reference): image 4e-6, alpha 4e-6, depth 2e-5.
TOL32 = 1e-4
TOL64 = 1e-10


def random_scene(n, seed=0, dtype=torch.float32, sh_degree=None, spread=0.35):
    """n random Gaussians around the origin: means, quats (WXYZ), scales, opacities, colours."""
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=gen, dtype=dtype) * spread
    quats = torch.randn(n, 4, generator=gen, dtype=dtype)
    scales = torch.exp(torch.empty(n, 3, dtype=dtype).uniform_(-4.0, -2.3, generator=gen))
    opacities = torch.rand(n, generator=gen, dtype=dtype)
    if sh_degree is None:
        colors = torch.rand(n, 3, generator=gen, dtype=dtype)
    else:
        colors = 0.4 * torch.randn(n, (sh_degree + 1) ** 2, 3, generator=gen, dtype=dtype)
    return means, quats, scales, opacities, colors


def camera(width=48, height=40, eye=(0.3, -2.0, 0.4)):
    return Camera.look_at(eye, [0.0, 0.0, 0.0], width, height, fov_y_deg=45.0)


def axis_camera(size=33, focal=40.0):
    """Camera at the origin looking down +Z (R = I, t = 0) whose centre pixel centre is on the axis."""
    c = size / 2.0
    K = torch.tensor([[focal, 0.0, c], [0.0, focal, c], [0.0, 0.0, 1.0]])
    return Camera(K, torch.eye(3), torch.zeros(3), size, size)


def max_err(a: RenderOutput, b: RenderOutput) -> tuple[float, float, float]:
    return tuple(float((x - y).abs().max()) for x, y in ((a.image, b.image), (a.alpha, b.alpha), (a.depth, b.depth)))


@pytest.mark.parametrize("dtype,tol", [(torch.float32, TOL32), (torch.float64, TOL64)])
@pytest.mark.parametrize("seed,spread", [(0, 0.35), (1, 0.8)])  # 0.8: many centres outside the frame
def test_tiles_match_reference_on_dense_random_scenes(dtype, tol, seed, spread):
    # 48x40 (partial tiles), 600 Gaussians: > 64 per tile (several chunks), opaque areas where pixels stop.
    scene = random_scene(600, seed=seed, dtype=dtype, spread=spread)
    cam = camera()
    bg = torch.tensor([0.2, 0.5, 0.9], dtype=dtype)
    fast = render_gaussians(*scene, cam, background=bg, backend="torch")
    ref = render_gaussians(*scene, cam, background=bg, backend="reference")
    if spread < 0.5:
        assert float(ref.alpha.max()) > 0.999 and float(ref.alpha.min()) < 0.5  # saturated and open pixels
    assert max(max_err(fast, ref)) < tol


def test_tiles_match_reference_with_sh_colours():
    scene = random_scene(300, seed=4, sh_degree=3)
    cam = camera(eye=(-0.8, -1.8, 0.6))
    fast = render_gaussians(*scene, cam, backend="torch")
    ref = render_gaussians(*scene, cam, backend="reference")
    assert max(max_err(fast, ref)) < TOL32


def test_gradients_match_reference_float64():
    scene = [x.requires_grad_(True) for x in random_scene(120, seed=7, dtype=torch.float64)]
    cam = camera(24, 20)
    gen = torch.Generator().manual_seed(0)
    shapes = ((20, 24, 3), (20, 24), (20, 24))
    w_img, w_alpha, w_depth = (torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes)

    def grads(backend):
        out = render_gaussians(*scene, cam, background=torch.tensor([0.1, 0.2, 0.3]), backend=backend)
        loss = (out.image * w_img).sum() + (out.alpha * w_alpha).sum() + (out.depth * w_depth).sum()
        return torch.autograd.grad(loss, scene)

    names = ["means", "quats", "scales", "opacities", "colors"]
    for name, g_fast, g_ref in zip(names, grads("torch"), grads("reference")):
        scale = float(g_ref.abs().max())
        assert scale > 0, name
        assert float((g_fast - g_ref).abs().max()) <= 1e-8 * scale, name


def test_gradients_match_finite_differences():
    scene = random_scene(6, seed=3, dtype=torch.float64, spread=0.15)
    scene = [x.requires_grad_(True) for x in scene]
    with torch.no_grad():
        scene[3].mul_(0.8).add_(0.1)  # opacities in [0.1, 0.9]: away from the 0.99 cap
    cam = camera(20, 18, eye=(0.1, -2.0, 0.2))
    bg = torch.tensor([0.2, 0.1, 0.3], dtype=torch.float64)

    def render(means, quats, scales, opacities, colors):
        out = render_gaussians(means, quats, scales, opacities, colors, cam, background=bg, backend="torch")
        return out.image, out.alpha, out.depth

    assert torch.autograd.gradcheck(render, scene, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)


def test_alpha_integral_of_one_gaussian_matches_closed_form():
    # Isotropic Gaussian on the optical axis: Σ2D = ((f s / z)² + 0.3) I. Alpha is o·exp(-q/2) where it is
    # >= 1/255 (q <= 2 ln(255 o)), so its integral is 2π sqrt(det Σ2D) (o - 1/255).
    focal, z, s, o = 40.0, 2.0, 0.25, 0.3
    cam = axis_camera(size=65, focal=focal)
    out = render_gaussians(
        torch.tensor([[0.0, 0.0, z]]), torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.full((1, 3), s),
        torch.tensor([o]), torch.ones(1, 3), cam, backend="torch",
    )  # fmt: skip
    var = (focal * s / z) ** 2 + 0.3
    expected = 2.0 * math.pi * var * (o - 1.0 / 255.0)
    assert float(out.alpha.sum()) == pytest.approx(expected, rel=2e-3)
    assert float(out.alpha.max()) == pytest.approx(o, rel=1e-5)  # the centre pixel sits on the mean


def test_footprint_centre_is_the_projected_mean():
    cam = Camera.look_at([0.0, -2.5, 0.0], [0.0, 0.0, 0.0], 64, 48, fov_y_deg=40.0)
    mean = torch.tensor([[0.13, 0.05, -0.07]])
    out = render_gaussians(mean, torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.full((1, 3), 0.04),
                           torch.tensor([0.5]), torch.ones(1, 3), cam, backend="torch")  # fmt: skip
    rows, cols = torch.meshgrid(torch.arange(48.0) + 0.5, torch.arange(64.0) + 0.5, indexing="ij")
    a = out.alpha
    centroid = torch.stack([(a * cols).sum() / a.sum(), (a * rows).sum() / a.sum()])
    pixel, _ = cam.project(mean)
    assert torch.allclose(centroid, pixel[0], atol=0.02)


def test_alpha_cap_and_skip():
    cam = axis_camera()
    one = dict(
        quats_wxyz=torch.tensor([[1.0, 0, 0, 0]]), scales=torch.full((1, 3), 0.1), colors=torch.ones(1, 3), camera=cam
    )
    opaque = render_gaussians(torch.tensor([[0.0, 0.0, 2.0]]), opacities=torch.tensor([1.0]), **one)
    assert float(opaque.alpha.max()) == pytest.approx(0.99, abs=1e-6)
    faint = render_gaussians(torch.tensor([[0.0, 0.0, 2.0]]), opacities=torch.tensor([0.5 / 255.0]), **one)
    assert float(faint.alpha.abs().max()) == 0.0


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_pixel_stops_below_transmittance_1e4(backend):
    # Five Gaussians stacked on the axis, alpha 0.95 at the centre pixel: T = 0.05, 2.5e-3, 1.25e-4, then the
    # fourth would leave 6.25e-6 < 1e-4, so the pixel stops: only the first three are blended.
    cam = axis_camera()
    depths = torch.tensor([1.0, 1.5, 2.0, 2.5, 3.0])
    means = torch.stack([torch.zeros(5), torch.zeros(5), depths], -1)
    colors = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0], [0, 1.0, 1.0]])
    scales = (0.05 * depths).unsqueeze(-1).expand(5, 3).contiguous()  # the same size on screen
    bg = torch.tensor([0.5, 0.5, 0.5])
    shuffle = [3, 0, 4, 2, 1]  # input order is not depth order
    quats = torch.tensor([[1.0, 0, 0, 0]]).expand(5, 4)
    opacities = torch.full((5,), 0.95)
    out = render_gaussians(
        means[shuffle], quats, scales[shuffle], opacities, colors[shuffle], cam, background=bg, backend=backend
    )
    w = torch.tensor([0.95, 0.95 * 0.05, 0.95 * 0.05**2])
    t_final = 0.05**3
    expected = (w.unsqueeze(-1) * colors[:3]).sum(0) + t_final * bg
    assert torch.allclose(out.image[16, 16], expected, atol=1e-6)
    assert float(out.alpha[16, 16]) == pytest.approx(1.0 - t_final, abs=1e-6)
    assert float(out.depth[16, 16]) == pytest.approx(float((w * depths[:3]).sum() / (1 - t_final)), rel=1e-6)


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_near_red_hides_far_blue(backend):
    cam = camera(32, 32, eye=(0.0, -3.0, 0.0))
    means = torch.tensor([[0.0, 0.5, 0.0], [0.0, -0.5, 0.0]])  # blue far (first in the input), red near
    quats, scales = torch.tensor([[1.0, 0, 0, 0]]).expand(2, 4), torch.full((2, 3), 0.5)
    colors = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    out = render_gaussians(means, quats, scales, torch.tensor([0.5, 1.0]), colors, cam, backend=backend)
    red, green, blue = out.image[16, 16].tolist()
    assert red == pytest.approx(0.99, abs=1e-6) and green == 0.0  # red's alpha is capped at 0.99 there
    assert 0.004 < blue < 0.005  # blue gets the 0.01 left, times its alpha (just under 0.5)
    assert float(out.alpha[16, 16]) == pytest.approx(0.99 + blue, abs=1e-6)
    assert float(out.depth[16, 16]) == pytest.approx((0.99 * 2.5 + blue * 3.5) / (0.99 + blue), abs=1e-5)


def test_equal_depths_keep_input_order():
    # Stable sort: of two Gaussians at the same depth, the first in the input is in front.
    cam = camera(32, 32, eye=(0.0, -3.0, 0.0))
    means = torch.zeros(2, 3)
    args = (torch.tensor([[1.0, 0, 0, 0]]).expand(2, 4), torch.full((2, 3), 0.5), torch.tensor([0.6, 0.6]))
    red_first = render_gaussians(means, *args, torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]), cam).image[16, 16]
    blue_first = render_gaussians(means, *args, torch.tensor([[0, 0, 1.0], [1.0, 0, 0]]), cam).image[16, 16]
    front, back = float(red_first[0]), float(red_first[2])
    assert front > 0.59 and back == pytest.approx(front * (1 - front), rel=1e-5)
    assert torch.equal(blue_first, red_first.flip(0))


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_gaussians_behind_the_camera_or_outside_near_far_are_culled(backend):
    cam = camera(32, 32, eye=(0.0, -3.0, 0.0))
    visible = torch.tensor([[0.0, 0.0, 0.0]])
    hidden = torch.tensor([[0.0, -4.0, 0.0], [0.0, -3.005, 0.0], [0.0, 200.0, 0.0]])  # behind, < near, > far

    def common(n):
        return torch.tensor([[1.0, 0, 0, 0]]).expand(n, 4), torch.full((n, 3), 0.3), torch.full((n,), 0.9)

    alone = render_gaussians(visible, *common(1), torch.tensor([[0.0, 1.0, 0.0]]), cam, backend=backend)
    colors = torch.tensor([[1.0, 0, 0]] * 3 + [[0.0, 1.0, 0.0]])
    mixed = render_gaussians(torch.cat([hidden, visible]), *common(4), colors, cam, backend=backend)
    assert max(max_err(alone, mixed)) == 0.0
    behind_only = render_gaussians(hidden, *common(3), torch.ones(3, 3), cam, backend=backend)
    assert float(behind_only.alpha.abs().max()) == 0.0


def test_culled_gaussians_get_finite_zero_gradients():
    cam = camera(32, 32, eye=(0.0, -3.0, 0.0))
    # visible, exactly in the camera plane (z = 0), behind the camera
    means = torch.tensor([[0.0, 0.0, 0.0], [0.3, -3.0, 0.1], [0.0, -4.0, 0.0]], requires_grad=True)
    scales = torch.full((3, 3), 0.3, requires_grad=True)
    quats = torch.tensor([[1.0, 0, 0, 0]]).expand(3, 4)
    out = render_gaussians(means, quats, scales, torch.full((3,), 0.9), torch.ones(3, 3), cam)
    (out.image.sum() + out.depth.sum()).backward()
    assert bool(torch.isfinite(means.grad).all() and torch.isfinite(scales.grad).all())
    assert float(means.grad[1:].abs().max()) == 0.0 and float(means.grad[0].abs().max()) > 0.0


def test_empty_scene_renders_background_and_backpropagates():
    cam = camera(20, 12)
    params = [torch.zeros(0, 3), torch.zeros(0, 4), torch.zeros(0, 3), torch.zeros(0), torch.zeros(0, 3)]
    params = [p.requires_grad_(True) for p in params]
    bg = torch.tensor([0.1, 0.2, 0.3])
    out = render_gaussians(*params, cam, background=bg)
    assert out.image.shape == (12, 20, 3) and out.alpha.shape == (12, 20) and out.depth.shape == (12, 20)
    assert torch.equal(out.image, bg.expand(12, 20, 3))
    assert float(out.alpha.detach().abs().max()) == 0.0 and float(out.depth.detach().abs().max()) == 0.0
    out.image.sum().backward()
    assert params[0].grad is not None and params[0].grad.shape == (0, 3)


def test_output_dtype_device_and_default_background():
    scene = random_scene(50, dtype=torch.float64)
    out = render_gaussians(*scene, camera(16, 16))
    assert out.image.dtype == torch.float64 and out.image.device == scene[0].device
    empty_pixels = out.alpha == 0
    assert empty_pixels.any() and float(out.image[empty_pixels].abs().max()) == 0.0  # black background


def test_input_validation_names_the_argument():
    means, quats, scales, opacities, colors = random_scene(5)
    cam = camera(16, 16)
    with pytest.raises(InputError, match="means"):
        render_gaussians(means[:, :2], quats, scales, opacities, colors, cam)
    with pytest.raises(InputError, match="quats_wxyz"):
        render_gaussians(means, quats[:, :3], scales, opacities, colors, cam)
    with pytest.raises(InputError, match="scales"):
        render_gaussians(means, quats, scales[:4], opacities, colors, cam)
    with pytest.raises(InputError, match="opacities"):
        render_gaussians(means, quats, scales, opacities[:, None], colors, cam)
    with pytest.raises(InputError, match="colors"):
        render_gaussians(means, quats, scales, opacities, torch.rand(5, 5, 3), cam)
    with pytest.raises(InputError, match="colors"):
        render_gaussians(means, quats, scales, opacities, colors.double(), cam)
    with pytest.raises(InputError, match="background"):
        render_gaussians(means, quats, scales, opacities, colors, cam, background=torch.zeros(4))
    with pytest.raises(InputError, match="camera"):
        render_gaussians(means, quats, scales, opacities, colors, "cam")
    with pytest.raises(InputError, match="backend"):
        render_gaussians(means, quats, scales, opacities, colors, cam, backend="cuda-magic")
    with pytest.raises(InputError, match="near"):
        render_gaussians(means, quats, scales, opacities, colors, cam, near=2.0, far=1.0)
    with pytest.raises(InputError, match="means"):
        render_gaussians(means.long(), quats, scales, opacities, colors, cam)


def test_reference_backend_refuses_big_scenes():
    scene = random_scene(2000)
    with pytest.raises(InputError, match="reference"):
        render_gaussians(*scene, camera(256, 256), backend="reference")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_gsplat_backend_on_cpu_tensors_is_a_dependency_error():
    with pytest.raises(DependencyError):
        render_gaussians(*random_scene(5), camera(16, 16), backend="gsplat")
