"""Any picture of one digit -> the MNIST convention: 28x28 uint8, white digit on black.

MNIST's own recipe (LeCun et al.): the digit's bounding box is scaled to fit 20x20 keeping
its aspect ratio, then placed in a 28x28 field so that its centre of mass is at the centre.
Training, evaluation, the web app and the webcam loop all call `to_mnist`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import InputError

SIZE = 28  # MNIST field, pixels
BOX = 20  # the digit's larger side after scaling, pixels
MAX_PIXELS = 80_000_000  # refuse anything larger: a 10k x 8k photo is already absurd for one digit
WORK_SIDE = 512  # larger inputs are shrunk to this side first; the result is 28x28 anyway
INK_THRESHOLD = 0.25  # fraction of the ink range that counts as part of the digit's bounding box
MIN_CONTRAST = 0.08  # ink range (0..1) below which the picture is called blank

ImageLike = np.ndarray | Image.Image | str | Path


def load_gray(image: ImageLike) -> np.ndarray:
    """Path, PIL image or array (H, W), (H, W, 3) or (H, W, 4) -> (H, W) float32 in 0..1.

    Transparent pixels count as white paper, so a canvas export with an alpha channel
    reads as dark ink on light paper.
    """
    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as im:
                im.load()
                image = im.copy()
        except (OSError, UnidentifiedImageError) as e:
            raise InputError(f"cannot read image file {image}: {e}; expected PNG, JPEG or another PIL format") from e
    if isinstance(image, Image.Image):
        if image.width * image.height > MAX_PIXELS:
            raise InputError(f"image is {image.width}x{image.height}; at most {MAX_PIXELS:,} pixels are accepted")
        image.thumbnail((WORK_SIDE * 4, WORK_SIDE * 4))
        image = np.asarray(image.convert("RGBA") if image.mode in ("P", "LA", "PA") else image)
    if not isinstance(image, np.ndarray):
        raise InputError(f"image must be a numpy array, PIL image or path, got {type(image).__name__}")
    a = image
    if a.size > MAX_PIXELS * 4:
        raise InputError(f"image array of shape {a.shape} is too large; at most {MAX_PIXELS:,} pixels are accepted")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or min(a.shape[:2]) < 2:
        raise InputError(f"image has shape {a.shape}; expected (H, W), (H, W, 3) or (H, W, 4) with H, W >= 2")
    if a.dtype == bool:
        a = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / (255.0 if a.max(initial=0) <= 255 else float(np.iinfo(a.dtype).max))
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise InputError("image contains NaN or infinite values")
        if a.max(initial=0) > 1.0:
            a = a / 255.0
    else:
        raise InputError(f"image dtype {a.dtype} is not supported; expected uint8, integer, float or bool")
    if a.ndim == 3:
        rgb = a[:, :, :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        if a.shape[2] == 4:
            alpha = a[:, :, 3]
            rgb = rgb * alpha + (1.0 - alpha)  # composite over white paper
        a = rgb
    if max(a.shape) > WORK_SIDE:
        f = WORK_SIDE / max(a.shape)
        a = np.asarray(Image.fromarray(a).resize((max(1, round(a.shape[1] * f)), max(1, round(a.shape[0] * f))), Image.BOX))
    return np.clip(a, 0.0, 1.0).astype(np.float32)


def load_rgb(image: ImageLike) -> np.ndarray:
    """Path, PIL image or array -> (H, W, 3) uint8 RGB at full resolution (for photos of many digits)."""
    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise InputError(f"image is {im.width}x{im.height}; at most {MAX_PIXELS:,} pixels are accepted")
                image = im.convert("RGB")
        except (OSError, UnidentifiedImageError) as e:
            raise InputError(f"cannot read image file {image}: {e}; expected PNG, JPEG or another PIL format") from e
    if isinstance(image, Image.Image):
        if image.width * image.height > MAX_PIXELS:
            raise InputError(f"image is {image.width}x{image.height}; at most {MAX_PIXELS:,} pixels are accepted")
        return np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise InputError(f"image must be a numpy array, PIL image or path, got {type(image).__name__}")
    a = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or min(a.shape[:2]) < 2:
        raise InputError(f"image has shape {image.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise InputError(f"image array of shape {image.shape} is too large; at most {MAX_PIXELS:,} pixels are accepted")
    if a.dtype != np.uint8:
        if not (a.dtype == bool or np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise InputError(f"image dtype {a.dtype} is not supported; expected uint8, integer, float or bool")
        f = a.astype(np.float32)
        if not np.isfinite(f).all():
            raise InputError("image contains NaN or infinite values")
        if a.dtype == bool or (np.issubdtype(a.dtype, np.floating) and f.max(initial=0) <= 1.0):
            f = f * 255.0
        a = np.clip(f + 0.5, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return np.ascontiguousarray(a[..., :3])


def ink_map(gray: np.ndarray) -> np.ndarray:
    """(H, W) 0..1 gray -> (H, W) 0..1 ink, white on black, whatever the input's polarity.

    Polarity comes from the border: the paper is whatever the outermost pixels mostly are.
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = 1.0 - gray if np.median(border) > 0.5 else gray
    lo = np.percentile(ink, 5)
    ink = np.clip(ink - lo, 0.0, None)
    return ink


def to_mnist(image: ImageLike) -> np.ndarray:
    """Any digit picture -> (28, 28) uint8, white on black, fitted in 20x20, centred by mass.

    Raises InputError for a blank picture (an empty canvas).
    """
    ink = ink_map(load_gray(image))
    top = float(ink.max())
    if top < MIN_CONTRAST:
        raise InputError("the image is blank: no digit found (draw or photograph a digit)")
    ink = ink / top
    ys, xs = np.nonzero(ink > INK_THRESHOLD)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = ink[y0:y1, x0:x1]
    h, w = crop.shape
    f = BOX / max(h, w)
    nh, nw = max(1, round(h * f)), max(1, round(w * f))
    small = np.asarray(Image.fromarray(crop.astype(np.float32)).resize((nw, nh), Image.BOX if f < 1 else Image.BILINEAR))
    small = np.clip(small, 0.0, 1.0)
    mass = small.sum()
    cy = (small.sum(axis=1) @ np.arange(nh)) / mass
    cx = (small.sum(axis=0) @ np.arange(nw)) / mass
    oy = int(round(SIZE / 2 - 0.5 - cy))
    ox = int(round(SIZE / 2 - 0.5 - cx))
    oy = min(max(oy, 0), SIZE - nh)
    ox = min(max(ox, 0), SIZE - nw)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[oy : oy + nh, ox : ox + nw] = small
    return (out * 255.0 + 0.5).astype(np.uint8)
