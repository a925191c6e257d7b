"""Training on several processes (torchrun, DistributedDataParallel) with one code path for 1 and N.

    torchrun --standalone --nproc-per-node 2 -m core.train ...     # what scripts/train_core.sh --nproc 2 runs

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT; `init` joins
that process group (gloo on CPU, nccl on CUDA). Without them there is one process and every function
here is the identity: the single-process run is exactly the run this code made before it knew of ranks.

What is shared and what is per rank (core/train_branch.py):
- every rank loads the same data with the same seed, draws the same permutation of each epoch and takes
  its shard of every global batch (`step_batches`): the global batch and the number of steps are those of
  one process, so the learning-rate schedule and the epochs mean the same thing for 1 and N;
- per-rank seeds (`rank_seed`) drive what should differ: dropout masks and image augmentation;
- gradients are averaged by DDP; BatchNorm running statistics are averaged once per epoch
  (`average_buffers`); validation is sharded and gathered, so every rank sees the same accuracy and takes
  the same early-stopping decision;
- after the branch stages every rank leaves the group (`cleanup`) and rank 0 goes on as one process:
  fusion, calibration, test numbers, and the checkpoint and model card, which only it writes (core/train.py
  for the digit model, core/train_characters.py for the characters model: both through `start`,
  `own_seeds` and `finish` below).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

BACKENDS = {"cpu": "gloo", "cuda": "nccl"}  # --device -> process group backend
RANK_SEED_STRIDE = 1_000_003  # rank r's own seeds are seed + r * this (rank 0 keeps the seed itself)


def launched() -> bool:
    """Started by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: str = "cpu") -> torch.device:
    """Join torchrun's process group when there is one (reads its environment, `env://`); returns the
    device this process trains on (cuda:LOCAL_RANK for cuda). Safe to call twice."""
    if device not in BACKENDS:
        raise ValueError(f"device {device!r}; expected one of {', '.join(BACKENDS)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda, but torch sees no CUDA device; use --device cpu")
    if launched() and not dist.is_initialized():
        if device == "cuda":
            torch.cuda.set_device(local_rank())
        dist.init_process_group(BACKENDS[device])
    return train_device(device)


def train_device(device: str = "cpu") -> torch.device:
    """cpu, or this process's GPU (cuda:LOCAL_RANK)."""
    return torch.device("cuda", local_rank()) if device == "cuda" else torch.device("cpu")


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0: the process that prints, writes checkpoints and the model card."""
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def local_world_size() -> int:
    """Processes on this machine (they share its cores)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def rank_seed(seed: int, r: int | None = None) -> int:
    """This rank's own seed: `seed` on rank 0 (so one process is today's run), distinct on every other."""
    return seed + (rank() if r is None else r) * RANK_SEED_STRIDE


def step_batches(perm: torch.Tensor, batch_size: int, r: int, world: int) -> list[torch.Tensor]:
    """This rank's rows of every global batch of an epoch's permutation.

    One process: perm[i : i + batch_size], as always. N processes: the same ceil(n / batch_size) global
    batches, each padded (wrapping round to the permutation's start, as DistributedSampler pads) to a
    multiple of N and to at least 2 rows per rank (BatchNorm needs 2), then cut into N equal parts:
    every rank takes the same number of steps with equal batch sizes, so DDP's averaged gradient is the
    mean over the global batch."""
    starts = range(0, len(perm), batch_size)
    if world == 1:
        return [perm[i : i + batch_size] for i in starts]
    out = []
    for i in starts:
        g = perm[i : i + batch_size]
        per = max(-(-len(g) // world), 2)
        pad = per * world - len(g)
        if pad:
            g = torch.cat([g, perm.repeat(-(-pad // len(perm)))[:pad]])
        out.append(g[r * per : (r + 1) * per])
    return out


def shard(n: int) -> slice:
    """This rank's contiguous part of n rows (validation): all of them for one process."""
    per = -(-n // world_size())
    return slice(min(rank() * per, n), min((rank() + 1) * per, n))


def _comm_device() -> torch.device:
    return torch.device("cuda", local_rank()) if dist.get_backend() == "nccl" else torch.device("cpu")


def gather(t: torch.Tensor) -> torch.Tensor:
    """Every rank's 1-D `t` (parts from `shard`, in rank order) concatenated, on every rank."""
    if world_size() == 1:
        return t
    dev = _comm_device()
    n = torch.tensor([len(t)], device=dev)
    sizes = [torch.zeros_like(n) for _ in range(world_size())]
    dist.all_gather(sizes, n)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=t.dtype, device=dev)
    padded[: len(t)] = t.to(dev)
    parts = [torch.zeros_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([p[: int(s.item())] for p, s in zip(parts, sizes)]).to(t.device)


def all_sum(values: list[float]) -> list[float]:
    """Each value summed over ranks (float64), the same result on every rank."""
    if world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return t.tolist()


def average_buffers(module: nn.Module) -> None:
    """Average floating buffers (BatchNorm running statistics) over ranks: each rank's come from its own
    batches, and validation and the checkpoint must see one set. Integer buffers (batch counts) agree already."""
    if world_size() == 1:
        return
    for b in module.buffers():
        if b.is_floating_point():
            t = b.detach().to(_comm_device())
            dist.all_reduce(t)
            b.copy_(t / world_size())


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (end of training on this rank)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def start(device: str, threads: int, seed: int) -> int:
    """A training run's first step on every rank: join the group, split the machine's `threads` among
    its processes, and seed torch alike everywhere (the model built next starts the same on every rank).
    Returns the number of processes (for the model card: after `finish` there is one)."""
    init(device)
    torch.set_num_threads(max(1, threads // local_world_size()))  # processes share the cores
    torch.manual_seed(seed)
    return world_size()


def own_seeds(seed: int) -> None:
    """After the model is built: each rank's own dropout masks from here on (one process: nothing changes)."""
    if world_size() > 1:
        torch.manual_seed(rank_seed(seed) + 1)


def finish() -> bool:
    """The distributed stages end: every rank leaves the group; True on the one that goes on alone (rank 0)."""
    main = is_main()
    barrier()
    cleanup()
    return main
