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

libgomp reads the variable when it is loaded, so :func:`short_openmp_spin` must run before ``torch`` or
numba's threading layer are imported; the CLI calls it first thing. A value the user set is kept.
"""

from __future__ import annotations

import os
import sys

__all__ = ["short_openmp_spin", "SPIN_COUNT"]

SPIN_COUNT = "10000"


def short_openmp_spin() -> bool:
    """Set ``GOMP_SPINCOUNT`` (module doc) unless the user set it; True if this call set it. Too late (and
    so not set) once torch has been imported."""
    if "GOMP_SPINCOUNT" in os.environ or "torch" in sys.modules:
        return False
    os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    return True
