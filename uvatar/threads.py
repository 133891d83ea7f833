"""How many CPU threads a stage should use, chosen from the cores that are free now.

Why: torch splits every small kernel across its threads and each parallel region waits for the slowest
thread. With another busy process on one of two cores, a second thread is descheduled half the time and
every region waits for it: measured 30x slower turntables. So each stage asks for the cores that are idle
at its start (and long loops ask again every :data:`RECHECK_S`), and never for more.

The user can still force a count: ``--threads N`` (a command's option) or ``OMP_NUM_THREADS`` in the
environment; a forced count is used as it is, whatever the load.

Free cores are read from Linux's ``/proc/stat`` (``procs_running``: threads runnable this instant, all
processes) less this process's own runnable threads (``/proc/self/task/*/stat``), within the cores this
process may use (affinity, and a cgroup ``cpu.max`` quota). Elsewhere (no ``/proc``) the 1-minute load
average stands in. One reading takes well under a millisecond. In a container whose ``/proc/stat``
counts the whole host's threads, every core looks busy and stages run on one thread (slower on an
idle container, never the 30x collapse); ``--threads`` or ``OMP_NUM_THREADS`` then set the count.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from pathlib import Path
from typing import Iterator

import torch

__all__ = ["usable_cores", "free_cores", "forced_threads", "choose_threads", "StageThreads", "stage_threads"]

log = logging.getLogger(__name__)

RECHECK_S = 1.0  # a long loop re-reads the load at most this often (a reading costs < 1 ms)
_SAMPLES = 3  # readings of procs_running per choice, 1 ms apart; the smallest count of busy threads wins


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup v2 ``cpu.max`` quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def _own_running_threads() -> int:
    running = 0
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            # the state follows the command name in parentheses, which may itself hold spaces
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        running += state == "R"
    return running


def _others_running() -> int | None:
    """Runnable threads of other processes this instant, or None without ``/proc``."""
    try:
        text = Path("/proc/stat").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("procs_running"):
            return max(0, int(line.split()[1]) - _own_running_threads())
    return None


def free_cores() -> int:
    """Usable cores not taken by other processes now (at least 1)."""
    cores = usable_cores()
    readings = []
    for i in range(_SAMPLES):
        busy = _others_running()
        if busy is None:
            break
        readings.append(busy)
        if i + 1 < _SAMPLES:
            time.sleep(0.001)
    if readings:
        busy = min(readings)  # a thread that ran for one reading only is not a steady load
    else:
        try:
            busy = math.floor(os.getloadavg()[0])
        except OSError:
            busy = 0
    return max(1, min(cores, cores - busy))


def forced_threads(threads: int | None = None) -> int | None:
    """The count the user forced: ``threads`` if > 0, else a valid ``OMP_NUM_THREADS``, else None."""
    if threads is not None and threads > 0:
        return int(threads)
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return None


def choose_threads(threads: int | None = None, most: int | None = None) -> int:
    """Threads for a stage: the forced count (``threads`` > 0 or ``OMP_NUM_THREADS``), else the free
    cores now, at most ``most`` (a stage whose kernels are too small to gain from more)."""
    forced = forced_threads(threads)
    if forced is not None:
        return forced
    count = free_cores()
    return max(1, min(count, most)) if most else count


class StageThreads:
    """Set torch's thread count for one stage and keep it matched to the load during long loops.

    >>> with stage_threads("turntable") as threads:   # doctest: +SKIP
    ...     for camera in cameras:
    ...         threads.recheck()   # at most every RECHECK_S: fewer threads when another job starts
    ...         render(camera)
    """

    def __init__(self, name: str, threads: int | None = None, most: int | None = None):
        self.name, self.forced, self.most = name, forced_threads(threads), most
        self.count = 0
        self._checked = -math.inf

    def recheck(self, now: bool = False) -> int:
        """Re-read the load if :data:`RECHECK_S` has passed (or ``now``: a stage starts); returns the
        thread count in force."""
        clock = time.perf_counter()
        if not now and clock - self._checked < RECHECK_S:
            return self.count
        self._checked = clock
        count = choose_threads(self.forced, self.most)
        if count != self.count:
            if self.count:
                log.debug("%s: %d -> %d threads (free cores changed)", self.name, self.count, count)
            torch.set_num_threads(count)
            self.count = count
        return count


@contextlib.contextmanager
def stage_threads(name: str, threads: int | None = None, most: int | None = None) -> Iterator[StageThreads]:
    """Run a stage with :func:`choose_threads` threads (re-read by ``recheck``); restore the count after."""
    before = torch.get_num_threads()
    stage = StageThreads(name, threads, most)
    stage.recheck()
    log.debug("%s: %d threads (%s)", name, stage.count, "forced" if stage.forced else "free cores")
    try:
        yield stage
    finally:
        torch.set_num_threads(before)
