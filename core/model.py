"""The three encoders and the fusion head. Thin modules: preprocessing lives in image.py,
strokes.py and audio.py, training in train.py.

Each encoder maps its input to an embedding and has its own classifier, so every
modality can answer alone. The fusion head starts from the product of the single-modality
posteriors (late fusion, exact when the modalities are conditionally independent given the
digit, as label-matched tuples are) and learns a correction from the embeddings, with any
missing modality masked out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

MODALITIES = ("image", "strokes", "audio")


@dataclass(frozen=True)
class ModelDimensions:
    n_classes: int = 10
    embed: int = 128  # every encoder's embedding size
    image_channels: tuple[int, int, int] = (32, 64, 128)
    image_size: int = 28
    stroke_points: int = 8
    stroke_hidden: int = 384
    audio_mels: int = 40
    audio_frames: int = 48
    audio_channels: tuple[int, int, int] = (16, 32, 64)
    fusion_hidden: int = 128
    dropout: float = 0.25

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelDimensions:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def conv_block(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 conv-BN-ReLU layers and a 2x2 max-pool."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class ImageEncoder(nn.Module):
    """(B, 28, 28) float in 0..1 (MNIST convention) -> (B, embed). 28 -> 14 -> 7 -> 3."""

    def __init__(self, d: ModelDimensions):
        super().__init__()
        a, b, c = d.image_channels
        self.features = nn.Sequential(conv_block(1, a), conv_block(a, b), conv_block(b, c))
        side = d.image_size // 8
        self.embed = nn.Sequential(nn.Flatten(), nn.Dropout(d.dropout), nn.Linear(c * side * side, d.embed), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features((x.unsqueeze(1) - 0.13) / 0.31))


def stroke_features(p: torch.Tensor) -> torch.Tensor:
    """(B, n, 2) pendigits points in 0..100 -> (B, f): centred points, steps and their directions."""
    x = p / 50.0 - 1.0
    d = x[:, 1:] - x[:, :-1]
    ang = torch.atan2(d[..., 1], d[..., 0])
    return torch.cat([x.flatten(1), d.flatten(1), torch.cos(ang), torch.sin(ang)], dim=1)


class StrokeEncoder(nn.Module):
    """(B, 16 + 784) stroke input (strokes.strokes_to_input) -> (B, embed).

    Two readers of the same pen path: an MLP on the 8 pendigits points (writing order and
    direction) and a CNN on its 28x28 rendering (shape), mixed by one linear layer. The CNN
    has the image branch's architecture so training can start it from the image weights.
    """

    def __init__(self, d: ModelDimensions):
        super().__init__()
        n = d.stroke_points
        f = 2 * n + 2 * (n - 1) + 2 * (n - 1)
        h = d.stroke_hidden
        self.n_points = n
        self.mlp = nn.Sequential(
            nn.Linear(f, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True), nn.Dropout(d.dropout),
            nn.Linear(h, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True), nn.Dropout(d.dropout),
            nn.Linear(h, d.embed), nn.ReLU(),
        )  # fmt: skip
        self.raster = ImageEncoder(d)
        self.mix = nn.Sequential(nn.Linear(2 * d.embed, d.embed), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = 2 * self.n_points
        points = x[:, :k].reshape(-1, self.n_points, 2)
        side = int(round((x.shape[1] - k) ** 0.5))
        raster = x[:, k:].reshape(-1, side, side)
        return self.mix(torch.cat([self.mlp(stroke_features(points)), self.raster(raster)], dim=1))


class AudioEncoder(nn.Module):
    """(B, 40, 48) normalized log-mel -> (B, embed). 40x48 -> 20x24 -> 10x12 -> 5x6."""

    def __init__(self, d: ModelDimensions):
        super().__init__()
        a, b, c = d.audio_channels
        self.features = nn.Sequential(conv_block(1, a), conv_block(a, b), conv_block(b, c))
        self.embed = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 3)), nn.Flatten(), nn.Dropout(d.dropout), nn.Linear(c * 3, d.embed), nn.ReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(x.unsqueeze(1)))


class FusionHead(nn.Module):
    """Any non-empty subset of modalities -> fused logits.

    fused = sum over present m of log_softmax(logits_m / T_m)  +  correction(embeddings, mask)
    The correction's last layer starts at zero, so an untrained head is exact late fusion.
    """

    def __init__(self, d: ModelDimensions):
        super().__init__()
        k = len(MODALITIES)
        self.log_temp = nn.Parameter(torch.zeros(k))
        self.norm = nn.ModuleList([nn.LayerNorm(d.embed) for _ in range(k)])
        self.correction = nn.Sequential(
            nn.Linear(k * d.embed + k, d.fusion_hidden), nn.ReLU(), nn.Linear(d.fusion_hidden, d.n_classes)
        )
        nn.init.zeros_(self.correction[-1].weight)
        nn.init.zeros_(self.correction[-1].bias)

    def forward(self, embeds: list[torch.Tensor], logits: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """embeds, logits: one (B, .) tensor per modality (zeros where absent); mask (B, 3) float."""
        temps = self.log_temp.exp()
        base = sum(mask[:, i : i + 1] * F.log_softmax(logits[i] / temps[i], dim=1) for i in range(len(logits)))
        z = torch.cat([mask[:, i : i + 1] * self.norm[i](e) for i, e in enumerate(embeds)] + [mask], dim=1)
        return base + self.correction(z)


class DigitNet(nn.Module):
    """Encoders, per-modality classifiers and the fusion head."""

    def __init__(self, d: ModelDimensions):
        super().__init__()
        self.dims = d
        self.image = ImageEncoder(d)
        self.strokes = StrokeEncoder(d)
        self.audio = AudioEncoder(d)
        self.heads = nn.ModuleDict({m: nn.Linear(d.embed, d.n_classes) for m in MODALITIES})
        self.fusion = FusionHead(d)

    def encode(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, modality)(x)

    def forward(
        self,
        image: torch.Tensor | None = None,
        strokes: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Any non-empty subset of inputs (same batch size) -> {"fused", "embedding", and one
        logits tensor per given modality}. `mask` (B, 3) additionally drops modalities per item."""
        inputs = dict(zip(MODALITIES, (image, strokes, audio)))
        given = [m for m in MODALITIES if inputs[m] is not None]
        if not given:
            raise ValueError("DigitNet needs at least one of image, strokes, audio")
        batch = inputs[given[0]].shape[0]
        ref = inputs[given[0]]
        out: dict[str, torch.Tensor] = {}
        embeds, logits = [], []
        present = torch.zeros(batch, len(MODALITIES), device=ref.device)
        for i, m in enumerate(MODALITIES):
            if inputs[m] is None:
                embeds.append(torch.zeros(batch, self.dims.embed, device=ref.device))
                logits.append(torch.zeros(batch, self.dims.n_classes, device=ref.device))
                continue
            e = self.encode(m, inputs[m])
            lg = self.heads[m](e)
            out[m] = lg
            embeds.append(e)
            logits.append(lg)
            present[:, i] = 1.0
        if mask is not None:
            present = present * mask
        out["fused"] = self.fusion(embeds, logits, present)
        out["embedding"] = torch.cat([present[:, i : i + 1] * e for i, e in enumerate(embeds)], dim=1)
        return out


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
