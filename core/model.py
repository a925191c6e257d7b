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
OOD_TOP = 3  # sorted log-probabilities the out-of-distribution check reads beside the embedding
AUDIO_NORMS = ("cmn", "cmvn")  # see ModelDimensions.audio_norm
CMVN_FLOOR = 0.05  # a band's standard deviation is at least this (the features have unit variance overall)


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
    # what the audio encoder does to its (40, 48) features first: "cmn" nothing (audio.py already removed
    # each band's mean and scaled the whole to unit variance), "cmvn" also scales each band to unit
    # variance over time. The default is "cmn" because checkpoints written before this field existed
    # were trained on it and load with the default.
    audio_norm: str = "cmn"
    fusion_hidden: int = 128
    dropout: float = 0.25
    # hidden width of each out-of-distribution check: 256 separates drawn shapes, tones and chirps from
    # digits where 64 could not (core/calibrate.py); checkpoints before this field had fusion_hidden // 2
    ood_hidden: int = 256

    def __post_init__(self):
        if self.audio_norm not in AUDIO_NORMS:
            raise ValueError(f"audio_norm {self.audio_norm!r}; expected one of {AUDIO_NORMS}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelDimensions:
        d = {"ood_hidden": d.get("fusion_hidden", cls.fusion_hidden) // 2, **d}  # written before the field existed
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def ood_checks(d: ModelDimensions) -> nn.ModuleList:
    """One out-of-distribution check per branch: embedding and top log-probabilities -> "is a digit" logit."""
    check = lambda: nn.Sequential(nn.Linear(d.embed + OOD_TOP, d.ood_hidden), nn.ReLU(), nn.Linear(d.ood_hidden, 1))  # noqa: E731
    return nn.ModuleList([check() for _ in MODALITIES])


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
    """(B, 40, 48) normalized log-mel -> (B, embed). 40x48 -> 20x24 -> 10x12 -> 5x6.
    With audio_norm "cmvn", each band of each utterance is first scaled to mean 0 and unit variance over
    time (per-utterance CMVN: the microphone's and the speaker's spectral tilt and level both go)."""

    def __init__(self, d: ModelDimensions):
        super().__init__()
        self.norm = d.audio_norm
        a, b, c = d.audio_channels
        self.features = nn.Sequential(conv_block(1, a), conv_block(a, b), conv_block(b, c))
        self.embed = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 3)), nn.Flatten(), nn.Dropout(d.dropout), nn.Linear(c * 3, d.embed), nn.ReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm == "cmvn":
            x = (x - x.mean(2, keepdim=True)) / x.std(2, keepdim=True).clamp_min(CMVN_FLOOR)
        return self.embed(self.features(x.unsqueeze(1)))


class FusionHead(nn.Module):
    """Any non-empty subset of modalities -> fused logits.

    fused = sum over present m of w_m * log_softmax(logits_m / T_m)  +  correction(embeddings, mask)
    w_m = subset_weight[subset, m] * 2 * sigmoid(gate(embeddings, mask))_m: how much branch m counts,
    per modality subset and per item. Image and strokes from one drawing (the Draw tab) are two views
    of the same pen path, not independent evidence, so the head learns how much each adds.
    The weights start at 1 and the correction at zero, so an untrained head is exact late fusion;
    checkpoints saved before the weights existed load as that (see _load_from_state_dict).
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
        self.subset_weight = nn.Parameter(torch.ones(2**k, k))  # row: the mask read as bits (image 1, strokes 2, audio 4)
        self.gate = nn.Linear(k * d.embed + k, k)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def forward(self, embeds: list[torch.Tensor], logits: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """embeds, logits: one (B, .) tensor per modality (zeros where absent); mask (B, 3) float."""
        temps = self.log_temp.exp()
        z = torch.cat([mask[:, i : i + 1] * self.norm[i](e) for i, e in enumerate(embeds)] + [mask], dim=1)
        bits = (mask * (2 ** torch.arange(mask.shape[1]))).sum(1).long()
        w = mask * self.subset_weight[bits] * 2 * torch.sigmoid(self.gate(z))
        base = sum(w[:, i : i + 1] * F.log_softmax(logits[i] / temps[i], dim=1) for i in range(len(logits)))
        return base + self.correction(z)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a head saved before the per-subset and per-item weights existed: weights 1, i.e. what it computed
        for name, p in (("subset_weight", self.subset_weight), ("gate.weight", self.gate.weight), ("gate.bias", self.gate.bias)):
            if prefix + "log_temp" in state_dict and prefix + name not in state_dict:
                state_dict[prefix + name] = torch.ones_like(p) if name == "subset_weight" else torch.zeros_like(p)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def fusion_inputs(
    n: int, parts: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]], d: ModelDimensions
) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """The one place fused inputs are built: which items have which modality, and what the fusion head takes.

    parts: modality -> (rows (k,) long, embeddings (k, embed), logits (k, classes)) for the k items of
    the batch of `n` that have that modality. Returns one (n, embed) and one (n, classes) tensor per
    modality in MODALITIES order (zeros where absent) and the (n, 3) float presence mask.
    """
    embeds, logits = [], []
    mask = torch.zeros(n, len(MODALITIES))
    for i, m in enumerate(MODALITIES):
        e = torch.zeros(n, d.embed)
        lg = torch.zeros(n, d.n_classes)
        if m in parts:
            rows, pe, pl = parts[m]
            e[rows], lg[rows] = pe, pl
            mask[rows, i] = 1.0
        embeds.append(e)
        logits.append(lg)
    return embeds, logits, mask


def anchored(fused: torch.Tensor, strokes_logits: torch.Tensor, a: torch.Tensor | float) -> torch.Tensor:
    """Log-probabilities of the fused answer leaning on the stroke branch's own answer by `a` (0..1)."""
    return (1 - a) * F.log_softmax(fused, dim=1) + a * F.log_softmax(strokes_logits, dim=1)


class Calibration(nn.Module):
    """What makes confidence honest, fitted after training on validation data (core/calibrate.py).

    - `log_temp` (3,): one temperature per branch, so a single-modality answer is that branch's
      calibrated probability (fusion never sharpens one input);
    - `log_temp_fused` (2**3,): one temperature per modality subset (indexed by the mask as a bit
      pattern) for fused answers;
    - `ood`: per branch, a small classifier on the embedding and the branch's sorted log-probabilities
      that says whether the input looks like a digit of that modality at all (noise, scribbles,
      blobs, letters and printed text do not);
    - `threshold`: the default "sure" threshold on the final confidence, chosen on validation data;
    - `drawing_anchor`: for image and strokes of one drawing (no audio), how much the stroke branch's own answer
      counts beside the fusion head's, chosen on validation drawings so that the fused answer is at
      least as good as either branch alone on every source of drawings (the picture is rendered from
      the strokes, so it adds no information; fusion may only add the agreement of two readers).
    An unfitted Calibration is the identity (temperature 1, every input in distribution, threshold 0,
    anchor 0).
    """

    def __init__(self, d: ModelDimensions):
        super().__init__()
        k = len(MODALITIES)
        self.register_buffer("log_temp", torch.zeros(k))
        self.register_buffer("log_temp_fused", torch.zeros(2**k))
        self.register_buffer("threshold", torch.zeros(()))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.register_buffer("drawing_anchor", torch.zeros(()))
        self.ood = ood_checks(d)

    @staticmethod
    def subset_index(present) -> int:
        """Which branches are present ((3,) bools, MODALITIES order) -> index into log_temp_fused (bits 1, 2, 4)."""
        return int(sum(1 << i for i, here in enumerate(present) if here))

    @staticmethod
    def ood_features(embed: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """(B, embed), (B, classes) -> (B, embed + OOD_TOP): the embedding and the top log-probabilities."""
        top = torch.log_softmax(logits, dim=1).sort(dim=1, descending=True).values[:, :OOD_TOP]
        return torch.cat([embed, top], dim=1)

    def anchor(self, fused: torch.Tensor, strokes_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fused logits -> log-probabilities; items holding image and strokes and no audio (one drawing)
        lean on the stroke branch by `drawing_anchor` (with audio, the head weighs all three itself).
        With anchor 0 the answer and its probabilities are unchanged."""
        return anchored(fused, strokes_logits, self.drawing_anchor * (mask[:, 0] * mask[:, 1] * (1 - mask[:, 2])).unsqueeze(1))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # calibrations saved before the anchor existed: anchor 0, i.e. what they computed
        if prefix + "log_temp" in state_dict and prefix + "drawing_anchor" not in state_dict:
            state_dict[prefix + "drawing_anchor"] = torch.zeros(())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def in_distribution(self, i: int, embed: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Branch i's probability (B,) that its input is a digit at all; 1 when not fitted."""
        if not bool(self.fitted):
            return torch.ones(embed.shape[0])
        return torch.sigmoid(self.ood[i](self.ood_features(embed, logits))[:, 0])


class DigitNet(nn.Module):
    """Encoders, per-modality classifiers, the fusion head and the calibration."""

    def __init__(self, d: ModelDimensions):
        super().__init__()
        self.dims = d
        self.image = ImageEncoder(d)
        self.strokes = StrokeEncoder(d)
        self.audio = AudioEncoder(d)
        self.heads = nn.ModuleDict({m: nn.Linear(d.embed, d.n_classes) for m in MODALITIES})
        self.fusion = FusionHead(d)
        self.calibration = Calibration(d)

    def encode(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, modality)(x)

    def fuse(self, embeds: list[torch.Tensor], logits: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """The fused answer as served: the fusion head, then the calibration's drawing anchor.
        (Training the head fits `self.fusion` alone.)"""
        return self.calibration.anchor(self.fusion(embeds, logits, mask), logits[MODALITIES.index("strokes")], mask)

    def forward(
        self,
        image: torch.Tensor | None = None,
        strokes: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Any non-empty subset of inputs (same batch size) -> {"fused": logits, and one logits tensor
        per given modality}. `mask` (B, 3) additionally drops modalities per item."""
        inputs = {m: x for m, x in zip(MODALITIES, (image, strokes, audio)) if x is not None}
        if not inputs:
            raise ValueError("DigitNet needs at least one of image, strokes, audio")
        n = next(iter(inputs.values())).shape[0]
        out, parts = {}, {}
        for m, x in inputs.items():
            e = self.encode(m, x)
            out[m] = self.heads[m](e)
            parts[m] = (torch.arange(n), e, out[m])
        embeds, logits, present = fusion_inputs(n, parts, self.dims)
        if mask is not None:
            present = present * mask
        out["fused"] = self.fuse(embeds, logits, present)
        return out


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """For serving: each BatchNorm right after a Conv2d or Linear in a Sequential is folded into that layer's
    weights and bias and replaced by Identity. The answers are the eval-mode ones to float rounding (1e-6),
    with a few operations fewer per request. In place on an eval-mode model; returns it. Not for training or
    saving: the running statistics are gone (Recognizer.load folds; checkpoint.load does not)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    if model.training:
        raise ValueError("fold_batchnorm needs an eval-mode model")
    with torch.no_grad():
        for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
            for i in range(len(seq) - 1):
                layer, norm = seq[i], seq[i + 1]
                if isinstance(layer, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                    seq[i], seq[i + 1] = fuse_conv_bn_eval(layer, norm), nn.Identity()
                elif isinstance(layer, nn.Linear) and isinstance(norm, nn.BatchNorm1d):
                    seq[i], seq[i + 1] = fuse_linear_bn_eval(layer, norm), nn.Identity()
    return model
