"""Subjects with ground truth: an input view (the TRUE body and camera) and truth views around it.

What decoder training and evaluation read, before any projection (that is :mod:`uvatar.train.data`'s
job). Every reader is indexable (``reader.raw(i)`` -> :class:`RawSubject`) and says what it is
(``describe()``):

* :class:`SyntheticSubjects` (``synthetic:N``): the synthetic subjects of :mod:`uvatar.data.photo`
  (seed ``seed + i``); the input view is the scene's own camera, the truth views are that camera turned
  about the body by ``azimuths`` (0 = the input view, 90 / 270 = sides, 180 = back). Framings cycle
  half, head, half, full. ``synthetic-view-lit:N``: the same subjects, each truth view lit by the key light
  turned with its camera (as a person turning before a fixed camera and lamp: the real turnaround clip's
  case, and an avatar's baked colours seen from any side); ``synthetic:N`` keeps the light fixed in the
  world, so the back views lie in the light's shadow.
* :class:`ShardSubjects` (a folder written by ``uvatar synth``, read through :mod:`uvatar.data.shards` and
  :mod:`uvatar.data.samples`): the input is the subject's most frontal view, every view is a truth view.
* :class:`ClipSubjects` (a folder written by ``uvatar clips``: frames, tracked fits, person masks and the
  directed pair graph of :mod:`uvatar.data.clips`): every frame with outgoing edges is an input; its truth
  views are itself and the frames its edges point to, each posed on its OWN fitted body and camera and
  weighted by the edge. These views are weakly correlated (``exact=False``), so
  :func:`directed_weight` keeps only those no more reliable than the input.
* ``A+B`` (:class:`MixedSubjects`): the subjects of several readers one after the other.

The 19:1 train/validation split is by subject: :func:`split_indices`.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from uvatar.camera import Camera, framed_centre, orbit_camera
from uvatar.data.lighting import turned_direction
from uvatar.data.photo import render_scene, synthetic_scene
from uvatar.data.samples import decode_view
from uvatar.data.shards import read_shard
from uvatar.errors import InputError
from uvatar.io.image import area_resize, load_image
from uvatar.track.proxyfit import ProxyFit
from uvatar.track.view import FittedView

__all__ = [
    "TrainView", "RawSubject", "render_synthetic_subject", "SyntheticSubjects", "ShardSubjects", "ClipSubjects",
    "MixedSubjects", "open_subjects", "split_indices", "directed_weight", "view_azimuth_label", "VALIDATION_EVERY",
    "SYNTHETIC_FRAMINGS",
]  # fmt: skip


VALIDATION_EVERY = 20  # subject i is in the validation split when i % 20 == 19 (19:1)
SYNTHETIC_FRAMINGS = ("half", "head", "half", "full")
#: View reliability for directed consistency, most reliable first (labels of :mod:`uvatar.data.cameras`).
VIEW_ORDER = ("input", "front", "near", "three_quarter", "side", "back")


@dataclass
class TrainView:
    """One ground-truth view: ``image (H, W, 3)`` over white, ``mask (H, W)`` coverage in [0, 1], camera.

    ``vertices (V, 3)``: the body posed as in this view when it differs from the subject's (clip frames);
    None: the subject's own ``vertices``.
    """

    image: torch.Tensor
    mask: torch.Tensor
    camera: Camera
    label: str
    azimuth: float = 0.0
    weight: float = 1.0
    vertices: torch.Tensor | None = None


@dataclass
class RawSubject:
    """One subject before projection: its input :class:`~uvatar.track.view.FittedView` (true body and
    camera; person mask binarised at 0.5) and its truth views."""

    key: str
    framing: str
    view: FittedView
    views: list[TrainView]
    exact: bool = True
    info: dict = field(default_factory=dict)


def split_indices(n: int, part: str) -> list[int]:
    """Subject indices of the ``"train"`` or ``"val"`` part (19:1 by subject; ``"all"``: every subject)."""
    if part == "all":
        return list(range(n))
    val = [i for i in range(n) if i % VALIDATION_EVERY == VALIDATION_EVERY - 1]
    if part == "val":
        return val
    if part == "train":
        return [i for i in range(n) if i % VALIDATION_EVERY != VALIDATION_EVERY - 1]
    raise InputError(f"split part must be 'train', 'val' or 'all'; got {part!r}")


def directed_weight(source_label: str, target_label: str, exact: bool) -> float:
    """Weight of the loss on a target view given the input view (directed cross-view consistency).

    Exact multi-view renders (``exact``) constrain every view (1.0). Weakly correlated views (generated
    clips) only constrain views that are no more reliable than the source (front -> side -> back); a
    constraint never flows back towards a more reliable view (0.0).
    """
    if exact:
        return 1.0
    rank = {label: i for i, label in enumerate(VIEW_ORDER)}
    return 1.0 if rank.get(target_label, len(VIEW_ORDER)) >= rank.get(source_label, 0) else 0.0


def _over_white(image: np.ndarray, cover: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    out = np.clip(image + (1.0 - cover[..., None]), 0, 1).astype(np.float32)
    return torch.from_numpy(out), torch.from_numpy(cover.astype(np.float32))


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random background: a vertical gradient between two colours plus low-frequency noise."""
    a, b = rng.uniform(0.1, 0.95, 3), rng.uniform(0.1, 0.95, 3)
    t = np.linspace(0, 1, height)[:, None, None]
    grid = rng.normal(0, 0.05, (4, 4, 3))
    noise = torch.nn.functional.interpolate(torch.as_tensor(grid).permute(2, 0, 1)[None], size=(height, width), mode="bicubic", align_corners=True)
    return np.clip(a * (1 - t) + b * t + noise[0].permute(1, 2, 0).numpy(), 0, 1)


def render_synthetic_subject(body, seed: int, framing: str, size: int, azimuths=(0.0, 90.0, 180.0, 270.0), view_lit: bool = False) -> RawSubject:
    """A synthetic subject of :mod:`uvatar.data.photo` with truth views about the body.

    The input photo is the scene's own view over a random smooth background with mild sensor noise; the
    truth views are that camera turned by ``azimuths`` (:func:`uvatar.camera.orbit_camera`) about the
    vertical through the centre of what it frames (:func:`uvatar.camera.framed_centre`: a head photo's
    side and back views show the head), rendered over white; ``view_lit``: each lit by the key light
    turned with its camera (:func:`uvatar.data.lighting.turned_direction`), else by the scene's light fixed in
    the world.
    """
    scene = synthetic_scene(body, seed, framing, size)
    pivot = framed_centre(scene.camera, scene.vertices)[None]
    views = []
    for azimuth in azimuths:
        camera = orbit_camera(scene.camera, pivot, azimuth)
        lit = replace(scene, light=turned_direction(scene.light, azimuth)) if view_lit else scene
        image, cover = render_scene(body, lit, camera)
        white, mask = _over_white(image, cover)
        views.append(TrainView(white, mask, camera, view_azimuth_label(azimuth), float(azimuth)))
    rng = np.random.default_rng([seed, 7, size])
    image, cover = render_scene(body, scene, scene.camera)
    photo = image + (1 - cover[..., None]) * _background(rng, cover.shape[0], cover.shape[1])
    photo = np.clip(photo + rng.normal(0, 0.008, photo.shape), 0, 1).astype(np.float32)
    view = FittedView(photo, (cover >= 0.5).astype(np.float32), scene.params, scene.vertices, scene.camera)
    return RawSubject(f"synthetic-{seed}-{framing}", framing, view, views, True, {"seed": int(seed)})


class SyntheticSubjects:
    """``n`` synthetic subjects rendered in memory (module docstring).

    Args:
        body: BodyModel.
        n: number of subjects; size: image side in pixels; seed: seed of subject 0.
        azimuths: truth views, degrees about the body from the input camera (0 = the input view).
        framings: framings cycled over the subjects.
    """

    def __init__(self, body, n: int, size: int = 128, seed: int = 0, azimuths=(0.0, 90.0, 180.0, 270.0),
                 framings=SYNTHETIC_FRAMINGS, view_lit: bool = False) -> None:  # fmt: skip
        self.body = body
        if n < 1:
            raise InputError(f"synthetic:N needs N >= 1; got {n}")
        self.n, self.size, self.seed = int(n), int(size), int(seed)
        self.azimuths, self.framings = tuple(float(a) for a in azimuths), tuple(framings)
        self.view_lit = bool(view_lit)

    def __len__(self) -> int:
        return self.n

    def describe(self) -> dict:
        return {"kind": "synthetic", "n": self.n, "size": self.size, "seed": self.seed, "azimuths": list(self.azimuths), "framings": list(self.framings),
                "view_lit": self.view_lit}  # fmt: skip

    def raw(self, index: int) -> RawSubject:
        framing = self.framings[index % len(self.framings)]
        return render_synthetic_subject(self.body, self.seed + index, framing, self.size, self.azimuths, self.view_lit)


class ShardSubjects:
    """Subjects of a ``uvatar synth`` folder (``OUT/shards/shard-*.tar``).

    Views are resized so that their longer side is ``size`` pixels. The input view is the subject's most
    frontal one (smallest ``|azimuth_deg|``). Views are exact renders, so every view has weight 1.
    """

    def __init__(self, body, root: str | Path, size: int = 128) -> None:
        self.body = body
        self.root, self.size = Path(root), int(size)
        tars = sorted((self.root / "shards").glob("shard-*.tar"))
        tars = [t for t in tars if t.with_suffix(".json").is_file()]  # complete shards only
        if not tars:
            raise InputError(f"{root} holds no complete shards (shards/shard-*.tar with its .json); run 'uvatar synth' first")
        self._subjects: list[tuple[Path, str]] = []
        for tar in tars:
            with tarfile.open(tar, "r") as handle:
                keys = []
                for name in handle.getnames():
                    key = name.rsplit("/", 1)[-1].partition(".")[0]
                    if "_" not in key and key not in keys:
                        keys.append(key)
            self._subjects += [(tar, k) for k in keys]
        self._shard_cache: tuple[Path, dict] | None = None

    def __len__(self) -> int:
        return len(self._subjects)

    def describe(self) -> dict:
        return {"kind": "shards", "root": str(self.root), "n": len(self), "size": self.size}

    def _samples(self, tar: Path) -> dict:
        if self._shard_cache is None or self._shard_cache[0] != tar:
            self._shard_cache = (tar, dict(read_shard(tar)))
        return self._shard_cache[1]

    def raw(self, index: int) -> RawSubject:
        tar, key = self._subjects[index]
        samples = self._samples(tar)
        view_keys = sorted(k for k in samples if k.startswith(key + "_"))
        if not view_keys:
            raise InputError(f"subject {key} of {tar} has no views; the shard is damaged: regenerate it")
        decoded = [decode_view(samples[k]) for k in view_keys]
        with torch.no_grad():
            vertices = self.body.forward(decoded[0].params).vertices[0].cpu()
        first = min(range(len(decoded)), key=lambda i: abs(float(decoded[i].info.get("azimuth_deg", 0.0))))
        input_azimuth = float(decoded[first].info.get("azimuth_deg", 0.0))
        views, photo_view = [], None
        for i, view in enumerate(decoded):
            image, mask, camera = self._resize(view)
            relative = float(view.info.get("azimuth_deg", 0.0)) - input_azimuth
            label = "input" if i == first else view_azimuth_label(relative if abs(relative % 360) > 1e-6 else 1e-3)
            white = image * mask[..., None] + (1 - mask[..., None])
            views.append(TrainView(white, mask, camera, label, relative % 360))
            if i == first:
                photo_view = (image, mask, camera, view.params)
        image, mask, camera, params = photo_view
        framing = str(decoded[first].info.get("framing", "half"))
        view = FittedView(image.numpy().astype(np.float32), (mask.numpy() >= 0.5).astype(np.float32), params, vertices, camera)
        return RawSubject(key, framing, view, views, True, {"shard": tar.name})

    def _resize(self, view) -> tuple[torch.Tensor, torch.Tensor, Camera]:
        h, w = view.mask.shape
        scale = self.size / max(h, w)
        width, height = max(1, round(w * scale)), max(1, round(h * scale))
        image = torch.as_tensor(view.image)
        mask = torch.as_tensor(view.mask)
        if (width, height) != (w, h):
            image = torch.nn.functional.interpolate(image.permute(2, 0, 1)[None], size=(height, width), mode="area")[0].permute(1, 2, 0)
            mask = torch.nn.functional.interpolate(mask[None, None], size=(height, width), mode="area")[0, 0]
        return image.contiguous(), mask.contiguous(), view.camera.resized(width, height)


class ClipSubjects:
    """Subjects from ``uvatar clips`` output (module docstring): one per frame that supervises others.

    Args:
        root: a clip folder (``graph.json`` in it) or a folder of them (``*/graph.json``).
        size: frames and masks are resized so that their longer side is ``size`` pixels.
    """

    def __init__(self, body, root: str | Path, size: int = 128) -> None:
        self.body = body
        self.root, self.size = Path(root), int(size)
        folders = [self.root] if (self.root / "graph.json").is_file() else sorted(p.parent for p in self.root.glob("*/graph.json"))
        if not folders:
            raise InputError(f"{root} holds no ingested clip (graph.json); run 'uvatar clips VIDEO -o {root}' first")
        self._subjects: list[tuple[Path, list[dict], int, list[dict]]] = []
        for folder in folders:
            frames = json.loads((folder / "views.json").read_text())["frames"]
            missing = [n["name"] for n in frames if n.get("view") and not (folder / "masks" / f"{n['name']}.png").is_file()]
            if missing:
                raise InputError(f"{folder} has no person masks (masks/{missing[0]}.png); ingest the clip again with this version of 'uvatar clips'")
            out_edges: dict[int, list[dict]] = {}
            for edge in json.loads((folder / "graph.json").read_text())["edges"]:
                out_edges.setdefault(int(edge["src"]), []).append(edge)
            self._subjects += [(folder, frames, src, out_edges[src]) for src in sorted(out_edges)]
        if not self._subjects:
            raise InputError(f"the clips in {root} have no directed pairs (no frame supervises another); ingest longer clips")

    def __len__(self) -> int:
        return len(self._subjects)

    def describe(self) -> dict:
        return {"kind": "clips", "root": str(self.root), "n": len(self), "size": self.size,
                "views": sum(1 + len(edges) for *_, edges in self._subjects)}  # fmt: skip

    def _frame(self, folder: Path, node: dict):
        """``(image (h, w, 3), mask (h, w), camera, params, vertices (V, 3))`` of a fitted frame at ``size``."""
        image = load_image(folder / "frames" / f"{node['name']}.jpg", max_side=None).rgb
        mask = load_image(folder / "masks" / f"{node['name']}.png", max_side=None).rgb[..., 0]
        fit = ProxyFit.load(folder / "fits" / f"{node['name']}.json")
        h, w = mask.shape
        scale = self.size / max(h, w)
        width, height = max(1, round(w * scale)), max(1, round(h * scale))
        with torch.no_grad():
            vertices = self.body.forward(fit.params.detach()).vertices[0].cpu()
        image_t, mask_t = area_resize(image, width, height), area_resize(mask, width, height)[..., 0]
        return image_t.numpy(), mask_t.numpy(), fit.camera.resized(width, height), fit.params.detach(), vertices

    def raw(self, index: int) -> RawSubject:
        folder, frames, src, edges = self._subjects[index]
        node = frames[src]
        image, mask, camera, params, vertices = self._frame(folder, node)
        views = [TrainView(*_over_white(image, mask), camera, "input", 0.0, 1.0)]
        for edge in edges:
            target = frames[int(edge["dst"])]
            t_image, t_mask, t_camera, _, t_vertices = self._frame(folder, target)
            yaw = float(target.get("yaw_deg", 0.0)) - float(node.get("yaw_deg", 0.0))
            views.append(TrainView(*_over_white(t_image, t_mask), t_camera, target["view"], yaw % 360, float(edge["weight"]), t_vertices))
        framing = node.get("regime") or "half"
        view = FittedView(image.astype(np.float32), (mask >= 0.5).astype(np.float32), params, vertices, camera)
        return RawSubject(f"{folder.name}-{node['name']}", framing, view, views, False, {"clip": folder.name, "frame": int(node["frame"])})


class MixedSubjects:
    """The subjects of several readers one after the other (``A+B`` data specs)."""

    def __init__(self, sources: list) -> None:
        self.sources = list(sources)
        self._starts = np.cumsum([0] + [len(s) for s in self.sources])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _locate(self, index: int) -> tuple[object, int]:
        k = int(np.searchsorted(self._starts, index, side="right") - 1)
        return self.sources[k], index - int(self._starts[k])

    def raw(self, index: int) -> RawSubject:
        source, local = self._locate(index)
        return source.raw(local)

    def describe(self) -> dict:
        return {"kind": "mixed", "n": len(self), "parts": [s.describe() for s in self.sources]}


def open_subjects(spec: str, body, size: int = 128, seed: int = 0, azimuths=(0.0, 90.0, 180.0, 270.0)):
    """``"synthetic:N"`` (``"synthetic-view-lit:N"``: truth views lit with their camera) -> :class:`SyntheticSubjects`;
    a ``uvatar synth`` folder -> :class:`ShardSubjects`;
    a ``uvatar clips`` folder -> :class:`ClipSubjects`; ``"A+B"`` -> :class:`MixedSubjects` of both.

    Raises:
        InputError: a malformed spec or a folder without shards or clips.
    """
    spec = str(spec)
    if "+" in spec:
        return MixedSubjects([open_subjects(part, body, size, seed, azimuths) for part in spec.split("+") if part])
    if spec.startswith(("synthetic:", "synthetic-view-lit:")):
        try:
            n = int(spec.split(":", 1)[1])
        except ValueError:
            raise InputError(f"--data {spec.split(':', 1)[0]}:N needs an integer N; got {spec!r}") from None
        return SyntheticSubjects(body, n, size, seed, azimuths, view_lit=spec.startswith("synthetic-view-lit:"))
    path = Path(spec)
    if not path.is_dir():
        raise InputError(f"--data {spec!r} is neither synthetic:N nor a folder written by 'uvatar synth' or 'uvatar clips'")
    if (path / "graph.json").is_file() or any(path.glob("*/graph.json")):
        return ClipSubjects(body, path, size)
    return ShardSubjects(body, path, size)


def view_azimuth_label(azimuth: float) -> str:
    """Label of a view turned ``azimuth`` degrees about the body from the input view: ``"input"`` (0),
    ``"near"`` (within 45 degrees), ``"side"`` (45-135 either way) or ``"back"`` (within 45 of 180)."""
    a = azimuth % 360
    if a < 1e-6 or a > 360 - 1e-6:
        return "input"
    off = min(a, 360 - a)
    return "near" if off < 45 else ("side" if off <= 135 else "back")
