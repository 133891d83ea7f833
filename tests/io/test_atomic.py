"""uvatar.io.atomic as the writers use it."""

from __future__ import annotations

import os
import stat

import pytest

from uvatar.io.atomic import atomic_dir, atomic_path, atomic_write_bytes, atomic_write_text


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


def test_atomic_dir_replaces_whole_and_rolls_back(tmp_path):
    target = tmp_path / "bundle"
    with atomic_dir(target) as d:
        (d / "a.json").write_text("{}")
    with atomic_dir(target) as d:
        (d / "b.json").write_text("{}")
    assert os.listdir(target) == ["b.json"]
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as d:
            (d / "c.json").write_text("{}")
            raise RuntimeError
    assert os.listdir(target) == ["b.json"] and os.listdir(tmp_path) == ["bundle"]


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
