"""Person detection: MediaPipe Holistic landmarks and mask (:func:`detect`) and the framing regime.

Importing this package does not import MediaPipe; :func:`detect` does, on first use.
"""

from uvatar.detect.detections import BODY_INDEX, BODY_LANDMARKS, HAND_LANDMARKS, Detections
from uvatar.detect.holistic import VideoDetector, count_faces, detect
from uvatar.detect.regime import REGIMES, RegimeDecision, classify_regime

__all__ = [
    "BODY_LANDMARKS",
    "BODY_INDEX",
    "HAND_LANDMARKS",
    "Detections",
    "detect",
    "count_faces",
    "VideoDetector",
    "REGIMES",
    "RegimeDecision",
    "classify_regime",
]
