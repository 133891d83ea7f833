"""``uvatar synth``: the 3D rendering branch of the synthetic data manifold.

For every subject index ``i`` (deterministically from ``(seed, i)`` alone; separate random streams
for body, appearance, lighting, views and image looks, so changing one part leaves the others):

1. :func:`uvatar.data.subjects.sample_subject`: Anny shape, pose, face, hands;
2. :func:`uvatar.data.appearance.paint_appearance`: UV albedo, shell colour/alpha and offsets, and
   :mod:`uvatar.data.wardrobe`: the catalogue's hair, garment pieces, shoes, hats and eyelashes fitted,
   posed and painted (``wardrobe=None``: the painted appearance alone, the manifold of earlier versions);
3. :func:`uvatar.data.lighting.sample_lighting`: environment, SH fill, key light, floor;
4. :func:`uvatar.data.cameras.sample_views`: ``views`` cameras around the person (head, half, full);
5. :class:`uvatar.data.render.SubjectRenderer`: one OpenGL pass per view (+ the UV pass), then the
   camera's sharpening (``sharpen=(0, 0)``: none, the manifold of earlier versions);
6. :mod:`uvatar.data.samples` encodes the subject and view samples into a tar shard
   (:mod:`uvatar.data.shards`: plan, manifest, index, resume, ``--shard i/n``).

The format of the samples is documented in :mod:`uvatar.data.samples`.

>>> # doctest: +SKIP
>>> summary = run_synth(SynthConfig(subjects=16, views=4, size=256), "out/synth", job=(0, 1), workers=1)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from uvatar.body.model import BodyModel
from uvatar.data import samples as fmt
from uvatar.data.appearance import Appearance, AppearanceConfig, paint_appearance, shell_mesh
from uvatar.data.cameras import ViewConfig, ViewSpec, camera_azimuth, sample_views, view_camera, view_label
from uvatar.data.lighting import Lighting, LightingConfig, sample_lighting, turned_lighting
from uvatar.data.shards import (
    ShardWriter, build_index, check_or_write_manifest, clear_stale, owned_shards, shard_done, shard_paths,
    shard_subjects,
)  # fmt: skip
from uvatar.data.subjects import SubjectConfig, SubjectSample, sample_subject
from uvatar.data.wardrobe import WardrobeConfig, WornPiece, dress_subject
from uvatar.errors import InputError, UvatarError
from uvatar.io.atomic import atomic_write_text

__all__ = ["SynthConfig", "Subject", "make_subject", "render_subject_views", "subject_files", "write_shard", "run_synth"]

log = logging.getLogger(__name__)

_STREAMS = {"body": 0, "appearance": 1, "lighting": 2, "views": 3, "looks": 4, "framing": 5}


@dataclass(frozen=True)
class SynthConfig:
    """Everything that defines a synthetic data set (saved in its manifest).

    Attributes:
        subjects: number of subjects; views: views per subject; size: square image side in pixels.
        seed: the data set's seed (subject ``i`` depends on ``(seed, i)`` only).
        subjects_per_shard: subjects per tar shard.
        supersample: anti-aliasing factor of the person (1-4).
        store_uv: write the per-view ``uv.png`` (pixel -> UV correspondence).
        png_level: PNG compression level 0-9 (1: fast, files ~10% larger than 6).
        subject, appearance, lighting, camera: the parts' configs.
        wardrobe: how subjects wear catalogue templates; None: painted clothes and hair only.
        sharpen: range of the camera's sharpening gain per view (:func:`uvatar.data.render.camera_sharpen`;
            ``(0, 0)``: none, the manifold before it); sharpen_radius: range of its radius, in pixels of
            a 512-pixel image (scaled with ``size``, so a data set at another size looks the same).
        view_lit: light each view by the subject's lighting turned with its camera
            (:func:`uvatar.data.lighting.turned_lighting`: a person turning before a fixed camera and lamp,
            whose back is lit as its front); off (default): one lighting fixed in the world for all views,
            so views from behind the key light see the subject in shade.
    """

    subjects: int = 200
    views: int = 8
    size: int = 512
    seed: int = 0
    subjects_per_shard: int = 8
    supersample: int = 2
    store_uv: bool = True
    png_level: int = 1
    subject: SubjectConfig = SubjectConfig()
    appearance: AppearanceConfig = AppearanceConfig()
    lighting: LightingConfig = LightingConfig()
    camera: ViewConfig = ViewConfig()
    wardrobe: WardrobeConfig | None = WardrobeConfig()
    sharpen: tuple[float, float] = (0.4, 1.0)
    sharpen_radius: tuple[float, float] = (1.5, 3.5)
    view_lit: bool = False

    def __post_init__(self) -> None:
        if self.subjects < 1 or self.views < 1:
            raise InputError(f"--subjects and --views must be >= 1; got {self.subjects} and {self.views}")
        if not 32 <= self.size <= 4096:
            raise InputError(f"--size must be in [32, 4096] pixels; got {self.size}")
        if not 0 <= self.png_level <= 9:
            raise InputError(f"png_level must be 0..9; got {self.png_level}")
        for name in ("sharpen", "sharpen_radius"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise InputError(f"{name} must be a range 0 <= low <= high; got {getattr(self, name)}")

    @property
    def n_shards(self) -> int:
        return -(-self.subjects // self.subjects_per_shard)

    def to_dict(self) -> dict:
        data = json.loads(json.dumps(dataclasses.asdict(self)))
        if not self.view_lit:  # a world-lit data set's manifest stays as before the option (it still resumes)
            del data["view_lit"]
        return data


@dataclass
class Subject:
    """One generated subject, ready to render.

    Attributes:
        index, key: subject index and sample key (``s0000042``).
        sample: body parameters and pose/age info; appearance: UV maps and shell; lighting.
        vertices: ``(V, 3)`` posed body; shell_vertices: ``(V, 3)`` posed shell.
        worn: the worn template pieces (:class:`~uvatar.data.wardrobe.WornPiece`); hidden_faces: ``(F,)``
            bool, the body faces they hide.
        coco: COCO keypoint label -> ``(3,)`` world point of the posed body.
        views: the drawn :class:`ViewSpec` per view; looks: per-view image settings.
    """

    index: int
    key: str
    sample: SubjectSample
    appearance: Appearance
    lighting: Lighting
    vertices: np.ndarray
    shell_vertices: np.ndarray
    coco: dict
    views: list[ViewSpec]
    looks: list[dict]
    worn: list[WornPiece] = field(default_factory=list)
    hidden_faces: np.ndarray | None = None
    timings: dict = field(default_factory=dict)


def _rng(config: SynthConfig, index: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([int(config.seed), int(index), _STREAMS[stream]])


def make_subject(body: BodyModel, config: SynthConfig, index: int) -> Subject:
    """Generate subject ``index`` of the data set (deterministic in ``config`` and ``index``)."""
    t0 = time.perf_counter()
    sample = sample_subject(body, _rng(config, index, "body"), config.subject)
    with torch.no_grad():
        out = body.forward(sample.params)
    t1 = time.perf_counter()
    gender = float(sample.params.phenotypes[0, body.phenotype_labels.index("gender")])
    appearance = paint_appearance(
        body, _rng(config, index, "appearance"), out.rest_vertices[0].cpu().numpy(), gender, sample.age_years,
        config.appearance, sitting=sample.sitting, wardrobe=config.wardrobe,
    )
    t2 = time.perf_counter()
    worn, hidden = [], None
    if "wardrobe" in appearance.info:
        worn, hidden = dress_subject(body, sample.params, out, appearance.info["wardrobe"], appearance.info, config.wardrobe)
    t3 = time.perf_counter()
    shell = shell_mesh(body, out.rest_vertices[0], out.bone_transforms, appearance.shell_offsets)
    lighting = sample_lighting(_rng(config, index, "lighting"), config.lighting)
    vertices = out.vertices[0].cpu().numpy()
    coco = dict(zip(body.keypoints.coco_labels, body.keypoints.coco(out.vertices)[0].cpu().numpy().astype(np.float64)))
    views = sample_views(_rng(config, index, "views"), config.camera, config.views, sitting=sample.sitting)
    looks_rng = _rng(config, index, "looks")
    balance = looks_rng.uniform(0.94, 1.06, 3)
    looks = []
    for k in range(config.views):
        looks.append({
            "exposure": float(math.exp(looks_rng.normal(math.log(0.72), 0.12))),
            "white_balance": [float(c) for c in balance * looks_rng.uniform(0.98, 1.02, 3)],
            "noise_sigma": float(looks_rng.uniform(0.5, 2.5)),
            "noise_seed": float(looks_rng.uniform(0.0, 97.0)),
            "vignette": float(looks_rng.uniform(0.0, 0.2)),
        })
    # drawn after the looks above, so that adding the camera's sharpening left their draws unchanged
    gains = looks_rng.uniform(*config.sharpen, config.views)
    radii = looks_rng.uniform(*config.sharpen_radius, config.views) * config.size / 512.0
    for look, gain, radius in zip(looks, gains, radii):
        if gain > 0:
            look.update(sharpen=float(gain), sharpen_radius=float(radius))
    timings = {"subject_s": t1 - t0, "paint_s": t2 - t1, "dress_s": t3 - t2, "rest_s": time.perf_counter() - t3}
    return Subject(index, f"s{index:07d}", sample, appearance, lighting, vertices, shell, coco, views, looks, worn, hidden, timings)


def _meshes(body: BodyModel, subject: Subject):
    from uvatar.data.render import SubjectMeshes

    app = subject.appearance
    hidden = subject.hidden_faces
    return SubjectMeshes(
        subject.vertices, body.faces.cpu().numpy(), body.uv_corners.cpu().numpy(), app.albedo,
        subject.shell_vertices, app.shell_rgba, app.shell_faces,
        body_faces=None if hidden is None or not hidden.any() else np.nonzero(~hidden)[0], templates=subject.worn,
    )


def render_subject_views(body: BodyModel, renderer, subject: Subject, config: SynthConfig, aux: bool | None = None):
    """Render all views of ``subject``: a list of ``(ViewSpec, Camera, RenderedView, info)``.

    ``info`` is the view's camera.json content (camera, framing, label, angles, focal, look).
    """
    meshes = _meshes(body, subject)
    renderer.set_subject(meshes, subject.lighting)
    faces = body.faces.cpu().numpy()
    shell_ids = np.unique(faces[subject.appearance.shell_faces].reshape(-1)) if len(subject.appearance.shell_faces) else []
    extra = [subject.shell_vertices[shell_ids]] if len(shell_ids) else []
    extra += [piece.vertices for piece in subject.worn if piece.piece in ("hair", "hat")]
    extra = np.concatenate(extra) if extra else None
    vertices_t = torch.as_tensor(subject.vertices)
    centre = subject.vertices.mean(0)
    rng = _rng(config, subject.index, "framing")
    out = []
    for k, (spec, look) in enumerate(zip(subject.views, subject.looks)):
        camera = view_camera(body, vertices_t, subject.coco, spec, config.size, rng, extra)
        azimuth = camera_azimuth(camera, centre)
        if config.view_lit:  # the lighting turned with this view's camera (its shadow map drawn again)
            renderer.set_subject(meshes, turned_lighting(subject.lighting, azimuth))
        rendered = renderer.render(camera, look, aux=config.store_uv if aux is None else aux)
        info = {
            **camera.to_dict(),
            "subject": subject.key,
            "view_index": k,
            "framing": spec.framing,
            "view": view_label(azimuth),
            "azimuth_deg": round(azimuth, 3),
            "elevation_deg": round(spec.elevation_deg, 3),
            "roll_deg": round(spec.roll_deg, 3),
            "focal_mm": round(spec.focal_mm, 3),
            "look": {k_: (round(v, 5) if isinstance(v, float) else [round(c, 5) for c in v]) for k_, v in look.items()},
        }
        out.append((spec, camera, rendered, info))
    return out


def _meta(body: BodyModel, subject: Subject, view_infos: list[dict]) -> dict:
    s = subject.sample
    return {
        "key": subject.key,
        "index": subject.index,
        "age_years": round(s.age_years, 2),
        "age_group": s.age_group,
        "sitting": s.sitting,
        "phenotypes": {label: round(float(v), 5) for label, v in zip(body.phenotype_labels, s.params.phenotypes[0].tolist())},
        "pose": s.info,
        "appearance": subject.appearance.info,
        "worn": [{"name": p.name, "piece": p.piece, "shell": p.shell, "uv_layer": 3 + k} for k, p in enumerate(subject.worn)],
        "skin_tone": int(subject.appearance.info["skin_bucket"]),
        "lighting": subject.lighting.to_json(),
        "views": [{"key": f"{subject.key}_v{i['view_index']:02d}", "framing": i["framing"], "view": i["view"],
                   "azimuth_deg": i["azimuth_deg"]} for i in view_infos],
    }


def subject_files(body: BodyModel, subject: Subject, views: list, config: SynthConfig) -> list[tuple[str, dict[str, bytes]]]:
    """Encode a subject and its rendered views as ``[(key, {name: bytes}), ...]`` (subject first)."""
    from safetensors.numpy import save

    import cv2

    level = config.png_level
    app = subject.appearance
    infos = [info for *_, info in views]
    meta = _meta(body, subject, infos)
    samples = [(subject.key, {
        "uv_albedo.png": fmt.png_bytes(cv2.cvtColor(app.albedo, cv2.COLOR_RGBA2BGRA), level),
        "shell.png": fmt.png_bytes(cv2.cvtColor(app.shell_rgba, cv2.COLOR_RGBA2BGRA), level),
        "shell.safetensors": save({"vertex_offsets": np.ascontiguousarray(app.shell_offsets, np.float32),
                                   "faces": np.ascontiguousarray(app.shell_faces, np.int64)}),
        "meta.json": json.dumps(meta, indent=1, sort_keys=True).encode(),
    })]
    params = fmt.params_bytes(subject.sample.params.tensors())
    for spec, camera, rendered, info in views:
        files = {
            "image.png": fmt.png_bytes(rendered.bgr, level),
            "mask.png": fmt.png_bytes(rendered.mask, level),
        }
        if rendered.aux is not None:
            files["uv.png"] = fmt.encode_uv(rendered.aux, level)
        files["camera.json"] = json.dumps(info, indent=1, sort_keys=True).encode()
        files["params.safetensors"] = params
        samples.append((f"{subject.key}_v{info['view_index']:02d}", files))
    return samples


def _count(counts: dict, key: str, value) -> None:
    table = counts.setdefault(key, {})
    table[str(value)] = table.get(str(value), 0) + 1


def write_shard(body: BodyModel, renderer, config: SynthConfig, shard: int, out: Path,
                on_view: Callable[[int], None] | None = None) -> dict:
    """Generate, render and write one shard (tar, then its index JSON). Returns the shard index."""
    tar_path, index_path = shard_paths(out, shard)
    records, counts = [], {"subjects": 0, "views": 0}
    timings = {"subject_s": 0.0, "paint_s": 0.0, "render_s": 0.0, "encode_s": 0.0}
    with ShardWriter(tar_path) as writer:
        for index in shard_subjects(shard, config.subjects, config.subjects_per_shard):
            subject = make_subject(body, config, index)
            timings["subject_s"] += subject.timings["subject_s"] + subject.timings["rest_s"]
            timings["paint_s"] += subject.timings["paint_s"]
            t0 = time.perf_counter()
            views = render_subject_views(body, renderer, subject, config)
            t1 = time.perf_counter()
            encoded = subject_files(body, subject, views, config)
            timings["render_s"] += t1 - t0
            timings["encode_s"] += time.perf_counter() - t1
            meta_age, meta_skin = subject.sample.age_group, int(subject.appearance.info["skin_bucket"])
            counts["subjects"] += 1
            _count(counts, "age_group", meta_age)
            _count(counts, "skin_tone", meta_skin)
            for key, files in encoded:
                start = len(writer.members)
                for name, data in files.items():
                    writer.add(key, name, data)
                members = {name: [off, size] for (name_full, off, size), name in zip(writer.members[start:], files)}
                if key == subject.key:
                    records.append({"key": key, "kind": "subject", "age_group": meta_age, "skin_tone": meta_skin,
                                    "members": members})
                else:
                    info = json.loads(files["camera.json"])
                    records.append({"key": key, "kind": "view", "subject": subject.key, "framing": info["framing"],
                                    "view": info["view"], "age_group": meta_age, "skin_tone": meta_skin, "members": members})
                    counts["views"] += 1
                    _count(counts, "framing", info["framing"])
                    _count(counts, "view", info["view"])
            if on_view is not None:
                on_view(len(views))
    index = {
        "format": fmt.FORMAT,
        "shard": shard,
        "tar": tar_path.name,
        "bytes": tar_path.stat().st_size,
        "sha256": writer.sha256.hexdigest(),
        "subjects": list(shard_subjects(shard, config.subjects, config.subjects_per_shard)),
        "samples": records,
        "counts": counts,
        "renderer": renderer.description,
    }
    atomic_write_text(index_path, json.dumps(index, indent=1, sort_keys=True))
    log.debug("shard %d: %s", shard, {k: round(v, 2) for k, v in timings.items()})
    return index


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for name in ("uvatar", "anny", "torch", "numpy", "moderngl", "opencv-contrib-python", "safetensors"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def manifest_for(body: BodyModel, config: SynthConfig) -> dict:
    """The manifest of a data set: format, config, seed, planned counts, versions, label orders."""
    return {
        "format": fmt.FORMAT,
        "config": config.to_dict(),
        "seed": config.seed,
        "counts": {"subjects": config.subjects, "views_per_subject": config.views, "views": config.subjects * config.views,
                   "shards": config.n_shards, "subjects_per_shard": config.subjects_per_shard},
        "versions": _versions(),
        "labels": {"bones": body.bone_labels, "phenotypes": body.phenotype_labels, "facial": body.facial_labels},
        "files": {"subject": list(fmt.SUBJECT_FILES), "view": list(fmt.VIEW_FILES)},
    }


def _worker(config_dict: dict, out: str, shards: list[int], queue) -> None:
    """Worker process: its own body model and GL context; reports ("views", n), ("done", shard) or ("error", msg)."""
    import os

    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        from uvatar.body.model import load_body_model
        from uvatar.data.render import SubjectRenderer

        config = config_from_dict(config_dict)
        body = load_body_model()
        renderer = SubjectRenderer(config.size, config.size, supersample=config.supersample)
        for shard in shards:
            write_shard(body, renderer, config, shard, Path(out), on_view=lambda n: queue.put(("views", n)))
            queue.put(("done", shard))
    except UvatarError as exc:
        queue.put(("error", str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
        import traceback

        queue.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def config_from_dict(data: dict) -> SynthConfig:
    """Inverse of :meth:`SynthConfig.to_dict` (JSON lists become tuples)."""

    def tuples(d: dict) -> dict:
        return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

    parts = {"subject": SubjectConfig, "appearance": AppearanceConfig, "lighting": LightingConfig, "camera": ViewConfig,
             "wardrobe": WardrobeConfig}
    kwargs = tuples({k: v for k, v in data.items() if k not in parts})
    for name, cls in parts.items():
        if name in data:
            kwargs[name] = None if data[name] is None else cls(**tuples(data[name]))
    if "wardrobe" not in data:  # a manifest of a version before templates: painted clothes only
        kwargs["wardrobe"] = None
    if "sharpen" not in data:  # a manifest of a version before the camera's sharpening
        kwargs["sharpen"] = (0.0, 0.0)
    return SynthConfig(**kwargs)


def run_synth(
    config: SynthConfig,
    out: str | Path,
    job: tuple[int, int] = (0, 1),
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    body: BodyModel | None = None,
) -> dict:
    """Make (or finish) this job's shards of a data set in ``out``.

    Args:
        config: the data set.
        out: output folder (created); an existing one must hold the same config (resume).
        job: ``(i, n)``: this job makes the shards ``k`` with ``k mod n == i`` (``--shard i/n``).
        workers: processes on this machine (each with its own GL context); 1 runs in this process.
        progress: called with ``(views_done, views_total)`` of this job as views finish.
        body: the body model (loaded if None; only used in-process).
    Returns:
        summary: shards made and skipped, views rendered, seconds, views per second, shard sizes.
    """
    from uvatar.body.model import load_body_model
    from uvatar.data.render import SubjectRenderer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    body = body or load_body_model()
    check_or_write_manifest(out, manifest_for(body, config))
    mine = owned_shards(config.subjects, config.subjects_per_shard, *job)
    todo = [k for k in mine if not shard_done(out, k)]
    clear_stale(out, todo)
    views_of = {k: len(shard_subjects(k, config.subjects, config.subjects_per_shard)) * config.views for k in mine}
    total = sum(views_of.values())
    done_views = total - sum(views_of[k] for k in todo)
    if progress:
        progress(done_views, total)
    start = time.perf_counter()
    rendered = 0
    if todo and workers <= 1:
        renderer = SubjectRenderer(config.size, config.size, supersample=config.supersample)
        try:
            for shard in todo:

                def tick(n: int) -> None:
                    nonlocal rendered, done_views
                    rendered += n
                    done_views += n
                    if progress:
                        progress(done_views, total)

                write_shard(body, renderer, config, shard, out, on_view=tick)
        finally:
            renderer.release()
    elif todo:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        groups = [todo[w::workers] for w in range(min(workers, len(todo)))]
        procs = [ctx.Process(target=_worker, args=(config.to_dict(), str(out), group, queue), daemon=True) for group in groups]
        for p in procs:
            p.start()
        finished, error = 0, None
        try:
            while finished < len(todo) and error is None:
                try:
                    kind, value = queue.get(timeout=5.0)
                except Exception:  # noqa: BLE001 - queue.Empty: check that the workers live
                    if not any(p.is_alive() for p in procs):
                        error = "a synth worker died without a report (out of memory?); run again to resume"
                    continue
                if kind == "views":
                    rendered += value
                    done_views += value
                    if progress:
                        progress(done_views, total)
                elif kind == "done":
                    finished += 1
                else:
                    error = value
        finally:
            for p in procs:
                if error is not None and p.is_alive():
                    p.terminate()
                p.join()
        if error is not None:
            raise UvatarError(f"synth failed: {error}")
    seconds = time.perf_counter() - start
    index = build_index(out, config.n_shards)
    sizes = [json.loads(shard_paths(out, k)[1].read_text())["bytes"] for k in mine if shard_done(out, k)]
    return {
        "job": f"{job[0]}/{job[1]}",
        "shards_made": len(todo),
        "shards_skipped": len(mine) - len(todo),
        "views_rendered": rendered,
        "seconds": round(seconds, 2),
        "views_per_s": round(rendered / seconds, 2) if seconds > 0 and rendered else None,
        "shard_mb": {"mean": round(float(np.mean(sizes)) / 2**20, 2), "total": round(float(np.sum(sizes)) / 2**20, 1)} if sizes else None,
        "complete": index["complete"],
        "missing_shards": len(index["missing"]),
    }
