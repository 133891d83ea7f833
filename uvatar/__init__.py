"""UVatar: one portrait photo to an animatable 3D Gaussian avatar.

Importing ``uvatar`` loads no optional accelerator (CUDA, gsplat) and no detector (MediaPipe);
subpackages import them lazily when asked. It sets one environment default: a short OpenMP spin-wait
(``GOMP_SPINCOUNT``, unless already set), without which torch's and the CPU renderer's thread pools
steal the cores from each other (``uvatar/openmp.py``).
"""

from uvatar.openmp import short_openmp_spin

short_openmp_spin()

from uvatar.errors import DependencyError, InputError, NoPersonError, UvatarError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["UvatarError", "InputError", "NoPersonError", "DependencyError", "__version__"]
