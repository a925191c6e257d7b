"""Train the three branches and the fusion head, evaluate, and write checkpoints/.

    python -m core.train --data-dir ../shared/data          # what scripts/train_core.sh runs

Stages, in order: image (MNIST, plus the stroke training set drawn like the canvas draws),
strokes (pendigits + UNIPEN through the canvas path),
audio (FSDD; the number of epochs is chosen on a held-out speaker, then the model is refit
on every training speaker), fusion (encoders frozen, label-matched tuples re-drawn every
epoch, modality dropout). Each branch: AdamW, one-cycle LR, label smoothing, augmentation,
early stopping on its validation split.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import itertools
import json
import math
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core import audio as A
from core import augment, checkpoint, data
from core import strokes as S
from core.errors import InputError
from core.model import MODALITIES, DigitNet, ModelDimensions, parameter_count

SUBSETS = [c for r in (1, 2, 3) for c in itertools.combinations(MODALITIES, r)]


@dataclass
class Config:
    # data
    data_dir: str | None = None
    limit: int = 0  # >0: at most this many training items per set (smoke tests)
    verify: bool = True  # check data files' checksums (off only for generated test fixtures)
    # optimizer
    batch_size: int = 128
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    patience: int = 10  # epochs without a better validation accuracy before stopping
    image_epochs: int = 18
    image_lr: float = 3e-3
    stroke_epochs: int = 30
    stroke_lr: float = 2e-3
    audio_epochs: int = 60
    audio_lr: float = 3e-3
    fusion_epochs: int = 8
    fusion_lr: float = 2e-3
    fusion_tuples: int = 30000  # training tuples per fusion epoch
    test_tuples: int = 3000  # label-matched test tuples for the fused metrics
    # run
    seed: int = 0
    threads: int = 2
    loso: bool = False  # also measure leave-one-speaker-out on FSDD (6 extra audio trainings)
    out: str = str(checkpoint.DEFAULT_DIR)
    stages: tuple[str, ...] = field(default_factory=lambda: ("image", "strokes", "audio", "fusion"))


# ---------------------------------------------------------------- data


@dataclass
class Sets:
    """Preprocessed inputs per modality and split: (x, y) with x a tensor the encoder takes."""

    image: dict[str, tuple[torch.Tensor, torch.Tensor]]
    strokes: dict[str, tuple[torch.Tensor, torch.Tensor]]
    audio: dict[str, tuple[torch.Tensor, torch.Tensor]]
    stroke_train_raw: list[tuple]  # (pendigits row, its curve) or (UNIPEN strokes, None), for augmentation
    stroke_train_y: np.ndarray
    audio_waves: dict[str, list[np.ndarray]]  # trimmed 8 kHz waves per split, for augmentation
    audio_speakers: dict[str, list[str]]
    unipen_test: tuple[torch.Tensor, torch.Tensor]
    pendigits_test: tuple[torch.Tensor, torch.Tensor]


def _limit(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=min(n, limit), replace=False)) if limit else np.arange(n)


def load_sets(cfg: Config) -> Sets:
    rng = np.random.default_rng(cfg.seed)
    root = data.data_root(cfg.data_dir)
    tq = lambda it, desc: tqdm(it, desc=desc, leave=False, mininterval=1.0)  # noqa: E731

    xi, yi = data.load_mnist(root, "train", cfg.verify)
    xt, yt = data.load_mnist(root, "test", cfg.verify)
    tr = _limit(len(xi) - data.MNIST_VAL, cfg.limit, rng)
    va = len(xi) - data.MNIST_VAL + _limit(data.MNIST_VAL, cfg.limit // 4, rng)
    te = _limit(len(xt), cfg.limit // 2, rng)
    img = lambda x: torch.from_numpy(x.astype(np.float32) / 255.0)  # noqa: E731
    image = {
        "train": (torch.from_numpy(xi[tr]), torch.from_numpy(yi[tr])),  # uint8, augmented per batch
        "val": (img(xi[va]), torch.from_numpy(yi[va])),
        "test": (img(xt[te]), torch.from_numpy(yt[te])),
    }

    pp, py = data.load_pendigits(root, "train", cfg.verify)
    ptp, pty = data.load_pendigits(root, "test", cfg.verify)
    n_tr = len(pp) - data.PENDIGITS_VAL
    p_tr = _limit(n_tr, cfg.limit, rng)
    p_va = n_tr + _limit(data.PENDIGITS_VAL, cfg.limit // 4, rng)
    p_te = _limit(len(ptp), cfg.limit // 2, rng)
    u = data.load_unipen(root, cfg.verify)
    u_idx = {s: u.split_indices(s) for s in ("train", "val", "test")}
    for s, lim in (("train", cfg.limit), ("val", cfg.limit // 4), ("test", cfg.limit // 2)):
        u_idx[s] = u_idx[s][_limit(len(u_idx[s]), lim, rng)]
    u_parts = {s: [S.unipen_strokes(u.sample(i)) for i in u_idx[s]] for s in u_idx}
    u_feat = {}
    for s in u_idx:  # a few UNIPEN samples are a single repeated point or only taps: nothing to learn from
        keep, feats = [], []
        for k, parts in enumerate(tq(u_parts[s], f"unipen {s}")):
            try:
                feats.append(S.strokes_to_input(parts, y_down=False))
                keep.append(k)
            except InputError:
                pass
        u_idx[s], u_parts[s], u_feat[s] = u_idx[s][keep], [u_parts[s][k] for k in keep], np.stack(feats)
    pen = lambda rows: np.stack([S.pendigits_input(r) for r in tq(rows, "pendigits")])  # noqa: E731
    t = lambda x, y: (torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.int64)))  # noqa: E731
    pen_test = pen(ptp[p_te])
    strokes = {
        "val": t(np.concatenate([pen(pp[p_va]), u_feat["val"]]), np.concatenate([py[p_va], u.labels[u_idx["val"]]])),
        "test": t(np.concatenate([pen_test, u_feat["test"]]), np.concatenate([pty[p_te], u.labels[u_idx["test"]]])),
    }
    raw = [(p, S.pendigits_curve(p)) for p in pp[p_tr]] + [(parts, None) for parts in u_parts["train"]]
    raw_y = np.concatenate([py[p_tr], u.labels[u_idx["train"]]])

    # The image branch also learns from pen paths drawn the way the web canvas draws them: MNIST
    # alone leaves it unsure of thin, even, fast-drawn digits, which is what users give it.
    drawn = [S.rasterize([c], y_down=False) if c is not None else S.rasterize(a, y_down=False) for a, c in tq(raw, "draw")]
    image["train_mix"] = (
        torch.cat([image["train"][0], torch.from_numpy(np.stack(drawn))]),
        torch.cat([image["train"][1], torch.from_numpy(raw_y)]),
    )
    val_drawn = strokes["val"][0][:, 2 * S.N_POINTS :].reshape(-1, 28, 28)
    image["val_mix"] = (torch.cat([image["val"][0], val_drawn]), torch.cat([image["val"][1], strokes["val"][1]]))

    clips = data.list_fsdd(root)
    split_clips = {
        "train": data.fsdd_split(clips, "train"),  # every speaker, indices 5-49
        "test": data.fsdd_split(clips, "test"),
    }
    if cfg.limit:
        split_clips = {k: [v[i] for i in _limit(len(v), cfg.limit // 4, rng)] for k, v in split_clips.items()}
    waves = {k: [A.trim(A.load_audio(c.path)) for c in tq(v, f"fsdd {k}")] for k, v in split_clips.items()}
    audio = {k: t(np.stack([A.log_mel(w) for w in waves[k]]), [c.digit for c in split_clips[k]]) for k in split_clips}
    return Sets(
        image=image,
        strokes=strokes,
        audio=audio,
        stroke_train_raw=raw,
        stroke_train_y=raw_y,
        audio_waves=waves,
        audio_speakers={k: [c.speaker for c in v] for k, v in split_clips.items()},
        unipen_test=t(u_feat["test"], u.labels[u_idx["test"]]),
        pendigits_test=t(pen_test, pty[p_te]),
    )


def stroke_epoch(sets: Sets, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A freshly augmented copy of the stroke training set."""
    out = [
        augment.augmented_stroke_input(a, rng) if b is None else augment.augmented_pendigits_input(a, b, rng)
        for a, b in sets.stroke_train_raw
    ]
    return torch.from_numpy(np.stack(out)), torch.from_numpy(sets.stroke_train_y)


def audio_epoch(waves: list[np.ndarray], labels: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.stack([augment.augmented_audio_features(w, rng) for w in waves])
    return torch.from_numpy(x), labels


# ---------------------------------------------------------------- training


@torch.inference_mode()
def branch_logits(model: DigitNet, modality: str, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    model.eval()
    return torch.cat([model.heads[modality](model.encode(modality, x[i : i + batch])) for i in range(0, len(x), batch)])


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean())


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


def embed_items(model: DigitNet, modality: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs of one modality -> (embeddings, logits), in batches of 1000, eval mode, no gradients."""
    with torch.inference_mode():
        model.eval()
        e = torch.cat([model.encode(modality, x[i : i + 1000]) for i in range(0, len(x), 1000)])
        return e, model.heads[modality](e)


def tuple_pools(model: DigitNet, pools: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """Per modality: (embeddings, logits, labels) for every item of its pool."""
    return {m: (*embed_items(model, m, x), y) for m, (x, y) in pools.items()}


def draw_tuples(labels: dict[str, torch.Tensor], n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """n label-matched tuples: a label, then for each modality a random item with that label."""
    y = rng.integers(0, 10, size=n)
    by = {m: [np.flatnonzero(lab.numpy() == k) for k in range(10)] for m, lab in labels.items()}
    idx = {m: np.array([rng.choice(by[m][k]) for k in y]) for m in labels}
    return y, idx


def fused_logits(model: DigitNet, pools: dict, idx: dict[str, np.ndarray], subset: tuple[str, ...]) -> torch.Tensor:
    """Fusion head on precomputed embeddings for one modality subset."""
    n = len(next(iter(idx.values())))
    embeds, logits = [], []
    mask = torch.zeros(n, len(MODALITIES))
    for i, m in enumerate(MODALITIES):
        e, lg, _ = pools[m]
        embeds.append(e[idx[m]])
        logits.append(lg[idx[m]])
        mask[:, i] = float(m in subset)
    return model.fusion(embeds, logits, mask)


def evaluate_tuples(model: DigitNet, pools: dict, n: int, seed: int) -> dict[str, float]:
    """Accuracy of the fusion head on n label-matched tuples, for every non-empty subset."""
    rng = np.random.default_rng(seed)
    y, idx = draw_tuples({m: p[2] for m, p in pools.items()}, n, rng)
    yt = torch.from_numpy(y)
    with torch.inference_mode():
        model.eval()
        return {"+".join(s): round(accuracy(fused_logits(model, pools, idx, s), yt), 5) for s in SUBSETS}


def train_fusion(model: DigitNet, sets: Sets, cfg: Config, rng: np.random.Generator) -> list[dict]:
    """Frozen encoders; fusion head on label-matched tuples re-drawn (and re-augmented) every epoch."""
    opt = torch.optim.AdamW(model.fusion.parameters(), lr=cfg.fusion_lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed + 7)
    # Audio has no clips the refit model has not seen: the held-out speaker's clips stand in (optimistic for audio).
    _, _, audio_val = audio_selection_sets(sets)
    val_pools = tuple_pools(model, {"image": sets.image["val"], "strokes": sets.strokes["val"], "audio": audio_val})
    history, best, best_state = [], (-1.0, float("inf")), None
    for epoch in range(cfg.fusion_epochs):
        xi, yi = sets.image["train"]
        pick = torch.from_numpy(rng.choice(len(xi), size=min(len(xi), 12000), replace=False))
        img = augment.augment_images(xi[pick].float() / 255.0, gen)
        xs, ys = stroke_epoch(sets, rng)
        xa, ya = audio_epoch(sets.audio_waves["train"], sets.audio["train"][1], rng)
        pools = tuple_pools(model, {"image": (img, yi[pick]), "strokes": (xs, ys), "audio": (xa, ya)})
        y, idx = draw_tuples({m: p[2] for m, p in pools.items()}, cfg.fusion_tuples, rng)
        subset_ids = rng.integers(0, len(SUBSETS), size=len(y))  # modality dropout: every subset equally often
        model.fusion.train()
        total = 0.0
        for i in tqdm(range(0, len(y), 256), desc=f"fusion {epoch + 1}/{cfg.fusion_epochs}", leave=False, mininterval=1.0):
            sl = slice(i, i + 256)
            mask = torch.tensor([[float(m in SUBSETS[s]) for m in MODALITIES] for s in subset_ids[sl]])
            embeds = [pools[m][0][idx[m][sl]] for m in MODALITIES]
            logits = [pools[m][1][idx[m][sl]] for m in MODALITIES]
            loss = F.cross_entropy(model.fusion(embeds, logits, mask), torch.from_numpy(y[sl]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(subset_ids[sl])
        accs = evaluate_tuples(model, val_pools, 3000, cfg.seed + 1)
        with torch.inference_mode():
            yv, iv = draw_tuples({m: p[2] for m, p in val_pools.items()}, 3000, np.random.default_rng(cfg.seed + 1))
            nll = float(np.mean([F.cross_entropy(fused_logits(model, val_pools, iv, s), torch.from_numpy(yv)) for s in SUBSETS]))
        mean_acc = float(np.mean(list(accs.values())))
        row = {"epoch": epoch + 1, "loss": round(total / len(y), 4), "val_mean_acc": round(mean_acc, 5), "val_nll": round(nll, 4)}
        history.append(row)
        tqdm.write("fusion " + json.dumps(row))
        if (mean_acc, -nll) > (best[0], -best[1]):
            best, best_state = (mean_acc, nll), copy.deepcopy(model.fusion.state_dict())
    if best_state is not None:
        model.fusion.load_state_dict(best_state)
    return history


def audio_selection_sets(sets: Sets) -> tuple[list[np.ndarray], torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """FSDD training clips split by speaker: all but FSDD_VAL_SPEAKER to train, that speaker to validate."""
    spk = np.array(sets.audio_speakers["train"])
    tr, va = np.flatnonzero(spk != data.FSDD_VAL_SPEAKER), np.flatnonzero(spk == data.FSDD_VAL_SPEAKER)
    x, y = sets.audio["train"]
    waves = [sets.audio_waves["train"][i] for i in tr]
    return waves, y[tr], (x[va], y[va])


def leave_one_speaker_out(cfg: Config, epochs: int, root: Path) -> dict[str, float]:
    """Accuracy on each FSDD speaker (all 500 clips) of an audio branch trained on the other five."""
    clips = data.list_fsdd(root)
    waves = [A.trim(A.load_audio(c.path)) for c in tqdm(clips, desc="fsdd all", leave=False, mininterval=1.0)]
    y_all = torch.tensor([c.digit for c in clips])
    spk = np.array([c.speaker for c in clips])
    out = {}
    for s in data.FSDD_SPEAKERS:
        tr, te = np.flatnonzero(spk != s), np.flatnonzero(spk == s)
        torch.manual_seed(cfg.seed)
        model = DigitNet(ModelDimensions())
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        tw = [waves[i] for i in tr]
        train_branch(model, "audio", lambda e: audio_epoch(tw, y_all[tr], rng), epochs, cfg.audio_lr, cfg, None, gen)
        xt = torch.from_numpy(np.stack([A.log_mel(waves[i]) for i in te]))
        out[s] = round(accuracy(branch_logits(model, "audio", xt), y_all[te]), 5)
        tqdm.write(f"leave-one-speaker-out {s}: {out[s]}")
    out["mean"] = round(float(np.mean([out[s] for s in data.FSDD_SPEAKERS])), 5)
    return out


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(cfg: Config) -> dict:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    t_start = time.time()
    sets = load_sets(cfg)
    out = Path(cfg.out)
    if set(cfg.stages) != set(("image", "strokes", "audio", "fusion")) and (out / checkpoint.WEIGHTS_NAME).is_file():
        model, card = checkpoint.load(out)  # retrain some stages on top of existing weights
    else:
        model, card = DigitNet(ModelDimensions()), {}
    history = card.get("history", {})
    metrics = card.get("metrics", {})

    if "image" in cfg.stages:
        h, best = train_branch(
            model, "image", lambda e: sets.image["train_mix"], cfg.image_epochs, cfg.image_lr, cfg, sets.image["val_mix"], gen
        )
        history["image"] = {"epochs": h, "best_epoch": best}
    if "strokes" in cfg.stages:
        # the stroke raster reader starts from the image branch: MNIST's 60,000 digits teach shapes
        model.strokes.raster.load_state_dict(model.image.state_dict())
        h, best = train_branch(
            model, "strokes", lambda e: stroke_epoch(sets, rng), cfg.stroke_epochs, cfg.stroke_lr, cfg, sets.strokes["val"], gen
        )
        history["strokes"] = {"epochs": h, "best_epoch": best}
    if "audio" in cfg.stages:
        waves, ys, val = audio_selection_sets(sets)
        probe = DigitNet(ModelDimensions())
        h, best = train_branch(
            probe, "audio", lambda e: audio_epoch(waves, ys, rng), cfg.audio_epochs, cfg.audio_lr, cfg, val, gen
        )
        tqdm.write(f"audio: best epoch on held-out speaker {data.FSDD_VAL_SPEAKER} is {best}; refitting on every speaker")
        h2, _ = train_branch(
            model,
            "audio",
            lambda e: audio_epoch(sets.audio_waves["train"], sets.audio["train"][1], rng),
            best,
            cfg.audio_lr,
            cfg,
            None,
            gen,
        )
        history["audio"] = {"selection": h, "best_epoch": best, "refit": h2}
        metrics["audio_val_heldout_speaker"] = max(r["val_acc"] for r in h)
        if cfg.loso:
            metrics["fsdd_leave_one_speaker_out"] = leave_one_speaker_out(cfg, best, data.data_root(cfg.data_dir))
    if "fusion" in cfg.stages:
        history["fusion"] = train_fusion(model, sets, cfg, rng)

    model.eval()
    metrics["mnist_val"] = accuracy(branch_logits(model, "image", sets.image["val"][0]), sets.image["val"][1])
    metrics["mnist_test"] = accuracy(branch_logits(model, "image", sets.image["test"][0]), sets.image["test"][1])
    metrics["strokes_val"] = accuracy(branch_logits(model, "strokes", sets.strokes["val"][0]), sets.strokes["val"][1])
    metrics["pendigits_test"] = accuracy(branch_logits(model, "strokes", sets.pendigits_test[0]), sets.pendigits_test[1])
    metrics["unipen_test_donors"] = accuracy(branch_logits(model, "strokes", sets.unipen_test[0]), sets.unipen_test[1])
    metrics["fsdd_test"] = accuracy(branch_logits(model, "audio", sets.audio["test"][0]), sets.audio["test"][1])
    test_pools = tuple_pools(model, {"image": sets.image["test"], "strokes": sets.pendigits_test, "audio": sets.audio["test"]})
    metrics["fused_test_tuples"] = evaluate_tuples(model, test_pools, cfg.test_tuples, cfg.seed + 2)
    metrics = {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}
    tqdm.write(json.dumps(metrics, indent=1))

    card = {
        "name": "digits multimodal recognizer",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "parameters": parameter_count(model),
        "config": asdict(cfg),
        "splits": {
            "mnist": f"train: first {60000 - data.MNIST_VAL} of train file; val: last {data.MNIST_VAL}; test: t10k",
            "pendigits": f"train: first {7494 - data.PENDIGITS_VAL} rows of .tra; val: last {data.PENDIGITS_VAL}; "
            "test: .tes (other writers)",
            "unipen": f"train: other donors; val donors: {list(data.UNIPEN_VAL_SOURCES)}; "
            f"test donors: {list(data.UNIPEN_TEST_SOURCES)}",
            "fsdd": "test: indices 0-4 (customary); epochs chosen on held-out speaker "
            f"{data.FSDD_VAL_SPEAKER}, then refit on all speakers' indices 5-49",
        },
        "metrics": metrics,
        "history": history,
        "training_files_sha256": data.training_files(cfg.data_dir),
        "train_seconds": round(time.time() - t_start, 1),
    }
    card = checkpoint.save(model, out, card)
    tqdm.write(f"wrote {out / checkpoint.WEIGHTS_NAME} ({card['checkpoint']['bytes'] / 1e6:.2f} MB) and {checkpoint.CARD_NAME}")
    return card


def get_args_parser() -> argparse.ArgumentParser:
    d = Config()
    p = argparse.ArgumentParser(
        description="Train the multimodal digit recognizer.", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--data-dir", default=None, help="data root (default: $DIGITS_DATA or ./data)")
    p.add_argument("--out", default=d.out, help="checkpoint directory")
    p.add_argument("--stages", default=",".join(d.stages), help="comma-separated subset of image,strokes,audio,fusion")
    for name in ("limit", "batch_size", "patience", "image_epochs", "stroke_epochs", "audio_epochs", "fusion_epochs",
                 "fusion_tuples", "test_tuples", "seed", "threads"):  # fmt: skip
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("image_lr", "stroke_lr", "audio_lr", "fusion_lr", "weight_decay", "label_smoothing"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip data checksums (generated fixtures)")
    p.add_argument("--loso", action="store_true", help="also measure FSDD leave-one-speaker-out (6 extra audio trainings)")
    return p


def cli() -> None:
    args = get_args_parser().parse_args()
    kw = vars(args)
    stages = tuple(s for s in kw.pop("stages").split(",") if s)
    bad = set(stages) - {"image", "strokes", "audio", "fusion"}
    if bad:
        raise SystemExit(f"unknown stage(s) {sorted(bad)}; expected image, strokes, audio, fusion")
    from core.errors import DataError

    try:
        main(Config(**kw, stages=stages))
    except DataError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    cli()
