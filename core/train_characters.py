"""Train the 62-class characters model (digits, A-Z, a-z; issue #11) and write checkpoints/characters.pt:

    python -m core.train --model characters --data-dir ../shared/data   # what scripts/train_core.sh --only characters runs
    python -m core.train_characters --data-dir ../shared/data           # the same
    torchrun --standalone --nproc-per-node 2 -m core.train --model characters   # train_core.sh --only characters --nproc 2

The same DigitNet as the digit model with 62 classes in EMNIST byclass order (core/classes.CHARACTERS) and
narrower image CNNs (a 30-minute budget on 2 CPU cores); the audio branch is left untrained and never served
(spoken letters are out of scope). The same preprocessing as digits: images through image.to_mnist, strokes
through strokes.strokes_to_input (the canvas path). Stages:
- image: FEMNIST training writers (the whole NIST box brought to the MNIST convention, sets.femnist_images),
  MNIST training digits, and the UNIPEN letter and digit trajectories of training writers rendered like the
  stroke raster; epochs chosen on validation writers (FEMNIST and UNIPEN, writer_split bucket 0);
- strokes: UNIPEN letters and digits of training writers, re-augmented every epoch; its raster CNN starts
  from the image branch; epochs chosen on UNIPEN validation writers;
- fusion: encoders frozen; image, strokes or both of one drawing, equally often; the epoch kept is the best
  on validation writers' letters drawn through the canvas path (sets.make_drawings);
- calibrate: a temperature per branch and for both together, and the "sure" threshold, on validation writers.
Test writers (bucket 1) are never read here: scripts/benchmark_characters.py measures them.

Under torchrun the image and strokes stages run on every process with DistributedDataParallel, exactly as the
digit model's do (core/distributed.py, core/train_branch.py): every rank loads the same sets and makes the same
epochs (same seeds), takes its shard of each global batch, and uses its own seeds for dropout and image
augmentation. Then the other ranks leave, and rank 0 alone fits the fusion head, calibrates and writes the
checkpoint and card. One process runs exactly as before.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core import augment, calibrate, checkpoint, data, distributed, sets
from core.classes import CHARACTERS
from core.config import Config
from core.errors import DataError
from core.model import DigitNet, ModelDimensions, parameter_count
from core.train import drawn_images, git_commit
from core.train_branch import train_branch
from core.tuples import accuracy, branch_logits, embed_items

NAME = "characters"
DIMS = ModelDimensions(n_classes=len(CHARACTERS), image_channels=(16, 32, 64))  # 4x cheaper than digits' (32, 64, 128)
MODALITIES = ("image", "strokes")  # what the characters model serves; audio input is refused
MNIST_IMAGES = 15000  # MNIST training digits added to the image set (FEMNIST already holds 27k digits)
IMAGE_EPOCH_ITEMS = 45000  # an image epoch: this many items drawn afresh from the ~107k training images
STROKE_EPOCH_ITEMS = 30000  # a stroke epoch: this many of the ~59k training trajectories, freshly augmented
FUSION_ITEMS = 20000  # training trajectories (one augmented copy) the fusion head learns from
SURE_ACCURACY = 0.97  # the "sure" threshold: the lowest in calibrate.THRESHOLDS whose sure answers reach this on validation
FUSION_BATCH = 256
DEFAULTS = dict(  # core.config.Config fields that differ from the digit model's (the other fields are unused)
    image_epochs=12, image_lr=3e-3, stroke_epochs=10, stroke_lr=2e-3, fusion_epochs=6, fusion_lr=2e-3, patience=3,
    stages=("image", "strokes", "fusion", "calibrate"), threads=1,  # one thread: 3x faster than two on a shared machine
)  # fmt: skip


# ---------------------------------------------------------------- data


def unipen_sets(
    root: Path, split: str, limit: int, verify: bool, rng: np.random.Generator
) -> tuple[list, np.ndarray, np.ndarray]:
    """UNIPEN letters and digits of one writer split -> (pen paths, stroke inputs, labels 0-61)."""
    lp, lx, ly = sets.unipen_split(data.load_unipen_letters(root, verify), split, limit, rng, by_writer=True)
    dp, dx, dy = sets.unipen_split(data.load_unipen(root, verify), split, limit // 4 if limit else 0, rng, by_writer=True)
    return lp + dp, np.concatenate([lx, dx]), np.concatenate([ly, dy])


def rasters(stroke_inputs: np.ndarray) -> np.ndarray:
    """Stroke inputs -> (n, 28, 28) uint8: the pen path's own rendering (what the image branch learns drawings from)."""
    return np.round(drawn_images(torch.from_numpy(stroke_inputs)).numpy() * 255).astype(np.uint8)


def load_sets(cfg: Config, rng: np.random.Generator) -> dict:
    """Every training and validation set of the characters model (training and validation writers only)."""
    root = data.data_root(cfg.data_dir)
    fem = sets.femnist_sets(root, cfg.limit, cfg.verify, rng)
    mnist = sets.image_sets(root, min(cfg.limit, MNIST_IMAGES) if cfg.limit else MNIST_IMAGES, cfg.verify, rng)["train"]
    tr_parts, tr_x, tr_y = unipen_sets(root, "train", cfg.limit, cfg.verify, rng)
    va_parts, va_x, va_y = unipen_sets(root, "val", cfg.limit // 4, cfg.verify, rng)
    image_train = (
        torch.cat([fem["train"][0], mnist[0], torch.from_numpy(rasters(tr_x))]),
        torch.cat([fem["train"][1], mnist[1], torch.from_numpy(tr_y)]),
    )
    image_val = (
        torch.cat([fem["val"][0], drawn_images(torch.from_numpy(va_x))]),
        torch.cat([fem["val"][1], torch.from_numpy(va_y)]),
    )
    return {
        "image": (image_train, image_val),
        "femnist_val": fem["val"],
        "strokes_train": (tr_parts, tr_y),
        "strokes_val": sets.pair(va_x, va_y),
        "drawings_val": sets.make_drawings(va_parts, va_y, np.array(["unipen"] * len(va_y))),
    }


def stroke_epoch(parts: list, y: np.ndarray, rng: np.random.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` of the UNIPEN training trajectories, drawn afresh and augmented, as stroke inputs. Epochs are a
    share of the set so that validation picks among more, shorter epochs inside the time budget."""
    pick = np.sort(rng.choice(len(parts), size=min(n, len(parts)), replace=False))
    x = np.stack(
        [augment.augmented_stroke_input(parts[i], rng) for i in tqdm(pick, desc="augment", leave=False, mininterval=1.0)]
    )
    return torch.from_numpy(x), torch.from_numpy(y[pick])


def image_epoch(train: tuple[torch.Tensor, torch.Tensor], gen: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` training images drawn afresh (they are augmented per batch by train_branch)."""
    pick = torch.randperm(len(train[1]), generator=gen)[:n]
    return train[0][pick], train[1][pick]


# ---------------------------------------------------------------- fusion and calibration


def both(model: DigitNet, image: torch.Tensor, strokes: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """One drawing's picture and strokes -> {modality: (embeddings, logits)} from the frozen branches."""
    return {"image": embed_items(model, "image", image), "strokes": embed_items(model, "strokes", strokes)}


def fused(model: DigitNet, parts: dict, mask: torch.Tensor, head: bool = False) -> torch.Tensor:
    """Fused logits for items holding the modalities `mask` (n, 3) marks (audio never)."""
    n = mask.shape[0]
    zeros = (torch.zeros(n, model.dims.embed), torch.zeros(n, model.dims.n_classes))
    e, lg = zip(*(parts.get(m, zeros) for m in ("image", "strokes", "audio")))
    return (model.fusion if head else model.fuse)(list(e), list(lg), mask)


def fit_fusion(model: DigitNet, sets_: dict, cfg: Config, rng: np.random.Generator) -> list[dict]:
    """Frozen encoders; the head on one augmented copy of the training trajectories (picture = the path's
    rendering), each item given as image, strokes or both; kept: the best epoch on validation drawings."""
    xs, ys = stroke_epoch(*sets_["strokes_train"], rng, FUSION_ITEMS)
    train = both(model, drawn_images(xs), xs)
    d = sets_["drawings_val"]
    val = both(model, d.image, d.strokes)
    val_mask = torch.tensor([[1.0, 1.0, 0.0]]).repeat(len(d.y), 1)
    opt = torch.optim.AdamW(model.fusion.parameters(), lr=cfg.fusion_lr, weight_decay=cfg.weight_decay)
    subsets = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    history, best, best_state = [], -1.0, None
    for epoch in range(cfg.fusion_epochs):
        model.fusion.train()
        perm = torch.from_numpy(rng.permutation(len(ys)))
        total = 0.0
        for i in range(0, len(perm), FUSION_BATCH):
            idx = perm[i : i + FUSION_BATCH]
            mask = subsets[torch.from_numpy(rng.integers(0, 3, len(idx)))]
            parts = {m: (e[idx], lg[idx]) for m, (e, lg) in train.items()}
            loss = F.cross_entropy(fused(model, parts, mask, head=True), ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.fusion.eval()
        with torch.inference_mode():
            acc = accuracy(fused(model, val, val_mask), d.y)
        row = {"epoch": epoch + 1, "loss": round(total / len(ys), 4), "val_drawings_fused": round(acc, 5)}
        history.append(row)
        tqdm.write("fusion " + json.dumps(row))
        if acc > best:
            best, best_state = acc, copy.deepcopy(model.fusion.state_dict())
    model.fusion.load_state_dict(best_state)
    return history


def fit_calibration(model: DigitNet, sets_: dict) -> dict:
    """Temperatures (image, strokes, both of one drawing) and the "sure" threshold, on validation writers.
    No out-of-distribution check is fitted (`fitted` stays False): every input counts as a character."""
    cal = model.calibration
    model.eval()
    xi, yi = sets_["image"][1]
    xs, ys = sets_["strokes_val"]
    ti = calibrate.fit_temperature(branch_logits(model, "image", xi), yi)
    ts = calibrate.fit_temperature(branch_logits(model, "strokes", xs), ys)
    d = sets_["drawings_val"]
    with torch.inference_mode():
        f = fused(model, both(model, d.image, d.strokes), torch.tensor([[1.0, 1.0, 0.0]]).repeat(len(d.y), 1))
    tf = calibrate.fit_temperature(f, d.y)
    cal.log_temp[0], cal.log_temp[1] = float(np.log(ti)), float(np.log(ts))
    both_bits = cal.subset_index([True, True, False])
    cal.log_temp_fused[both_bits] = float(np.log(tf))
    p = torch.softmax(f / tf, dim=1)
    conf, hit = p.max(1).values, (p.argmax(1) == d.y).float()
    tau = next((t for t in calibrate.THRESHOLDS if hit[conf >= t].mean() >= SURE_ACCURACY), calibrate.THRESHOLDS[-1])
    cal.threshold.fill_(tau)
    return {
        "temperature": {"image": ti, "strokes": ts, "image+strokes": tf},
        "threshold": tau,
        "val_drawings_sure_share": round(float((conf >= tau).float().mean()), 5),
        "val_drawings_sure_accuracy": round(float(hit[conf >= tau].mean()), 5) if bool((conf >= tau).any()) else None,
    }


# ---------------------------------------------------------------- the run


def training_files(root: Path) -> dict[str, str]:
    """sha256 of every file the characters model learned from (for its model card)."""
    files = [data.mnist_path(root, "train", k)[0] for k in ("images", "labels")]
    files += [root / "unipen" / data.UNIPEN_FILE[0], root / "unipen" / data.UNIPEN_LETTERS_FILE[0]]
    files += [root / "femnist" / data.FEMNIST_FILE[0]]
    return {str(p.relative_to(root)): data.file_digest(p) for p in files if p.is_file()}


def main(cfg: Config) -> dict:
    """Train the characters model and write {cfg.out}/characters.pt and .json; returns the card (on ranks
    other than 0 under torchrun: {})."""
    world = distributed.start(cfg.device, cfg.threads, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    t_start = time.time()
    s = load_sets(cfg, rng)  # every rank: the same sets, and `rng` and `gen` in the same state afterwards
    model = DigitNet(DIMS)
    distributed.own_seeds(cfg.seed)  # the same initial weights on every rank (seeded above), then its own dropout
    history, metrics, seconds = {}, {}, {"data": round(time.time() - t_start, 1)}

    def timed(stage, fn):
        t0 = time.time()
        r = fn()
        seconds[stage] = round(time.time() - t0, 1)
        return r

    train, val = s["image"]
    h, best = timed(
        "image",
        lambda: train_branch(
            model, "image", lambda e: image_epoch(train, gen, IMAGE_EPOCH_ITEMS), cfg.image_epochs, cfg.image_lr, cfg, val, gen
        ),
    )
    history["image"] = {"epochs": h, "best_epoch": best}
    model.strokes.raster.load_state_dict(model.image.state_dict())
    strokes_epoch = lambda e: stroke_epoch(*s["strokes_train"], rng, STROKE_EPOCH_ITEMS)  # noqa: E731
    h, best = timed(
        "strokes",
        lambda: train_branch(model, "strokes", strokes_epoch, cfg.stroke_epochs, cfg.stroke_lr, cfg, s["strokes_val"], gen),
    )
    history["strokes"] = {"epochs": h, "best_epoch": best}
    if not distributed.finish():  # the distributed stages end here; rank 0 goes on as one process
        return {}
    history["fusion"] = timed("fusion", lambda: fit_fusion(model, s, cfg, rng))
    metrics["calibration"] = timed("calibrate", lambda: fit_calibration(model, s))
    model.eval()
    metrics["femnist_val"] = accuracy(branch_logits(model, "image", s["femnist_val"][0]), s["femnist_val"][1])
    metrics["image_val"] = accuracy(branch_logits(model, "image", val[0]), val[1])
    metrics["strokes_val"] = accuracy(branch_logits(model, "strokes", s["strokes_val"][0]), s["strokes_val"][1])
    metrics["drawings_val_fused"] = max(r["val_drawings_fused"] for r in history["fusion"])
    metrics = {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}
    tqdm.write(json.dumps(metrics, indent=1))
    card = {
        "name": "characters recognizer (digits, A-Z, a-z)",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "parameters": parameter_count(model),
        "classes": CHARACTERS,
        "modalities": list(MODALITIES),
        "config": asdict(cfg),
        "processes": world,
        "splits": {
            "femnist": "core.sets.writer_split of writer ids: bucket 0 validation, bucket 1 test (never read here), rest train",
            "unipen": "letters (1b/1c) and digits (1a): the same writer_split of writer ids (segfile)",
            "mnist": f"{MNIST_IMAGES} digits of the training part of the MNIST training file",
        },
        "metrics": metrics,
        "history": history,
        "stage_seconds": seconds,
        "training_files_sha256": training_files(data.data_root(cfg.data_dir)),
        "train_seconds": round(time.time() - t_start, 1),
    }
    card = checkpoint.save(model, Path(cfg.out), card, name=NAME)
    tqdm.write(
        f"wrote {Path(cfg.out) / (NAME + '.pt')} ({card['checkpoint']['bytes'] / 1e6:.2f} MB), train {card['train_seconds']} s"
    )
    return card


def get_args_parser() -> argparse.ArgumentParser:
    d = replace(Config(), **DEFAULTS)
    p = argparse.ArgumentParser(
        description="Train the 62-class characters model.", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--data-dir", default=None, help="data root (default: $DIGITS_DATA or ./data)")
    p.add_argument("--out", default=d.out, help="checkpoint directory")
    for name in ("limit", "batch_size", "patience", "image_epochs", "stroke_epochs", "fusion_epochs", "seed", "threads"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("image_lr", "stroke_lr", "fusion_lr", "weight_decay", "label_smoothing"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--device", choices=("cpu", "cuda"), default=d.device,
                   help="where the branches train (cuda:LOCAL_RANK under torchrun); the other stages run on cpu")  # fmt: skip
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip data checksums (generated fixtures)")
    return p


def cli(argv: list[str] | None = None) -> None:
    kw = vars(get_args_parser().parse_args(argv))
    if kw["device"] == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda, but torch sees no CUDA device here; use --device cpu (the default)")
    try:
        main(replace(Config(), **{**DEFAULTS, **kw}))
    except DataError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    cli()
