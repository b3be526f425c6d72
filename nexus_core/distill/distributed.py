"""Data parallelism for distillation runs launched under ``torchrun`` / ``accelerate launch``.

Each process takes its own slice of every step's blocks; gradients are averaged across processes before
the optimizer step (what DDP does, without requiring every parameter to take part in the forward pass,
which the projection layers do not when the hidden-state term is off). Only rank 0 writes the run folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def current_world() -> World:
    """The process group from torchrun's environment (initialised here), or a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def average_gradients(params: list[Any], world: World) -> None:
    if world.size <= 1:
        return
    import torch
    import torch.distributed as dist

    for param in params:
        if param.grad is None:
            param.grad = torch.zeros_like(param)  # every process must reduce the same tensors in the same order
        dist.all_reduce(param.grad)
        param.grad /= world.size


def average_values(values: dict[str, float], world: World) -> dict[str, float]:
    if world.size <= 1 or not values:
        return values
    import torch
    import torch.distributed as dist

    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(tensor)
    return {k: float(v) / world.size for k, v in zip(keys, tensor.tolist(), strict=True)}


def broadcast_parameters(modules: list[Any], world: World) -> None:
    """Start every process from rank 0's weights."""
    if world.size <= 1:
        return
    import torch.distributed as dist

    for module in modules:
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, 0)


def barrier(world: World) -> None:
    if world.size > 1:
        import torch.distributed as dist

        dist.barrier()
