"""``uvatar train``: fit the MAE decoder by rendering its avatars into ground-truth views.

Per step and process: ``batch_size`` training subjects (:mod:`uvatar.train.data`) go through the decoder
in one batch; each subject's raw maps are bound to its baseline (:func:`uvatar.model.bind.bind_gaussians`),
posed on its TRUE body, rendered (:func:`uvatar.render.gaussians.render_gaussians`, differentiable) into
its truth views over white, and scored by :mod:`uvatar.train.losses`. AdamW (decay on matrices only),
linear warm-up then cosine decay to ``min_lr_ratio``, gradient norm clipped at ``grad_clip``, bf16
autocast of the decoder on CUDA (off on the CPU). Several processes (torchrun) average gradients (DDP;
gloo on the CPU, NCCL on CUDA) and each draws different subjects.

Everything random is a function of ``(seed, step, rank)``: which subjects a step takes and which views
get the perceptual term. So a run resumed from a checkpoint (model + optimizer state) follows exactly
the trajectory of an uninterrupted one.

Run folder::

    RUN/config.json                       {"decoder": DecoderConfig, "train": TrainConfig, "data": spec}
    RUN/checkpoints/step-0000200.safetensors         decoder weights (+ configs in the header)
    RUN/checkpoints/step-0000200.optim.safetensors   AdamW state
    RUN/checkpoints/latest.json           the newest complete checkpoint
    RUN/decoder.safetensors               the final decoder (what --decoder RUN loads)
    RUN/log.jsonl                         one JSON line per logged step and validation
    RUN/tb/                               TensorBoard events (when tensorboard is installed)
    RUN/summary.json                      wall time, steps, first/last losses, validation
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

from uvatar.avatar import Avatar
from uvatar.body.model import load_body_model
from uvatar.data.truth import directed_weight, split_indices
from uvatar.errors import InputError
from uvatar.io.atomic import atomic_write_text
from uvatar.model.bind import bind_gaussians
from uvatar.model.checkpoint import load_optimizer_state, read_decoder, save_decoder, save_optimizer
from uvatar.model.learned import compose_decoded
from uvatar.model.mae import CONFIGS, DecoderConfig, DecoderInputs, UVDecoder, get_config
from uvatar.render.gaussians import render_gaussians
from uvatar.threads import StageThreads, usable_cores
from uvatar.train.data import open_source
from uvatar.train.distributed import all_reduce_mean, init_distributed
from uvatar.train.losses import LossWeights, PerceptualLoss, residual_loss, view_loss

__all__ = ["TrainConfig", "load_run_config", "train", "subjects_for_step", "lr_at", "parameter_digest", "validate", "CONFIG_DIR"]

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


@dataclass(frozen=True)
class TrainConfig:
    """How to train (saved in RUN/config.json and in every checkpoint)."""

    steps: int = 2000
    batch_size: int = 1  # subjects per process per step
    lr: float = 1e-4
    weight_decay: float = 0.05
    betas: tuple = (0.9, 0.95)
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    image_size: int = 128
    azimuths: tuple = (0.0, 90.0, 180.0, 270.0)  # synthetic truth views about the body (0 = input view)
    views_per_step: int = 0  # truth views rendered per subject and step (0: all)
    perceptual_views: int = 1  # views per subject and step that get the ST-LPIPS term (0: none)
    perceptual_size: int = 0  # longer side of the images ST-LPIPS sees (0: as rendered)
    loss: LossWeights = field(default_factory=LossWeights)
    val_every: int = 100
    val_subjects: int = 4
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0
    data_seed: int = 0  # seed of synthetic subject 0
    amp: str = "auto"  # "auto": bf16 autocast of the decoder on CUDA; "off"
    device: str = "auto"  # "auto", "cpu", "cuda"
    render_backend: str = "auto"
    pixel_shell: bool = True  # training subjects get the photo-pixel shell Gaussians (as reconstructions do)
    avatar_resolution: int = 256  # an over_projection decoder's projection avatar: its atlas side in training

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["betas"], data["azimuths"] = list(self.betas), list(self.azimuths)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"unknown train config keys {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        data = dict(data)
        if "loss" in data:
            loss_names = {f.name for f in dataclasses.fields(LossWeights)}
            bad = sorted(set(data["loss"]) - loss_names)
            if bad:
                raise InputError(f"unknown loss weights {', '.join(bad)}; known: {', '.join(sorted(loss_names))}")
            data["loss"] = LossWeights(**data["loss"])
        for key in ("betas", "azimuths"):
            if key in data:
                data[key] = tuple(float(x) for x in data[key])
        return cls(**data)


def load_run_config(spec: str | Path) -> tuple[DecoderConfig, TrainConfig]:
    """A run config: a JSON file ``{"decoder": name | {...}, "train": {...}}``, or a name (``configs/<name>.json``
    of the checkout, else a built-in decoder config with default training settings).

    Raises:
        InputError: a missing file, bad JSON or unknown keys.
    """
    path = Path(spec)
    if not path.suffix and not path.exists():
        candidate = CONFIG_DIR / f"{spec}.json"
        if candidate.is_file():
            path = candidate
        elif str(spec) in CONFIGS:
            return CONFIGS[str(spec)], TrainConfig()
        else:
            raise InputError(f"unknown config {spec!r}; pass a JSON file or one of {', '.join(CONFIGS)}")
    if not path.is_file():
        raise InputError(f"config {path} not found; pass a JSON file or one of {', '.join(CONFIGS)}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); fix the file") from None
    return _decoder_config(data.get("decoder", "tiny")), TrainConfig.from_dict(data.get("train", {}))


def _decoder_config(value) -> DecoderConfig:
    if isinstance(value, str):
        return get_config(value)
    value = dict(value)
    start = CONFIGS.get(value.get("name", ""), DecoderConfig())
    merged = {**dataclasses.asdict(start), **value}
    return DecoderConfig.from_dict(merged)


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate of a step: linear warm-up over ``warmup_steps``, then cosine to ``min_lr_ratio * lr``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def subjects_for_step(step: int, rank: int, world: int, batch: int, ids: list[int], seed: int) -> list[int]:
    """The subjects one process takes at one step: epochs are seeded permutations of ``ids``, dealt out
    ``batch`` at a time to ranks in turn (different ranks never share a subject within an epoch)."""
    out = []
    for j in range(batch):
        g = (step * world + rank) * batch + j
        epoch, pos = divmod(g, len(ids))
        perm = np.random.default_rng([seed, epoch]).permutation(len(ids))
        out.append(ids[int(perm[pos])])
    return out


# ---------------------------------------------------------------------------------------------- helpers
def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim == 2 and name != "layer_embed" else no_decay).append(p)  # matrices; not tokens, norms, biases
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.betas), foreach=False)


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # optional: pip install 'uvatar[train]'
        log.info("tensorboard is not installed: logging to log.jsonl only (pip install 'uvatar[train]')")
        return None
    return SummaryWriter(str(run_dir / "tb"))


def _psnr(render: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> float:
    m = mask >= 0.5
    if not m.any():
        return float("nan")
    mse = ((render - truth) ** 2).mean(-1)[m].mean().clamp(min=1e-10)
    return float(10 * torch.log10(1.0 / mse))


class _Renderer:
    """Poses a subject's avatar on its true body and renders views (white background)."""

    def __init__(self, faces: torch.Tensor, device: str, backend: str) -> None:
        self.faces, self.device, self.backend = faces.to(device), device, backend
        self.white = torch.ones(3, device=device)

    def __call__(self, avatar, vertices: torch.Tensor, camera):
        posed = avatar.on_vertices(vertices.to(self.device), self.faces)
        return render_gaussians(posed.means, posed.quats_wxyz, posed.scales, posed.opacities, posed.colors, camera,
                                background=self.white, backend=self.backend)  # fmt: skip


def subject_loss(model_out, subject, config: DecoderConfig, train_config: TrainConfig, renderer: _Renderer, perceptual,
                 rng: np.random.Generator, device: str) -> tuple[torch.Tensor, dict]:  # fmt: skip
    """Loss of one subject from its raw maps ``(core (14, H, W), shell (14, Hs, Ws))``; returns (loss, scalar terms)."""
    weights = train_config.loss
    core, shell = model_out
    base = subject.base.to(device)
    if subject.composition is not None:  # an over_projection decoder: its residuals on the projection avatar
        gaussians, residuals = compose_decoded(core.float(), shell.float(), base, subject.composition.to(device), config)
    else:
        gaussians, residuals = bind_gaussians(core.float(), shell.float(), base, config, return_residuals=True)
    avatar = Avatar.from_gaussians(gaussians, base.phenotypes, base.facial)
    views = subject.views
    order = list(range(len(views)))
    if train_config.views_per_step and train_config.views_per_step < len(views):
        order = sorted(rng.choice(len(views), train_config.views_per_step, replace=False).tolist())
    n_perc = min(train_config.perceptual_views, len(order)) if perceptual is not None else 0
    perc_views = set(rng.choice(order, n_perc, replace=False).tolist()) if n_perc else set()
    exact = subject.info.get("exact", True)
    total, weight_sum, terms, psnrs = 0.0, 0.0, {}, {}
    for i in order:
        view = views[i]
        w = view.weight * directed_weight("input", view.label, exact)
        if w <= 0:
            continue
        out = renderer(avatar, subject.vertices if view.vertices is None else view.vertices, view.camera)
        truth, mask = view.image.to(device), view.mask.to(device)
        t = view_loss(out.image, out.alpha, truth, mask, weights, perceptual if i in perc_views else None)
        total = total + w * t["total"]
        weight_sum += w
        for k, v in t.items():
            terms.setdefault(k, []).append(float(v.detach()))
        psnrs.setdefault(view.label, []).append(_psnr(out.image.detach(), truth, mask))
    reg = residual_loss(residuals, weights)
    loss = total / max(weight_sum, 1e-8) + reg["total"]
    scalars = {k: float(np.mean(v)) for k, v in terms.items() if k != "total"}
    scalars.update({k: float(reg[k].detach()) for k in ("offset_reg", "scale_reg", "opacity_reg")}, loss=float(loss.detach()))
    scalars.update({f"psnr_{k}": float(np.nanmean(v)) for k, v in psnrs.items()})
    return loss, scalars


# ---------------------------------------------------------------------------------------------- run folder
def _config_record(decoder: DecoderConfig, config: TrainConfig, data: str) -> dict:
    return {"decoder": dataclasses.asdict(decoder), "train": config.to_dict(), "data": str(data)}


def _check_or_write_config(run_dir: Path, record: dict) -> bool:
    """Write RUN/config.json, or check that an existing one matches; True when a checkpoint can be resumed."""
    path = run_dir / "config.json"
    if path.exists():
        old = json.loads(path.read_text())
        same = {k: old.get(k) for k in ("decoder", "train", "data")} == record
        if not same:
            changed = [k for k in ("decoder", "train", "data") if old.get(k) != record[k]]
            raise InputError(f"{run_dir} holds a run with another {'/'.join(changed)}; use a new -o folder, or the same config to resume")
        return (run_dir / "checkpoints" / "latest.json").is_file()
    atomic_write_text(path, json.dumps(record, indent=1))
    return False


def _save_checkpoint(run_dir: Path, model, optimizer, step: int, record: dict, keep: int, losses: dict) -> None:
    folder = run_dir / "checkpoints"
    name = f"step-{step:07d}"
    meta = {"step": step, "run": record, "losses": losses}
    save_decoder(folder / f"{name}.safetensors", model, meta)
    save_optimizer(folder / f"{name}.optim.safetensors", optimizer, {"step": step})
    atomic_write_text(folder / "latest.json", json.dumps({"step": step, "model": f"{name}.safetensors", "optim": f"{name}.optim.safetensors"}))
    if keep > 0:
        steps = sorted(int(p.name[5:12]) for p in folder.glob("step-*.optim.safetensors"))
        for old in steps[:-keep]:
            for suffix in (".safetensors", ".optim.safetensors"):
                (folder / f"step-{old:07d}{suffix}").unlink(missing_ok=True)


def _resume(run_dir: Path, model, optimizer) -> int:
    latest = json.loads((run_dir / "checkpoints" / "latest.json").read_text())
    _, state, meta = read_decoder(run_dir / "checkpoints" / latest["model"])
    model.load_state_dict(state, strict=True)
    optimizer.load_state_dict(load_optimizer_state(run_dir / "checkpoints" / latest["optim"]))
    log.info("resumed %s at step %d", run_dir, latest["step"])
    return int(latest["step"])


# ---------------------------------------------------------------------------------------------- training
def train(
    run_dir: str | Path,
    decoder: DecoderConfig,
    config: TrainConfig,
    data: str,
    body=None,
    on_step: Callable[[dict], None] | None = None,
    stop_after: int | None = None,
    threads: int = 0,
) -> dict:
    """Train (or resume) a decoder; see the module docstring for the run folder.

    Args:
        run_dir: the run folder (created; an existing one with the same configs is resumed).
        decoder, config: the decoder and training configs.
        data: ``"synthetic:N"`` or a ``uvatar synth`` folder.
        body: a BodyModel (loaded when None).
        on_step: called on the main process after every step with ``{"step", "loss", "subjects_per_s", ...}``.
        stop_after: stop after this many steps of this call (tests of resuming), without the final files.
        threads: torch CPU threads per process (0: this process's share of the free cores, re-read every
            step; :mod:`uvatar.threads`); the caller's count is restored when the loop ends.
    Returns:
        the summary (also RUN/summary.json on the main process).
    """
    run_dir = Path(run_dir)
    info = init_distributed(config.device)
    device = info.device
    record = _config_record(decoder, config, data)
    resume = False
    if info.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        resume = _check_or_write_config(run_dir, record)
    if info.active:
        flag = [resume]
        torch.distributed.broadcast_object_list(flag, src=0)
        resume = flag[0]

    body = body or load_body_model()
    torch.manual_seed(config.seed)
    model = UVDecoder.from_body(decoder, body).to(device)
    optimizer = _optimizer(model, config)
    start = _resume(run_dir, model, optimizer) if resume else 0
    source = open_source(data, body, decoder, config.image_size, config.data_seed, config.azimuths, config.pixel_shell, config.avatar_resolution)
    train_ids = split_indices(len(source), "train") or list(range(len(source)))
    val_ids = split_indices(len(source), "val")[: config.val_subjects]
    net = model
    if info.active:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[torch.device(device).index] if device.startswith("cuda") else None)
    use_amp = config.amp == "auto" and device.startswith("cuda")
    perceptual = PerceptualLoss(config.perceptual_size).to(device) if config.loss.perceptual > 0 and config.perceptual_views > 0 else None
    renderer = _Renderer(body.faces, device, config.render_backend)
    writer = _tensorboard(run_dir) if info.main else None
    log_path = run_dir / "log.jsonl"
    history: list[dict] = []
    t_start = time.perf_counter()
    last = None
    end = config.steps if stop_after is None else min(config.steps, start + stop_after)
    threads_before = torch.get_num_threads()
    stage = StageThreads("train", threads, most=max(1, usable_cores() // info.world))
    for step in range(start, end):
        stage.recheck()
        t0 = time.perf_counter()
        ids = subjects_for_step(step, info.rank, info.world, config.batch_size, train_ids, config.seed)
        subjects = [source[i] for i in ids]
        t_data = time.perf_counter() - t0
        lr = lr_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        optimizer.zero_grad(set_to_none=True)
        inputs = DecoderInputs.stack([s.inputs for s in subjects]).to(device)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
            core, shell = net(inputs)
        losses, scalars = [], []
        for j, subject in enumerate(subjects):
            rng = np.random.default_rng([config.seed, step, info.rank, j])
            loss, terms = subject_loss((core[j], shell[j]), subject, decoder, config, renderer, perceptual, rng, device)
            losses.append(loss)
            scalars.append(terms)
        loss = torch.stack(losses).mean()
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip))
        optimizer.step()
        mean_loss = float(all_reduce_mean(loss.detach(), info))
        seconds = time.perf_counter() - t0
        row = {"step": step + 1, "loss": mean_loss, "lr": lr, "grad_norm": grad_norm, "step_s": round(seconds, 4),
               "data_s": round(t_data, 4), "subjects_per_s": info.world * config.batch_size / seconds}  # fmt: skip
        for key in scalars[0]:
            row[key] = float(np.nanmean([s.get(key, float("nan")) for s in scalars]))
        history.append({"step": step + 1, "loss": mean_loss})
        last = row
        if info.main:
            if on_step:
                on_step(row)
            if (step + 1) % config.log_every == 0 or step == start:
                with open(log_path, "a") as f:
                    f.write(json.dumps(row) + "\n")
                if writer:
                    for key, value in row.items():
                        if key != "step" and isinstance(value, float) and math.isfinite(value):
                            writer.add_scalar(f"train/{key}", value, step + 1)
        if info.main and val_ids and ((step + 1) % config.val_every == 0 or step + 1 == config.steps):
            val = validate(model, source, val_ids, decoder, config, renderer, device)
            val["step"] = step + 1
            with open(log_path, "a") as f:
                f.write(json.dumps({"validation": val}) + "\n")
            if writer:
                for key, value in val.items():
                    if key != "step" and isinstance(value, float) and math.isfinite(value):
                        writer.add_scalar(f"val/{key}", value, step + 1)
        if info.main and ((step + 1) % config.checkpoint_every == 0 or step + 1 == end):
            _save_checkpoint(run_dir, model, optimizer, step + 1, record, config.keep_checkpoints, {"loss": mean_loss})
        if info.active:
            torch.distributed.barrier()
    torch.set_num_threads(threads_before)
    wall = time.perf_counter() - t_start
    summary = {"steps_run": end - start, "start_step": start, "end_step": end, "wall_s": round(wall, 1), "world": info.world,
               "rank": info.rank, "device": device, "last": last, "first_losses": history[:5], "data": source.describe(),
               "param_sha256": parameter_digest(model)}  # fmt: skip
    if info.main and stop_after is None and end == config.steps:
        save_decoder(run_dir / "decoder.safetensors", model, {"step": end, "run": record, "last": last})
        if val_ids:
            summary["validation"] = validate(model, source, val_ids, decoder, config, renderer, device)
        atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=1))
    if writer:
        writer.close()
    summary["history"] = history
    return summary


def parameter_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter's bytes, in name order (replicas of one DDP run must agree)."""
    import hashlib

    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def validate(model: UVDecoder, source, ids: list[int], decoder: DecoderConfig, config: TrainConfig, renderer, device: str) -> dict:
    """Mean loss terms and masked PSNR per view label over validation subjects (no perceptual term, no grad)."""
    rows = []
    model.eval()
    with torch.no_grad():
        for i in ids:
            subject = source[i]
            core, shell = model(subject.inputs.to(device))
            _, terms = subject_loss((core[0], shell[0]), subject, decoder, config, renderer, None, np.random.default_rng(0), device)
            rows.append(terms)
    model.train()
    keys = sorted({k for r in rows for k in r})
    return {k: float(np.nanmean([r.get(k, float("nan")) for r in rows])) for k in keys} | {"subjects": len(rows)}
