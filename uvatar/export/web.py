"""``uvatar export AVATAR -f web -o DIR``: a folder that plays the avatar in a browser, offline.

``DIR/`` holds:

- ``index.html``: the page (orbit controls, play/pause, frame slider, motion picker);
- ``player.js``: the player, one bundle of three.js + Spark (``@sparkjsdev/spark``, MIT) built by
  ``tools/web-player`` and shipped as package data (``uvatar/data/web/``); every Gaussian is skinned on
  the GPU by Spark's ``SplatSkinning`` (linear blend skinning, 4 bones per Gaussian, bone matrices
  uploaded per frame);
- ``avatar.js``: the data, ``window.UVATAR_WEB = {...}``: the quantized Gaussians and the motions'
  bone matrices (:mod:`uvatar.export.web_encoding`), gzip-compressed, base64 in a script so that the
  page opens from ``file://`` (browsers refuse ``fetch`` of local files) as well as from any static
  server; nothing is fetched from the network;
- ``THIRD_PARTY_LICENSES.txt``: the licences of what ``player.js`` bundles.

The folder is written with :func:`~uvatar.io.atomic.atomic_dir`: it appears whole or not at all.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
from pathlib import Path

from uvatar.errors import InputError
from uvatar.io.atomic import atomic_dir

__all__ = ["WEB_FILES", "PLAYER_DIR", "web_payload", "write_web_player"]

log = logging.getLogger(__name__)

FORMAT = "uvatar.web/1"
#: The package-data folder holding the built player (``tools/web-player``'s output).
PLAYER_DIR = Path(__file__).resolve().parents[1] / "data" / "web"
#: Files copied from :data:`PLAYER_DIR` into every exported folder.
_PLAYER_FILES = ("index.html", "player.js", "THIRD_PARTY_LICENSES.txt")
#: What an exported folder holds.
WEB_FILES = _PLAYER_FILES + ("avatar.js",)
#: The page's background, sRGB in [0, 1].
_BACKGROUND = (0.12, 0.13, 0.15)


def _player_files() -> list[Path]:
    paths = [PLAYER_DIR / name for name in _PLAYER_FILES]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"the web player is not installed ({', '.join(missing)} missing from {PLAYER_DIR}); reinstall UVatar or build it with 'npm ci && npm run build' in tools/web-player")
    return paths


def _motion_entries(motions, body, avatar) -> list[dict]:
    from uvatar.export.web_encoding import encode_motion, motion_transforms

    entries = []
    for name, motion in motions:
        data, header = encode_motion(motion_transforms(motion, body, avatar))
        entries.append({"name": name, "fps": float(motion.fps), "loop": bool(motion.loop), **header, "data": base64.b64encode(data).decode("ascii"), "bytes": len(data)})
    return entries


def web_payload(avatar, body, motions: list[tuple[str, object]], start_motion: str) -> dict:
    """The object ``avatar.js`` assigns to ``window.UVATAR_WEB``.

    Args:
        motions: ``(name, Motion)`` pairs, shown in the page's motion picker in this order.
        start_motion: the name the page plays first.
    """
    from uvatar.export.web_encoding import encode_gaussians, web_gaussians

    data, header = encode_gaussians(web_gaussians(avatar, body))
    return {
        "format": FORMAT,
        "bones": body.n_bones,
        "bone_labels": list(body.bone_labels),
        "start_motion": start_motion,
        "background": list(_BACKGROUND),
        "avatar": {**header, "data": base64.b64encode(data).decode("ascii"), "bytes": len(data)},
        "motions": _motion_entries(motions, body, avatar),
        "frame": "Anny body space: metres, Z up, the body faces -Y (the page turns it Y up)",
    }


def _motions(motion: str | Path | None, body) -> tuple[list[tuple[str, object]], str]:
    """The built-ins (and ``motion``: a built-in name, a .json or a .bvh) with the one to start with."""
    from uvatar.animate import BUILTIN_MOTIONS, load_motion

    motions = [(name, load_motion(name, body)) for name in BUILTIN_MOTIONS]
    if motion is None:
        return motions, "wave"
    text = str(motion)
    if text in BUILTIN_MOTIONS:
        return motions, text
    extra = load_motion(text, body)  # InputError names the file and what is wrong
    name = Path(text).stem or "motion"
    while name in BUILTIN_MOTIONS or name in [n for n, _ in motions]:
        name += "+"
    return [(name, extra)] + motions, name


def write_web_player(source: str | Path, out_dir: str | Path, avatar, body, motion: str | Path | None = None, overwrite: bool = False) -> dict:
    """Write the web player folder ``out_dir`` (module doc) for the avatar file ``source``.

    Args:
        avatar: the loaded :class:`~uvatar.avatar.Avatar` of ``source``; body: the body model.
        motion: a motion to add and start with (built-in name, motion ``.json`` or ``.bvh``; default: wave).
        overwrite: let the folder go into a non-empty folder UVatar did not write (other files kept).
    Returns:
        a summary dict: files, Gaussians, motions and sizes in bytes (the compressed avatar, the
        avatar before compression, ``avatar.js``, ``player.js``, the folder).
    """
    players = _player_files()
    motions, start = _motions(motion, body)  # before any writing: a bad motion leaves nothing behind
    payload = web_payload(avatar, body, motions, start)
    text = "window.UVATAR_WEB = " + json.dumps(payload, separators=(",", ":")) + ";\n"
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        for path in players:
            shutil.copyfile(path, tmp / path.name)
        (tmp / "avatar.js").write_text(text, encoding="ascii")
        sizes = {name: (tmp / name).stat().st_size for name in WEB_FILES}
    summary = {
        "format": "web",
        "out": str(out_dir),
        "open": str(Path(out_dir) / "index.html"),
        "source": str(source),
        "files": list(WEB_FILES),
        "gaussians": len(avatar),
        "motions": [m["name"] for m in payload["motions"]],
        "start_motion": start,
        "bytes": {
            "avatar_gaussians_gzip": payload["avatar"]["bytes"],
            "avatar_gaussians_raw": payload["avatar"]["raw_bytes"],
            "motions_gzip": sum(m["bytes"] for m in payload["motions"]),
            "avatar.js": sizes["avatar.js"],
            "player.js": sizes["player.js"],
            "total": sum(sizes.values()),
        },
    }
    log.info("web player: %d Gaussians, avatar.js %.1f MB, folder %.1f MB", len(avatar), sizes["avatar.js"] / 1e6, summary["bytes"]["total"] / 1e6)
    return summary
