"""The detection worker process (``uvatar.detect.worker.detect_ahead``): the same detections as in this
process, in order; errors at the frame where they happened; no worker left behind."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from uvatar.detect.worker import DetectionWorkerError, detect_ahead
from uvatar.errors import InputError

pytest.importorskip("mediapipe")


def _clip_frames(realdata: Path, count: int) -> list[np.ndarray]:
    import imageio.v3 as iio

    frames = []
    for frame in iio.imiter(realdata / "video" / "unianimate_dance_full.mp4"):
        frames.append(frame)
        if len(frames) == count:
            break
    return frames


def _workers() -> list[int]:
    """PIDs of this process's detection workers (Linux /proc)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmdline = fh.read().split(b"\0")
            with open(f"/proc/{name}/stat") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if parent == os.getpid() and b"uvatar.detect.worker" in cmdline:
            pids.append(int(name))
    return pids


def test_the_worker_detects_what_this_process_detects(realdata):
    frames = _clip_frames(realdata, 6)
    ahead = list(detect_ahead(iter(frames), ahead=3))
    here = list(detect_ahead(iter(frames), worker=False))
    assert [row[0] for row in ahead] == [row[0] for row in here] == list(range(6))
    for (_, error_a, det_a, wall, cpu, where_a), (_, error_h, det_h, _, _, where_h) in zip(ahead, here):
        assert error_a is None and error_h is None
        assert (where_a, where_h) == ("worker", "in-process")
        assert det_a is not None and det_h is not None
        assert wall > 0 and cpu >= 0
        np.testing.assert_array_equal(det_a.body, det_h.body)
        np.testing.assert_array_equal(det_a.body_visibility, det_h.body_visibility)
        np.testing.assert_array_equal(det_a.box, det_h.box)
        np.testing.assert_array_equal(det_a.mask, det_h.mask)


def test_a_bad_frame_comes_after_the_frames_before_it(realdata):
    frames = _clip_frames(realdata, 3) + [np.zeros((4, 4, 3), np.uint8)]
    rows = list(detect_ahead(iter(frames), ahead=8))
    assert [row[0] for row in rows] == [0, 1, 2, 3]
    assert all(row[2] is not None for row in rows[:3])
    assert isinstance(rows[3][1], InputError) and rows[3][2] is None


def test_an_error_of_the_frames_iterator_comes_in_its_place(realdata):
    frames = _clip_frames(realdata, 2)

    def broken():
        yield from frames
        raise InputError("frame 2 is unreadable")

    rows = list(detect_ahead(broken(), ahead=8))
    assert [row[0] for row in rows] == [0, 1, 2]
    assert isinstance(rows[2][1], InputError)


def test_a_worker_that_cannot_start_is_a_labelled_fallback(realdata, monkeypatch, caplog):
    import uvatar.detect.worker as worker

    def refuse(*args, **kwargs):
        raise OSError("no processes allowed here")

    monkeypatch.setattr(worker, "_Worker", refuse)
    rows = list(detect_ahead(iter(_clip_frames(realdata, 2))))
    assert [row[5] for row in rows] == ["in-process (degraded: the worker could not start)"] * 2
    assert all(row[2] is not None for row in rows)
    assert any(r.message.startswith("degraded: the detection worker could not start") for r in caplog.records)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker through /proc")
def test_a_dead_worker_is_an_error_and_a_closed_stream_leaves_none(realdata):
    frames = _clip_frames(realdata, 4)
    stream = detect_ahead(iter(frames * 3), ahead=2)
    next(stream)
    (pid,) = _workers()
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(DetectionWorkerError, match="stopped"):
        for _ in stream:
            pass
    stream = detect_ahead(iter(frames), ahead=2)
    next(stream)
    assert len(_workers()) == 1
    stream.close()
    deadline = time.monotonic() + 10
    while _workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _workers() == []


def test_a_ctrl_c_while_the_worker_starts_is_raised_and_leaves_no_worker(monkeypatch, dropped_ctrl_c):
    """A Ctrl-C that arrives while the worker process is being forked comes out as KeyboardInterrupt
    once it has started, and that process is killed. In a real fork the handler's exception is dropped by
    the fork's hooks (uvatar.errors.interrupts_held); the stand-in for Popen drops it the same way."""
    import subprocess

    import uvatar.detect.worker as worker

    started = []

    class Forked:
        def __init__(self, *args, **kwargs):
            dropped_ctrl_c()
            read_end, write_end = os.pipe()
            self.stdin, self.stdout = os.fdopen(write_end, "wb"), os.fdopen(read_end, "rb")
            self.ended = []
            started.append(self)

        def kill(self):
            self.ended.append("killed")

        def wait(self, timeout=None):
            self.ended.append("waited")
            return -9

    monkeypatch.setattr(subprocess, "Popen", Forked)
    with pytest.raises(KeyboardInterrupt):
        worker._Worker(640, True)
    assert len(started) == 1 and started[0].ended == ["killed", "waited"]
    for end in (started[0].stdin, started[0].stdout):
        end.close()
