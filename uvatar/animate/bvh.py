"""BVH motion-capture files: a parser and forward kinematics (no retargeting here; see ``retarget.py``).

Format (Biovision Hierarchy)::

    HIERARCHY
    ROOT Hips
    {
        OFFSET 0 0 0
        CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
        JOINT LeftUpLeg
        {
            OFFSET 9 0 0
            CHANNELS 3 Zrotation Xrotation Yrotation
            End Site
            {
                OFFSET 0 -40 0
            }
        }
    }
    MOTION
    Frames: 2
    Frame Time: 0.033333
    0 90 0 0 0 0 0 0 0
    0 90 0 0 0 45 0 0 0

Conventions read here: channels may come in any order and per joint; rotations are degrees and compose
in channel order, ``R = R_first @ R_second @ R_third`` (``"Zrotation Xrotation Yrotation"`` gives
``Rz Rx Ry``), each about the parent-frame axis as seen by column vectors, so a joint maps points
of its frame to its parent's as ``x_parent = R x + t``. A joint's translation ``t`` is its OFFSET,
unless it has position channels: then those values are its translation (an axis without a channel
keeps the OFFSET value), as Blender's importer reads them. The rest pose is all rotations zero and
every translation its OFFSET. Units are whatever the file uses (centimetres for Mixamo, 1/0.45 inch
for the CMU conversions); :func:`parse_bvh` does not scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from uvatar.errors import InputError

__all__ = ["BvhJoint", "BvhClip", "parse_bvh", "read_bvh", "MAX_JOINTS", "MAX_DEPTH"]

_CHANNELS = ("xposition", "yposition", "zposition", "xrotation", "yrotation", "zrotation")


@dataclass
class BvhJoint:
    """One joint: ``name``, ``parent`` index (-1 for the root), ``offset (3,)``, ``channels`` (as in the
    file, e.g. ``["Zrotation", "Xrotation", "Yrotation"]``), ``end_site (3,)`` offset or None."""

    name: str
    parent: int
    offset: torch.Tensor
    channels: list[str] = field(default_factory=list)
    end_site: torch.Tensor | None = None

    @property
    def rotation_order(self) -> str:
        """Axes of the rotation channels in file order, e.g. ``"ZXY"`` ('' without rotation channels)."""
        return "".join(c[0].upper() for c in self.channels if c.lower().endswith("rotation"))


@dataclass
class BvhClip:
    """A parsed BVH file.

    Attributes:
        joints: in file order (a parent before its children).
        frame_time: seconds per frame.
        values: ``(T, C)`` float64 channel values per frame, joints' channels concatenated in file order.
    """

    joints: list[BvhJoint]
    frame_time: float
    values: torch.Tensor

    @property
    def n_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.joints]

    @property
    def parents(self) -> list[int]:
        return [j.parent for j in self.joints]

    def index(self, name: str) -> int:
        return self.names.index(name)

    def children(self, j: int) -> list[int]:
        return [k for k, joint in enumerate(self.joints) if joint.parent == j]

    def local_transforms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame local rotations ``(T, J, 3, 3)`` and translations ``(T, J, 3)`` (file units)."""
        from uvatar.animate.rotations import euler_to_rotmat

        frames = self.n_frames
        rotations = torch.eye(3, dtype=torch.float64).repeat(frames, len(self.joints), 1, 1)
        translations = torch.stack([j.offset for j in self.joints]).double().repeat(frames, 1, 1)
        column = 0
        for k, joint in enumerate(self.joints):
            rot_cols, rot_axes = [], ""
            for name in joint.channels:
                kind = name.lower()
                if kind.endswith("position"):
                    translations[:, k, "xyz".index(kind[0])] = self.values[:, column]
                else:
                    rot_cols.append(column)
                    rot_axes += kind[0].upper()
                column += 1
            if rot_cols:
                rotations[:, k] = euler_to_rotmat(self.values[:, rot_cols], rot_axes)
        return rotations, translations

    def forward_kinematics(self, rest: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """World rotations ``(T, J, 3, 3)`` and joint positions ``(T, J, 3)`` (file axes and units).

        With ``rest=True``: the rest pose, ``T = 1`` (identity rotations, OFFSET translations).
        """
        if rest:
            rotations = torch.eye(3, dtype=torch.float64).repeat(1, len(self.joints), 1, 1)
            translations = torch.stack([j.offset for j in self.joints]).double()[None]
        else:
            rotations, translations = self.local_transforms()
        world_r, world_p = [None] * len(self.joints), [None] * len(self.joints)
        for k, joint in enumerate(self.joints):
            if joint.parent < 0:
                world_r[k], world_p[k] = rotations[:, k], translations[:, k]
            else:
                p = joint.parent
                world_r[k] = world_r[p] @ rotations[:, k]
                world_p[k] = world_p[p] + (world_r[p] @ translations[:, k, :, None])[..., 0]
        return torch.stack(world_r, 1), torch.stack(world_p, 1)

    def end_points(self, world_r: torch.Tensor, world_p: torch.Tensor) -> torch.Tensor:
        """World positions ``(T, E, 3)`` of the End Sites (joints with one, in joint order)."""
        ends = [(k, j.end_site) for k, j in enumerate(self.joints) if j.end_site is not None]
        if not ends:
            return world_p[:, :0]
        return torch.stack([world_p[:, k] + (world_r[:, k] @ site.double()) for k, site in ends], 1)


#: Most joints a skeleton may have: Mixamo rigs have 65 (with fingers), CMU's 31, detailed face rigs a
#: few hundred; forward kinematics takes one step per joint.
MAX_JOINTS = 1000
#: Deepest nesting of joints: hips to fingertip is about 12 joints in a human rig; 100 leaves room for
#: tails and long spines and refuses crafted chains thousands deep.
MAX_DEPTH = 100


class _Tokens:
    """Whitespace tokens of the hierarchy, read line by line (for one-line error messages naming the line).

    Only the current line is split; the frame values after ``Frame Time:`` are read by
    :meth:`data_lines` without being turned into tokens.
    """

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.next_line = 0  # index of the next line to split
        self.row = 0  # 1-based number of the line in ``items``
        self.items: list[str] = []  # tokens of line ``row``
        self.pos = 0  # next token in ``items``
        self.source = source

    def error(self, message: str) -> InputError:
        return InputError(f"{self.source}: line {self.row}: {message}; pass a valid BVH file")

    def _fill(self) -> bool:
        """Move to the next line with tokens when this one is used up; False at the end of the file."""
        while self.pos >= len(self.items):
            if self.next_line >= len(self.lines):
                return False
            self.items = self.lines[self.next_line].replace("{", " { ").replace("}", " } ").split()
            self.next_line += 1
            self.row, self.pos = self.next_line, 0
        return True

    def peek(self) -> str | None:
        return self.items[self.pos] if self._fill() else None

    def next(self, what: str) -> str:
        if not self._fill():
            raise self.error(f"file ends where {what} was expected")
        tok = self.items[self.pos]
        self.pos += 1
        return tok

    def expect(self, word: str) -> None:
        tok = self.next(repr(word))
        if tok.lower() != word.lower():
            self.pos -= 1
            raise self.error(f"expected {word!r}, found {tok!r}")

    def number(self, what: str) -> float:
        tok = self.next(what)
        try:
            value = float(tok)
        except ValueError:
            self.pos -= 1
            raise self.error(f"expected a number ({what}), found {tok!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            self.pos -= 1
            raise self.error(f"{what} is not finite")
        return value

    def rest_of_line(self) -> str:
        """The remaining tokens of the last token's line up to a ``{`` (a joint's name)."""
        words = []
        while self.pos < len(self.items) and self.items[self.pos] != "{":
            words.append(self.items[self.pos])
            self.pos += 1
        return " ".join(words)

    def data_lines(self) -> list[tuple[int, str]]:
        """``(line number, text)`` of the non-blank lines after the last token (the frame values)."""
        rows = []
        if self.pos < len(self.items):  # values on the line of the last token
            rows.append((self.row, " ".join(self.items[self.pos :])))
        rows += [(n, line) for n, line in enumerate(self.lines[self.next_line :], self.next_line + 1) if line.strip()]
        return rows


def parse_bvh(text: str, source: str = "BVH") -> BvhClip:
    """Parse BVH text (see the module doc); errors raise :class:`InputError` naming the line.

    Limits (a crafted file fails at once): at most :data:`MAX_JOINTS` joints nested at most
    :data:`MAX_DEPTH` deep, at least one channel, 1 to :data:`~uvatar.animate.motion.MAX_FRAMES`
    frames, a frame time for :data:`~uvatar.animate.motion.MIN_FPS` to ``MAX_FPS`` frames per second,
    and exactly one line of one value per channel for each frame.
    """
    from uvatar.animate.motion import MAX_FPS, MAX_FRAMES, MIN_FPS

    toks = _Tokens(text, source)
    toks.expect("HIERARCHY")
    joints = _parse_hierarchy(toks)
    if toks.peek() is not None and toks.peek().upper() == "ROOT":
        raise toks.error("several ROOT skeletons in one file are not supported")
    n_channels = sum(len(j.channels) for j in joints)
    if n_channels == 0:
        raise toks.error("the skeleton has no channels, so the file holds no motion")
    toks.expect("MOTION")
    toks.expect("Frames:")
    frames = toks.number("the frame count")
    if frames < 0 or frames != int(frames):
        raise toks.error(f"the frame count must be a whole number >= 0, got {frames:.15g}")
    if frames > MAX_FRAMES:
        raise InputError(f"{source}: line {toks.row}: 'Frames: {frames:.15g}' is more than the {MAX_FRAMES} frames UVatar animates; cut the clip into shorter ones")
    toks.expect("Frame")
    toks.expect("Time:")
    frame_time = toks.number("the frame time")
    if not 1.0 / MAX_FPS <= frame_time <= 1.0 / MIN_FPS:
        raise toks.error(
            f"the frame time must be {1.0 / MAX_FPS:g} to {1.0 / MIN_FPS:g} seconds ({MIN_FPS:g} to {MAX_FPS:g} frames per second), got {frame_time:g}"
        )
    if frames == 0:
        raise InputError(f"{source} has no frames (Frames: 0); pass a BVH with motion")
    values = _frame_values(toks.data_lines(), int(frames), n_channels, source)
    return BvhClip(joints, frame_time, torch.from_numpy(values))


def _frame_values(rows: list[tuple[int, str]], frames: int, n_channels: int, source: str) -> np.ndarray:
    """``(frames, n_channels)`` float64 values from ``(line number, text)`` rows, one row per frame."""
    if len(rows) < frames:
        have = sum(len(text.split()) for _, text in rows)
        raise InputError(
            f"{source}: {frames} frames of {n_channels} channels need {frames * n_channels} numbers but the file "
            f"has {have} on {len(rows)} lines; pass a valid BVH file"
        )
    if len(rows) > frames:
        raise InputError(f"{source}: line {rows[frames][0]}: more frame values than 'Frames: {frames}' announces; fix the frame count")
    values = np.empty((frames, n_channels), dtype=np.float64)
    for k, (line, text) in enumerate(rows):
        words = text.split()
        if len(words) != n_channels:
            raise InputError(f"{source}: line {line}: frame {k + 1} has {len(words)} values but the skeleton has {n_channels} channels; pass a valid BVH file")
        try:
            values[k] = np.asarray(words, dtype=np.float64)
        except ValueError:
            bad = next(tok for tok in words if not _is_number(tok))
            raise InputError(f"{source}: line {line}: frame value {bad!r} is not a number; pass a valid BVH file") from None
    if not np.isfinite(values).all():
        raise InputError(f"{source}: a frame value is NaN or infinite; pass a valid BVH file")
    return values


def _parse_hierarchy(toks: _Tokens) -> list[BvhJoint]:
    """Joints of the ``ROOT`` skeleton in file order, read without recursion (depth is bounded)."""
    joints: list[BvhJoint] = []
    names: set[str] = set()
    toks.expect("ROOT")
    open_joints = [_open_joint(toks, joints, names, parent=-1)]  # joints whose '}' is still to come
    while open_joints:
        tok = toks.next("JOINT, End Site or '}'")
        upper = tok.upper()
        if upper == "}":
            open_joints.pop()
        elif upper == "JOINT":
            if len(open_joints) >= MAX_DEPTH:
                raise toks.error(f"joints are nested more than {MAX_DEPTH} deep (a body's skeleton is far shallower)")
            if len(joints) >= MAX_JOINTS:
                raise toks.error(f"the skeleton has more than {MAX_JOINTS} joints (a body's skeleton has far fewer)")
            open_joints.append(_open_joint(toks, joints, names, parent=open_joints[-1]))
        elif upper == "END":
            _end_site(toks, joints[open_joints[-1]])
        else:
            toks.pos -= 1
            raise toks.error(f"expected JOINT, End Site or '}}', found {tok!r}")
    return joints


def _open_joint(toks: _Tokens, joints: list[BvhJoint], names: set[str], parent: int) -> int:
    """Read a joint's name, ``{``, OFFSET and CHANNELS; append it to ``joints`` and return its index."""
    name = toks.rest_of_line()
    if not name:
        raise toks.error("a joint needs a name")
    if name in names:
        raise toks.error(f"joint name {name!r} appears twice")
    toks.expect("{")
    toks.expect("OFFSET")
    offset = torch.tensor([toks.number("OFFSET x"), toks.number("OFFSET y"), toks.number("OFFSET z")], dtype=torch.float64)
    channels: list[str] = []
    if (toks.peek() or "").upper() == "CHANNELS":
        toks.next("CHANNELS")
        n = toks.number("the channel count")
        if n != int(n) or not 0 <= n <= 6:
            raise toks.error(f"a joint has 0 to 6 channels, got {n:g}")
        for _ in range(int(n)):
            channel = toks.next("a channel name")
            if channel.lower() not in _CHANNELS:
                toks.pos -= 1
                raise toks.error(f"unknown channel {channel!r}; expected one of Xposition .. Zrotation")
            channels.append(channel)
        if len({c.lower() for c in channels}) != len(channels):
            raise toks.error(f"joint {name!r} repeats a channel")
    names.add(name)
    joints.append(BvhJoint(name, parent, offset, channels))
    return len(joints) - 1


def _end_site(toks: _Tokens, joint: BvhJoint) -> None:
    """Read ``Site { OFFSET x y z }`` after ``End``; the joint keeps its first End Site."""
    toks.expect("Site")
    toks.expect("{")
    toks.expect("OFFSET")
    site = torch.tensor([toks.number("End Site x"), toks.number("End Site y"), toks.number("End Site z")], dtype=torch.float64)
    toks.expect("}")
    if joint.end_site is None:
        joint.end_site = site


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def read_bvh(path: str | Path) -> BvhClip:
    """Read and parse a ``.bvh`` file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no BVH file at {path}; pass the path of a .bvh motion")
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    return parse_bvh(text, source=str(path))
