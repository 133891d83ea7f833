"""Never delete what UVatar did not write: output folders are checked before any work, and interrupts
(Ctrl-C, SIGTERM) leave nothing half-written."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "astronaut.png"


def _run(*args, cwd=None, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "uvatar.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)  # fmt: skip


def _one_line_error(result, code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_reconstruct_into_the_photos_folder_is_refused_and_deletes_nothing(tmp_path):
    mine = tmp_path / "out" / "mine"
    mine.mkdir(parents=True)
    shutil.copyfile(EXAMPLE, mine / "me.png")
    (mine / "notes.txt").write_text("keep\n")
    before = _snapshot(mine)
    start = time.perf_counter()
    result = _run("reconstruct", mine / "me.png", "-o", mine)
    _one_line_error(result, 2, "holds the input")
    assert _snapshot(mine) == before and sorted(os.listdir(tmp_path / "out")) == ["mine"]
    # refused before any work (no body model, no detector); generous for a loaded CI machine
    assert time.perf_counter() - start < 60
    result = _run("reconstruct", mine / "me.png", "-o", mine, "--overwrite")  # --overwrite does not lift it
    _one_line_error(result, 2, "holds the input")
    assert _snapshot(mine) == before


@pytest.mark.parametrize("command", [
    ["reconstruct", EXAMPLE], ["track", EXAMPLE], ["body-demo"], ["eval", "--data", "synthetic:1"],
    ["clips", REPO / "tests" / "nonexistent.mp4"],
])  # fmt: skip
def test_a_folder_uvatar_did_not_write_is_refused(tmp_path, command):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("keep\n")
    result = _run(*command, "-o", theirs)
    _one_line_error(result, 2, "did not write", "--overwrite")
    assert _snapshot(theirs) == {"notes.txt": b"keep\n"}


def test_export_bundle_into_a_folder_uvatar_did_not_write_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("keep\n")
    avatar = tmp_path / "a.uvatar"
    avatar.write_bytes(b"not read: the folder is checked first")
    _one_line_error(_run("export", avatar, "-f", "bundle", "-o", theirs), 2, "did not write")
    assert _snapshot(theirs) == {"notes.txt": b"keep\n"}


def test_current_folder_home_and_a_file_are_refused(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    _one_line_error(_run("body-demo", "-o", ".", cwd=tmp_path, env=env), 2, "current folder")
    _one_line_error(_run("body-demo", "-o", "~", env=env), 2, "home folder")
    _one_line_error(_run("body-demo", "-o", home, env=env), 2, "home folder")
    existing = tmp_path / "report.txt"
    existing.write_text("mine")
    _one_line_error(_run("reconstruct", EXAMPLE, "-o", existing), 2, "existing file")
    assert existing.read_text() == "mine" and not list(tmp_path.glob(".report*"))
    assert sorted(os.listdir(tmp_path)) == ["home", "report.txt"]


def test_overwrite_writes_into_the_folder_and_keeps_the_users_files(tmp_path, body):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("keep\n")
    (theirs / "report.json").write_text("the user's, same name as ours")
    result = _run("body-demo", "-o", theirs, "--overwrite")
    assert result.returncode == 0, result.stderr
    names = set(os.listdir(theirs))
    assert {"notes.txt", "body.obj", "report.json", ".uvatar-output.json"} <= names
    assert (theirs / "notes.txt").read_text() == "keep\n"
    assert (theirs / "report.json").read_text() != "the user's, same name as ours"  # replaced, as asked
    result = _run("body-demo", "-o", theirs)  # now UVatar's folder: a re-run needs no flag
    assert result.returncode == 0, result.stderr and (theirs / "notes.txt").read_text() == "keep\n"


def _mount(*options: str, size: str = "64k") -> Path | None:
    """A small tmpfs (root only, and only where the sandbox allows mounts), or None."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return None
    import tempfile

    point = Path(tempfile.mkdtemp(prefix="uvatar-mnt-"))
    opts = ",".join((f"size={size}", *options))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)], capture_output=True).returncode != 0:
        point.rmdir()
        return None
    return point


def _umount(point: Path) -> None:
    subprocess.run(["umount", str(point)], check=False)
    point.rmdir()


def test_read_only_output_is_refused_before_any_work(tmp_path):
    point = _mount("ro")
    if point is None:
        pytest.skip("cannot mount a read-only tmpfs here (needs root and a sandbox that allows mounts)")
    try:
        start = time.perf_counter()
        result = _run("reconstruct", EXAMPLE, "-o", point / "out")
        _one_line_error(result, 2, "cannot write", str(point))
        assert ".tmp" not in result.stderr and time.perf_counter() - start < 60
    finally:
        _umount(point)


def test_full_disk_names_the_output(tmp_path, body):
    point = _mount(size="64k")  # body-demo writes ~10 MB
    if point is None:
        pytest.skip("cannot mount a small tmpfs here (needs root and a sandbox that allows mounts)")
    try:
        result = _run("body-demo", "-o", point / "demo")
        _one_line_error(result, 5, f"could not write {point / 'demo'}", "No space left on device")
        assert os.listdir(point) == []
    finally:
        _umount(point)


def _signal_state(pid: int) -> str:
    """The signal masks (blocked, ignored, caught) of process ``pid`` and of this one (Linux; else empty)."""
    lines = []
    for who in (pid, os.getpid()):
        try:
            with open(f"/proc/{who}/status") as fh:
                lines += [f"{who} {line.strip()}" for line in fh if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
        except OSError:
            pass
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_interrupt_during_the_turntable_leaves_nothing(tmp_path, body, signum, code, word):
    out = tmp_path / "avatar"
    # The child starts with the signal's default action: a test run launched in the background by a
    # non-interactive shell (or nohup) ignores SIGINT, and an ignored signal stays ignored across exec,
    # so the CLI would never see it (measured: the whole 400-frame turntable ran, exit 0).
    process = subprocess.Popen([sys.executable, "-m", "uvatar.cli", "reconstruct", str(EXAMPLE), "-o", str(out),
                                "--turntable-frames", "400"], stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL))  # fmt: skip
    seen = []
    try:
        for line in process.stderr:
            seen.append(line)
            if "rendering the turntable" in line:
                time.sleep(0.5)  # inside the render loop
                seen.append(_signal_state(process.pid))  # in the message if the signal goes unanswered
                process.send_signal(signum)
                break
        _, rest = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    seen.append(rest)
    stderr = "".join(seen)
    assert any("rendering the turntable" in line for line in seen), stderr
    assert process.returncode == code, stderr
    assert word in stderr.splitlines()[-1] and "Traceback" not in stderr
    assert os.listdir(tmp_path) == [], "no output and no hidden temporary folder may remain"


def test_an_interrupt_inside_compiled_code_comes_out_as_itself():
    from uvatar.errors import Terminated, interrupts_unwrapped

    def wrapped(inner):
        try:
            raise inner
        except BaseException as exc:
            raise SystemError("CPUDispatcher(...) returned a result with an exception set") from exc

    for inner in (KeyboardInterrupt(), Terminated()):
        with pytest.raises(type(inner)):
            with interrupts_unwrapped():
                wrapped(inner)
    with pytest.raises(SystemError):  # anything else stays what it was
        with interrupts_unwrapped():
            wrapped(ValueError("x"))


def test_a_signal_while_interrupts_are_held_is_delivered_after_the_block(dropped_ctrl_c):
    """What a fork's hooks would drop (a Ctrl-C while ffmpeg starts) is only noted inside the block and
    raised after it, by the handler that was in place: KeyboardInterrupt, or Terminated for SIGTERM."""
    from uvatar.cli import _raise_terminated
    from uvatar.errors import Terminated, interrupts_held

    before = signal.getsignal(signal.SIGTERM)  # Ctrl-C raises KeyboardInterrupt here (the fixture)
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        for signum, raised in ((signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)):
            handler = signal.getsignal(signum)
            reached = []
            with pytest.raises(raised):
                with interrupts_held():
                    os.kill(os.getpid(), signum)
                    time.sleep(0.01)  # the handler runs at the next bytecode: here it only notes the signal
                    reached.append(True)
            assert reached == [True]  # the block ran to its end
            assert signal.getsignal(signum) is handler or signum == signal.SIGTERM  # restored (SIGTERM's re-armed below)
            signal.signal(signal.SIGTERM, _raise_terminated)
        with interrupts_held():  # nothing arrives: nothing is raised
            pass
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_handler_not_set_from_python_is_left_alone(monkeypatch):
    """``signal.getsignal`` says None for a handler set outside Python (an embedding application): it
    cannot be put back, so the hold leaves that signal alone instead of failing on the way out."""
    from uvatar.errors import interrupts_held

    real = signal.getsignal
    installed = []
    monkeypatch.setattr(signal, "getsignal", lambda signum: None if signum == signal.SIGTERM else real(signum))
    real_signal = signal.signal
    monkeypatch.setattr(signal, "signal", lambda signum, handler: installed.append(signum) or real_signal(signum, handler))
    with interrupts_held():
        pass
    assert installed == [signal.SIGINT, signal.SIGINT]  # held and put back; SIGTERM untouched
