"""Exports that other tools can use: 3DGS ``.ply``, a rigged textured ``.glb``, the documented bundle,
and a web player folder.

>>> sorted(FORMATS)
['bundle', 'glb', 'ply', 'web']
"""

from __future__ import annotations

from pathlib import Path

from uvatar.errors import InputError
from uvatar.export.rig import BIND_POSES

__all__ = ["FORMATS", "BIND_POSES", "export_avatar", "posed_vertices"]

#: Export formats and what each writes.
FORMATS = {
    "ply": "3D Gaussian Splatting .ply of the avatar in the chosen pose (Anny body space: metres, Z up)",
    "glb": "rigged glTF 2.0 binary: body mesh with skin weights, skeleton and the baked colour texture",
    "bundle": "folder: avatar.uvatar + body.glb + README.md + layout.json (how to animate the Gaussians)",
    "web": "folder: index.html that plays the avatar in a browser (GPU skinning, offline, opens from disk)",
}
_SUFFIX = {"ply": ".ply", "glb": ".glb"}


def posed_vertices(body, avatar, pose: str):
    """``(V, 3)`` body vertices of the avatar's shape in a named pose (:data:`BIND_POSES`)."""
    from uvatar.export.rig import bind_pose

    return bind_pose(body, avatar, pose).vertices


def _file_target(out: Path, fmt: str) -> Path:
    suffix = _SUFFIX[fmt]
    if out.is_dir():
        return out / f"avatar{suffix}"
    if out.suffix.lower() != suffix:
        raise InputError(f"--format {fmt} writes a {suffix} file; name the output like {out.with_suffix(suffix)}")
    return out


def export_avatar(source: str | Path, fmt: str, out: str | Path, pose: str = "rest", texture_size: int = 1024, body=None,
                  overwrite: bool = False, motion: str | Path | None = None) -> dict:
    """Export the avatar file ``source`` (``.uvatar``) as ``fmt`` to ``out``.

    Args:
        source: an ``avatar.uvatar`` written by ``uvatar reconstruct``.
        fmt: a key of :data:`FORMATS`.
        out: a ``.ply`` / ``.glb`` file (or an existing folder to write ``avatar.<ext>`` into), or the
            bundle's folder (checked by :func:`~uvatar.io.output_dir.check_output_dir`).
        pose: ``rest`` (Anny's rest A-pose, the skin's bind pose), ``reference`` or ``tpose``.
        texture_size: texels per side of the baked texture (glb, bundle).
        body: the body model (loaded when None).
        overwrite: let the bundle or web folder go into a non-empty folder UVatar did not write (other files kept).
        motion: ``web`` only: a motion to add and start with (built-in name, ``.json`` or ``.bvh``).
    Returns:
        a summary dict (what was written, counts, bytes).
    Raises:
        InputError: unknown format or pose, a file that is not an avatar, a wrong output suffix.
    """
    import torch

    from uvatar.avatar import Avatar

    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if pose not in BIND_POSES:
        raise InputError(f"unknown pose {pose!r}; choose one of {', '.join(BIND_POSES)}")
    if fmt in ("bundle", "web") and pose != "rest":
        raise InputError(f"--format {fmt} is always bound in the rest pose; drop --pose for --format {fmt}")
    if motion is not None and fmt != "web":
        raise InputError(f"--motion is for --format web; --format {fmt} holds no motion")
    source, out = Path(source), Path(out)
    if source.suffix.lower() == ".ply":
        raise InputError(f"{source} is a .ply; export reads the avatar.uvatar bundle written by 'uvatar reconstruct'")
    if fmt in ("bundle", "web"):
        from uvatar.io.output_dir import check_output_dir

        check_output_dir(out, inputs=[source], overwrite=overwrite)
    target = out if fmt in ("bundle", "web") else _file_target(out, fmt)
    avatar = Avatar.load(source)
    if body is None:
        from uvatar.body.model import load_body_model

        body = load_body_model()
    if fmt == "web":
        from uvatar.export.web import write_web_player

        return write_web_player(source, target, avatar, body, motion=motion, overwrite=overwrite)
    if fmt == "bundle":
        from uvatar.export.bundle import write_bundle

        return write_bundle(source, target, avatar, body, texture_size=texture_size, overwrite=overwrite)
    if fmt == "glb":
        from uvatar.export.glb import export_glb

        return export_glb(avatar, body, target, pose=pose, texture_size=texture_size)
    from uvatar.io.ply import write_gaussian_ply

    with torch.no_grad():
        gaussians = avatar.on_vertices(posed_vertices(body, avatar, pose), body.faces)
        write_gaussian_ply(target, gaussians.to_ply_cloud())
    return {"format": "ply", "out": str(target), "pose": pose, "gaussians": len(avatar), "bytes": target.stat().st_size}
