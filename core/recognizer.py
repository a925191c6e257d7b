"""The serving API: `Recognizer.load()` once, then `.predict(...)` from any thread.

from core import Recognizer
r = Recognizer.load()
p = r.predict(image="seven.png", strokes=[[(10, 20), (30, 40)]], audio="seven.wav")
p.label, p.confidence, p.probs, p.by_modality
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core import audio as A
from core import checkpoint, reading
from core import image as I
from core import strokes as S
from core.errors import InputError
from core.model import MODALITIES, DigitNet


@dataclass
class Prediction:
    label: int  # 0-9
    confidence: float  # probability of `label`
    probs: np.ndarray  # (10,) fused probabilities, sum to 1
    by_modality: dict[str, np.ndarray]  # each given modality's own (10,) probabilities
    seen: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # what each branch saw

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        order = np.argsort(-self.probs)[:k]
        return [(int(i), float(self.probs[i])) for i in order]


def preprocess(modality: str, value, sample_rate: int | None = None) -> np.ndarray:
    """One raw input -> the array its encoder takes: (28, 28) uint8 image, (800,) float32 stroke
    vector (see strokes.strokes_to_input) or (40, 48) float32 log-mel."""
    if modality == "image":
        return I.to_mnist(value)
    if modality == "strokes":
        return S.strokes_to_input(value, y_down=True)
    if modality == "audio":
        return A.audio_features(value, sample_rate)
    raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")


def to_tensor(modality: str, arrays: Sequence[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(arrays))
    return x.float() / 255.0 if modality == "image" else x.float()


class Recognizer:
    """A loaded checkpoint. Inference holds no state between calls, so one instance serves many threads."""

    def __init__(self, model: DigitNet, card: dict):
        self.model = model.eval()
        self.card = card

    @classmethod
    def load(cls, path: str | Path | None = None) -> Recognizer:
        """checkpoints/ by default; or a directory or digits.pt path. Verifies sha256 and version."""
        model, card = checkpoint.load(path)
        return cls(model, card)

    def predict(self, image=None, strokes=None, audio=None, sample_rate: int | None = None) -> Prediction:
        """Any non-empty subset of image (array, PIL image or path), strokes (list of strokes, canvas
        pixels, y down) and audio (1-D array with `sample_rate`, or a path) -> Prediction."""
        return self.predict_batch(
            images=None if image is None else [image],
            strokes=None if strokes is None else [strokes],
            audios=None if audio is None else [audio],
            sample_rate=sample_rate,
        )[0]

    def predict_batch(self, images=None, strokes=None, audios=None, sample_rate: int | None = None) -> list[Prediction]:
        """Lists of equal length; an item may be None where that modality is missing for it.
        Every item needs at least one input."""
        given = {m: v for m, v in zip(MODALITIES, (images, strokes, audios)) if v is not None}
        if not given:
            raise InputError("nothing to recognize: give an image, strokes or audio")
        for m, v in given.items():
            if not isinstance(v, (list, tuple)):
                raise InputError(f"predict_batch takes a list per modality; got {type(v).__name__} for {m}")
        n = {len(v) for v in given.values()}
        if len(n) != 1:
            raise InputError(f"predict_batch: lists differ in length {sorted(n)}; expected one entry per item")
        n = n.pop()
        seen = {m: [None if x is None else preprocess(m, x, sample_rate) for x in v] for m, v in given.items()}
        mask = torch.zeros(n, len(MODALITIES))
        for i, m in enumerate(MODALITIES):
            if m in seen:
                mask[:, i] = torch.tensor([x is not None for x in seen[m]], dtype=torch.float32)
        if (mask.sum(1) == 0).any():
            raise InputError("an item has no input at all: give an image, strokes or audio for each")
        d = self.model.dims
        embeds = [torch.zeros(n, d.embed) for _ in MODALITIES]
        logits = [torch.zeros(n, d.n_classes) for _ in MODALITIES]
        with torch.inference_mode():
            for i, m in enumerate(MODALITIES):
                rows = [k for k in range(n) if mask[k, i]]
                if rows:
                    e = self.model.encode(m, to_tensor(m, [seen[m][k] for k in rows]))
                    embeds[i][rows] = e
                    logits[i][rows] = self.model.heads[m](e)
            fused = torch.softmax(self.model.fusion(embeds, logits, mask), dim=1).numpy()
            single = [torch.softmax(lg, dim=1).numpy() for lg in logits]
        out = []
        for k in range(n):
            probs = fused[k].astype(np.float64)
            probs /= probs.sum()
            label = int(probs.argmax())
            out.append(
                Prediction(
                    label=label,
                    confidence=float(probs[label]),
                    probs=probs,
                    by_modality={m: single[i][k].astype(np.float64) for i, m in enumerate(MODALITIES) if mask[k, i]},
                    seen={m: seen[m][k] for m in seen if seen[m][k] is not None},
                )
            )
        return out

    def classify_mnist(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(n) already-normalized (28, 28) uint8 images -> (n, 10) image-branch probabilities, one forward pass."""
        if len(images) == 0:
            return np.zeros((0, self.model.dims.n_classes))
        with torch.inference_mode():
            logits = self.model.heads["image"](self.model.encode("image", to_tensor("image", images)))
            return torch.softmax(logits, dim=1).numpy().astype(np.float64)

    def read(self, image) -> reading.Reading:
        """A photo of handwritten digits on paper (array, PIL image or path) -> Reading with
        `.digits` (box, label, confidence; line by line, left to right) and `.text` ("1947\n203")."""
        rgb = I.load_rgb(image)
        lines, crops = reading.segment(rgb)
        probs = self.classify_mnist(crops)
        digits, k = [], 0
        for li, line in enumerate(lines):
            for box in line:
                digits.append(
                    reading.Digit(
                        box=box,
                        label=int(probs[k].argmax()),
                        confidence=float(probs[k].max()),
                        line=li,
                        probs=probs[k],
                        crop=crops[k],
                    )
                )
                k += 1
        text = "\n".join("".join(str(d.label) for d in digits if d.line == li) for li in range(len(lines)))
        return reading.Reading(digits=digits, text=text)
