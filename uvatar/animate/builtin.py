"""Built-in motions (``uvatar/data/motions/*.json``, made by ``tools/make_builtin_motions.py``) and one
function that turns a ``--motion`` argument (a built-in name, a motion ``.json`` or a ``.bvh``) into a
:class:`~uvatar.animate.motion.Motion`."""

from __future__ import annotations

from pathlib import Path

from uvatar.animate.motion import Motion
from uvatar.errors import InputError

__all__ = ["BUILTIN_MOTIONS", "builtin_motion_path", "load_motion"]

#: Names of the motions shipped with UVatar (each a 2-4 s loop at 30 fps).
BUILTIN_MOTIONS = ("idle", "wave", "talk", "walk", "turn")

_DIR = Path(__file__).resolve().parents[1] / "data" / "motions"


def builtin_motion_path(name: str) -> Path:
    """Path of the shipped motion ``name`` (one of :data:`BUILTIN_MOTIONS`)."""
    if name not in BUILTIN_MOTIONS:
        raise InputError(f"unknown built-in motion {name!r}; choose one of {', '.join(BUILTIN_MOTIONS)} or pass a .json/.bvh file")
    return _DIR / f"{name}.json"


def load_motion(spec: str | Path, body=None, naming: str = "auto") -> Motion:
    """A motion from a built-in name, a motion ``.json`` or a ``.bvh`` (retargeted onto ``body``).

    Args:
        spec: "wave", "path/to/motion.json" or "path/to/clip.bvh".
        body: :class:`~uvatar.body.model.BodyModel`, needed for ``.bvh`` (loaded when None).
        naming: BVH joint naming: "auto", "mixamo" or "cmu".
    """
    text = str(spec)
    if text in BUILTIN_MOTIONS:
        return Motion.load(builtin_motion_path(text))
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        from uvatar.animate.bvh import read_bvh
        from uvatar.animate.retarget import retarget_bvh

        if body is None:
            from uvatar.body.model import load_body_model

            body = load_body_model()
        clip = read_bvh(path)  # its errors name the file and line
        try:
            return retarget_bvh(clip, body, naming=naming, name=path.stem)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
    if suffix == ".json":
        return Motion.load(path)
    raise InputError(f"--motion {text!r} is neither a built-in ({', '.join(BUILTIN_MOTIONS)}) nor a .json or .bvh file")
