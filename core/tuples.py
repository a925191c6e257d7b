"""Fused inputs for training and scoring the fusion head: embedded pools, tuples drawn from them,
and the fused logits of a tuple for a modality subset.

Two kinds of tuple:
- *label-matched*: a label, then for each modality an independent item with that label (image from
  MNIST, strokes from pendigits/UNIPEN, audio from FSDD);
- *same-drawing*: image and strokes are two views of one drawing (the Draw tab), so they share an
  index into aligned pools (`paired`); audio stays an independent label-matched clip.
Training and validation use same-drawing tuples for every subset that holds both image and strokes
(`same_drawing`), and label-matched tuples otherwise.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from core.model import MODALITIES, DigitNet, fusion_inputs

SUBSETS = [c for r in (1, 2, 3) for c in itertools.combinations(MODALITIES, r)]
PAIRED = ("image", "strokes")  # the two views of one drawing

Pool = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (embeddings, logits, labels) of one modality's items


def same_drawing(subset: tuple[str, ...]) -> bool:
    """Whether a subset's image and strokes come from one drawing (it holds both)."""
    return all(m in subset for m in PAIRED)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean())


def embed_items(model: DigitNet, modality: str, x: torch.Tensor, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs of one modality -> (embeddings, logits), in batches, eval mode, no gradients."""
    with torch.inference_mode():
        model.eval()
        e = torch.cat([model.encode(modality, x[i : i + batch].float()) for i in range(0, len(x), batch)])
        return e, model.heads[modality](e)


def branch_logits(model: DigitNet, modality: str, x: torch.Tensor) -> torch.Tensor:
    return embed_items(model, modality, x)[1]


def tuple_pools(model: DigitNet, pools: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, Pool]:
    """Per modality: (embeddings, logits, labels) for every item of its (inputs, labels) pool."""
    return {m: (*embed_items(model, m, x), y) for m, (x, y) in pools.items()}


def draw_tuples(
    labels: dict[str, torch.Tensor], n: int, rng: np.random.Generator, paired: tuple[str, ...] = ()
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """n tuples: a label, then for each modality a random item with that label. Modalities in
    `paired` (aligned pools, same labels) share one index: one item seen by both. Labels are drawn
    uniformly among those every pool has (all ten, except in tiny smoke-test pools)."""
    have = set(range(10))
    for lab in labels.values():
        have &= set(np.unique(lab.numpy()).tolist())
    if not have:
        raise ValueError("no label is present in every pool; expected each pool to hold items of some common digit")
    y = rng.choice(sorted(have), size=n) if len(have) < 10 else rng.integers(0, 10, size=n)
    idx = {}
    for m, lab in labels.items():
        if m in paired[1:]:
            continue
        by = [np.flatnonzero(lab.numpy() == k) for k in range(10)]
        idx[m] = np.array([rng.choice(by[k]) for k in y])
    for m in paired[1:]:
        idx[m] = idx[paired[0]]
    return y, idx


def tuple_parts(pools: dict[str, Pool], idx: dict[str, np.ndarray], subsets: list[tuple[str, ...]]) -> dict:
    """Tuple k holds the modalities subsets[k] -> the `parts` that model.fusion_inputs takes."""
    parts = {}
    for m in MODALITIES:
        rows = torch.tensor([k for k, s in enumerate(subsets) if m in s], dtype=torch.long)
        if len(rows):
            e, lg, _ = pools[m]
            parts[m] = (rows, e[idx[m][rows.numpy()]], lg[idx[m][rows.numpy()]])
    return parts


def fused_logits(model: DigitNet, pools: dict[str, Pool], idx: dict[str, np.ndarray], subset: tuple[str, ...]) -> torch.Tensor:
    """Fusion head on precomputed embeddings, every tuple with the modalities of `subset`."""
    n = len(next(iter(idx.values())))
    return model.fuse(*fusion_inputs(n, tuple_parts(pools, idx, [subset] * n), model.dims))


def evaluate_tuples(
    model: DigitNet,
    pools: dict[str, Pool],
    n: int,
    seed: int,
    subsets: list[tuple[str, ...]] | None = None,
    paired: tuple[str, ...] = (),
) -> dict[str, float]:
    """Accuracy of the fusion head on n tuples drawn from `pools`, for each subset (default: all)."""
    y, idx = draw_tuples({m: p[2] for m, p in pools.items()}, n, np.random.default_rng(seed), paired)
    yt = torch.from_numpy(y)
    with torch.inference_mode():
        model.eval()
        return {"+".join(s): round(accuracy(fused_logits(model, pools, idx, s), yt), 5) for s in subsets or SUBSETS}


def evaluate_mixed(model: DigitNet, matched: dict[str, Pool], drawn: dict[str, Pool], n: int, seed: int) -> dict[str, float]:
    """Every subset on the tuples training uses for it: same-drawing (from `drawn`, image and
    strokes paired) when it holds image and strokes, label-matched (from `matched`) otherwise."""
    out = evaluate_tuples(model, matched, n, seed, [s for s in SUBSETS if not same_drawing(s)])
    out.update(evaluate_tuples(model, drawn, n, seed, [s for s in SUBSETS if same_drawing(s)], PAIRED))
    return {"+".join(s): out["+".join(s)] for s in SUBSETS}


def drawing_accuracy(model: DigitNet, drawn: dict[str, Pool]) -> dict[str, float]:
    """Every drawing of aligned image and strokes pools once, as on the Draw tab: the fused answer
    from its picture and strokes, and each branch's own answer (the image-only and stroke-only bars)."""
    (ei, li, y), (es, ls, _) = drawn["image"], drawn["strokes"]
    rows = torch.arange(len(y))
    with torch.inference_mode():
        model.eval()
        fused = model.fuse(*fusion_inputs(len(y), {"image": (rows, ei, li), "strokes": (rows, es, ls)}, model.dims))
    return {"fused": accuracy(fused, y), "image": accuracy(li, y), "strokes": accuracy(ls, y), "n": int(len(y))}


def evaluate_drawings(model: DigitNet, image: torch.Tensor, strokes: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Drawings as (n, 28, 28) pictures and (n, INPUT_SIZE) strokes -> drawing_accuracy."""
    return drawing_accuracy(model, tuple_pools(model, {"image": (image, y), "strokes": (strokes, y)}))
