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
import math
from pathlib import Path

import torch

from core import audio, image, strokes
from core.errors import DataError
from core.limits import MAX_CARD_BYTES, json_depth
from core.model import DigitNet, ModelDimensions

FORMAT_VERSION = 2  # 2: the card is stored inside the weights file, calibration is part of the model
READABLE_VERSIONS = (1, 2)
MAX_CARD_DEPTH = 12  # the card's deepest table (history -> stage -> epochs -> row) is 5 levels
NUMERIC_METRICS = ("mnist_test", "pendigits_test", "unipen_test_donors", "fsdd_test", "mnist_val", "strokes_val")
CARD_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "date": str,
    "git_commit": str,
    "parameters": int,
    "config": dict,
    "metrics": dict,
    "history": dict,
    "train_seconds": (int, float),
    "checkpoint": dict,
}
WEIGHTS_NAME = "digits.pt"
CARD_NAME = "digits.json"
MODELS = ("digits", "characters")  # checkpoints/{name}.pt and {name}.json: the 10-digit and the 62-character model
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


def card_text(card: dict) -> str:
    """The canonical JSON of a card (without its `checkpoint` entry): what the weights file stores and hashes."""
    return json.dumps({k: v for k, v in card.items() if k != "checkpoint"}, indent=2, sort_keys=True, allow_nan=False)


def file_names(name: str = "digits") -> tuple[str, str]:
    """A model's name -> (weights file, card file) names; an unknown name lists the known ones."""
    if name not in MODELS:
        raise DataError(f"unknown model {name!r}; expected one of {', '.join(map(repr, MODELS))}")
    return f"{name}.pt", f"{name}.json"


def save(model: DigitNet, directory: Path, card: dict, name: str = "digits") -> dict:
    """Write {name}.pt and {name}.json (digits.pt and digits.json by default) into `directory`; returns the
    card as written.

    The card's content is stored inside the .pt file too, so the sha256 in the .json covers it:
    an edited metric or commit in the card no longer matches and is refused at load.
    """
    directory.mkdir(parents=True, exist_ok=True)
    blob = {"dims": model.dims.to_dict(), "preprocessing": preprocessing_settings()}
    weights, card_name = file_names(name)
    return write_checked(model, blob, directory / weights, directory / card_name, card)


def write_checked(model: torch.nn.Module, blob: dict, weights: Path, card_path: Path, card: dict) -> dict:
    """Any model's weights plus `blob` (its dims, preprocessing) and the card's text -> `weights`, and the
    card with the file's sha256 -> `card_path`. Shared by the digit model and the line reader."""
    check_finite(model.state_dict(), weights)
    text = card_text(card)
    blob = {
        "format_version": FORMAT_VERSION,
        **blob,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "card": text,
    }
    buf = io.BytesIO()
    torch.save(blob, buf)
    data = buf.getvalue()
    weights.write_bytes(data)
    card = dict(
        json.loads(text), checkpoint={"file": weights.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    )
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return card


def check_finite(state: dict, path: Path) -> None:
    """NaN or infinite weights would predict at confidence NaN: refuse them by name."""
    for k, v in state.items():
        if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all():
            raise DataError(f"checkpoint {path} has non-finite values in {k}; retrain or restore checkpoints/")


def read_card(path: Path) -> dict:
    """digits.json -> dict, refusing what is not a small, plain, UTF-8 JSON object."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"model card {path} cannot be read: {e.strerror or e}") from None
    if len(raw) > MAX_CARD_BYTES:
        raise DataError(f"model card {path} is {len(raw):,} bytes; a card is a few KB (at most {MAX_CARD_BYTES:,})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"model card {path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    if json_depth(text) > MAX_CARD_DEPTH:
        raise DataError(f"model card {path} is nested deeper than {MAX_CARD_DEPTH} levels")
    try:
        card = json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as e:
        raise DataError(f"model card {path} is not valid JSON: {e}") from None
    if not isinstance(card, dict):
        raise DataError(f"model card {path} must be a JSON object, got {type(card).__name__}")
    return card


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a card may hold")


def validate_card(card: dict, path: Path, schema: dict | None = None) -> None:
    """Every field the code reads has the type it expects; a wrong one is a DataError naming it."""
    for key, kind in (CARD_SCHEMA if schema is None else schema).items():
        if key not in card:
            raise DataError(f"model card {path} has no {key!r} field")
        if not isinstance(card[key], kind) or (kind is int and isinstance(card[key], bool)):
            got = type(card[key]).__name__
            raise DataError(f"model card {path}: field {key!r} is {got}; expected {getattr(kind, '__name__', kind)}")
    ck = card["checkpoint"]
    if not (isinstance(ck.get("sha256"), str) and len(ck["sha256"]) == 64 and isinstance(ck.get("bytes"), int)):
        raise DataError(f"model card {path}: checkpoint must hold a 64-character sha256 and a byte count")
    for k, v in card["metrics"].items():
        if not _plain(v):
            raise DataError(f"model card {path}: metric {k!r} must hold finite numbers, text or tables of them")
        if k in NUMERIC_METRICS and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1):
            raise DataError(f"model card {path}: metric {k!r} must be an accuracy from 0 to 1, got {v!r}")


def _plain(v) -> bool:
    """Finite numbers, text, null, and lists or tables of them: what a card may hold."""
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain(x) for k, x in v.items())
    if isinstance(v, list):
        return all(_plain(x) for x in v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return math.isfinite(v)
    return v is None or isinstance(v, (str, bool))


def read_checked(weights: Path, card_path: Path, schema: dict | None = None) -> tuple[dict, dict]:
    """`weights` and its card -> (the blob, the card), after checking the sha256, the format version and
    that the card was not edited. Shared by the digit model and the line reader."""
    for p in (weights, card_path):
        if not p.is_file():
            raise DataError(f"missing checkpoint file {p}; train with scripts/train_core.sh or restore checkpoints/")
    card = read_card(card_path)
    expected = card.get("checkpoint", {}).get("sha256") if isinstance(card.get("checkpoint"), dict) else None
    if not isinstance(expected, str):
        raise DataError(f"model card {card_path} has no checkpoint.sha256")
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
    if version not in READABLE_VERSIONS:
        raise DataError(f"checkpoint {weights} has format version {version!r}; this code reads versions {READABLE_VERSIONS}")
    if version >= 2:
        if not isinstance(blob.get("card"), str) or json.loads(blob["card"]) != json.loads(card_text(card)):
            raise DataError(
                f"model card {card_path} does not match the card stored in {weights.name}: "
                "it was edited after training; restore it (git checkout checkpoints/) or retrain"
            )
        validate_card(card, card_path, schema)
    return blob, card


def check_preprocessing(blob: dict, expected: dict, weights: Path, remedy: str) -> None:
    """A checkpoint is only valid with the preprocessing it was trained with: refuse any other, saying what to do."""
    if blob.get("preprocessing") != expected:
        raise DataError(
            f"checkpoint {weights} was trained with preprocessing {blob.get('preprocessing')}, "
            f"but this code uses {expected}; {remedy}"
        )


def load(directory: str | Path | None = None, name: str = "digits") -> tuple[DigitNet, dict]:
    """checkpoints/ (or another directory, or a path to a file in it) -> (model `name` in eval mode, card).
    name: "digits" (digits.pt) or "characters" (characters.pt)."""
    path = Path(directory) if directory else DEFAULT_DIR
    if path.is_file():
        path = path.parent
    weights, card_path = (path / n for n in file_names(name))
    blob, card = read_checked(weights, card_path)
    version = blob["format_version"]
    check_preprocessing(blob, preprocessing_settings(), weights, "retrain or use the matching code version")
    try:
        model = DigitNet(ModelDimensions.from_dict(blob["dims"]))
        state = blob["state_dict"]
        check_finite(state, weights)
        missing, unexpected = model.load_state_dict(state, strict=False)
        # version 1 predates calibration: it loads uncalibrated, only so that `core.train --stages` can add it
        allowed = {k for k in model.state_dict() if k.startswith("calibration.")} if version == 1 else set()
        if unexpected or set(missing) - allowed:
            raise RuntimeError(f"missing keys {sorted(set(missing) - allowed)[:5]}, unexpected keys {sorted(unexpected)[:5]}")
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise DataError(f"checkpoint {weights} does not fit this code's model: {e}") from e
    return model.eval(), card
