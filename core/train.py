"""Train the three branches and the fusion head, and write checkpoints/: the training pipeline and its CLI.

    python -m core.train --data-dir ../shared/data          # what scripts/train_core.sh runs
    torchrun --standalone --nproc-per-node 2 -m core.train  # scripts/train_core.sh --nproc 2

Stages, in order (core/config.py: STAGES; every flag is a field of its `Config`):
- image (here): MNIST, plus the stroke training set drawn like the canvas draws;
- strokes (here): pendigits + UNIPEN through the canvas path;
- audio (core/train_audio.py): FSDD, plus text-to-speech digits with --tts where
  scripts/make_tts_digits.sh made them; the number of epochs is chosen with a held-out FSDD speaker
  and held-out TTS speakers, then the model is refit on every speaker; the light augmentation recipe,
  or with --audio-aug voices the voices recipe of core/augment_audio.py, computed once per training;
- fusion (here): encoders frozen, tuples re-drawn every epoch, modality dropout; image and strokes
  together always come from one drawing, as on the Draw tab;
- calibrate (core/calibrate.py, on validation data).
Each branch is fitted by core/train_branch.py: AdamW, one-cycle LR, label smoothing, augmentation
(core/augment.py for drawings, core/augment_audio.py for speech), early stopping on its validation split.

Under torchrun the branch stages (image, strokes, audio) run on every process with DistributedDataParallel
(core/distributed.py, core/train_branch.py); then the other ranks leave and rank 0 alone fits the fusion
head, calibrates, measures and writes the checkpoint and its card. One process runs exactly as before.

Training reads the training files only (core/sets.py). The test numbers in the model card are
measured after every choice is made, by `core.evaluate.test_metrics`.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import subprocess
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core import augment, calibrate, checkpoint, data, distributed, sets
from core import strokes as S
from core.config import STAGES, Config, kept_audio_recipe  # Config: the CLI's configuration, also `from core.train import Config`
from core.errors import DataError
from core.model import AUDIO_NORMS, MODALITIES, DigitNet, fusion_inputs, parameter_count
from core.train_audio import (
    audio_dims,
    audio_epoch,
    held_out_speakers,
    leave_one_speaker_out,
    load_audio,
    new_audio_encoder,
    train_audio,
    tts_dir,
    with_outliers,
    with_voice_bank,
    without_outliers,
)
from core.train_branch import train_branch
from core.tuples import (
    PAIRED,
    SUBSETS,
    accuracy,
    branch_logits,
    draw_tuples,
    drawing_accuracy,
    evaluate_mixed,
    same_drawing,
    tuple_parts,
    tuple_pools,
)

FUSION_IMAGES = 12000  # MNIST training images per augmented copy for the fusion head


# ---------------------------------------------------------------- epochs of augmented data


def stroke_epoch(strokes: sets.StrokeSets, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A freshly augmented copy of the stroke training set."""
    x = np.stack([augment.augmented_stroke_item(a, b, rng)[0] for a, b in strokes.train_raw])
    return torch.from_numpy(x), torch.from_numpy(strokes.train_y)


def drawn_images(stroke_inputs: torch.Tensor) -> torch.Tensor:
    """Stroke inputs -> (n, 28, 28) float: the pen path's own rendering, i.e. the picture of the same
    drawing (what the canvas gives the image branch, up to pen width)."""
    return stroke_inputs[:, 2 * S.N_POINTS :].reshape(-1, 28, 28)


def image_training_set(images: dict, strokes: sets.StrokeSets) -> tuple[tuple, tuple]:
    """(train, val) for the image branch: MNIST plus the stroke sets drawn the way the web canvas draws
    them. MNIST alone leaves it unsure of thin, even, fast-drawn digits, which is what users give it."""
    drawn = [S.rasterize([c], y_down=False) if c is not None else S.rasterize(a, y_down=False) for a, c in strokes.train_raw]
    train = (
        torch.cat([images["train"][0], torch.from_numpy(np.stack(drawn))]),
        torch.cat([images["train"][1], torch.from_numpy(strokes.train_y)]),
    )
    val = (torch.cat([images["val"][0], drawn_images(strokes.val[0])]), torch.cat([images["val"][1], strokes.val[1]]))
    return train, val


# ---------------------------------------------------------------- fusion


def fusion_training_pools(model: DigitNet, images: dict, strokes: sets.StrokeSets, audio: sets.AudioSet, rng, gen) -> tuple:
    """One freshly augmented copy of the training sets, embedded by the frozen encoders ->
    (label-matched pools, same-drawing pools). In the same-drawing pools the image of stroke item k
    is the rendering of item k's own augmented pen path (S.rasterize, as the image branch learned
    canvas drawings; drawing it through the 280 px canvas instead scored lower on validation drawings)."""
    xi, yi = images["train"]
    pick = torch.from_numpy(rng.choice(len(xi), size=min(len(xi), FUSION_IMAGES), replace=False))
    img = augment.augment_images(xi[pick].float() / 255.0, gen)
    xs, ys = stroke_epoch(strokes, rng)
    xa, ya = audio_epoch(audio, rng)
    matched = tuple_pools(model, {"image": (img, yi[pick]), "strokes": (xs, ys), "audio": (xa, ya)})
    return matched, {**matched, "image": tuple_pools(model, {"image": (drawn_images(xs), ys)})["image"]}


def fusion_validation_pools(model: DigitNet, images: dict, strokes: sets.StrokeSets, audio: sets.AudioSet) -> tuple:
    """(label-matched, same-drawing) validation pools: MNIST / stroke validation items, and the stroke
    validation digits drawn through the canvas path (picture and strokes of one drawing)."""
    # Audio has no clips the refit model has not seen: the held-out speaker's clips stand in (optimistic for audio).
    _, audio_val = sets.held_out_speaker(audio)
    a_val = (audio_val.x, audio_val.y)
    d = sets.make_drawings(strokes.val_trajectories, strokes.val[1].numpy(), np.array(["val"] * len(strokes.val[1])))
    matched = tuple_pools(model, {"image": images["val"], "strokes": strokes.val, "audio": a_val})
    drawn = tuple_pools(model, {"image": (d.image, d.y), "strokes": (d.strokes, d.y), "audio": a_val})
    return matched, drawn


def train_fusion(model: DigitNet, images: dict, strokes: sets.StrokeSets, audio: sets.AudioSet, cfg: Config, rng) -> list[dict]:
    """Frozen encoders; the fusion head on tuples re-drawn every epoch from `cfg.fusion_augmentations`
    augmented copies of the training sets (embedding them is the slow part; the head is small)."""
    gen = torch.Generator().manual_seed(cfg.seed + 7)
    audio = without_outliers(audio)
    val = fusion_validation_pools(model, images, strokes, audio)
    train = [fusion_training_pools(model, images, strokes, audio, rng, gen) for _ in range(cfg.fusion_augmentations)]
    return fit_fusion(model, train, val, cfg, rng)


def fit_fusion(model: DigitNet, train: list[tuple], val: tuple, cfg: Config, rng) -> list[dict]:
    """Every subset equally often. Subsets with image and strokes get same-drawing tuples, the others
    label-matched tuples. The epoch kept is the best on validation tuples of the same two kinds (mean
    over subsets, then fused accuracy on every validation drawing)."""
    opt = torch.optim.AdamW(model.fusion.parameters(), lr=cfg.fusion_lr, weight_decay=cfg.weight_decay)
    history, best, best_state = [], (-1.0, -1.0), None
    for epoch in range(cfg.fusion_epochs):
        t0 = time.time()
        pools, y, idx, subsets = mixed_tuples(*train[epoch % len(train)], cfg.fusion_tuples, rng)
        model.fusion.train()
        total = 0.0
        for i in tqdm(range(0, len(y), 256), desc=f"fusion {epoch + 1}/{cfg.fusion_epochs}", leave=False, mininterval=1.0):
            sl = slice(i, i + 256)
            parts = tuple_parts(pools, {m: v[sl] for m, v in idx.items()}, subsets[sl])
            loss = F.cross_entropy(model.fusion(*fusion_inputs(len(y[sl]), parts, model.dims)), torch.from_numpy(y[sl]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(y[sl])
        accs = evaluate_mixed(model, *val, cfg.val_tuples, cfg.seed + 1)
        d = drawing_accuracy(model, val[1])
        mean_acc = float(np.mean(list(accs.values())))
        row = {
            "epoch": epoch + 1,
            "loss": round(total / len(y), 4),
            "val_mean_acc": round(mean_acc, 5),
            "val_drawings": {k: round(v, 5) for k, v in d.items()},
            "val_tuples": accs,
            "seconds": round(time.time() - t0, 1),
        }
        history.append(row)
        tqdm.write("fusion " + json.dumps(row))
        if (mean_acc, d["fused"]) > best:
            best, best_state = (mean_acc, d["fused"]), copy.deepcopy(model.fusion.state_dict())
    if best_state is not None:
        model.fusion.load_state_dict(best_state)
    return history


def mixed_tuples(matched: dict, drawn: dict, n: int, rng: np.random.Generator) -> tuple[dict, np.ndarray, dict, list]:
    """n training tuples, each with a random subset: same-drawing (from `drawn`) where the subset holds
    image and strokes, label-matched (from `matched`) otherwise. -> (pools, labels, indices, subsets)."""
    y_m, idx_m = draw_tuples({m: p[2] for m, p in matched.items()}, n, rng)
    y_d, idx_d = draw_tuples({m: p[2] for m, p in drawn.items()}, n, rng, PAIRED)
    subsets = [SUBSETS[s] for s in rng.integers(0, len(SUBSETS), size=n)]
    use_d = np.array([same_drawing(s) for s in subsets])
    pools = {m: tuple(torch.cat([a, b]) for a, b in zip(matched[m], drawn[m])) for m in MODALITIES}
    idx = {m: np.where(use_d, idx_d[m] + len(matched[m][2]), idx_m[m]) for m in MODALITIES}
    return pools, np.where(use_d, y_d, y_m), idx, subsets


# ---------------------------------------------------------------- main


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(cfg: Config) -> dict:
    """Train and write the checkpoint; returns its card (on ranks other than 0 under torchrun: {})."""
    if cfg.tts and "audio" in cfg.stages and tts_dir(cfg) is None:  # not made here: the card says what it trained on
        tqdm.write(f"audio: no text-to-speech digits in {data.tts_folder(cfg.data_dir)} (scripts/make_tts_digits.sh); FSDD only")
        cfg = replace(cfg, tts=False)
    out = Path(cfg.out)
    on_top = not {"image", "strokes", "audio", "fusion"} <= set(cfg.stages) and (out / checkpoint.WEIGHTS_NAME).is_file()
    if on_top and "audio" not in cfg.stages:  # the audio encoder stays, and so does the recipe it learned with
        cfg = kept_audio_recipe(cfg, checkpoint.read_card(out / checkpoint.CARD_NAME).get("config", {}))
    world = distributed.start(cfg.device, cfg.threads, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    t_start = time.time()
    root = data.data_root(cfg.data_dir)
    stages = set(cfg.stages)
    images = sets.image_sets(root, cfg.limit, cfg.verify, rng) if stages & {"image", "fusion"} else None
    strokes = sets.stroke_sets(root, cfg.limit, cfg.verify, rng) if stages & {"image", "strokes", "fusion"} else None
    audio = None
    if stages & {"audio", "fusion"}:
        audio, held = load_audio(root, cfg, rng), held_out_speakers(cfg, data.FSDD_VAL_SPEAKER)
        if "audio" in stages:  # the non-digits only train the encoder; fusion reads digits (without_outliers)
            audio = with_outliers(audio, cfg, rng, held)
        audio = with_voice_bank(audio, cfg, rng, held)
    if on_top:
        model, card = checkpoint.load(out)  # retrain some stages on top of existing weights
        if "audio" in stages:  # from scratch, as in a full run: the epochs were chosen for a new encoder
            model = new_audio_encoder(model, audio_dims(cfg, model.dims), stages)
    else:
        model, card = DigitNet(audio_dims(cfg)), {}
    distributed.own_seeds(cfg.seed)  # the same initial weights on every rank (seeded above), then its own dropout
    history = card.get("history", {})
    metrics = card.get("metrics", {})
    metrics.pop("audio_val_heldout_speaker", None)  # a best-of-epochs score; see audio_selection below
    loso = metrics.get("fsdd_leave_one_speaker_out")
    if "audio" in stages or not (isinstance(loso, dict) and "folds" in loso):
        metrics.pop("fsdd_leave_one_speaker_out", None)  # stale, or from before epochs were chosen inside each fold
    seconds = card.get("stage_seconds", {})

    def timed(stage, fn):
        t0 = time.time()
        r = fn()
        seconds[stage] = round(time.time() - t0, 1)
        return r

    if "image" in stages:
        train, val = image_training_set(images, strokes)
        h, best = timed(
            "image", lambda: train_branch(model, "image", lambda e: train, cfg.image_epochs, cfg.image_lr, cfg, val, gen)
        )
        history["image"] = {"epochs": h, "best_epoch": best}
    if "strokes" in stages:
        # the stroke raster reader starts from the image branch: MNIST's 60,000 digits teach shapes
        model.strokes.raster.load_state_dict(model.image.state_dict())
        h, best = timed(
            "strokes",
            lambda: train_branch(
                model, "strokes", lambda e: stroke_epoch(strokes, rng), cfg.stroke_epochs, cfg.stroke_lr, cfg, strokes.val, gen
            ),
        )
        history["strokes"] = {"epochs": h, "best_epoch": best}
    if "audio" in stages:
        history["audio"] = h = timed("audio", lambda: train_audio(model, audio, cfg, rng, gen, data.FSDD_VAL_SPEAKER))
        metrics["audio_selection"] = {
            "held_out_speaker": data.FSDD_VAL_SPEAKER,
            "epochs_chosen": h["best_epoch"],
            "val_acc_of_chosen_epoch": h["selection"][h["best_epoch"] - 1]["val_acc"],
            "note": "accuracy on the speaker the epoch count was chosen on (optimistic); see leave-one-speaker-out",
        }
    if cfg.loso:
        metrics["fsdd_leave_one_speaker_out"] = timed("loso", lambda: leave_one_speaker_out(cfg))
    if not distributed.finish():  # the distributed stages end here; rank 0 goes on as one process
        return {}
    if "fusion" in stages:
        model.calibration.drawing_anchor.zero_()  # fitted for the old head by the calibrate stage; chosen anew there
        history["fusion"] = timed("fusion", lambda: train_fusion(model, images, strokes, audio, cfg, rng))
    if "calibrate" in stages:
        metrics["calibration"] = timed("calibrate", lambda: calibrate.fit(model, cfg))

    model.eval()
    if images is not None:
        metrics["mnist_val"] = accuracy(branch_logits(model, "image", images["val"][0]), images["val"][1])
    if strokes is not None:
        metrics["strokes_val"] = accuracy(branch_logits(model, "strokes", strokes.val[0]), strokes.val[1])
    if "fusion" in stages:
        best = max(history["fusion"], key=lambda r: (r["val_mean_acc"], r["val_drawings"]["fused"]))
        metrics["fusion_val"] = {"epoch": best["epoch"], "tuples": best["val_tuples"], "drawings": best["val_drawings"]}
    if cfg.test_metrics:
        from core.evaluate import test_metrics  # after every choice is made: nothing below chooses anything

        metrics.update(
            timed("test_metrics", lambda: test_metrics(model, root, cfg.verify, cfg.limit // 2, cfg.test_tuples, cfg.seed))
        )
    metrics = {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}
    tqdm.write(json.dumps({k: v for k, v in metrics.items() if k != "calibration"}, indent=1))

    tts_split = card.get("splits", {}).get("tts", "not used")  # the kept audio encoder's, unless trained here
    if "audio" in stages:
        tts_split = "not used"
        if tts_dir(cfg) is not None:
            tts_split = (f"text-to-speech digits (core/tts.py) train only; epochs chosen with speakers "
                         f"{list(cfg.tts_val_speakers)} held out, then refit on all")  # fmt: skip
    reads_tts = stages & {"audio", "fusion", "calibrate"}  # the stages that read the TTS folder (its words: calibrate)
    files = data.training_files(cfg.data_dir, tts_dir(cfg) if reads_tts else None)
    tts_key = f"{data.TTS_FOLDER}/manifest.json"
    if not reads_tts and tts_key in card.get("training_files_sha256", {}):
        files[tts_key] = card["training_files_sha256"][tts_key]  # what the kept encoder and fusion head learned from
    card = {
        "name": "digits multimodal recognizer",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "parameters": parameter_count(model),
        "config": asdict(cfg),
        "processes": world,
        "splits": {
            "mnist": f"train: first {60000 - data.MNIST_VAL} of train file; val: last {data.MNIST_VAL}; test: t10k",
            "pendigits": f"train: first {7494 - data.PENDIGITS_VAL} rows of .tra; val: last {data.PENDIGITS_VAL}; "
            "test: .tes (other writers)",
            "unipen": f"train: other donors; val donors: {list(data.UNIPEN_VAL_SOURCES)}; "
            f"test donors: {list(data.UNIPEN_TEST_SOURCES)}",
            "fsdd": "test: indices 0-4 (customary); epochs chosen on held-out speaker "
            f"{data.FSDD_VAL_SPEAKER}, then refit on all speakers' indices 5-49",
            "tts": tts_split,
            "fused": "image+strokes: one drawing seen twice (canvas picture and strokes); "
            "otherwise label-matched tuples (one item of the label per modality)",
        },
        "metrics": metrics,
        "history": history,
        "stage_seconds": seconds,
        "training_files_sha256": files,
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
    p.add_argument("--model", choices=checkpoint.MODELS, default="digits",
                   help="characters: the 62-class model instead (its flags: python -m core.train_characters --help)")  # fmt: skip
    p.add_argument("--data-dir", default=None, help="data root (default: $DIGITS_DATA or ./data)")
    p.add_argument("--out", default=d.out, help="checkpoint directory")
    p.add_argument("--stages", default=",".join(d.stages), help=f"comma-separated subset of {','.join(STAGES)}")
    for name in ("limit", "batch_size", "patience", "audio_patience", "image_epochs", "stroke_epochs", "audio_epochs",
                 "fusion_epochs", "fusion_tuples", "fusion_augmentations", "val_tuples", "test_tuples", "seed", "threads",
                 "audio_copies", "spec_masks"):  # fmt: skip
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("image_lr", "stroke_lr", "audio_lr", "fusion_lr", "weight_decay", "label_smoothing"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--device", choices=("cpu", "cuda"), default=d.device,
                   help="where the branches train (cuda:LOCAL_RANK under torchrun); the other stages run on cpu")  # fmt: skip
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip data checksums (generated fixtures)")
    p.add_argument(
        "--loso", action="store_true", help="also measure FSDD leave-one-speaker-out (nested; 12 extra audio trainings)"
    )
    p.add_argument("--no-test-metrics", dest="test_metrics", action="store_false", help="skip the model card's test numbers")
    a = p.add_argument_group("audio: speaker diversity")
    a.add_argument("--tts", dest="tts", action="store_true", help="add the text-to-speech digits to audio training")
    a.add_argument("--no-tts", dest="tts", action="store_false", help="leave them out (default)")
    a.set_defaults(tts=d.tts)
    a.add_argument("--tts-dir", default=None, help="text-to-speech digits folder (default: DATA_DIR/tts_digits, used if present)")
    a.add_argument("--tts-val-speakers", type=comma_list(str), default=d.tts_val_speakers,
                   help="TTS speakers held out to choose the audio epochs, comma-separated")  # fmt: skip
    a.add_argument("--audio-aug", choices=("voices", "light"), default=d.audio_aug,
                   help="voices: core/augment_audio.py's recipe, made once per training; light: the original one")  # fmt: skip
    a.add_argument("--audio-outliers", type=float, default=d.audio_outliers,
                   help="outlier exposure: weight of generated non-digits (noise, music, non-digit words) trained "
                   "towards the uniform answer; 0 = off")  # fmt: skip
    a.add_argument("--audio-norm", choices=AUDIO_NORMS, default=d.audio_norm, help="audio encoder's feature normalization")
    a.add_argument("--audio-channels", type=comma_list(int), default=d.audio_channels,
                   help="the audio CNN's three widths, comma-separated, e.g. 32,64,128")  # fmt: skip
    return p


def comma_list(kind):
    """argparse type: "a,b,c" -> a tuple of `kind`."""
    return lambda text: tuple(kind(v) for v in text.split(",") if v.strip())


def cli() -> None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--model", choices=checkpoint.MODELS, default="digits")
    known, rest = pre.parse_known_args()
    if known.model == "characters":  # the 62-class model has its own recipe and flags (core/train_characters.py)
        from core import train_characters

        return train_characters.cli(rest)
    args = get_args_parser().parse_args(rest)
    kw = vars(args)
    kw.pop("model")
    stages = tuple(s for s in kw.pop("stages").split(",") if s)
    bad = set(stages) - set(STAGES)
    if bad:
        raise SystemExit(f"unknown stage(s) {sorted(bad)}; expected a subset of {', '.join(STAGES)}")
    if kw["device"] == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda, but torch sees no CUDA device here; use --device cpu (the default)")
    if not (math.isfinite(kw["audio_outliers"]) and kw["audio_outliers"] >= 0):
        raise SystemExit(f"--audio-outliers {kw['audio_outliers']}: expected a weight of 0 (off) or more")
    if len(kw["audio_channels"]) != 3 or min(kw["audio_channels"]) < 1:
        raise SystemExit(f"--audio-channels {kw['audio_channels']}: expected three positive widths, e.g. 16,32,64")
    try:
        main(Config(**kw, stages=stages))
    except DataError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    cli()
