"""Train the line reader (core/line_model.py) with CTC on synthetic lines, within a time budget.

    python -m core.train_reader --data-dir ../data                # 25 min on 2 CPU cores -> checkpoints/reader.pt
    python -m core.train_reader --data-dir ../data --minutes 6 --out /tmp/reader.pt

Lines are made on the fly from training writers only (core/line_synth.py), never twice the same.
Every `--val-every` seconds the model reads a fixed set of validation lines written by held-out
writers; the weights with the best exact-line accuracy (then the lowest character error rate) are
the ones saved. The learning rate follows the clock: a short warm-up, then a cosine to zero at
the end of the budget.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from core import data
from core import line_model as M
from core import line_synth as LS
from core.line_finder import LINE_HEIGHT, normalize_line
from core.text_metrics import character_error_rate
from core.train import git_commit

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "checkpoints" / M.READER_WEIGHTS


@dataclass
class Config:
    # data
    data_dir: str | None = None
    verify: bool = True  # check data files' checksums
    val_lines: int = 600  # validation lines (held-out writers), fixed for the whole run
    # budget
    minutes: float = 25.0  # wall clock for everything: loading, training, validation, saving
    val_every: float = 150.0  # seconds of training between validations
    threads: int = 2
    # optimizer
    batch_size: int = 24
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: float = 0.03  # share of the budget spent warming the learning rate up
    clip: float = 5.0  # gradient norm
    seed: int = 0
    out: str = str(DEFAULT_OUT)


def collate(lines: list[LS.Line]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Synthetic lines -> (x (N, 1, 32, W) ink, targets (sum of lengths,) classes 1-10, input lengths
    (frames of each line without its padding), target lengths), as nn.CTCLoss takes them."""
    imgs = [normalize_line(ln.image) for ln in lines]
    w = max(M.STRIDE * 2, max(i.shape[1] for i in imgs))
    w += -w % M.STRIDE
    x = np.zeros((len(imgs), 1, LINE_HEIGHT, w), np.float32)
    for k, img in enumerate(imgs):
        x[k, 0, :, : img.shape[1]] = img
    targets = [int(c) + 1 for ln in lines for c in ln.text]
    in_len = [max(1, -(-img.shape[1] // M.STRIDE)) for img in imgs]  # frames that see the line, padding excluded
    return (
        torch.from_numpy(x),
        torch.tensor(targets, dtype=torch.long),
        torch.tensor(in_len, dtype=torch.long),
        torch.tensor([len(ln.text) for ln in lines], dtype=torch.long),
    )


def evaluate(model: M.LineNet, lines: list[LS.Line], images: list[np.ndarray] | None = None) -> dict:
    """Lines -> {"exact": share read exactly, "cer": edits / characters, "lines": n}."""
    model.eval()
    images = images if images is not None else [normalize_line(ln.image) for ln in lines]
    reads = [M.text_of(e) for e, _ in M.read_lines(model, images)]
    return {
        "exact": float(np.mean([r == ln.text for r, ln in zip(reads, lines)])),
        "cer": character_error_rate(reads, [ln.text for ln in lines]),
        "lines": len(lines),
    }


def lr_at(cfg: Config, progress: float) -> float:
    """Learning rate at `progress` (0..1) of the time budget: linear warm-up, then cosine to 0."""
    if progress < cfg.warmup:
        return cfg.lr * progress / cfg.warmup
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - cfg.warmup) / (1 - cfg.warmup))))


def main(cfg: Config) -> dict:
    start, commit = time.time(), git_commit()  # the code that trains, not what is checked out when it ends
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    root = data.data_root(cfg.data_dir)
    train_pool = LS.load_pool(root, "train", cfg.verify)
    val_lines = LS.make_lines(LS.load_pool(root, "val", cfg.verify), cfg.val_lines, seed=10_000 + cfg.seed)
    val_images = [normalize_line(ln.image) for ln in val_lines]
    print(f"glyphs: {len(train_pool):,} training, validation lines: {len(val_lines)} ({time.time() - start:.0f} s)")

    model = M.LineNet()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ctc = nn.CTCLoss(blank=M.BLANK, zero_infinity=True)
    budget = cfg.minutes * 60
    best, best_key, best_row, history = None, None, None, []
    val_cost, last_val, step, losses = 5.0, time.time(), 0, []
    bar = tqdm(total=int(budget), unit="s", desc="reader", mininterval=2.0)
    train_start = time.time()

    def validate() -> None:
        nonlocal best, best_key, best_row, val_cost, last_val
        t = time.time()
        m = evaluate(model, val_lines, val_images)
        val_cost = time.time() - t
        row = {"step": step, "seconds": round(time.time() - start, 1), "loss": float(np.mean(losses[-100:] or [0])), **m}
        history.append(row)
        key = (m["exact"], -m["cer"])
        if best_key is None or key > best_key:
            best, best_key, best_row = copy.deepcopy(model.state_dict()), key, row
        bar.write(f"step {step}: loss {row['loss']:.3f}, validation exact {100 * m['exact']:.1f}%, CER {100 * m['cer']:.2f}%")
        last_val = time.time()
        model.train()

    model.train()
    while True:
        elapsed = time.time() - start
        if elapsed > budget - 1.2 * val_cost - 5:  # leave time for the last validation
            break
        progress = (time.time() - train_start) / max(1.0, budget - (train_start - start))
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, progress)
        x, targets, in_len, tgt_len = collate([LS.make_line(train_pool, rng) for _ in range(cfg.batch_size)])
        logp = model(x)
        loss = ctc(logp, targets, in_len, tgt_len)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        losses.append(loss.item())
        step += 1
        bar.n = int(time.time() - start)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", lr=f"{opt.param_groups[0]['lr']:.1e}", refresh=False)
        bar.update(0)
        if time.time() - last_val > cfg.val_every:
            validate()
    validate()
    bar.close()
    model.load_state_dict(best)
    final = best_row
    seconds = time.time() - start
    card = {
        "name": "digit line reader (CRNN + greedy CTC)",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": commit,
        "parameters": M.parameter_count(model),
        "config": {**asdict(cfg), "dims": model.dims.to_dict()},
        "metrics": {
            "val_exact": final["exact"],
            "val_cer": final["cer"],
            "val_lines": final["lines"],
            "steps": step,
            "seconds_per_step": (time.time() - train_start) / max(1, step),
        },
        "history": {"validation": history},
        "train_seconds": round(seconds, 1),
    }
    card = M.save(model, cfg.out, card)
    print(
        f"saved {cfg.out} ({card['checkpoint']['bytes'] / 1e6:.2f} MB): validation exact {100 * final['exact']:.1f}%, "
        f"CER {100 * final['cer']:.2f}%, {step} steps in {seconds:.0f} s"
    )
    return card


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Config()
    p.add_argument("--data-dir", default=None, help="data sets' root (default: $DIGITS_DATA, else ./data)")
    p.add_argument(
        "--minutes", type=float, default=d.minutes, help=f"wall-clock budget, everything included (default: {d.minutes})"
    )
    p.add_argument(
        "--out", default=d.out, help="weights path; the model card is written beside it as .json (default: checkpoints/reader.pt)"
    )
    p.add_argument("--seed", type=int, default=d.seed, help=f"(default: {d.seed})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"(default: {d.batch_size})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default: {d.lr})")
    p.add_argument("--val-lines", type=int, default=d.val_lines, help=f"validation lines (default: {d.val_lines})")
    p.add_argument("--val-every", type=float, default=d.val_every, help=f"seconds between validations (default: {d.val_every})")
    p.add_argument("--threads", type=int, default=d.threads, help=f"torch threads (default: {d.threads})")
    p.add_argument("--no-verify", action="store_true", help="skip data checksums (generated test fixtures)")
    return p


def cli() -> None:
    a = get_args_parser().parse_args()
    main(
        Config(
            data_dir=a.data_dir,
            minutes=a.minutes,
            out=a.out,
            seed=a.seed,
            batch_size=a.batch_size,
            lr=a.lr,
            val_lines=a.val_lines,
            val_every=a.val_every,
            threads=a.threads,
            verify=not a.no_verify,
        )
    )


if __name__ == "__main__":
    cli()
