"""The line reader's sequence model (a small CRNN) and its greedy CTC decoder.

Model: (N, 1, 32, W) ink -> conv stack (height 32 -> 2, width / 4) -> residual dilated 1-D convs
over the columns -> (T = W / 4, N, 11) log-probabilities. Class 0 is the CTC blank; digit d is class d + 1.
Decoder: the best class per frame, repeats collapsed, blanks dropped; each digit keeps the
frames that emitted it (for its box) and their highest probability (its confidence).
Checkpoint: `checkpoints/reader.pt` + `reader.json`, through core/checkpoint.py's checksummed code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core import checkpoint
from core.errors import DataError
from core.line_finder import BG_KERNEL, LINE_HEIGHT, MAX_LINE_WIDTH

BLANK = 0  # CTC blank class; digit d is class d + 1
STRIDE = 4  # input columns per output frame
READER_WEIGHTS = "reader.pt"
READER_CARD = "reader.json"
READER_SCHEMA = checkpoint.CARD_SCHEMA  # the same fields as the digit model's card


@dataclass(frozen=True)
class LineDims:
    height: int = LINE_HEIGHT
    channels: tuple[int, int, int, int] = (16, 32, 64, 96)  # 2 CPU cores: width here costs steps
    hidden: int = 128  # channels of the 1-D sequence layers
    dilations: tuple[int, ...] = (1, 2, 4)  # one residual 1-D conv layer each (kernel 5): 57 frames of context
    n_classes: int = 11  # blank + 10 digits
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LineDims:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def block(cin: int, cout: int, pool: tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(pool)
    )


class Temporal(nn.Module):
    """One residual 1-D conv layer over the frames (kernel 5, `dilation`)."""

    def __init__(self, channels: int, dilation: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 5, padding=2 * dilation, dilation=dilation, bias=False)
        self.norm = nn.BatchNorm1d(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(torch.relu(self.norm(self.conv(x))))


class LineNet(nn.Module):
    """CRNN: conv features per column, then residual dilated 1-D convs across the columns, a classifier per
    frame. 1-D convs rather than a BiGRU for speed: the GRU's backward pass took 70% of a training step on
    2 CPU cores (2.0 s vs 0.5 s per batch of 24); their accuracies were not compared."""

    def __init__(self, dims: LineDims = LineDims()):
        super().__init__()
        self.dims = dims
        c1, c2, c3, c4 = dims.channels
        self.conv = nn.Sequential(
            block(1, c1, (2, 2)),  # 16 x W/2
            block(c1, c2, (2, 2)),  # 8 x W/4
            block(c2, c3, (2, 1)),  # 4 x W/4
            block(c3, c4, (2, 1)),  # 2 x W/4
        )
        feat = c4 * (dims.height // 16)
        self.project = nn.Sequential(
            nn.Conv1d(feat, dims.hidden, 1, bias=False), nn.BatchNorm1d(dims.hidden), nn.ReLU(inplace=True)
        )
        self.sequence = nn.Sequential(*(Temporal(dims.hidden, d, dims.dropout) for d in dims.dilations))
        self.head = nn.Conv1d(dims.hidden, dims.n_classes, 1)
        self.to(memory_format=torch.channels_last)  # CPU convolutions: 1.3-1.6x faster steps than NCHW

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 32, W) ink 0..1 -> (W // 4, N, n_classes) log-probabilities (nn.CTCLoss's layout)."""
        f = self.conv(x.contiguous(memory_format=torch.channels_last))  # (N, C, 2, T)
        n, c, h, t = f.shape
        y = self.head(self.sequence(self.project(f.reshape(n, c * h, t))))  # (N, classes, T)
        return y.permute(2, 0, 1).log_softmax(-1)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- decoding


@dataclass
class Emission:
    label: int  # 0-9
    confidence: float  # the highest probability of `label` over the frames that emitted it
    frames: tuple[int, int]  # first and last frame of the run, inclusive
    probs: np.ndarray  # (10,) digit probabilities at the run's best frame, renormalized without the blank

    def columns(self) -> tuple[float, float]:
        """The run's extent in input columns (at LINE_HEIGHT)."""
        return self.frames[0] * STRIDE, (self.frames[1] + 1) * STRIDE

    def centre(self) -> float:
        """The run's middle in input columns: where the digit is (boxes and the second opinion start here)."""
        return sum(self.columns()) / 2


def greedy_decode(probs: np.ndarray) -> list[Emission]:
    """(T, n_classes) per-frame probabilities -> the digits read, left to right (greedy CTC:
    best class per frame, runs of one class collapsed, blanks dropped, so "1 1 _ 1" is "11")."""
    probs = np.asarray(probs, dtype=np.float64)
    best = probs.argmax(axis=1)
    out, t = [], 0
    while t < len(best):
        k = int(best[t])
        end = t
        while end + 1 < len(best) and best[end + 1] == k:
            end += 1
        if k != BLANK:
            run = probs[t : end + 1, k]
            peak = t + int(run.argmax())
            digits = probs[peak, 1:] / max(float(probs[peak, 1:].sum()), 1e-12)
            out.append(Emission(label=k - 1, confidence=float(run.max()), frames=(t, end), probs=digits))
        t = end + 1
    return out


def text_of(emissions: list[Emission]) -> str:
    return "".join(str(e.label) for e in emissions)


def read_lines(model: LineNet, images: list[np.ndarray], batch: int = 32) -> list[tuple[list[Emission], np.ndarray]]:
    """Normalized lines ((32, W) float32 each) -> per line (emissions, (T, 11) probabilities), in order.
    Lines of similar width run together, padded with paper on the right as in training; each line's
    frames stop at its own width."""
    out: list = [None] * len(images)
    order = sorted(range(len(images)), key=lambda k: images[k].shape[1])
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            group = order[start : start + batch]
            w = max(STRIDE * 2, max(images[k].shape[1] for k in group))
            w += -w % STRIDE
            x = np.zeros((len(group), 1, LINE_HEIGHT, w), np.float32)
            for row, k in enumerate(group):
                x[row, 0, :, : images[k].shape[1]] = images[k]
            p = model(torch.from_numpy(x)).exp().numpy()  # (T, n, classes)
            for row, k in enumerate(group):
                t = max(1, -(-images[k].shape[1] // STRIDE))
                out[k] = (greedy_decode(p[:t, row]), p[:t, row])
    return out


# ---------------------------------------------------------------- checkpoint


def preprocessing_settings() -> dict:
    return {
        "line_height": LINE_HEIGHT,
        "max_line_width": MAX_LINE_WIDTH,
        "bg_kernel": BG_KERNEL,
        "stride": STRIDE,
        "blank": BLANK,
    }


def card_paths(path: str | Path) -> tuple[Path, Path]:
    """checkpoints/reader.pt (or a directory holding it) -> (weights, card beside it with .json)."""
    p = Path(path)
    if p.is_dir():
        p = p / READER_WEIGHTS
    return p, p.with_suffix(".json")


def save(model: LineNet, path: str | Path, card: dict) -> dict:
    """Write the reader's weights and its model card (sha256 and all) through core/checkpoint.py."""
    weights, card_path = card_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    blob = {"dims": model.dims.to_dict(), "preprocessing": preprocessing_settings()}
    return checkpoint.write_checked(model, blob, weights, card_path, card)


def load(path: str | Path) -> tuple[LineNet, dict]:
    """reader.pt (or its directory) -> (model in eval mode, card); refuses a modified file or other preprocessing."""
    weights, card_path = card_paths(path)
    blob, card = checkpoint.read_checked(weights, card_path, READER_SCHEMA)
    checkpoint.check_preprocessing(blob, preprocessing_settings(), weights, "retrain with `python -m core.train_reader`")
    try:
        model = LineNet(LineDims.from_dict(blob["dims"]))
        checkpoint.check_finite(blob["state_dict"], weights)
        model.load_state_dict(blob["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise DataError(f"reader checkpoint {weights} does not fit this code's model: {e}") from e
    return model.eval(), card
