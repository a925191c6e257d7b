"""Pictures for people: what each branch saw, and photos annotated with what was read.

OpenCV drawing only (fast enough to run on every pen-up and every webcam frame).
"""

from __future__ import annotations

import cv2
import numpy as np

from core.reading import Reading

BOX_COLOR = (40, 200, 40)  # RGB
LOW_COLOR = (230, 140, 0)  # orange: digits the recognizer is not sure of (`Digit.sure` is False)
TEXT_COLOR = (20, 20, 20)


def probs_dict(probs: np.ndarray, names: list[str] | None = None) -> dict[str, float]:
    """(10,) probabilities -> {"0": p0, ...} for gr.Label; `names`: the classes' names (a Prediction's `names`)."""
    return {str(i) if names is None else names[i]: float(p) for i, p in enumerate(probs)}


def mnist_view(image28: np.ndarray, scale: int = 6) -> np.ndarray:
    """(28, 28) uint8 -> enlarged with visible pixels, as the CNN saw it."""
    return cv2.resize(image28, (28 * scale, 28 * scale), interpolation=cv2.INTER_NEAREST)


def trajectory_view(points: np.ndarray, size: int = 168) -> np.ndarray:
    """(8, 2) pendigits points (0..100, y up) -> RGB picture of the path, start in red."""
    img = np.full((size, size, 3), 255, np.uint8)
    m = size * 0.1
    xy = np.stack([m + points[:, 0] / 100 * (size - 2 * m), size - m - points[:, 1] / 100 * (size - 2 * m)], axis=1)
    pts = np.round(xy).astype(np.int32)
    cv2.polylines(img, [pts], False, (31, 95, 168), 2, cv2.LINE_AA)
    for k, (x, y) in enumerate(pts):
        cv2.circle(img, (int(x), int(y)), 5 if k == 0 else 3, (214, 39, 40) if k == 0 else (31, 95, 168), -1, cv2.LINE_AA)
        cv2.putText(img, str(k + 1), (int(x) + 5, int(y) - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (90, 90, 90), 1, cv2.LINE_AA)
    return img


def spectrogram_view(features: np.ndarray, scale: int = 5) -> np.ndarray:
    """(mels, frames) features -> RGB heat map, low frequencies at the bottom."""
    f = features[::-1]
    g = np.clip((f - f.min()) / max(float(np.ptp(f)), 1e-6) * 255, 0, 255).astype(np.uint8)
    g = cv2.resize(g, (g.shape[1] * scale, g.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(cv2.applyColorMap(g, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)


def draw_reading(image: np.ndarray, reading: Reading) -> np.ndarray:
    """RGB photo -> copy with a box, label and confidence on every digit found; digits the
    recognizer is not sure of (`Digit.sure`, confidence under its threshold) in LOW_COLOR."""
    out = np.ascontiguousarray(image[..., :3]).copy()
    thick = max(2, round(max(out.shape[:2]) / 400))
    font = max(0.42, max(out.shape[:2]) / 1400)
    text_thick = max(1, thick // 2)
    for d in reading.digits:
        x, y, w, h = d.box
        color = BOX_COLOR if d.sure else LOW_COLOR
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick)
        label = f"{d.label} {100 * d.confidence:.0f}%"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font, text_thick)
        ty = max(th + 4, y - 4)
        cv2.rectangle(out, (x, ty - th - 4), (x + tw + 4, ty + 2), color, -1)
        cv2.putText(out, label, (x + 2, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, font, TEXT_COLOR, text_thick, cv2.LINE_AA)
    return out
