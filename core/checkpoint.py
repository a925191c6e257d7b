"""Self-describing checkpoints: weights + dimensions + preprocessing settings, and a JSON
model card beside them that records the checkpoint's sha256.

Loading checks the sha256 against the card (a truncated or tampered file is refused), the
format version, and that the preprocessing constants in this code match the ones the
weights were trained with.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch

from core import audio, image, strokes
from core.errors import DataError
from core.model import DigitNet, ModelDimensions

FORMAT_VERSION = 1
WEIGHTS_NAME = "digits.pt"
CARD_NAME = "digits.json"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"


def preprocessing_settings() -> dict:
    """The constants a checkpoint depends on; stored at save time, compared at load time."""
    return {
        "image": {"size": image.SIZE, "box": image.BOX},
        "strokes": {"n_points": strokes.N_POINTS, "scale": strokes.SCALE},
        "audio": {
            "sample_rate": audio.SAMPLE_RATE,
            "n_fft": audio.N_FFT,
            "hop_length": audio.HOP_LENGTH,
            "n_mels": audio.N_MELS,
            "n_frames": audio.N_FRAMES,
            "top_db": audio.TOP_DB,
            "fmin": audio.FMIN,
            "fmax": audio.FMAX,
        },
    }


def save(model: DigitNet, directory: Path, card: dict) -> dict:
    """Write digits.pt and digits.json into `directory`; returns the card as written."""
    directory.mkdir(parents=True, exist_ok=True)
    blob = {
        "format_version": FORMAT_VERSION,
        "dims": model.dims.to_dict(),
        "preprocessing": preprocessing_settings(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    buf = io.BytesIO()
    torch.save(blob, buf)
    data = buf.getvalue()
    (directory / WEIGHTS_NAME).write_bytes(data)
    card = dict(card, checkpoint={"file": WEIGHTS_NAME, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})
    (directory / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")
    return card


def load(directory: str | Path | None = None) -> tuple[DigitNet, dict]:
    """checkpoints/ (or another directory, or a path to digits.pt) -> (model in eval mode, card)."""
    path = Path(directory) if directory else DEFAULT_DIR
    if path.is_file():
        path = path.parent
    weights, card_path = path / WEIGHTS_NAME, path / CARD_NAME
    for p in (weights, card_path):
        if not p.is_file():
            raise DataError(f"missing checkpoint file {p}; train with scripts/train_core.sh or restore checkpoints/")
    try:
        card = json.loads(card_path.read_text())
        expected = card["checkpoint"]["sha256"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataError(f"model card {card_path} is unreadable or has no checkpoint.sha256: {e}") from e
    data = weights.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise DataError(
            f"checkpoint {weights} has sha256 {got}, but its model card expects {expected}: "
            "the file is truncated or was modified; restore it (git checkout checkpoints/) or retrain"
        )
    try:
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for unreadable pickles
        raise DataError(f"checkpoint {weights} cannot be read: {e}") from e
    version = blob.get("format_version") if isinstance(blob, dict) else None
    if version != FORMAT_VERSION:
        raise DataError(f"checkpoint {weights} has format version {version!r}; this code reads version {FORMAT_VERSION}")
    if blob.get("preprocessing") != preprocessing_settings():
        raise DataError(
            f"checkpoint {weights} was trained with preprocessing {blob.get('preprocessing')}, "
            f"but this code uses {preprocessing_settings()}; retrain or use the matching code version"
        )
    try:
        model = DigitNet(ModelDimensions.from_dict(blob["dims"]))
        model.load_state_dict(blob["state_dict"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise DataError(f"checkpoint {weights} does not fit this code's model: {e}") from e
    return model.eval(), card
