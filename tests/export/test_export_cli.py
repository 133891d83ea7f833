"""``uvatar export``: ply, glb (validated by Khronos' validator) and the documented bundle."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import roma
from avatar_helpers import skin_gltf, small_avatar
from body_helpers import random_params
from cli_helpers import run_cli
from float_bounds import gamma
from gltf_validator_helper import validate_glb

from uvatar.export.rig import ANNY_TO_GLTF
from uvatar.io.gltf import accessor_array, read_glb


def _export(*args):
    return subprocess.run([sys.executable, "-m", "uvatar.cli", "export", *map(str, args)], capture_output=True, text=True, timeout=300)


def _main(capsys, monkeypatch, *args) -> tuple[int, str]:
    """``uvatar export ARGS`` in this process: exit code and stderr."""
    code, _, err = run_cli(capsys, monkeypatch, "export", *args)
    return code, err


@pytest.fixture(scope="module")
def avatar_file(tmp_path_factory, body):
    path = tmp_path_factory.mktemp("avatar") / "avatar.uvatar"
    small_avatar(body, n=20_000, shell=300).save(path)
    return path


def test_export_glb_is_valid(tmp_path, avatar_file, body):
    out = tmp_path / "a.glb"
    result = _export(avatar_file, "--format", "glb", "-o", out, "--texture-size", "256")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["faces"] == len(body.faces) and summary["joints"] == body.n_bones and summary["bytes"] == out.stat().st_size
    report = validate_glb(out)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"][:5]
    assert report["issues"]["numWarnings"] == 0, report["issues"]["messages"][:5]
    info = report["info"]
    assert info["hasSkins"] and info["hasTextures"] and info["maxInfluences"] == 4
    assert info["resources"][1]["image"]["width"] == 256 and info["totalTriangleCount"] == len(body.faces)
    assert [p.name for p in tmp_path.iterdir()] == ["a.glb"]  # no temporary left behind


def test_export_ply_poses(tmp_path, avatar_file, body, capsys, monkeypatch):
    from uvatar.avatar import Avatar
    from uvatar.io.ply import read_gaussian_ply

    avatar = Avatar.load(avatar_file)
    for pose in ("rest", "tpose"):
        code, err = _main(capsys, monkeypatch, avatar_file, "-f", "ply", "-o", tmp_path / f"{pose}.ply", "--pose", pose)
        assert code == 0, err[-2000:]
    rest = read_gaussian_ply(tmp_path / "rest.ply")
    expected = avatar.on_vertices(body.forward(avatar.params(body)).rest_vertices[0], body.faces).means.numpy()
    # the same float32 surface points (up to their sums' order: 2 gamma(6) of |v| + |offset|), stored as float32
    # (was 1e-5)
    tol = 2 * gamma(6) * (float(np.abs(expected).max()) + float(avatar.offsets.abs().max()))
    assert len(rest) == len(avatar) and np.abs(rest.means - expected).max() <= tol
    tpose = read_gaussian_ply(tmp_path / "tpose.ply")
    assert np.ptp(tpose.means[:, 0]) > np.ptp(rest.means[:, 0]) + 0.2  # arms out along X (a pose check)


def test_bundle_is_documented_and_the_reference_code_animates_it(tmp_path, avatar_file, body, capsys, monkeypatch):
    out = tmp_path / "bundle"
    code, err = _main(capsys, monkeypatch, avatar_file, "-f", "bundle", "-o", out, "--texture-size", "128")
    assert code == 0, err[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [".uvatar-output.json", "README.md", "avatar.uvatar", "body.glb", "layout.json"]
    assert (out / "avatar.uvatar").read_bytes() == avatar_file.read_bytes()
    layout = json.loads((out / "layout.json").read_text())
    assert layout["tensors"]["offsets"]["shape"] == [20_300, 3] and layout["counts"]["shell_gaussians"] == 300
    readme = (out / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.DOTALL).group(1)
    namespace: dict = {}
    exec(code, namespace)  # the README's numpy reference, exactly as a reader would copy it
    tensors, metadata = namespace["read_safetensors"](out / "avatar.uvatar")
    assert metadata["format"] == "uvatar.avatar/1"

    from uvatar.avatar import Avatar

    avatar = Avatar.load(avatar_file)
    doc, blob = read_glb(out / "body.glb")
    triangles = accessor_array(doc, blob, doc["meshes"][0]["primitives"][0]["indices"]).reshape(-1, 3).astype(np.int64)
    # 1. on the glTF mesh as stored (rest pose): exactly UVatar's Gaussians, in glTF's frame
    positions = accessor_array(doc, blob, doc["meshes"][0]["primitives"][0]["attributes"]["POSITION"]).astype(np.float64)
    means, rotations, covariances, *_ = namespace["gaussians_on_triangles"](positions[triangles], tensors)
    rest = avatar.on_vertices(body.forward(avatar.params(body)).rest_vertices[0], body.faces)
    # The float32 positions are stored unchanged, so the README's float64 means differ from UVatar's float32
    # ones by UVatar's rounding: sum_k b_k v_k (gamma(4) |v|max) and the face frame times the offset, whose
    # frame is orthonormal only up to gamma(6) (1 + |e1| |e2| / |e1 x e2|) (per Gaussian; was 1e-5)
    tri = positions[triangles][avatar.face_index.numpy()]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    cond = np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1) / np.linalg.norm(np.cross(e1, e2), axis=1)
    offsets = np.abs(avatar.offsets.double().numpy()).max(1)
    tol = gamma(4) * (np.abs(positions).max() + offsets) + 3 * gamma(8) * (1 + cond) * offsets
    assert (np.abs(means - rest.means.double().numpy() @ ANNY_TO_GLTF.T).max(1) <= tol).all()
    # 2. on the glTF mesh skinned to a pose by its own joints: close to UVatar's posed Gaussians
    params = avatar.params(body, random_params(body, 1, seed=4, scale=0.2))
    out_pose = body.forward(params)
    c4 = np.eye(4)
    c4[:3, :3] = ANNY_TO_GLTF
    joint_world = c4 @ out_pose.bone_poses[0].double().numpy() @ c4.T
    skinned = skin_gltf(doc, blob, joint_world)
    means, rotations, covariances, *_ = namespace["gaussians_on_triangles"](skinned[triangles], tensors)
    posed = avatar.pose(body, params)
    error = np.linalg.norm(means - posed.means.double().numpy() @ ANNY_TO_GLTF.T, axis=1)
    # statistics of the glTF's top-4 weights (test_rig), not float bounds: measured median 7e-8 m (float
    # rounding: most vertices have <= 4 weights), mean 0.14 mm, max 14 mm
    assert np.median(error) < 1e-4 and error.mean() < 1e-3 and error.max() < 0.03
    # orientations: a Gaussian's rotation maps its own axes to the world, so only the frame turns (C @ R)
    from uvatar.quaternions import wxyz_to_xyzw as _wxyz_to_xyzw

    posed_rot = roma.unitquat_to_rotmat(_wxyz_to_xyzw(posed.quats_wxyz.double())).numpy()
    # medians over Gaussians, top-4 weight statistics as above (measured 1.3e-5), not float bounds
    assert np.median(np.abs(rotations - ANNY_TO_GLTF @ posed_rot).max((1, 2))) < 1e-3
    scales = posed.scales.double().numpy()
    expected_cov = ANNY_TO_GLTF @ posed_rot @ (scales[:, :, None] ** 2 * posed_rot.transpose(0, 2, 1)) @ ANNY_TO_GLTF.T
    assert np.median(np.abs(covariances - expected_cov).max((1, 2)) / scales.max(1) ** 2) < 1e-3  # measured 5.1e-6


def test_bad_inputs_are_one_line_errors(tmp_path, avatar_file, capsys, monkeypatch):
    cases = [
        (("-f", "obj", "-o", tmp_path / "a.obj"), "unknown export format"),
        (("-f", "glb", "-o", tmp_path / "a.ply"), "name the output like"),
        (("-f", "glb", "-o", tmp_path / "a.glb", "--pose", "sitting"), "unknown pose"),
        (("-f", "bundle", "-o", tmp_path / "b", "--pose", "tpose"), "rest pose"),
        (("-f", "bundle", "-o", avatar_file.parent), "holds the input"),
        (("-f", "glb", "-o", tmp_path / "a.glb", "--texture-size", "3"), "texture size"),
    ]
    for args, message in cases:
        code, err = _main(capsys, monkeypatch, avatar_file, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / "x.uvatar").write_bytes(b"not an avatar")
    code, err = _main(capsys, monkeypatch, tmp_path / "x.uvatar", "-f", "glb", "-o", tmp_path / "x.glb")
    assert code == 2 and "not a UVatar avatar" in err
    code, err = _main(capsys, monkeypatch, avatar_file, "-f", "glb")  # usage error: no -o
    assert code == 2 and "Missing option" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.uvatar"]  # nothing written
