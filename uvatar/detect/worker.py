"""Detect a clip's frames in a second process, ahead of the caller (:func:`detect_ahead`).

Why: MediaPipe holds Python's GIL while it runs, so a detection thread does not overlap the tracker's
fit (measured: a torch loop in a thread beside it ran 1 iteration a second against 1107 alone);
detection was 40-60 ms of each tracked frame. In a worker process it runs
on the other core while this one fits: each frame is downscaled here to the detector's size (a 640 px
copy is 0.7 MB to send, a 1080p frame 6 MB), detected there by :class:`~uvatar.detect.VideoDetector`
in tracking mode, and its :class:`~uvatar.detect.Detections` come back in frame order.

The worker is ``python -m uvatar.detect.worker`` (not a ``multiprocessing`` child: its ``spawn`` start
re-imports the caller's main script, which re-runs a user's unguarded script in the worker) and
imports only numpy, the detector and MediaPipe. Requests and results are pickled over its stdin and
stdout (between this process and the child it started, never a file a user hands in; the worker moves
its own stdout to stderr first, so that no stray print can corrupt them);
two threads here send and receive, so that neither side blocks on a full pipe while the other works.
It ignores Ctrl-C (the caller stops it) and stops when the caller's generator is closed, when the
frames end, or when its stdin closes (the caller exited). An error inside it comes back as
:class:`DetectionWorkerError` at the frame where it happened; a worker that could not be started falls
back to detecting in this process, and says so in the log.
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection

import numpy as np

from uvatar.detect.detections import Detections
from uvatar.errors import UvatarError, interrupts_held

__all__ = ["DetectionWorkerError", "detect_ahead"]

log = logging.getLogger(__name__)


class DetectionWorkerError(UvatarError):
    """The detection worker failed or died; the message says why."""


def _serve(requests: Connection, results: Connection, max_side: int, masks: bool) -> None:
    """The worker's loop: ``(index, small, size)`` requests in, ``("ok", index, det, wall_s, cpu_s)`` or
    ``("error", index, message)`` out; ``None`` or a closed stdin ends it."""
    from uvatar.detect.holistic import VideoDetector

    detector = VideoDetector(max_side=max_side, masks=masks)
    try:
        while True:
            try:
                item = requests.recv()
            except EOFError:
                return
            if item is None:
                return
            index, small, size = item
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                det = detector.detect_downscaled(small, size)
            except Exception as exc:  # noqa: BLE001 - sent back to the caller, which raises it at this frame
                results.send(("error", index, f"{type(exc).__name__}: {exc}"))
                return
            results.send(("ok", index, det, time.perf_counter() - wall, time.process_time() - cpu))
    finally:
        detector.close()


def _worker_main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    results_fd = os.dup(1)
    os.dup2(2, 1)  # anything else printed goes to stderr, not into the results
    max_side, masks = int(argv[0]), argv[1] == "1"
    _serve(Connection(os.dup(0), writable=False), Connection(results_fd, readable=False), max_side, masks)


class _Worker:
    """The worker process and the two threads that feed it and drain it."""

    def __init__(self, max_side: int, masks: bool) -> None:
        process = None
        try:
            with interrupts_held():  # a Ctrl-C during the fork would be dropped (uvatar.errors.interrupts_held)
                process = subprocess.Popen(
                    [sys.executable, "-m", "uvatar.detect.worker", str(max_side), "1" if masks else "0"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                )  # fmt: skip
        except BaseException:  # the held Ctrl-C, delivered: no worker is left behind
            if process is not None:
                process.kill()
                process.wait()
            raise
        self.process = process
        self._requests = Connection(os.dup(self.process.stdin.fileno()), readable=False)
        self._results = Connection(os.dup(self.process.stdout.fileno()), writable=False)
        self.process.stdin.close()
        self.process.stdout.close()
        self.outbox: queue.Queue = queue.Queue()
        self.inbox: queue.Queue = queue.Queue()
        self._sender = threading.Thread(target=self._send_all, name="uvatar-detect-send", daemon=True)
        self._receiver = threading.Thread(target=self._receive_all, name="uvatar-detect-receive", daemon=True)
        self._sender.start()
        self._receiver.start()

    def _send_all(self) -> None:
        while True:
            item = self.outbox.get()
            try:
                self._requests.send(item)
            except OSError:  # the worker is gone; the receiver reports it
                return
            if item is None:
                return

    def _receive_all(self) -> None:
        while True:
            try:
                self.inbox.put(self._results.recv())
            except (EOFError, OSError):
                self.inbox.put(None)  # the worker ended
                return

    def receive(self):
        """The worker's next message; raises if it ended without one."""
        message = self.inbox.get()
        if message is None:
            code = self.process.wait()
            raise DetectionWorkerError(f"the detection worker stopped (exit code {code}); run again, or report it if it keeps happening")
        return message

    def stop(self) -> None:
        """Ask the worker to end, wait briefly, then terminate it."""
        self.outbox.put(None)
        try:
            self.process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(timeout=5.0)
        self._sender.join(timeout=1.0)
        self._receiver.join(timeout=1.0)
        self._requests.close()
        self._results.close()


def detect_ahead(
    frames: Iterable[np.ndarray], max_side: int = 640, ahead: int = 32, masks: bool = True, worker: bool = True
) -> Iterator[tuple[int, BaseException | None, Detections | None, float, float, str]]:
    """Detect ``frames`` in order with MediaPipe in tracking mode, up to ``ahead`` frames ahead of the caller.

    Args:
        frames: ``(H, W, 3)`` uint8 (or float in [0, 1]) RGB frames of one clip, read lazily.
        max_side, masks: as :class:`~uvatar.detect.VideoDetector`'s.
        ahead: frames sent to the worker before the caller has taken their detections (memory: about
            ``ahead`` downscaled frames and masks).
        worker: False detects in this process (no overlap), as the fallback does.
    Yields:
        ``(index, error, det, wall_s, cpu_s, where)`` per frame: ``error`` None and the frame's detections
        (None when nobody is found) with the wall and CPU seconds of detecting it; or, last, an
        exception raised by ``frames`` (the caller's own checks, a broken video) or by downscaling that
        frame, with ``det`` None, after the frames before it, for the caller to raise there. ``where``
        says where detection ran: ``"worker"``, ``"in-process"`` (asked for) or ``"in-process
        (degraded: the worker could not start)"``, for the caller's report. Frames are not kept once
        sent (a 1080p frame is 6 MB).
    Raises:
        DetectionWorkerError: the worker reported an error or died.
    """
    from uvatar.detect import VideoDetector

    local = VideoDetector(max_side=max_side, masks=masks)  # downscales here; detects here without a worker
    process, where = None, "in-process"
    if worker:
        try:
            process, where = _Worker(max_side, masks), "worker"
        except (OSError, ValueError) as exc:
            where = "in-process (degraded: the worker could not start)"
            log.warning("degraded: the detection worker could not start (%s); detecting in this process, "
                        "without overlap", exc)  # fmt: skip
    try:
        rows = _in_process(frames, local) if process is None else _pipelined(frames, local, process, ahead)
        for row in rows:
            yield (*row, where)
    finally:
        local.close()
        if process is not None:
            process.stop()


def _numbered(frames: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray | BaseException]]:
    """``(index, frame)``; an exception raised by the frames' iterator comes as ``(index, exc)``, last."""
    iterator = iter(frames)
    index = 0
    while True:
        try:
            frame = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - the caller raises it here, after the frames before it
            yield index, exc
            return
        yield index, frame
        index += 1


def _in_process(frames, local):
    for index, frame in _numbered(frames):
        if isinstance(frame, BaseException):
            yield index, frame, None, 0.0, 0.0
            return
        wall, cpu = time.perf_counter(), time.process_time()
        det = local(frame)
        yield index, None, det, time.perf_counter() - wall, time.process_time() - cpu


def _pipelined(frames, local, process: _Worker, ahead: int):
    numbered = _numbered(frames)
    in_flight: collections.deque = collections.deque()  # (index, exception or None: sent to the worker)
    exhausted, sent_count = False, 0

    def feed() -> None:
        nonlocal exhausted, sent_count
        while not exhausted and sent_count < ahead:
            try:
                index, frame = next(numbered)
            except StopIteration:
                exhausted = True
                return
            if not isinstance(frame, BaseException):
                try:
                    small, size = local.downscaled(frame)
                except Exception as exc:  # noqa: BLE001 - raised by the caller at this frame
                    frame = exc
            if isinstance(frame, BaseException):
                in_flight.append((index, frame))
                exhausted = True
                return
            process.outbox.put((index, small, size))
            in_flight.append((index, None))
            sent_count += 1

    feed()
    while in_flight:
        index, error = in_flight.popleft()
        if error is not None:
            yield index, error, None, 0.0, 0.0
            return
        message = process.receive()
        sent_count -= 1
        if message[0] == "error":
            raise DetectionWorkerError(f"frame {message[1]}: the detection worker failed: {message[2]}")
        _, answered, det, wall, cpu = message
        if answered != index:
            raise DetectionWorkerError(f"the detection worker answered frame {answered} for frame {index}")
        yield index, None, det, wall, cpu
        feed()


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
