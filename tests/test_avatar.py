import json

import pytest
import torch
from body_helpers import posing_tolerance, random_params
from cli_helpers import run_cli
from float_bounds import gamma

from uvatar.avatar import _TENSORS, FORMAT, LAYOUT, Avatar
from uvatar.errors import InputError


def _avatar(body, n=500, seed=0):
    gen = torch.Generator().manual_seed(seed)
    bary = torch.rand(n, 3, generator=gen)
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=gen), dim=-1)
    return Avatar(
        face_index=torch.randint(0, len(body.faces), (n,), generator=gen),
        barycentrics=bary / bary.sum(-1, keepdim=True),
        offsets=torch.randn(n, 3, generator=gen) * 0.01,
        rotations_wxyz=quats,
        scales=torch.rand(n, 3, generator=gen) * 0.01 + 1e-3,
        colors=torch.rand(n, 3, generator=gen),
        opacities=torch.rand(n, generator=gen),
        layer=torch.zeros(n, dtype=torch.uint8),
        phenotypes=torch.full((6,), 0.5),
        facial=torch.zeros(52),
        meta={"test": True},
    )


def test_pose_to_rest_and_back_matches(body):
    avatar = _avatar(body)
    params = random_params(body, 1, seed=3)
    rest = avatar.pose(body)
    posed = avatar.pose(body, params)
    again = avatar.pose(body)
    # posing is a pure function: the rest pose twice, within two float32 posings and surface points
    # (tests/body_helpers.py; was 1e-4)
    with torch.no_grad():
        rest_out = body.forward(avatar.params(body))
    v_max, off_max = float(rest_out.vertices.abs().max()), float(avatar.offsets.abs().max())
    assert (rest.means - again.means).abs().max() <= 2 * posing_tolerance(body, rest_out) + 2 * gamma(6) * (v_max + off_max)
    assert (rest.means - posed.means).norm(dim=-1).mean() > 0.05  # the pose did move them
    # rotations stay unit quaternions and scales are untouched
    # roma's rotation-matrix-to-quaternion normalises: unit within gamma(4), this norm gamma(4) (was atol 1e-5)
    assert torch.allclose(posed.quats_wxyz.norm(dim=-1), torch.ones(len(avatar)), rtol=0, atol=gamma(8))
    assert torch.equal(posed.scales, avatar.scales)


def test_bundle_round_trip(tmp_path, body):
    avatar = _avatar(body)
    avatar.save(tmp_path / "a.uvatar")
    again = Avatar.load(tmp_path / "a.uvatar")
    for name in ("face_index", "barycentrics", "offsets", "rotations_wxyz", "scales", "colors", "opacities", "layer"):
        assert torch.equal(getattr(again, name), getattr(avatar, name))
    assert again.meta == {"test": True}


def test_foreign_files_are_refused(tmp_path):
    (tmp_path / "x.uvatar").write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(InputError, match="not a UVatar avatar"):
        Avatar.load(tmp_path / "x.uvatar")
    with pytest.raises(InputError, match="no avatar"):
        Avatar.load(tmp_path / "missing.uvatar")


def test_export_ply_readable(tmp_path, body):
    from uvatar.io.ply import read_gaussian_ply

    avatar = _avatar(body)
    avatar.export_ply(tmp_path / "a.ply", body)
    cloud = read_gaussian_ply(tmp_path / "a.ply")
    assert len(cloud) == len(avatar)
    # colours through the PLY's float32 DC term and back (tests/io/test_ply.py: within gamma(6)) (was 1e-5)
    assert torch.allclose(torch.as_tensor(cloud.colors), avatar.colors, rtol=0, atol=gamma(6))


# ---------------------------------------------------------------------- damaged or crafted bundles
def _raw(body):
    """Tensors and header metadata of a valid bundle, to be damaged by the tests below."""
    avatar = _avatar(body, n=50)
    tensors = {name: getattr(avatar, name).clone() for name in _TENSORS}
    metadata = {"format": FORMAT, "layout": json.dumps(LAYOUT), "meta": json.dumps({"test": True})}
    return tensors, metadata


def _write_raw(path, tensors, metadata):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


def _set(name, index, value):
    def change(t, m):
        t[name][index] = value

    return change


def _replace(name, make):
    def change(t, m):
        t[name] = make(t[name])

    return change


def _meta(key, value):
    def change(t, m):
        m[key] = value

    return change


def _drop(name):
    def change(t, m):
        del t[name]

    return change


DAMAGE = {
    "negative face_index": (_set("face_index", 3, -1), "face_index has values outside 0..27419"),
    "face_index past the body": (_set("face_index", 0, 27420), "face_index has values outside 0..27419"),
    "float face_index": (_replace("face_index", lambda v: v.float()), "face_index must be int64"),
    "flat barycentrics": (_replace("barycentrics", lambda v: v[:, :2].contiguous()), "barycentrics must be (50, 3)"),
    "fewer colours": (_replace("colors", lambda v: v[:-1].contiguous()), "colors must be (50, 3)"),
    "2D opacities": (_replace("opacities", lambda v: v[:, None].contiguous()), "opacities must be (50,)"),
    "short phenotypes": (_replace("phenotypes", lambda v: v[:5].contiguous()), "phenotypes must be (6,)"),
    "missing scales": (_drop("scales"), "lacks tensors scales"),
    "NaN colours": (_set("colors", (2, 1), float("nan")), "colors"),
    "infinite offsets": (_set("offsets", (0, 2), float("inf")), "offsets"),
    "huge scales": (_set("scales", (1, 0), 1e6), "scales"),
    "zero scales": (_set("scales", (1, 0), 0.0), "scales"),
    "negative scales": (_set("scales", (4, 2), -0.01), "scales"),
    "huge offsets": (_set("offsets", (4, 2), 1e6), "offsets"),
    "opacity above 1": (_set("opacities", 7, 1.5), "opacities"),
    "negative colour": (_set("colors", (7, 0), -0.2), "colors"),
    "long quaternions": (_replace("rotations_wxyz", lambda v: v * 2), "rotations_wxyz"),
    "zero quaternion": (_set("rotations_wxyz", 5, 0.0), "rotations_wxyz"),
    "barycentrics summing to 2": (_replace("barycentrics", lambda v: v * 2), "barycentrics"),
    "negative barycentrics": (_set("barycentrics", 3, torch.tensor([1.5, -0.5, 0.0])), "barycentrics"),
    "layer 7": (_set("layer", 0, 7), "layer"),
    "facial above 1": (_set("facial", 0, 3.0), "facial"),
    "NaN phenotypes": (_set("phenotypes", 0, float("nan")), "phenotypes"),
    "meta not JSON": (_meta("meta", "{not json"), "meta"),
    "meta nested 100k deep": (_meta("meta", "[" * 100_000 + "]" * 100_000), "meta"),
    "meta a list": (_meta("meta", "[1, 2]"), "meta"),
    "layout not JSON": (_meta("layout", "{"), "layout"),
    "fit_camera junk": (_meta("meta", json.dumps({"fit_camera": {"K": [1, 2]}})), "fit_camera"),
    "fit_camera NaN": (_meta("meta", json.dumps({"fit_camera": {"K": [[float("nan")] * 3] * 3, "R": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "t": [0, 0, 0], "width": 4, "height": 4}})), "fit_camera"),
    "fit_params junk": (_meta("meta", json.dumps({"fit_params": {"rotvecs": "x", "translation": [[0, 0, 0]]}})), "fit_params"),
    "other format": (_meta("format", "uvatar.avatar/0"), "format"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_bundles_are_refused_with_one_line(tmp_path, body, case):
    change, fragment = DAMAGE[case]
    tensors, metadata = _raw(body)
    change(tensors, metadata)
    path = _write_raw(tmp_path / "avatar.uvatar", tensors, metadata)
    with pytest.raises(InputError) as info:
        Avatar.load(path)
    message = str(info.value)
    assert fragment in message and str(path) in message and "\n" not in message, message


def test_face_count_is_the_body_models(body):
    from uvatar.avatar import BODY_FACES

    assert BODY_FACES == len(body.faces)


def _truncated(path, data):
    path.write_bytes(data[: len(data) // 2])


def _huge_header(path, data):
    path.write_bytes((10**12).to_bytes(8, "little") + data[8:])


def _header_lies(path, data):
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header["colors"]["shape"] = [10**6, 3]
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + size :])


@pytest.mark.parametrize("damage", [_truncated, _huge_header, _header_lies, lambda p, d: p.write_bytes(b""), lambda p, d: p.write_bytes(b"PK\x03\x04" + d)])
def test_truncated_and_foreign_files_give_one_line(tmp_path, body, damage):
    tensors, metadata = _raw(body)
    data = _write_raw(tmp_path / "good.uvatar", tensors, metadata).read_bytes()
    damage(tmp_path / "bad.uvatar", data)
    with pytest.raises(InputError) as info:
        Avatar.load(tmp_path / "bad.uvatar")
    message = str(info.value)
    assert "not a UVatar avatar bundle" in message and "\n" not in message, message


def _cli(capsys, monkeypatch, *args) -> tuple[int, str]:
    """Run ``uvatar ARGS`` in this process; its exit code and stderr."""
    code, _, err = run_cli(capsys, monkeypatch, *args)
    return code, err


@pytest.mark.parametrize("case", ["negative face_index", "NaN colours", "huge scales", "flat barycentrics", "meta not JSON"])
@pytest.mark.parametrize("command", ["export", "animate", "view"])
def test_cli_refuses_damaged_bundles_with_one_line(tmp_path, body, capsys, monkeypatch, case, command):
    import uvatar.view.viewer

    class NoServer:  # the viewer must never start on a damaged file (it would serve until interrupted)
        def __init__(self, *args, **kwargs):
            raise RuntimeError("the viewer started on a damaged avatar")

    monkeypatch.setattr(uvatar.view.viewer, "_Viewer", NoServer)
    change, fragment = DAMAGE[case]
    tensors, metadata = _raw(body)
    change(tensors, metadata)
    path = _write_raw(tmp_path / "avatar.uvatar", tensors, metadata)
    out = tmp_path / "out"
    out.mkdir()
    args = {
        "export": ["export", path, "-f", "ply", "-o", out / "a.ply"],
        "animate": ["animate", path, "--motion", "wave", "--frames", "1", "--size", "16", "-o", out / "a.mp4"],
        "view": ["view", path],
    }[command]
    code, err = _cli(capsys, monkeypatch, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err[-2000:]
    assert list(out.iterdir()) == []
