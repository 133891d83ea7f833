"""Keep freed memory in the process heap, so that per-frame buffers reuse pages instead of faulting in
fresh ones.

Why: a render allocates and frees tens of MB per call (tile lists, splat tables, gradient rows). glibc
hands blocks above its mmap threshold (128 KB by default, adjusted upwards as blocks are freed) back to
the OS on ``free``; the next call's buffers are new pages, and first touches of new pages were slow
and erratic on the 2-core VM: the numba renderer's forward+backward at 262K Gaussians had a median of
0.26 s with spikes to 0.29 s and a minimum of 0.156 s; with the heap kept, 0.165 s steady.

:func:`keep_freed_memory` raises glibc's mmap threshold to 32 MB (its documented maximum on 64-bit) and
its trim threshold to 512 MB. The cost: memory a command freed stays with it until it exits (peak
memory is unchanged). Called once by the CLI; a library user may call it too. Elsewhere (not glibc:
macOS, Windows, musl) it does nothing and says so at debug level.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["keep_freed_memory"]

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 512 * 2**20

_done = False


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (module doc) once per process; True if they were set."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.debug("heap: no glibc mallopt here; freed memory goes back to the OS as usual")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _done = ok
    log.debug("heap: glibc mmap threshold %d MB, trim threshold %d MB (%s)", MMAP_THRESHOLD >> 20,
              TRIM_THRESHOLD >> 20, "set" if ok else "refused")  # fmt: skip
    return ok
