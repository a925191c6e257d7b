"""Two CPU processes train like one (core/distributed.py, core/train_branch.py under DDP with gloo).

The two ranks are started the way torchrun starts them: the same environment variables (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT), one process each (torch.multiprocessing, spawn), on a tiny model
and generated digits: the digit-model test takes seconds; the characters model's whole recipe on generated
data about 45 s (marked slow).
"""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from core import distributed
from core import strokes as S
from core.config import Config
from core.model import DigitNet, ModelDimensions
from core.train_branch import train_branch
from tests.fixtures import font_digits, template_path

WORLD = 2
N_TRAIN, N_VAL = 512, 128
EPOCHS = {"image": 2, "strokes": 5}
# 8 steps: float rounding differences stay at rounding level. They grow fast after that, with or without DDP:
# measured here (torch 2.14.1, 1 thread), full batches against the mean of two half-batch gradients in ONE
# process end 9.9e-7 / 2.6e-2 / 2.5e-2 of the distance moved after 1 / 2 / 3 epochs, and two ranks 9.9e-7 /
# 1.1e-2 / 2.0e-2; 3 epochs (24 steps, as this test had) failed the 1e-4 bound below.
EXACT_EPOCHS = 1
DIMS = ModelDimensions(embed=32, image_channels=(8, 16, 32), stroke_hidden=64)
CFG = Config(batch_size=64, patience=5)


def tiny_sets() -> dict:
    """{modality: (train, val)}: font digits for the image branch, template pen paths for the strokes branch."""
    rng = np.random.default_rng(0)
    x, y = font_digits(N_TRAIN + N_VAL, rng)
    s = np.stack([S.strokes_to_input([template_path(int(d), rng)], y_down=False) for d in y])
    x, y, s = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(s)
    tr, va = slice(0, N_TRAIN), slice(N_TRAIN, None)
    return {
        "image": ((x[tr], y[tr]), (x[va].float() / 255.0, y[va])),
        "strokes": ((s[tr], y[tr]), (s[va], y[va])),
    }


def without_batchnorm(model: nn.Module) -> nn.Module:
    """Every BatchNorm layer replaced by the identity (with dims.dropout 0: nothing depends on the batch split)."""
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(model, name, nn.Identity())
        else:
            without_batchnorm(child)
    return model


def tiny_training(exact: bool = False) -> tuple[dict, dict, dict]:
    """(initial weights, final weights, histories) of the image then the strokes branch; `exact`: the strokes
    branch only, without BatchNorm and dropout, where N processes must compute one process's steps."""
    torch.manual_seed(0)
    model = without_batchnorm(DigitNet(replace(DIMS, dropout=0.0))) if exact else DigitNet(DIMS)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    if distributed.world_size() > 1:
        torch.manual_seed(distributed.rank_seed(0) + 1)  # as core.train does: the rank's own dropout masks
    gen = torch.Generator().manual_seed(0)
    hist = {}
    for m, (train, val) in tiny_sets().items():
        if exact and m != "strokes":
            continue
        h, best = train_branch(model, m, lambda e, t=train: t, EXACT_EPOCHS if exact else EPOCHS[m], 3e-3, CFG, val, gen)
        hist[m] = ([{k: v for k, v in r.items() if k != "seconds"} for r in h], best)
    return init, model.state_dict(), hist


def rank_main(r: int, port: int, out: Path) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(r), WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(r), LOCAL_WORLD_SIZE=str(WORLD),
    )  # fmt: skip
    torch.set_num_threads(1)
    distributed.init("cpu")
    try:
        assert distributed.world_size() == WORLD and distributed.rank() == r
        for exact in (False, True):
            _, state, hist = tiny_training(exact)
            torch.save({"state": state, "hist": hist}, out / f"rank{r}{'-exact' * exact}.pt")
    finally:
        distributed.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def distance(a: dict, b: dict, prefix: tuple[str, ...] = ("strokes.", "heads.strokes.")) -> float:
    """Euclidean distance between two state dicts' floating weights whose names start with `prefix`."""
    keys = [k for k in a if k.startswith(prefix) and a[k].is_floating_point() and "running" not in k]
    return float(torch.sqrt(sum(((a[k] - b[k]) ** 2).sum() for k in keys)))


def test_step_batches_shard_every_global_batch():
    perm = torch.randperm(203, generator=torch.Generator().manual_seed(0))
    one = distributed.step_batches(perm, 64, 0, 1)
    assert [len(b) for b in one] == [64, 64, 64, 11] and torch.equal(torch.cat(one), perm)  # one process: as always
    for world in (2, 3, 8):
        parts = [distributed.step_batches(perm, 64, r, world) for r in range(world)]
        assert {len(p) for p in parts} == {4}  # the same number of steps on every rank
        for step in range(4):
            sizes = {len(p[step]) for p in parts}
            assert len(sizes) == 1 and min(sizes) >= 2  # equal batches, BatchNorm can work
            rows = torch.cat([p[step] for p in parts])
            assert set(perm[step * 64 : (step + 1) * 64].tolist()) <= set(rows.tolist()) <= set(perm.tolist())


@pytest.fixture
def one_thread():
    """One thread, as each rank has: a tiny model gains nothing from more, and loses much on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_two_processes_end_identical_and_match_one(tmp_path, one_thread):
    mp.spawn(rank_main, args=(free_port(), tmp_path), nprocs=WORLD, join=True)
    for exact in ("", "-exact"):
        r0, r1 = (torch.load(tmp_path / f"rank{r}{exact}.pt", weights_only=True) for r in range(WORLD))
        assert r0["state"].keys() == r1["state"].keys()
        different = [k for k in r0["state"] if not torch.equal(r0["state"][k], r1["state"][k])]
        assert not different, different  # bit for bit, BatchNorm statistics included
        assert r0["hist"] == r1["hist"]  # same losses, validation and stopping decisions on both ranks

    # The same steps: without BatchNorm and dropout, the mean of two half-batch gradients is the full batch's
    # up to float rounding (the sums run in another order), so 8 AdamW steps end where one process ends.
    init, single, hist = tiny_training(exact=True)
    two = torch.load(tmp_path / "rank0-exact.pt", weights_only=True)
    moved, apart = distance(single, init), distance(two["state"], single)
    print(f"exact: weights moved {moved:.4f}, two processes end {apart:.2e} from one")
    assert apart < 1e-4 * moved

    # The real branches: same data order, global batches, schedule and steps, but each rank normalizes its
    # half batch by its own BatchNorm statistics, and its dropout masks and (image) augmentation are its own:
    # the weights take another path (measured: they end 0.7x (strokes) to 1.2x (image) as far apart as
    # training moved them). What must match is what training is for.
    # Measured: the same validation accuracy (strokes 1.0 both; image, barely started, 0.19 vs 0.23 on 128
    # items) and final losses within 2%. Tolerances: 0.1 accuracy (13 of 128 items: a short run's accuracy
    # moves by several points between seeds) and 10% of the loss.
    init, single, hist = tiny_training()
    two = torch.load(tmp_path / "rank0.pt", weights_only=True)
    for m in EPOCHS:
        prefix = (m + ".", "heads." + m + ".")
        print(f"{m}: moved {distance(single, init, prefix):.3f}, apart {distance(two['state'], single, prefix):.3f}")
        print(f"{m}: one process {hist[m]}, two {two['hist'][m]}")
        one_row, two_row = hist[m][0][-1], two["hist"][m][0][-1]
        assert abs(one_row["val_acc"] - two_row["val_acc"]) <= 0.1, (one_row, two_row)
        assert abs(one_row["loss"] - two_row["loss"]) <= 0.1 * one_row["loss"], (one_row, two_row)


# ---------------------------------------------------------------- the characters model, whole, under two ranks

CHARS_BUDGET = dict(image_epochs=2, stroke_epochs=2, fusion_epochs=1, limit=300, threads=1)


def chars_config(root: Path, out: Path):
    from core import train_characters

    return replace(Config(), **{**train_characters.DEFAULTS, **CHARS_BUDGET}, data_dir=str(root), verify=False, out=str(out))


def chars_rank_main(r: int, port: int, root: Path, out: Path) -> None:
    """One rank of `python -m core.train --model characters` under torchrun; a spy keeps each rank's weights
    after each branch stage (rank 1's main returns {} and writes nothing)."""
    from core import train_characters

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(r), WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(r), LOCAL_WORLD_SIZE=str(WORLD),
    )  # fmt: skip
    real = train_characters.train_branch

    def spy(model, modality, *args, **kw):
        result = real(model, modality, *args, **kw)
        torch.save({k: v.clone() for k, v in model.state_dict().items()}, out / f"rank{r}-{modality}.pt")
        return result

    train_characters.train_branch = spy
    card = train_characters.main(chars_config(root, out / "two"))
    torch.save({"card_returned": bool(card)}, out / f"rank{r}-done.pt")


@pytest.mark.slow
def test_two_processes_train_the_characters_model_like_one(fixture_data, tmp_path, one_thread):
    from core import Recognizer, train_characters

    mp.spawn(chars_rank_main, args=(free_port(), fixture_data, tmp_path), nprocs=WORLD, join=True)
    assert [torch.load(tmp_path / f"rank{r}-done.pt")["card_returned"] for r in range(WORLD)] == [True, False]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["characters.json", "characters.pt"]  # rank 0's only
    for m in ("image", "strokes"):  # both ranks leave each branch stage with the same weights, bit for bit
        a, b = (torch.load(tmp_path / f"rank{r}-{m}.pt", weights_only=True) for r in range(WORLD))
        assert not [k for k in a if not torch.equal(a[k], b[k])], m

    two = Recognizer.load(tmp_path / "two", model="characters")
    one = train_characters.main(chars_config(fixture_data, tmp_path / "one"))
    assert two.card["processes"] == WORLD and one["processes"] == 1
    # The same data, epochs, global batches and schedule; BatchNorm over half batches, dropout and image
    # augmentation per rank: another path of the weights, the same result within tolerance. A tiny run on
    # generated data (its letters are random pen walks) barely leaves chance, so the losses say most: measured
    # within 1% of each other (image 3.78 / 3.79, strokes 3.95 / 3.98 after 2 epochs), accuracies on 46-96
    # validation items within 0.05. Tolerances: losses 10%, accuracies 0.1. scripts/benchmark_distributed.py
    # compares real trainings.
    for m in ("image", "strokes"):
        h1, h2 = one["history"][m]["epochs"], two.card["history"][m]["epochs"]
        print(m, "one process", h1, "two", h2)
        assert len(h1) == len(h2) == CHARS_BUDGET["image_epochs" if m == "image" else "stroke_epochs"]
        assert abs(h1[-1]["val_acc"] - h2[-1]["val_acc"]) <= 0.1, (h1, h2)
        assert abs(h1[-1]["loss"] - h2[-1]["loss"]) <= 0.1 * h1[-1]["loss"], (h1, h2)
    for k in ("femnist_val", "image_val", "strokes_val", "drawings_val_fused"):
        print(k, one["metrics"][k], two.card["metrics"][k])
        assert abs(one["metrics"][k] - two.card["metrics"][k]) <= 0.1, k
