"""Motion: a sequence of Anny body poses at a frame rate, saved as one JSON file.

A motion holds, per frame, what :class:`~uvatar.body.model.BodyParams` needs to pose any body:
``rotvecs (T, J, 3)`` (``local-ref`` rotation vectors, radians, in the rig's bone order),
``translation (T, 3)`` (metres, body space: Z up, the body faces -Y, its left at +X) and optionally
``facial (T, 52)`` (Anny facial actions in [0, 1]). It does not hold a shape: the avatar brings its own.

File format ``uvatar.motion/1`` (JSON, UTF-8; written atomically)::

    {
      "format": "uvatar.motion/1",
      "name": "wave",                     # free text
      "fps": 30.0,                        # frames per second, MIN_FPS to MAX_FPS
      "n_frames": 90,                     # 1 to MAX_FRAMES
      "loop": true,                       # frame n_frames would equal frame 0 (plays seamlessly)
      "rig": {"bone_labels": [...J...],   # Anny "default" rig order the motion was made for
              "facial_labels": [...52...]},
      "bones": ["upperarm01.R", ...],     # the bones the motion drives (others stay at the reference pose)
      "rotvecs": [[[x, y, z], ...], ...], # (n_frames, len(bones), 3) local-ref rotation vectors, radians
      "translation": [[x, y, z], ...],    # (n_frames, 3) metres, or null for none
      "facial_actions": ["jawOpen", ...], # facial actions the motion drives, or null for none
      "facial": [[w, ...], ...],          # (n_frames, len(facial_actions)) weights in [0, 1], or null
      "facial_mode": "replace",           # "replace" the avatar's own expression, or "add" to it
      "meta": {...}                       # how it was made (source video, frames, regime, tool, ...)
    }

Undriven bones and facial actions are zero. Numbers are rounded to 1e-5. Nothing in the file is
executed or unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from uvatar.errors import InputError
from uvatar.io.atomic import atomic_write_text

__all__ = ["Motion", "FORMAT", "MIN_FPS", "MAX_FPS", "MAX_FRAMES"]

FORMAT = "uvatar.motion/1"
_FACIAL_MODES = ("replace", "add")

# Limits on what a motion may hold, so that a crafted or damaged file fails at once with a clear message
# instead of deep inside torch or ffmpeg (which answered 1e300 fps with "Broken pipe").
#: Frame rates, frames per second. No screen or codec shows more than 1000 frames a second; below one
#: frame per 100 s a motion is a slide show, and resampling it to a video rate would multiply its frames
#: by up to 100,000.
MIN_FPS, MAX_FPS = 0.01, 1000.0
#: Most frames: 36,000 is 20 min at 30 fps or 5 min of 120-fps mocap (CMU's longest clips are a few
#: minutes). Retargeting a BVH holds about 50 KB of float64 rotations per frame (1.8 GB at the limit),
#: and rendering that many frames at ~1 s each already takes ten hours.
MAX_FRAMES = 36_000
#: Largest rotation-vector angle, radians. Real motions stay within pi (tracking and retargeting clamp to
#: the joint limits); 100 rad (16 turns) leaves room for hand-written files and refuses values such as
#: 1e38, whose squares overflow float32 and turn every rotation into NaN.
MAX_ANGLE = 100.0
#: Largest translation, metres: a motion moves a person about a room or a street; a kilometre is more
#: than any capture holds, and a camera framing such a path would shrink the body to nothing.
MAX_TRANSLATION_M = 1000.0


@dataclass
class Motion:
    """Poses over time (see the module doc for the file format).

    Attributes:
        fps: frames per second.
        rotvecs: ``(T, J, 3)`` local-ref rotation vectors, radians, columns in ``bone_labels`` order.
        translation: ``(T, 3)`` metres, added after skinning.
        bone_labels: the rig's ``J`` bone labels.
        bones: labels of the bones the motion drives (a subset of ``bone_labels``).
        facial: ``(T, F)`` facial action weights in ``facial_labels`` order, or None.
        facial_labels: the rig's ``F`` facial action labels (kept even without ``facial``).
        facial_mode: "replace" (the motion's face replaces the avatar's) or "add" (added to it).
        loop: True when the motion repeats seamlessly (frame ``T`` would be frame 0).
        name: free text.
        meta: JSON-able notes on how the motion was made.
    """

    fps: float
    rotvecs: torch.Tensor
    translation: torch.Tensor
    bone_labels: list[str]
    bones: list[str]
    facial: torch.Tensor | None = None
    facial_labels: list[str] = field(default_factory=list)
    facial_mode: str = "replace"
    loop: bool = False
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rotvecs = torch.as_tensor(self.rotvecs, dtype=torch.float32)
        self.translation = torch.as_tensor(self.translation, dtype=torch.float32)
        if self.facial is not None:
            self.facial = torch.as_tensor(self.facial, dtype=torch.float32)
        self.validate()

    # ------------------------------------------------------------------ checks and sizes
    def validate(self) -> None:
        """Raise :class:`InputError` on inconsistent shapes, labels or values."""
        _check_fps(self.fps, "motion fps")
        n_bones = len(self.bone_labels)
        if self.rotvecs.dim() != 3 or self.rotvecs.shape[1:] != (n_bones, 3) or self.rotvecs.shape[0] < 1:
            raise InputError(f"motion rotvecs must be (T>=1, {n_bones}, 3); got {tuple(self.rotvecs.shape)}")
        frames = self.n_frames
        if frames > MAX_FRAMES:
            raise InputError(f"the motion has {frames} frames, more than the {MAX_FRAMES} UVatar animates; cut it into shorter motions")
        if tuple(self.translation.shape) != (frames, 3):
            raise InputError(f"motion translation must be ({frames}, 3); got {tuple(self.translation.shape)}")
        unknown = [b for b in self.bones if b not in self.bone_labels]
        if unknown:
            raise InputError(f"motion drives unknown bones {unknown[:5]}; use labels of the Anny default rig")
        if self.facial is not None and tuple(self.facial.shape) != (frames, len(self.facial_labels)):
            raise InputError(
                f"motion facial must be ({frames}, {len(self.facial_labels)}); got {tuple(self.facial.shape)}"
            )
        if self.facial_mode not in _FACIAL_MODES:
            raise InputError(f"motion facial_mode must be one of {_FACIAL_MODES}; got {self.facial_mode!r}")
        self._check_values()
        sources = self.meta.get("source_frames") if isinstance(self.meta, dict) else None
        if sources is not None and not (
            isinstance(sources, list) and len(sources) == frames and all(isinstance(k, int) and k >= 0 for k in sources)
        ):
            raise InputError(f"motion meta source_frames must list one video frame index per motion frame ({frames}); re-make the motion")

    def _check_values(self) -> None:
        """Finite values in range: rotation angles up to MAX_ANGLE, translations up to MAX_TRANSLATION_M, facial in [0, 1]."""
        for name in ("rotvecs", "translation", "facial"):
            value = getattr(self, name)
            if value is not None and not torch.isfinite(value).all():
                raise InputError(f"motion {name} holds NaN or infinite values; re-create the motion")
        angle = float(self.rotvecs.norm(dim=-1).max())
        if not angle <= MAX_ANGLE:  # also refuses an overflowing norm (inf)
            raise InputError(f"motion rotvecs reach an angle of {angle:.4g} rad, more than {MAX_ANGLE:g} rad (real motions stay within pi); re-create the motion")
        if float(self.translation.abs().max()) > MAX_TRANSLATION_M:
            raise InputError(f"motion translation moves {float(self.translation.abs().max()):.4g} m, more than {MAX_TRANSLATION_M:g} m; re-create the motion")
        if self.facial is not None and self.facial.numel() and not (float(self.facial.min()) >= 0 and float(self.facial.max()) <= 1):
            raise InputError(f"motion facial weights must be in [0, 1]; they range {float(self.facial.min()):.4g}..{float(self.facial.max()):.4g}")

    @property
    def n_frames(self) -> int:
        return int(self.rotvecs.shape[0])

    @property
    def duration(self) -> float:
        """Seconds the motion lasts (``n_frames / fps``)."""
        return self.n_frames / self.fps

    # ------------------------------------------------------------------ use
    def frame_index(self, i: int) -> int:
        """Motion frame shown at output frame ``i``: wraps when looping, else holds the last frame."""
        return i % self.n_frames if self.loop else min(i, self.n_frames - 1)

    def check_rig(self, body) -> None:
        """Raise :class:`InputError` unless the motion's rig labels are ``body``'s."""
        if list(self.bone_labels) != list(body.bone_labels):
            raise InputError("the motion was made for another rig (bone labels differ); re-create it for Anny's default rig")
        if self.facial is not None and list(self.facial_labels) != list(body.facial_labels):
            raise InputError("the motion's facial actions differ from the body's; re-create it for this Anny version")

    def resampled_frames(self, fps: float) -> int:
        """Frames the motion has at ``fps`` (its duration times ``fps``, at least 1)."""
        _check_fps(fps, "fps")
        return max(1, int(round(self.duration * fps)))

    def resample(self, fps: float, first: int | None = None) -> "Motion":
        """The same motion at another frame rate (geodesic interpolation of rotations, linear otherwise).

        Args:
            fps: the new frame rate (MIN_FPS to MAX_FPS).
            first: keep only the first ``first`` frames of the result (to render a few frames of a
                long motion); a looping motion cut short no longer loops.
        """
        from uvatar.animate.rotations import interpolate_rotvecs

        frames = self.resampled_frames(fps)
        loop = self.loop
        if first is not None and first < frames:
            frames, loop = max(1, int(first)), False
        if frames > MAX_FRAMES:
            raise InputError(
                f"at {fps:g} fps the motion has {frames} frames, more than the {MAX_FRAMES} UVatar animates; "
                "lower --fps or render fewer with --frames"
            )
        positions = torch.arange(frames, dtype=torch.float64) * (self.fps / fps)
        rotvecs, translation, facial = self.rotvecs, self.translation, self.facial
        if self.loop:  # interpolate towards frame 0 after the last frame
            rotvecs = torch.cat([rotvecs, rotvecs[:1]])
            translation = torch.cat([translation, translation[:1]])
            facial = None if facial is None else torch.cat([facial, facial[:1]])
        positions = positions.clamp(max=rotvecs.shape[0] - 1).float()
        lo = positions.floor().long()
        hi = (lo + 1).clamp(max=rotvecs.shape[0] - 1)
        alpha = (positions - lo.float())[:, None]

        def lerp(values):
            return None if values is None else values[lo] * (1 - alpha) + values[hi] * alpha

        meta = dict(self.meta)
        if "source_frames" in meta:  # nearest source frame of each new frame
            src = meta["source_frames"]
            meta["source_frames"] = [src[min(int(round(float(p))), len(src) - 1)] for p in positions]
        return Motion(
            fps=float(fps), rotvecs=interpolate_rotvecs(rotvecs, positions), translation=lerp(translation),
            bone_labels=list(self.bone_labels), bones=list(self.bones), facial=lerp(facial),
            facial_labels=list(self.facial_labels), facial_mode=self.facial_mode, loop=loop,
            name=self.name, meta=meta,
        )  # fmt: skip

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        driven = [self.bone_labels.index(b) for b in self.bones]
        data = {
            "format": FORMAT,
            "name": self.name,
            "fps": float(self.fps),
            "n_frames": self.n_frames,
            "loop": bool(self.loop),
            "rig": {"bone_labels": list(self.bone_labels), "facial_labels": list(self.facial_labels)},
            "bones": list(self.bones),
            "rotvecs": _rounded(self.rotvecs[:, driven]),
            "translation": _rounded(self.translation) if bool(self.translation.abs().max() > 0) else None,
            "facial_actions": None,
            "facial": None,
            "facial_mode": self.facial_mode,
            "meta": self.meta,
        }
        if self.facial is not None:
            used = [k for k in range(self.facial.shape[1]) if bool(self.facial[:, k].abs().max() > 0)]
            data["facial_actions"] = [self.facial_labels[k] for k in used]
            data["facial"] = _rounded(self.facial[:, used])
        return data

    def save(self, path: str | Path) -> Path:
        """Write the motion as JSON (atomically); returns ``path``."""
        path = Path(path)
        if path.suffix.lower() != ".json":
            raise InputError(f"motions are saved as .json; got {path.name!r}")
        atomic_write_text(path, json.dumps(self.to_dict(), separators=(",", ":")))
        return path

    @classmethod
    def from_dict(cls, data: dict, source: str = "motion") -> "Motion":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise InputError(f"{source} is not a UVatar motion (format {got!r}, expected {FORMAT!r})")
        try:
            rig = data["rig"]
            bone_labels = [str(b) for b in rig["bone_labels"]]
            facial_labels = [str(f) for f in rig.get("facial_labels", [])]
            bones = [str(b) for b in data["bones"]]
            frames = _frame_count(data["n_frames"], source)
            unknown = [b for b in bones if b not in bone_labels]
            if unknown:
                raise InputError(f"{source} drives bones {unknown[:5]} that its rig lacks; re-create the motion")
            rotvecs = torch.zeros(frames, len(bone_labels), 3)
            if bones:
                rotvecs[:, [bone_labels.index(b) for b in bones]] = torch.tensor(data["rotvecs"], dtype=torch.float32).reshape(frames, len(bones), 3)
            translation = torch.zeros(frames, 3)
            if data.get("translation") is not None:
                translation = torch.tensor(data["translation"], dtype=torch.float32).reshape(frames, 3)
            facial = None
            if data.get("facial_actions") is not None:
                actions = [str(a) for a in data["facial_actions"]]
                missing = [a for a in actions if a not in facial_labels]
                if missing:
                    raise InputError(f"{source} drives facial actions {missing[:5]} that its rig lacks")
                facial = torch.zeros(frames, len(facial_labels))
                if actions:
                    facial[:, [facial_labels.index(a) for a in actions]] = torch.tensor(data["facial"], dtype=torch.float32).reshape(frames, len(actions))
            fps = float(data["fps"])
            meta = dict(data.get("meta") or {})
        except (KeyError, TypeError, ValueError, RuntimeError, OverflowError, IndexError, RecursionError) as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            raise InputError(f"{source} is a damaged motion file ({reason}); re-create it") from None
        try:
            return cls(
                fps=fps, rotvecs=rotvecs, translation=translation, bone_labels=bone_labels, bones=bones,
                facial=facial, facial_labels=facial_labels, facial_mode=str(data.get("facial_mode", "replace")),
                loop=bool(data.get("loop", False)), name=str(data.get("name", "")), meta=meta,
            )  # fmt: skip
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> "Motion":
        """Read a motion JSON written by :meth:`save` (or a built-in one)."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"no motion file at {path}; pass a .json written by 'uvatar motion' or a built-in name")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except RecursionError:  # json.loads recurses once per nesting level
            raise InputError(f"cannot read motion {path}: its JSON is nested too deeply; pass a motion .json written by UVatar") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read motion {path}: {exc}; pass a motion .json") from None
        return cls.from_dict(data, source=str(path))


def _check_fps(fps, what: str) -> None:
    """Raise :class:`InputError` unless ``fps`` is a number in [MIN_FPS, MAX_FPS] (NaN fails too)."""
    if not (isinstance(fps, (int, float)) and MIN_FPS <= fps <= MAX_FPS):
        raise InputError(f"{what} must be between {MIN_FPS:g} and {MAX_FPS:g} frames per second; got {fps!r}")


def _frame_count(value, source: str) -> int:
    """``n_frames`` of a motion file as an int in 1..MAX_FRAMES (checked before any tensor is made)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (1 <= value <= MAX_FRAMES) or value != int(value):
        raise InputError(f"{source}: n_frames must be a whole number from 1 to {MAX_FRAMES}; got {value!r}")
    return int(value)


def _rounded(values: torch.Tensor) -> list:
    return torch.round(values.detach().cpu().double() * 1e5).div(1e5).tolist()
