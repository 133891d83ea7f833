"""UVatar: one portrait photo to an animatable 3D Gaussian avatar.

Importing ``uvatar`` loads no optional accelerator (CUDA, gsplat) and no detector (MediaPipe);
subpackages import them lazily when asked.
"""

from uvatar.errors import DependencyError, InputError, NoPersonError, UvatarError

__version__ = "0.1.0"
__all__ = ["UvatarError", "InputError", "NoPersonError", "DependencyError", "__version__"]
