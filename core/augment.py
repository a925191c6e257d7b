"""Training-time augmentation of drawings: images and pen strokes. Never used at inference.

Each transform imitates a way a new writer differs from the training writers: slant, size and pen
width for images; rotation, aspect and wobble for strokes. Speech has its own: core/augment_audio.py.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from core import strokes as S

# image
ROTATE_DEG = 12.0
SCALE_RANGE = (0.85, 1.12)
SHEAR = 0.25
SHIFT_PX = 2.5
ELASTIC_PX = 1.6  # displacement amplitude of the elastic field, pixels
ELASTIC_GRID = 4  # the field is drawn on a 4x4 grid and smoothly upsampled
WIDTH_P = 0.4  # probability of thickening or thinning the pen stroke
# strokes
STROKE_ROTATE_DEG = 14.0
STROKE_STRETCH = 0.2  # relative change of one axis
STROKE_SHEAR = 0.25
STROKE_JITTER = 0.01  # point noise relative to the digit's size


def augment_images(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, 28, 28) float 0..1 -> same, with random pen width, affine and elastic warp in one resampling."""
    b = x.shape[0]
    x = x.unsqueeze(1)
    r = torch.rand(b, generator=gen)
    thick = (r < WIDTH_P / 2).view(b, 1, 1, 1)
    thin = ((r >= WIDTH_P / 2) & (r < WIDTH_P)).view(b, 1, 1, 1)
    dil = F.max_pool2d(x, 3, 1, 1)
    ero = -F.max_pool2d(-x, 3, 1, 1)
    x = torch.where(thick, 0.5 * (x + dil), torch.where(thin, 0.5 * (x + ero), x))

    u = lambda lo, hi: lo + (hi - lo) * torch.rand(b, generator=gen)  # noqa: E731
    ang = u(-ROTATE_DEG, ROTATE_DEG) * np.pi / 180
    sx, sy = u(*SCALE_RANGE), u(*SCALE_RANGE)
    sh = u(-SHEAR, SHEAR)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = cos / sx
    theta[:, 0, 1] = (-sin + sh * cos) / sx
    theta[:, 1, 0] = sin / sy
    theta[:, 1, 1] = (cos + sh * sin) / sy
    theta[:, :, 2] = (torch.rand(b, 2, generator=gen) * 2 - 1) * SHIFT_PX * 2 / 28
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    field = torch.randn(b, 2, ELASTIC_GRID, ELASTIC_GRID, generator=gen) * (ELASTIC_PX * 2 / 28)
    field = F.interpolate(field, size=x.shape[-2:], mode="bicubic", align_corners=True)
    grid = grid + field.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros").squeeze(1).clamp(0, 1)


def augment_strokes(parts: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Strokes as (n_i, 2) arrays (y up, any units) -> the same random rotation, shear, stretch
    and wobble applied to all of them (so a pendigits row and its drawn curve stay together)."""
    pts = np.concatenate(parts, axis=0)
    centre = pts.mean(axis=0)
    size = max(float(np.ptp(pts, axis=0).max()), 1e-6)
    a = np.deg2rad(rng.uniform(-STROKE_ROTATE_DEG, STROKE_ROTATE_DEG))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    shear = np.array([[1.0, rng.uniform(-STROKE_SHEAR, STROKE_SHEAR)], [0.0, 1.0]])
    stretch = np.diag(1.0 + rng.uniform(-STROKE_STRETCH, STROKE_STRETCH, size=2))
    m = (rot @ shear @ stretch).T
    return [(p - centre) @ m + rng.normal(0.0, STROKE_JITTER * size, size=p.shape) for p in parts]


def augmented_stroke_input(parts: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """UNIPEN-style strokes (y up) -> the stroke input vector of a random variant."""
    return augmented_stroke_item(parts, None, rng)[0]


def augmented_pendigits_input(row: np.ndarray, curve: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A pendigits row (8, 2) and its drawn curve -> the stroke input vector of a random variant."""
    return augmented_stroke_item(row, curve, rng)[0]


def augmented_stroke_item(raw, curve: np.ndarray | None, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """A stroke training item -> (stroke input vector of a random variant, the variant's pen path, y up).

    The item is UNIPEN-style strokes (y up) with curve None, or a pendigits row (8, 2) with its drawn
    curve: then the 8 points are transformed and rescaled, not resampled (they already are pendigits
    points), and the curve is the pen path."""
    if curve is None:
        q = augment_strokes(raw, rng)
        return S.pack(S.strokes_to_pendigits(q, y_down=False), S.rasterize(q, y_down=False)), q
    p, c = augment_strokes([raw.astype(np.float64) / S.SCALE, curve], rng)
    return S.pack(S.scale_axes(p), S.rasterize([c], y_down=False)), [c]
