"""Animation: motions (JSON files of Anny poses over time) from built-ins, BVH files or videos, and
rendering an avatar driven by one.

- :mod:`~uvatar.animate.motion`: :class:`Motion` and its file format ``uvatar.motion/1``;
- :mod:`~uvatar.animate.builtin`: the shipped motions and :func:`load_motion` (name, .json or .bvh);
- :mod:`~uvatar.animate.bvh`, :mod:`~uvatar.animate.retarget`: BVH parsing and retargeting (Mixamo, CMU);
- :mod:`~uvatar.animate.video_motion`: a motion from a video through the tracker;
- :mod:`~uvatar.animate.pose`, :mod:`~uvatar.animate.render`: per-frame posing and the mp4 writer;
- :mod:`~uvatar.animate.rotations`, :mod:`~uvatar.animate.limits`: rotation maths and joint limits.
"""

from uvatar.animate.builtin import BUILTIN_MOTIONS, load_motion
from uvatar.animate.motion import Motion

__all__ = ["Motion", "load_motion", "BUILTIN_MOTIONS"]
