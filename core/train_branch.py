"""Fitting one branch: an encoder and its classifier head, on the epochs of data the caller makes
(strokes and audio come augmented; images are augmented here, per batch, by core/augment.py).

AdamW, one-cycle learning rate, label smoothing; with a validation set, the best epoch is kept and
training stops after `cfg.patience` epochs without a better one. Used by every branch stage of
core/train.py, by the audio recipe (core/train_audio.py) and by calibration's audio probe (core/calibrate.py).

Under torchrun (core/distributed.py) the branch is wrapped in DistributedDataParallel: each rank takes its
shard of every global batch, BatchNorm statistics are averaged per epoch, and validation is gathered so all
ranks stop at the same epoch with the same weights. With one process nothing of that runs, and the random
numbers are drawn exactly as before. Batches go to `cfg.device`; the model comes back on its own device.
"""

from __future__ import annotations

import copy
import json
import math
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from core import augment, distributed
from core.config import Config
from core.model import DigitNet
from core.tuples import branch_logits


class Branch(nn.Module):
    """One encoder and its head as one module: what DDP wraps (the other branches' weights stay out of it)."""

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def branch_loss(logits: torch.Tensor, y: torch.Tensor, smoothing: float, outlier_weight: float = 0.0) -> torch.Tensor:
    """Cross-entropy with label smoothing; rows labelled < 0 are non-digits (outlier exposure, Hendrycks et al.
    2019): their loss is the cross-entropy to the uniform answer, times `outlier_weight`, so the encoder learns
    to be unsure of them. Every row counts once in the batch mean, so with a quarter as many non-digits as digits
    the weight is about 4x Hendrycks' lambda. Without such rows it is exactly the plain loss."""
    if not outlier_weight:  # no outlier exposure, no non-digit rows: the plain loss, without a device sync
        return F.cross_entropy(logits, y, label_smoothing=smoothing)
    neg = y < 0
    if not bool(neg.any()):
        return F.cross_entropy(logits, y, label_smoothing=smoothing)
    per = torch.zeros(len(y), device=logits.device)
    if not bool(neg.all()):
        per[~neg] = F.cross_entropy(logits[~neg], y[~neg], label_smoothing=smoothing, reduction="none")
    per[neg] = -outlier_weight * F.log_softmax(logits[neg], 1).mean(1)
    return per.mean()


def val_accuracy(model: DigitNet, modality: str, val: tuple[torch.Tensor, torch.Tensor], device: torch.device) -> float:
    """Accuracy on `val`: each rank scores its shard, the hits are gathered, every rank gets the same number."""
    x, y = val
    part = distributed.shard(len(x))
    right = (branch_logits(model, modality, x[part].to(device)).argmax(1).cpu() == y[part]).to(torch.uint8)
    return float(distributed.gather(right).float().mean())


def train_branch(
    model: DigitNet,
    modality: str,
    make_epoch,
    epochs: int,
    lr: float,
    cfg: Config,
    val: tuple[torch.Tensor, torch.Tensor] | None,
    gen: torch.Generator,
) -> tuple[list[dict], int]:
    """One encoder and its classifier. `make_epoch(epoch)` -> (x, y) training tensors (the same on every
    rank). With `val`, keeps the best epoch and stops early; without, trains all `epochs`."""
    rank, world = distributed.rank(), distributed.world_size()
    device, home = distributed.train_device(cfg.device), next(model.parameters()).device
    model.to(device)
    branch = Branch(getattr(model, modality), model.heads[modality])
    net = branch
    aug = gen  # one process: `gen` also drives the augmentation, as it always did
    if world > 1:  # buffers are averaged once per epoch (average_buffers) instead of synced at every step
        ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(branch, device_ids=ids, forward_sync_buffers=False)
        # the permutation must be the same on every rank (shared `gen`), the augmentation must not: a generator
        # of the rank's own, seeded from a copy of `gen` so that the permutations stay those of one process
        peek = torch.Generator().set_state(gen.get_state())
        aug = torch.Generator().manual_seed(distributed.rank_seed(int(torch.randint(2**31, (1,), generator=peek))))
    outlier_weight = cfg.audio_outliers if modality == "audio" else 0.0
    params = list(getattr(model, modality).parameters()) + list(model.heads[modality].parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    x, y = make_epoch(0)
    steps = math.ceil(len(x) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=0.15)
    history, best_acc, best_epoch, best_state = [], -1.0, epochs - 1, None
    main = distributed.is_main()
    for epoch in range(epochs):
        if epoch:
            x, y = make_epoch(epoch)
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        total, count, t0 = 0.0, 0, time.time()
        batches = distributed.step_batches(perm, cfg.batch_size, rank, world)
        bar = tqdm(batches, desc=f"{modality} {epoch + 1}/{epochs}", leave=False, mininterval=1.0, disable=not main)
        for idx in bar:
            xb, yb = x[idx], y[idx]
            if modality == "image":
                xb = augment.augment_images(xb.float() / 255.0, aug)
            loss = branch_loss(net(xb.to(device)), yb.to(device), cfg.label_smoothing, outlier_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched.last_epoch < epochs * steps - 1:
                sched.step()
            total += loss.item() * len(idx)
            count += len(idx)
        distributed.average_buffers(branch)
        total, count = distributed.all_sum([total, count])
        row = {"epoch": epoch + 1, "loss": round(total / count, 4), "seconds": round(time.time() - t0, 1)}
        if val is not None:
            row["val_acc"] = round(val_accuracy(model, modality, val, device), 5)
            if row["val_acc"] > best_acc:
                best_acc, best_epoch = row["val_acc"], epoch
                best_state = copy.deepcopy(
                    {k: v for k, v in model.state_dict().items() if k.startswith((modality + ".", "heads." + modality))}
                )
        history.append(row)
        if main:
            tqdm.write(f"{modality} " + json.dumps(row))
        if val is not None and epoch - best_epoch >= cfg.patience:
            if main:
                tqdm.write(f"{modality}: no better validation accuracy for {cfg.patience} epochs, stopping")
            break
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    model.to(home)
    return history, best_epoch + 1
