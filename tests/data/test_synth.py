"""`uvatar synth` end to end on a tiny data set: determinism, split jobs, resume, format, stats."""

import json

import pytest

from uvatar.data.appearance import AppearanceConfig
from uvatar.data.samples import decode_subject, decode_view
from uvatar.data.shards import read_shard, shard_paths
from uvatar.data.synth import SynthConfig, config_from_dict, run_synth

CONFIG = SynthConfig(subjects=3, views=3, size=96, subjects_per_shard=2, seed=5,
                     appearance=AppearanceConfig(texture_size=256))


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, body):
    whole = tmp_path_factory.mktemp("whole")
    split = tmp_path_factory.mktemp("split")
    summary = run_synth(CONFIG, whole, body=body)
    parts = [run_synth(CONFIG, split, job=(j, 2), body=body) for j in (1, 0)]
    return whole, split, summary, parts


def test_same_seed_gives_identical_shards_and_split_jobs_do_not_overlap(datasets):
    whole, split, summary, parts = datasets
    assert summary["shards_made"] == 2 and summary["views_rendered"] == 9 and summary["complete"]
    assert [p["shards_made"] for p in parts] == [1, 1] and parts[1]["complete"]
    for k in range(2):
        a, b = shard_paths(whole, k)[0], shard_paths(split, k)[0]
        assert a.read_bytes() == b.read_bytes()  # made by different jobs, in another order: same bytes
    keys = [[key for key, _ in read_shard(shard_paths(whole, k)[0])] for k in range(2)]
    assert not set(keys[0]) & set(keys[1])
    assert keys[0] == ["s0000000", "s0000000_v00", "s0000000_v01", "s0000000_v02",
                       "s0000001", "s0000001_v00", "s0000001_v01", "s0000001_v02"]


def test_a_different_seed_gives_different_data(tmp_path, body, datasets):
    import dataclasses

    whole = datasets[0]
    other = dataclasses.replace(CONFIG, subjects=1, subjects_per_shard=2, seed=6)
    run_synth(other, tmp_path, body=body)
    assert shard_paths(tmp_path, 0)[0].read_bytes() != shard_paths(whole, 0)[0].read_bytes()


def test_resume_skips_complete_shards(datasets, body):
    whole = datasets[0]
    again = run_synth(CONFIG, whole, body=body)
    assert again["shards_made"] == 0 and again["shards_skipped"] == 2 and again["views_rendered"] == 0


def test_samples_decode_and_agree_with_the_manifest(datasets, body):
    whole = datasets[0]
    manifest = json.loads((whole / "manifest.json").read_text())
    assert manifest["format"] == "uvatar.synth/1" and manifest["seed"] == 5
    assert config_from_dict(manifest["config"]) == CONFIG
    assert manifest["counts"] == {"subjects": 3, "views_per_subject": 3, "views": 9, "shards": 2, "subjects_per_shard": 2}
    assert manifest["labels"]["bones"] == body.bone_labels and {"anny", "torch", "numpy"} <= set(manifest["versions"])
    index = json.loads((whole / "index.json").read_text())
    assert index["complete"] and index["counts"]["views"] == 9 and index["counts"]["subjects"] == 3
    samples = dict(read_shard(shard_paths(whole, 1)[0]))
    subject = decode_subject(samples["s0000002"])
    assert subject.albedo.shape == (256, 256, 4) and subject.shell.shape == (256, 256, 4)
    assert subject.shell_offsets.shape == (body.n_vertices, 3) and subject.meta["key"] == "s0000002"
    assert 1 <= subject.meta["skin_tone"] <= 6 and subject.meta["age_group"] in ("child", "teen", "adult", "senior")
    view = decode_view(samples["s0000002_v01"])
    assert view.image.shape == (96, 96, 3) and view.mask.shape == (96, 96) and view.uv.shape == (96, 96, 2)
    assert view.camera.width == 96 and view.info["framing"] in ("head", "half", "full")
    assert view.params.rotvecs.shape == (1, body.n_bones, 3)
    # the mask covers the person: the body layer of the UV pass lies inside it
    assert 0.02 < view.mask.mean() < 0.95 and view.mask[view.layer == 1].mean() > 0.9  # content checks, not float bounds
    # the person is where the projected body is
    with __import__("torch").no_grad():
        verts = body.forward(view.params).vertices[0]
    px, depth = view.camera.project(verts)
    inside = (px[:, 0] >= 0) & (px[:, 0] < 96) & (px[:, 1] >= 0) & (px[:, 1] < 96) & (depth > 0)
    cols, rows = px[inside, 0].long(), px[inside, 1].long()
    assert view.mask[rows.numpy(), cols.numpy()].mean() > 0.8  # content: vertices behind others may fall off the mask


def test_stats_and_contact_sheet(datasets):
    from uvatar.data.stats import collect_stats, contact_sheet, format_stats

    stats = collect_stats(datasets[0])
    assert stats["subjects"] == 3 and stats["views"] == 9
    assert sum(stats["framing"].values()) == 9 and sum(stats["view"].values()) == 9
    assert sum(stats["skin_tone"].values()) == 3 and sum(stats["age_group"].values()) == 3
    assert "framing" in format_stats(stats)
    sheet = contact_sheet(datasets[0], subjects=2, thumb=48)
    assert sheet.shape == (96, 144, 3) and sheet.std() > 5


def test_cli_synth_and_stats(tmp_path, body):
    import subprocess
    import sys

    out = tmp_path / "cli"
    args = ["synth", "-o", str(out), "--subjects", "1", "--views", "2", "--size", "64", "--no-uv"]
    done = subprocess.run([sys.executable, "-m", "uvatar.cli", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["views_rendered"] == 2
    names = [k for k, files in read_shard(shard_paths(out, 0)[0]) for k in files]
    assert "uv.png" not in names and "image.png" in names
    done = subprocess.run([sys.executable, "-m", "uvatar.cli", "data", "stats", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "views 2" in done.stdout and (out / "contact_sheet.png").exists()
    bad = subprocess.run([sys.executable, "-m", "uvatar.cli", "synth", "-o", str(out), "--subjects", "2", "--shard", "2/2"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1


def test_the_camera_sharpening_is_drawn_per_view_without_moving_the_other_draws(body):
    import dataclasses

    from uvatar.data.synth import make_subject

    config = dataclasses.replace(CONFIG, subjects=1, views=4, size=256, wardrobe=None)
    looks = make_subject(body, config, 0).looks
    plain = make_subject(body, dataclasses.replace(config, sharpen=(0.0, 0.0)), 0).looks
    for look, before in zip(looks, plain):
        assert 0.4 <= look["sharpen"] <= 1.0 and 1.5 / 2 <= look["sharpen_radius"] <= 3.5 / 2  # radii at 256 px
        assert "sharpen" not in before and {k: v for k, v in look.items() if not k.startswith("sharpen")} == before
    assert len({look["sharpen"] for look in looks}) == 4
    old = {k: v for k, v in config.to_dict().items() if k not in ("sharpen", "sharpen_radius")}
    assert config_from_dict(old).sharpen == (0.0, 0.0)  # a manifest written before the sharpening
    with pytest.raises(Exception, match="sharpen must be a range"):
        dataclasses.replace(config, sharpen=(1.0, 0.5))


def test_view_lit_views_are_lit_by_the_lighting_turned_with_their_camera(body):
    """With ``view_lit`` every view is rendered after the subject's lighting was turned by its camera's
    azimuth (key light, map and fill); without it, one lighting for all. A manifest from before keeps the
    world's lighting."""
    import dataclasses

    import numpy as np

    from uvatar.data.cameras import camera_azimuth
    from uvatar.data.synth import make_subject, render_subject_views

    class Recorder:  # stands in for the OpenGL renderer: records the lighting each view is drawn under
        def __init__(self):
            self.lights, self.current = [], None

        def set_subject(self, meshes, lighting):
            self.current = lighting

        def render(self, camera, look, aux=False):
            self.lights.append(self.current)
            return None

    config = dataclasses.replace(CONFIG, subjects=1, views=4, size=96, wardrobe=None)
    subject = make_subject(body, config, 0)
    centre = subject.vertices.mean(0)
    world, lit = Recorder(), Recorder()
    render_subject_views(body, world, subject, config, aux=False)
    views = render_subject_views(body, lit, subject, dataclasses.replace(config, view_lit=True), aux=False)
    assert all(light is subject.lighting for light in world.lights)
    for (_, camera, _, info), light in zip(views, lit.lights):
        azimuth = camera_azimuth(camera, centre)
        a = np.radians(azimuth)
        key = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]]) @ subject.lighting.key_dir
        assert np.allclose(light.key_dir, key, atol=1e-5) and light.info["turned_deg"] == round(azimuth, 3)
    assert len({round(float(light.key_dir[0]), 4) for light in lit.lights}) == 4
    assert "view_lit" not in config.to_dict()  # a world-lit manifest as before the option: old data sets resume
    assert config_from_dict(config.to_dict()).view_lit is False
    lit_config = dataclasses.replace(config, view_lit=True)
    assert config_from_dict(lit_config.to_dict()) == lit_config
