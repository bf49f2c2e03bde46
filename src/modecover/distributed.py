"""Data-parallel training under ``torchrun``: the process group, and what ranks share.

Every rank takes its share of one global sampler draw (:mod:`modecover.data.samplers`),
so the ranks must agree on the parameters they start from (:func:`broadcast_from_main`),
on the gradients of every optimizer step (:func:`average_gradients_before_each_step`)
and on the data weights of every round (:func:`same_on_every_rank`). Outside a process
group of more than one rank every function here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["DistributedContext", "init_distributed", "broadcast_from_main", "same_on_every_rank"]


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @classmethod
    def current(cls) -> "DistributedContext":
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()


def init_distributed() -> DistributedContext:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1): NCCL when
    CUDA is available, gloo otherwise. A no-op for a single process."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    return DistributedContext.current()


def average_gradients_before_each_step(model, world_size: int) -> list:
    """Register, on every optimizer of the model, a step pre-hook that averages the
    gradients of its parameters across ranks in one flat ``all_reduce``.

    A parameter without a gradient on every rank stays without one; with a gradient on
    some ranks only, the others count as zeros.
    """
    import torch.distributed as dist

    def hook(optimizer, args, kwargs):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if not params:
            return
        flags = torch.tensor([p.grad is not None for p in params], dtype=params[0].dtype, device=params[0].device)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([flags] + [g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = len(params)
        for p, had, g in zip(params, flat[: len(params)], grads):
            n = g.numel()
            if had > 0:
                p.grad = flat[offset : offset + n].view_as(p).div_(world_size).clone()
            offset += n

    return [opt.register_step_pre_hook(hook) for opt in model.optimizers().values()]


def broadcast_from_main(tensors) -> None:
    """Overwrite ``tensors`` (parameters, buffers) in place with rank 0's values."""
    import torch.distributed as dist

    with torch.no_grad():
        for t in tensors:
            dist.broadcast(t.data, src=0)


def same_on_every_rank(weights: Tensor | None, n: int) -> Tensor | None:
    """Rank 0's data weights (length ``n``, or None for uniform) on every rank; ``weights``
    itself outside a process group.

    The distributed sampler splits one global draw across ranks, so every rank must draw
    with the same weights; plug-ins that sample (a non-GAN family's perception classifier
    sees each rank's own generated samples) could otherwise give slightly different ones.
    The broadcast goes through the backend's device: the current CUDA device for NCCL,
    the CPU otherwise.
    """
    ctx = DistributedContext.current()
    if not ctx.active:
        return weights
    import torch.distributed as dist

    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    buffer = torch.full((n + 1,), -1.0, dtype=torch.float64, device=device)
    if weights is not None:  # buffer[0] says whether rank 0 has weights at all
        buffer[0] = 1.0
        buffer[1:] = torch.as_tensor(weights, dtype=torch.float64).reshape(-1)[:n].to(device)
    dist.broadcast(buffer, src=0)
    return None if buffer[0] < 0 else buffer[1:].cpu()
