"""Fitting one branch: an encoder and its classifier head, on the epochs of data the caller makes
(strokes and audio come augmented; images are augmented here, per batch, by core/augment.py).

AdamW, one-cycle learning rate, label smoothing; with a validation set, the best epoch is kept and
training stops after `cfg.patience` epochs without a better one. Used by every branch stage of
core/train.py, by the audio recipe (core/train_audio.py) and by calibration's audio probe (core/calibrate.py).
"""

from __future__ import annotations

import copy
import json
import math
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from core import augment
from core.config import Config
from core.model import DigitNet
from core.tuples import accuracy, branch_logits


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
    """One encoder and its classifier. `make_epoch(epoch)` -> (x, y) training tensors.
    With `val`, keeps the best epoch and stops early; without, trains all `epochs`."""
    params = list(getattr(model, modality).parameters()) + list(model.heads[modality].parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    x, y = make_epoch(0)
    steps = math.ceil(len(x) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=0.15)
    history, best_acc, best_epoch, best_state = [], -1.0, epochs - 1, None
    for epoch in range(epochs):
        if epoch:
            x, y = make_epoch(epoch)
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        total, t0 = 0.0, time.time()
        bar = tqdm(range(0, len(x), cfg.batch_size), desc=f"{modality} {epoch + 1}/{epochs}", leave=False, mininterval=1.0)
        for i in bar:
            idx = perm[i : i + cfg.batch_size]
            xb, yb = x[idx], y[idx]
            if modality == "image":
                xb = augment.augment_images(xb.float() / 255.0, gen)
            loss = F.cross_entropy(model.heads[modality](model.encode(modality, xb)), yb, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched.last_epoch < epochs * steps - 1:
                sched.step()
            total += loss.item() * len(idx)
        row = {"epoch": epoch + 1, "loss": round(total / len(x), 4), "seconds": round(time.time() - t0, 1)}
        if val is not None:
            row["val_acc"] = round(accuracy(branch_logits(model, modality, val[0]), val[1]), 5)
            if row["val_acc"] > best_acc:
                best_acc, best_epoch = row["val_acc"], epoch
                best_state = copy.deepcopy(
                    {k: v for k, v in model.state_dict().items() if k.startswith((modality + ".", "heads." + modality))}
                )
        history.append(row)
        tqdm.write(f"{modality} " + json.dumps(row))
        if val is not None and epoch - best_epoch >= cfg.patience:
            tqdm.write(f"{modality}: no better validation accuracy for {cfg.patience} epochs, stopping")
            break
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    return history, best_epoch + 1
