"""render_gaussians: the tile renderers (torch, and the compiled numba kernels) against the brute-force
reference and closed forms."""

import math

import pytest
import torch
from float_bounds import U32, U64, gamma
from gaussian_bounds import render_bounds

from uvatar.camera import Camera
from uvatar.errors import DependencyError, InputError
from uvatar.render.gaussians import RenderOutput, render_gaussians

UNIT_ROUNDOFF = {torch.float32: U32, torch.float64: U64}
FAST = ["torch", "numba"]  # the tile renderers checked against the reference


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


def bounds_at(scene, cam, background=None, **kw):
    """Per-pixel rounding bounds of either renderer for a float32 scene (gaussian_bounds.render_bounds)."""
    bg = torch.zeros(3) if background is None else background
    return render_bounds(*scene, cam, bg, UNIT_ROUNDOFF[scene[0].dtype], **kw)


def assert_renders_agree(a: RenderOutput, b: RenderOutput, scene, cam, background):
    """Two renderers of the scene's dtype agree within twice the per-pixel rounding bound of either
    (tests/render/gaussian_bounds.py, derived from the arithmetic, not measured), except at pixels where a
    discrete rule (alpha >= 1/255, T >= 1e-4, depth order) is within rounding of its threshold and may
    legitimately go either way (was: a flat 1e-4 for float32, 1e-10 for float64, everywhere)."""
    bounds = render_bounds(*scene, cam, background, UNIT_ROUNDOFF[scene[0].dtype])
    checked = ~bounds["ambiguous"]
    # test setup: the comparison covers the image (0.05-0.3% of the pixels are ambiguous in these scenes)
    assert checked.float().mean() > 0.95
    for name in ("image", "alpha", "depth"):
        err = (getattr(a, name).double() - getattr(b, name).double()).abs()
        bound = 2 * bounds[f"{name}_bound"]
        over = (err > bound) & (checked.unsqueeze(-1) if err.dim() == 3 else checked)
        assert not over.any(), (name, float(err[over].max()), float(bound[over].min()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed,spread", [(0, 0.35), (1, 0.8)])  # 0.8: many centres outside the frame
@pytest.mark.parametrize("backend", FAST)
def test_tiles_match_reference_on_dense_random_scenes(dtype, seed, spread, backend):
    # 48x40 (partial tiles), 600 Gaussians: > 64 per tile (several chunks), opaque areas where pixels stop.
    scene = random_scene(600, seed=seed, dtype=dtype, spread=spread)
    cam = camera()
    bg = torch.tensor([0.2, 0.5, 0.9], dtype=dtype)
    fast = render_gaussians(*scene, cam, background=bg, backend=backend)
    ref = render_gaussians(*scene, cam, background=bg, backend="reference")
    if spread < 0.5:  # test setup: saturated and open pixels (exact alphas 1 - 1e-4 and below 0.5 here)
        assert float(ref.alpha.max()) > 0.999 and float(ref.alpha.min()) < 0.5
    assert_renders_agree(fast, ref, scene, cam, bg)


@pytest.mark.parametrize("backend", FAST)
def test_tiles_match_reference_with_sh_colours(backend):
    scene = random_scene(300, seed=4, sh_degree=3)
    cam = camera(eye=(-0.8, -1.8, 0.6))
    fast = render_gaussians(*scene, cam, backend=backend)
    ref = render_gaussians(*scene, cam, backend="reference")
    assert_renders_agree(fast, ref, scene, cam, torch.zeros(3))


@pytest.mark.parametrize("backend", FAST)
def test_gradients_match_reference_float64(backend):
    scene = [x.requires_grad_(True) for x in random_scene(120, seed=7, dtype=torch.float64)]
    cam = camera(24, 20)
    gen = torch.Generator().manual_seed(0)
    shapes = ((20, 24, 3), (20, 24), (20, 24))
    w_img, w_alpha, w_depth = (torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes)

    def grads(backend):
        out = render_gaussians(*scene, cam, background=torch.tensor([0.1, 0.2, 0.3]), backend=backend)
        loss = (out.image * w_img).sum() + (out.alpha * w_alpha).sum() + (out.depth * w_depth).sum()
        return torch.autograd.grad(loss, scene)

    # Bound: each gradient entry sums at most 480 pixels x 5 outputs x 120 Gaussians = 2.9e5 chain-rule
    # terms, each a product of <= 60 rounded factors, so |error| <= gamma(2.9e5 + 60) sum |terms| = 3.2e-11
    # sum |terms| in float64 for either backend. sum |terms| >= sum_pixels |w dout/dtheta| is a property
    # of this fixed scene, not of the machine: computed once (2400 backward passes, too slow for the
    # test), it is 2.1-3.7x the largest |gradient| of each tensor; 1e-8 x scale leaves room for another
    # factor 40 of cancellation inside each pixel's derivative. In float64, a discrete rule (1/255, 1e-4,
    # depth order) flips only within ~1e-13 of its threshold: the nearest exponent is 3e-3 from ln(1/255).
    names = ["means", "quats", "scales", "opacities", "colors"]
    for name, g_fast, g_ref in zip(names, grads(backend), grads("reference")):
        scale = float(g_ref.abs().max())
        assert scale > 0, name
        assert float((g_fast - g_ref).abs().max()) <= 2 * gamma(2.9e5 + 60, U64) * 3.7 * 40 * scale, name


@pytest.mark.parametrize("backend", FAST)
def test_gradients_match_finite_differences(backend):
    scene = random_scene(6, seed=3, dtype=torch.float64, spread=0.15)
    scene = [x.requires_grad_(True) for x in scene]
    with torch.no_grad():
        scene[3].mul_(0.8).add_(0.1)  # opacities in [0.1, 0.9]: away from the 0.99 cap
    cam = camera(20, 18, eye=(0.1, -2.0, 0.2))
    bg = torch.tensor([0.2, 0.1, 0.3], dtype=torch.float64)

    def render(means, quats, scales, opacities, colors):
        out = render_gaussians(means, quats, scales, opacities, colors, cam, background=bg, backend=backend)
        return out.image, out.alpha, out.depth

    # Central differences with eps = 1e-6 in float64: truncation eps^2 / 6 |f'''| <= 2e-9 per Gaussian-pixel
    # (the steepest: d/dmean, 11 px/m over sigma >= 0.58 px, |third derivative of exp(-x^2/2)| <= 1.4)
    # summed over <= 300 weighted pixels: < 1e-6; rounding 2 u |f| / (2 eps) < 1e-9. atol 1e-5 covers
    # that tenfold; rtol 1e-4 is gradcheck's relative slack on top. The alpha >= 1/255 cut is a jump: the
    # nearest exponent of this scene is 0.027 from it, eps |dP/dtheta| <= 1e-4 (float64 facts of the scene).
    assert torch.autograd.gradcheck(render, scene, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)


@pytest.mark.parametrize("backend", FAST)
def test_alpha_integral_of_one_gaussian_matches_closed_form(backend):
    # Isotropic Gaussian on the optical axis: Σ2D = ((f s / z)² + 0.3) I. Alpha is o·exp(-q/2) where it is
    # >= 1/255 (q <= 2 ln(255 o)), so its integral is 2π sqrt(det Σ2D) (o - 1/255).
    focal, z, s, o = 40.0, 2.0, 0.25, 0.3
    cam = axis_camera(size=65, focal=focal)
    out = render_gaussians(
        torch.tensor([[0.0, 0.0, z]]), torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.full((1, 3), s),
        torch.tensor([o]), torch.ones(1, 3), cam, backend=backend,
    )  # fmt: skip
    var = (focal * s / z) ** 2 + 0.3
    expected = 2.0 * math.pi * var * (o - 1.0 / 255.0)
    # The pixel centres sample that integrand: offsets from the mean are integers (the mean sits on pixel
    # 32's centre), so the closed-form pixel sum is exact to compute; it is 7e-4 below the integral (681
    # centres inside the 1/255 cut where pi r^2 = 689.5: the lattice count of the cut, a discretisation
    # fact). The render must match that sum within its per-pixel rounding bounds (gaussian_bounds), and
    # pixels whose alpha is within rounding of 1/255 may be in or out (was rel 2e-3 against the integral).
    offsets = torch.arange(65, dtype=torch.float64) - 32
    q = (offsets[:, None] ** 2 + offsets[None, :] ** 2) / var
    o32 = float(torch.tensor(o))  # the renderer's float32 opacity
    closed = o32 * torch.exp(-q / 2)
    closed = torch.where(closed >= 1 / 255, closed, torch.zeros_like(closed))
    assert abs(float(closed.sum()) - expected) <= 7e-4 * expected * 1.01  # the lattice effect stated above
    scene = (torch.tensor([[0.0, 0.0, z]]), torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.full((1, 3), s),
             torch.tensor([o]), torch.ones(1, 3))  # fmt: skip
    b = bounds_at(scene, cam)
    slack = torch.where(b["ambiguous"], closed + b["alpha_bound"], b["alpha_bound"])
    assert abs(float(out.alpha.double().sum()) - float(closed.sum())) <= float(slack.sum())
    # the centre pixel sits on the mean: alpha = o exactly, up to that pixel's bound (was rel 1e-5)
    assert abs(float(out.alpha[32, 32]) - o32) <= float(b["alpha_bound"][32, 32])


@pytest.mark.parametrize("backend", FAST)
def test_footprint_centre_is_the_projected_mean(backend):
    cam = Camera.look_at([0.0, -2.5, 0.0], [0.0, 0.0, 0.0], 64, 48, fov_y_deg=40.0)
    mean = torch.tensor([[0.13, 0.05, -0.07]])
    out = render_gaussians(mean, torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.full((1, 3), 0.04),
                           torch.tensor([0.5]), torch.ones(1, 3), cam, backend=backend)  # fmt: skip
    rows, cols = torch.meshgrid(torch.arange(48.0) + 0.5, torch.arange(64.0) + 0.5, indexing="ij")
    a = out.alpha
    centroid = torch.stack([(a * cols).sum() / a.sum(), (a * rows).sum() / a.sum()])
    pixel, _ = cam.project(mean)
    # The render is compared with the exact centroid of the sampled footprint (float64, gaussian_bounds):
    # they differ by at most sum |d alpha| |x - centroid| / (sum alpha - sum |d alpha|), plus this test's
    # own float32 sums (k nonzero terms each: gamma(k + 1) relative on both sums, times |x| <= 64).
    scene = (mean, torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.full((1, 3), 0.04), torch.tensor([0.5]), torch.ones(1, 3))
    b = bounds_at(scene, cam)
    assert not b["ambiguous"].any()  # test setup: no centre within rounding of the 1/255 cut
    ea = b["alpha"]
    xy = torch.stack([cols, rows], -1).double()
    exact = (ea.unsqueeze(-1) * xy).sum((0, 1)) / ea.sum()
    dist = (xy - exact).abs().amax(-1)
    k = int((a > 0).sum())
    bound = float((b["alpha_bound"] * dist).sum() / (ea.sum() - b["alpha_bound"].sum())) + 2 * gamma(k + 1) * 64
    assert ((centroid.double() - exact).abs() <= bound).all(), (centroid, exact, bound)
    # The exact sampled centroid is the projected mean but for the cut: the whole lattice's centroid is the
    # mean (aliasing ~exp(-2 pi^2 var) = 1e-12 for var = 1.4 px^2), so removing the centres below 1/255
    # moves it by at most sum_cut alpha |x - mean| / sum_kept alpha (0.03 px here, measured 0.005; was a
    # fixed atol of 0.02 for both effects together, not derived).
    raw = b["alpha_raw"][..., 0]
    cut = raw < 1 / 255
    lattice = float((raw * (xy - pixel[0].double()).abs().amax(-1))[cut].sum() / raw[~cut].sum())
    assert ((exact - pixel[0].double()).abs() <= lattice + 1e-9).all(), (exact, pixel, lattice)


@pytest.mark.parametrize("backend", FAST)
def test_alpha_cap_and_skip(backend):
    cam = axis_camera()
    one = dict(
        quats_wxyz=torch.tensor([[1.0, 0, 0, 0]]), scales=torch.full((1, 3), 0.1), colors=torch.ones(1, 3), camera=cam
    )
    opaque = render_gaussians(torch.tensor([[0.0, 0.0, 2.0]]), opacities=torch.tensor([1.0]), backend=backend, **one)
    # capped: one weight fl32(0.99) * T = 1 (and 1 - T in the reference): exact up to u (was abs 1e-6)
    assert abs(float(opaque.alpha.max()) - 0.99) <= 2 * U32
    faint = render_gaussians(
        torch.tensor([[0.0, 0.0, 2.0]]), opacities=torch.tensor([0.5 / 255.0]), backend=backend, **one
    )
    assert float(faint.alpha.abs().max()) == 0.0


@pytest.mark.parametrize("backend", FAST + ["reference"])
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
    # Closed form in float64 from the float32 opacity (the camera and depths are exact in float32); the
    # pixel's per-pixel rounding bound (gaussian_bounds) includes the 1 / (1 - 0.95) = 20x amplification
    # of alpha's exp() error in each transmittance factor (was atol 1e-6, rel 1e-6).
    a = float(opacities[0])
    w = torch.tensor([a, a * (1 - a), a * (1 - a) ** 2], dtype=torch.float64)
    t_final = (1 - a) ** 3
    expected = (w.unsqueeze(-1) * colors[:3].double()).sum(0) + t_final * bg.double()
    b = bounds_at((means[shuffle], quats, scales[shuffle], opacities, colors[shuffle]), cam, bg)
    assert not b["ambiguous"][16, 16]  # test setup: the stop (6e-6 against 1e-4) is far from the threshold
    assert ((out.image[16, 16].double() - expected).abs() <= b["image_bound"][16, 16]).all()
    assert abs(float(out.alpha[16, 16]) - (1.0 - t_final)) <= float(b["alpha_bound"][16, 16])
    expected_depth = float((w * depths[:3].double()).sum() / (1 - t_final))
    assert abs(float(out.depth[16, 16]) - expected_depth) <= float(b["depth_bound"][16, 16])


@pytest.mark.parametrize("backend", FAST + ["reference"])
def test_near_red_hides_far_blue(backend):
    cam = camera(32, 32, eye=(0.0, -3.0, 0.0))
    means = torch.tensor([[0.0, 0.5, 0.0], [0.0, -0.5, 0.0]])  # blue far (first in the input), red near
    quats, scales = torch.tensor([[1.0, 0, 0, 0]]).expand(2, 4), torch.full((2, 3), 0.5)
    colors = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    out = render_gaussians(means, quats, scales, torch.tensor([0.5, 1.0]), colors, cam, backend=backend)
    red, green, blue = out.image[16, 16].tolist()
    # Per-pixel rounding bounds (gaussian_bounds; was abs 1e-6 / 1e-5); the camera comes from look_at in
    # float32, so its depths are 2.5 and 3.5 only within gamma(4) (|X| + |t|) (rounded R and t).
    b = bounds_at((means, quats, scales, torch.tensor([0.5, 1.0]), colors), cam)
    img_b, alpha_b, depth_b = (float(b[k][16, 16].max()) for k in ("image_bound", "alpha_bound", "depth_bound"))
    assert abs(red - 0.99) <= img_b and green == 0.0  # red's alpha is capped at 0.99 there
    assert 0.004 < blue < 0.005  # closed form: blue gets the 0.01 left, times its alpha (0.5 exp(-q/2), q ~ 0.01)
    assert abs(float(out.alpha[16, 16]) - (0.99 + blue)) <= alpha_b + img_b
    z_err = gamma(4) * (0.5 + 3.0)
    expected_depth = (0.99 * 2.5 + blue * 3.5) / (0.99 + blue)  # d/d blue of this is < 1.1
    assert abs(float(out.depth[16, 16]) - expected_depth) <= depth_b + 1.1 * img_b + z_err


@pytest.mark.parametrize("backend", FAST)
def test_equal_depths_keep_input_order(backend):
    # Stable sort: of two Gaussians at the same depth, the first in the input is in front.
    cam = camera(32, 32, eye=(0.0, -3.0, 0.0))
    means = torch.zeros(2, 3)
    args = (torch.tensor([[1.0, 0, 0, 0]]).expand(2, 4), torch.full((2, 3), 0.5), torch.tensor([0.6, 0.6]))
    red_first = render_gaussians(means, *args, torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]), cam, backend=backend)
    blue_first = render_gaussians(means, *args, torch.tensor([[0, 0, 1.0], [1.0, 0, 0]]), cam, backend=backend)
    red_first, blue_first = red_first.image[16, 16], blue_first.image[16, 16]
    front, back = float(red_first[0]), float(red_first[2])
    # Both Gaussians get the same float32 alpha a at the pixel. The tile kernel gives front = a (1 - a) / (1 - a)
    # * a ... = a (1 + gamma(2)) and back = a (1 - a) (1 + gamma(4)) (1 - a, the cumulative product, the
    # product with a, the division by 1 - a); front (1 - front) then carries front's error amplified by
    # 1 / (1 - a) (was rel 1e-5).
    assert front > 0.59  # closed form: 0.6 exp(-q/2) with q ~ 1e-3 at this pixel
    assert abs(back - front * (1 - front)) <= (gamma(4) + gamma(2) / (1 - front)) * back * (1 + gamma(2))
    assert torch.equal(blue_first, red_first.flip(0))


@pytest.mark.parametrize("backend", FAST + ["reference"])
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


@pytest.mark.parametrize("backend", FAST)
def test_culled_gaussians_get_finite_zero_gradients(backend):
    cam = camera(32, 32, eye=(0.0, -3.0, 0.0))
    # visible, exactly in the camera plane (z = 0), behind the camera
    means = torch.tensor([[0.0, 0.0, 0.0], [0.3, -3.0, 0.1], [0.0, -4.0, 0.0]], requires_grad=True)
    scales = torch.full((3, 3), 0.3, requires_grad=True)
    quats = torch.tensor([[1.0, 0, 0, 0]]).expand(3, 4)
    out = render_gaussians(means, quats, scales, torch.full((3,), 0.9), torch.ones(3, 3), cam, backend=backend)
    (out.image.sum() + out.depth.sum()).backward()
    assert bool(torch.isfinite(means.grad).all() and torch.isfinite(scales.grad).all())
    assert float(means.grad[1:].abs().max()) == 0.0 and float(means.grad[0].abs().max()) > 0.0


@pytest.mark.parametrize("backend", FAST)
def test_empty_scene_renders_background_and_backpropagates(backend):
    cam = camera(20, 12)
    params = [torch.zeros(0, 3), torch.zeros(0, 4), torch.zeros(0, 3), torch.zeros(0), torch.zeros(0, 3)]
    params = [p.requires_grad_(True) for p in params]
    bg = torch.tensor([0.1, 0.2, 0.3])
    out = render_gaussians(*params, cam, background=bg, backend=backend)
    assert out.image.shape == (12, 20, 3) and out.alpha.shape == (12, 20) and out.depth.shape == (12, 20)
    assert torch.equal(out.image, bg.expand(12, 20, 3))
    assert float(out.alpha.detach().abs().max()) == 0.0 and float(out.depth.detach().abs().max()) == 0.0
    out.image.sum().backward()
    assert params[0].grad is not None and params[0].grad.shape == (0, 3)


@pytest.mark.parametrize("backend", FAST)
def test_output_dtype_device_and_default_background(backend):
    scene = random_scene(50, dtype=torch.float64)
    out = render_gaussians(*scene, camera(16, 16), backend=backend)
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
