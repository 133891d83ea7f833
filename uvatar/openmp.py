"""Short OpenMP spin-waits, so that torch's and numba's thread pools do not steal the cores from each other.

Why: the CPU renderer (numba, ``uvatar/render/_gaussians_numba.py``) and torch each run their own
OpenMP runtime (torch bundles its libgomp; numba's ``omp`` layer loads the system's). After a parallel
region, libgomp's idle threads spin for a while before they sleep; when torch and the renderer
alternate quickly (a training step: decoder, four renders, backward), each pool's spinning threads hold
the two cores the other pool needs. Measured on the 2-core machine (tiny decoder config, 128 px views,
median seconds per training step): numba renderer 0.374 with libgomp's default spin, 0.285 with no
spin (``GOMP_SPINCOUNT=0``, threads sleep at once), 0.223 with ``GOMP_SPINCOUNT=10000``; the torch
renderer 0.305. The same setting left the numba render benchmark unchanged (262K Gaussians at 512²,
0.054-0.058 s forward) and sped up torch's eager renderer (0.24 -> 0.19 s forward).

libgomp reads the variable when it is loaded: ``import uvatar`` sets it (:func:`short_openmp_spin`), so
both pools get it when uvatar is imported before torch (the CLI, ``python -m uvatar...``), and numba's
pool (loaded at the first render) gets it always. Measured with torch imported first, so that only
numba's pool had it: the astronaut avatar (371K Gaussians, 512²) rendered in 0.097 s on 2 threads,
against 0.085 s with both pools and 0.32 s with neither (slower than one thread's 0.113 s). A value the
user set is kept.
"""

from __future__ import annotations

import os

__all__ = ["short_openmp_spin", "SPIN_COUNT"]

SPIN_COUNT = "10000"


def short_openmp_spin() -> bool:
    """Set ``GOMP_SPINCOUNT`` (module doc) unless the user set it; True if this call set it."""
    if "GOMP_SPINCOUNT" in os.environ:
        return False
    os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    return True
