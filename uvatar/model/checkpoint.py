"""Decoder checkpoints: weights and optimizer state as safetensors, configs as JSON in the header.

A decoder file (``*.safetensors``, format :data:`FORMAT`) holds the model's ``state_dict`` and, in the
header metadata, ``format``, ``config`` (the :class:`~uvatar.model.mae.DecoderConfig` as JSON) and
``meta`` (JSON: training step, train config, data, losses...). An optimizer file (format
:data:`OPTIM_FORMAT`) holds every per-parameter state tensor as ``state.<param index>.<name>`` and the
param groups (hyper-parameters) as JSON. Nothing is ever unpickled.

Decoder specs accepted by :func:`resolve_decoder`: ``"default"`` (the checkpoint shipped in the
package, :data:`DEFAULT_CHECKPOINT`), a ``.safetensors`` decoder file, or a training run folder
(its ``decoder.safetensors``, else its latest checkpoint).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from uvatar.errors import InputError
from uvatar.io.atomic import atomic_path
from uvatar.io.tensors import read_safetensors

__all__ = [
    "FORMAT", "OPTIM_FORMAT", "DEFAULT_CHECKPOINT", "save_decoder", "read_decoder", "load_decoder", "resolve_decoder",
    "save_optimizer", "load_optimizer_state",
]  # fmt: skip

log = logging.getLogger(__name__)

FORMAT = "uvatar.decoder/1"
OPTIM_FORMAT = "uvatar.optimizer/1"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "default.safetensors"


def save_decoder(path: str | Path, model: torch.nn.Module, meta: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write ``model`` (a :class:`~uvatar.model.mae.UVDecoder`) with its config (atomic).

    Args:
        meta: JSON-serialisable facts about how it was made (step, train config, losses).
        dtype: store floating tensors in this dtype (e.g. ``torch.float16`` to halve the file); default as is.
    """
    from safetensors.torch import save_file

    tensors = {}
    for name, value in model.state_dict().items():
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[name] = value.contiguous()
    metadata = {"format": FORMAT, "config": model.config.to_json(), "meta": json.dumps(meta or {}, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def read_decoder(path: str | Path):
    """``(DecoderConfig, state_dict, meta)`` of a decoder file (float32 tensors on the CPU).

    Raises:
        InputError: not a file, not safetensors, or not a UVatar decoder.
    """
    from uvatar.model.mae import DecoderConfig

    path = Path(path)
    if not path.is_file():
        raise InputError(f"no decoder checkpoint at {path}; pass a .safetensors written by 'uvatar train' or a run folder")
    metadata, state = read_safetensors(path, "a safetensors decoder checkpoint", "pass one written by 'uvatar train'")
    if metadata.get("format") != FORMAT:
        raise InputError(f"{path} is not a UVatar decoder (format {metadata.get('format')!r}, expected {FORMAT!r})")
    try:
        config = DecoderConfig.from_dict(json.loads(metadata["config"]))
        meta = json.loads(metadata.get("meta", "{}"))
    except (KeyError, TypeError, ValueError) as exc:  # no or malformed config JSON in the header
        raise InputError(f"{path} is a damaged UVatar decoder (its config: {type(exc).__name__}: {exc}); re-train or re-export it") from None
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    return config, state, meta


def load_decoder(path: str | Path, body, device: str | torch.device = "cpu"):
    """A :class:`~uvatar.model.mae.UVDecoder` with the file's weights, in eval mode on ``device``.

    Returns:
        ``(model, meta)``.
    """
    from uvatar.model.mae import UVDecoder

    config, state, meta = read_decoder(path)
    model = UVDecoder.from_body(config, body)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(f"{path} does not match decoder config {config.name!r} ({str(exc).splitlines()[0]}); re-train or re-export it") from None
    return model.to(device).eval(), meta


def resolve_decoder(spec: str | Path) -> Path:
    """The decoder file a ``--decoder`` value names (module docstring).

    Raises:
        InputError: ``"default"`` before a default checkpoint has been trained, or a path with no decoder.
    """
    if str(spec) == "default":
        if not DEFAULT_CHECKPOINT.is_file():
            raise InputError(
                "the default learned decoder is not trained yet (no uvatar/data/checkpoints/default.safetensors); "
                "use --decoder projection, or a checkpoint from 'uvatar train'"
            )
        return DEFAULT_CHECKPOINT
    path = Path(spec)
    if path.is_dir():
        final = path / "decoder.safetensors"
        if final.is_file():
            return final
        latest = path / "checkpoints" / "latest.json"
        if latest.is_file():
            return path / "checkpoints" / json.loads(latest.read_text())["model"]
        raise InputError(f"{path} holds no decoder.safetensors nor checkpoints/latest.json; pass a run folder of 'uvatar train'")
    if not path.is_file():
        raise InputError(f"decoder {spec!r} is neither 'projection', 'default', a run folder nor a .safetensors file")
    return path


# ---------------------------------------------------------------------------------------------- optimizer
def save_optimizer(path: str | Path, optimizer: torch.optim.Optimizer, meta: dict | None = None) -> Path:
    """Write an optimizer's state (every state tensor; param groups and scalars as JSON), atomically."""
    from safetensors.torch import save_file

    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, state in sd["state"].items():
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    metadata = {
        "format": OPTIM_FORMAT, "param_groups": json.dumps(sd["param_groups"]), "scalars": json.dumps(scalars),
        "meta": json.dumps(meta or {}),
    }  # fmt: skip
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def load_optimizer_state(path: str | Path) -> dict:
    """The ``state_dict`` an optimizer saved by :func:`save_optimizer` can ``load_state_dict`` (CPU tensors)."""
    metadata, tensors = read_safetensors(path, "a readable optimizer state", "resume from another checkpoint or start a new run")
    if metadata.get("format") != OPTIM_FORMAT:
        raise InputError(f"{path} is not a UVatar optimizer state (format {metadata.get('format')!r})")
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for key, value in json.loads(metadata["scalars"]).items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": json.loads(metadata["param_groups"])}
