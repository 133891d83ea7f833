"""Multi-process training: one process per device, launched by ``torchrun`` (or spawned by tests).

:func:`init_distributed` reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``) and joins the process group: NCCL when CUDA is available, gloo on the
CPU. Without that environment it returns a single-process :class:`DistInfo` and nothing is initialised.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init_distributed", "shutdown", "all_reduce_mean", "choose_device"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Rank of this process, number of processes, local rank, device, and whether a group is running."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"
    active: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def choose_device(device: str, local_rank: int = 0) -> str:
    """``"auto"`` -> ``cuda:<local_rank>`` when CUDA is available, else ``"cpu"``; other values pass through."""
    if device == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        return f"cuda:{local_rank}"
    return device


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group torchrun set up (module docstring); single process without one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=choose_device(device))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    chosen = choose_device(device, local_rank)
    backend = "nccl" if chosen.startswith("cuda") else "gloo"
    if chosen.startswith("cuda"):
        torch.cuda.set_device(torch.device(chosen))
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    log.info("rank %d of %d on %s (%s)", rank, world, chosen, backend)
    return DistInfo(rank, world, local_rank, chosen, True)


def shutdown(info: DistInfo) -> None:
    if info.active and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over all processes (the tensor itself when single-process)."""
    if not info.active:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / info.world
