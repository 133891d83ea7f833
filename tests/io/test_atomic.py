"""uvatar.io.atomic as the writers use it."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from uvatar.errors import InputError, OutputError
from uvatar.io.atomic import atomic_dir, atomic_path, atomic_write_bytes, atomic_write_text
from uvatar.io.output_dir import MARKER, read_marker


def test_atomic_path_keeps_suffix_and_renames(tmp_path):
    target = tmp_path / "deep" / "out.ply"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".ply" and tmp.parent == target.parent and tmp != target
        tmp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"
    assert os.listdir(target.parent) == ["out.ply"]


def test_atomic_path_failure_leaves_nothing_and_keeps_old(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(ValueError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise ValueError
    assert list(tmp_path.iterdir()) == []
    atomic_write_text(target, "old")
    with pytest.raises(ValueError):
        with atomic_path(target) as tmp:
            tmp.write_text("new")
            raise ValueError
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_atomic_write_bytes_overwrites(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"1")
    atomic_write_bytes(tmp_path / "a.bin", b"22")
    assert (tmp_path / "a.bin").read_bytes() == b"22" and os.listdir(tmp_path) == ["a.bin"]


def test_atomic_dir_replaces_its_own_files_and_rolls_back(tmp_path):
    target = tmp_path / "bundle"
    with atomic_dir(target) as d:
        (d / "a.json").write_text("{}")
        (d / "sub").mkdir()
        (d / "sub" / "x.txt").write_text("x")
    assert sorted(os.listdir(target)) == [MARKER, "a.json", "sub"]
    (target / "notes.txt").write_text("the user's")  # added by the user after the run
    with atomic_dir(target) as d:
        (d / "b.json").write_text("{}")
    # the previous run's files go, the user's file stays
    assert sorted(os.listdir(target)) == [MARKER, "b.json", "notes.txt"]
    assert read_marker(target) == ["b.json"]
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as d:
            (d / "c.json").write_text("{}")
            raise RuntimeError
    assert sorted(os.listdir(target)) == [MARKER, "b.json", "notes.txt"] and os.listdir(tmp_path) == ["bundle"]


def test_atomic_dir_refuses_a_folder_it_did_not_write(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "me.png").write_bytes(b"photo")
    with pytest.raises(InputError, match="--overwrite"):
        with atomic_dir(target) as d:
            (d / "a.json").write_text("{}")
    assert os.listdir(target) == ["me.png"] and os.listdir(tmp_path) == ["mine"]
    with atomic_dir(target, overwrite=True) as d:  # asked for: written into, the other files kept
        (d / "a.json").write_text("{}")
        (d / "me.png").write_bytes(b"ours")
    assert sorted(os.listdir(target)) == [MARKER, "a.json", "me.png"] and (target / "me.png").read_bytes() == b"ours"


def test_atomic_dir_keeps_a_same_named_folder_of_the_user(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as d:
        (d / "frames").mkdir()
        (d / "frames" / "0.ply").write_text("0")
    (target / "frames" / "mine.txt").write_text("the user's")
    with atomic_dir(target) as d:
        (d / "other.txt").write_text("1")
    assert os.listdir(target / "frames") == ["mine.txt"]  # 0.ply (ours) removed, the folder kept for mine.txt


def test_atomic_dir_names_the_output_when_the_disk_is_full(tmp_path):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match=r"could not write .*out: No space left on device"):
        with atomic_dir(tmp_path / "out") as d:
            with atomic_path(d / "a.bin") as inner:  # the inner writer's temporary name is not what the user sees
                full(inner)
    assert os.listdir(tmp_path) == []


def test_safetensors_disk_full_becomes_one_line(tmp_path):
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    with pytest.raises(OutputError, match=r"a.safetensors: No space left on device"):
        with atomic_path(tmp_path / "a.safetensors") as tmp:
            full(tmp)
    with pytest.raises(SafetensorError, match="header"):  # other safetensors errors are not disk errors
        with atomic_path(tmp_path / "b.safetensors"):
            raise SafetensorError("invalid header")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_path_file_mode_follows_umask(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o666 & ~_umask()


def test_atomic_dir_mode_follows_umask(tmp_path):
    with atomic_dir(tmp_path / "d") as d:
        (d / "x").write_text("x")
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~_umask()


def test_a_crafted_marker_cannot_delete_outside_the_folder(tmp_path):
    import json

    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.txt").write_text("keep")
    target = tmp_path / "out"
    with atomic_dir(target) as d:
        (d / "a.json").write_text("{}")
    (target / "link").symlink_to(elsewhere)
    (target / MARKER).write_text(json.dumps({"files": ["../precious.txt", str(outside), "link/x.txt", "a.json"]}))
    assert read_marker(target) == ["a.json"]
    with atomic_dir(target) as d:
        (d / "b.json").write_text("{}")
    assert outside.read_text() == "keep" and (elsewhere / "x.txt").read_text() == "keep"
    assert sorted(os.listdir(target)) == [MARKER, "b.json", "link"]
