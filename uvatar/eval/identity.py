"""Face identity distance with dlib's ResNet face descriptor (optional: ``pip install 'uvatar[identity]'``).

dlib (``dlib-bin``, a prebuilt wheel) finds the face (HOG detector, one upsampling), aligns it with the
5-point shape predictor and computes a 128-d descriptor with ``dlib_face_recognition_resnet_model_v1``;
the model files come from the ``face-recognition-models`` wheel. That package is never imported (its
``__init__`` needs ``pkg_resources``, gone from current setuptools): its folder is located and the
``.dat`` files (dlib's own serialisation, not pickle) are read by dlib. The distance between two
descriptors is Euclidean; dlib calls two faces the same person below 0.6.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from uvatar.errors import DependencyError

__all__ = ["has_identity", "FaceIdentity", "SAME_PERSON"]

SAME_PERSON = 0.6  # dlib's threshold on the descriptor distance
_PIN = "pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0 (or 'uvatar[identity]')"


def _models_dir() -> Path | None:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        folder = Path(root) / "models"
        if (folder / "dlib_face_recognition_resnet_model_v1.dat").is_file():
            return folder
    return None


def has_identity() -> bool:
    """True when dlib imports and the face-recognition model files are installed (nothing is imported)."""
    return importlib.util.find_spec("dlib") is not None and _models_dir() is not None


class FaceIdentity:
    """``descriptor(image)`` -> 128-d face descriptor of the largest face, or None when no face is found."""

    def __init__(self) -> None:
        if not has_identity():
            raise DependencyError(f"identity similarity needs dlib and its face models; {_PIN}")
        import dlib

        folder = _models_dir()
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.shape = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
        self.net = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))

    def descriptor(self, image: np.ndarray, upsample: int = 1) -> np.ndarray | None:
        """Image ``(H, W, 3)`` RGB float in [0, 1] or uint8 -> ``(128,)`` float64, or None."""
        if image.dtype != np.uint8:
            image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
        image = np.ascontiguousarray(image)
        faces = self.detector(image, upsample)
        if not faces:
            return None
        face = max(faces, key=lambda r: r.width() * r.height())
        return np.asarray(self.net.compute_face_descriptor(image, self.shape(image, face)), dtype=np.float64)

    def distance(self, a: np.ndarray, b: np.ndarray) -> float | None:
        """Descriptor distance between the faces of two images (None when either has no face found)."""
        da, db = self.descriptor(a), self.descriptor(b)
        if da is None or db is None:
            return None
        return float(np.linalg.norm(da - db))


@functools.lru_cache(maxsize=1)
def shared_identity() -> FaceIdentity:
    """One :class:`FaceIdentity` per process (loading the models takes about a second)."""
    return FaceIdentity()
