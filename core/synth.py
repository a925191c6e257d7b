"""Photos of handwritten numbers on paper, composed from real MNIST test digits.

For tests and benchmarks of `Recognizer.read` and the webcam loop: the digits are real
handwriting; the paper, ink, lighting, blur, noise and perspective are simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAPER = 232  # paper brightness before lighting (0..255)
INK = 40  # ink brightness


@dataclass
class Page:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    numbers: list[str]  # the lines written, top to bottom
    boxes: list[tuple[int, int, int, int]]  # every digit's (x, y, w, h) before perspective


def pick_digits(labels: np.ndarray, text: str, rng: np.random.Generator) -> list[int]:
    """Indices of random MNIST items spelling `text`."""
    return [int(rng.choice(np.flatnonzero(labels == int(c)))) for c in text]


def compose(
    images: np.ndarray,
    labels: np.ndarray,
    numbers: list[str],
    rng: np.random.Generator,
    size: tuple[int, int] = (640, 480),
    digit_px: int = 70,
    perspective: float = 0.06,
    blur: float = 1.0,
    noise: float = 6.0,
    light: float = 0.35,
) -> Page:
    """Write `numbers` (one per line) with MNIST digits on simulated paper; (w, h) = size."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    texture = cv2.GaussianBlur(rng.normal(0, 6, (h, w)).astype(np.float32), (0, 0), 1.5)
    page = np.full((h, w), PAPER, np.float32) + texture
    boxes = []
    line_h = digit_px * 1.5
    top = (h - line_h * len(numbers)) / 2 + digit_px * 0.25
    for li, text in enumerate(numbers):
        pitch = digit_px * rng.uniform(0.75, 0.9)
        x = (w - pitch * len(text)) / 2
        y = top + li * line_h
        for k in pick_digits(labels, text, rng):
            s = int(digit_px * rng.uniform(0.85, 1.1))
            glyph = cv2.resize(images[k], (s, s), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
            gx, gy = int(x + rng.uniform(-3, 3)), int(y + rng.uniform(-4, 4))
            gx, gy = max(0, min(w - s, gx)), max(0, min(h - s, gy))
            region = page[gy : gy + s, gx : gx + s]
            page[gy : gy + s, gx : gx + s] = region * (1 - glyph) + INK * glyph
            ys, xs = np.nonzero(glyph > 0.3)
            boxes.append((gx + int(xs.min()), gy + int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)))
            x += pitch
    # uneven light: a bright spot and a darker corner
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    shade = 1 - light * (np.hypot(xx - cx, yy - cy) / np.hypot(w, h))
    page = page * shade
    if perspective > 0:
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = src + rng.uniform(-perspective, perspective, (4, 2)).astype(np.float32) * np.float32([w, h])
        page = cv2.warpPerspective(page, cv2.getPerspectiveTransform(src, dst), (w, h), borderMode=cv2.BORDER_REPLICATE)
    if blur > 0:
        page = cv2.GaussianBlur(page, (0, 0), blur)
    page = page + rng.normal(0, noise, page.shape)
    gray = np.clip(page, 0, 255).astype(np.uint8)
    tint = np.array([1.0, 0.98, 0.93])  # warm paper
    rgb = np.clip(gray[..., None] * tint, 0, 255).astype(np.uint8)
    return Page(image=rgb, numbers=numbers, boxes=boxes)


def on_desk(
    image: np.ndarray, rng: np.random.Generator, fill: float | None = None, desk: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A page photographed lying on a darker wooden desk -> (RGB photo, the 3x3 map from page to photo pixels).
    The page covers `fill` of the photo (default 45-80%), turned and slanted, off-centre by up to a tenth (so its
    edge may run off the photo); the desk's brightness is `desk` (default 40-150 of 255) with grain and a brown tint."""
    h, w = image.shape[:2]
    fill = fill if fill is not None else rng.uniform(0.45, 0.8)
    big_w, big_h = int(w / np.sqrt(fill)), int(h / np.sqrt(fill))
    level = desk if desk is not None else rng.uniform(40, 150)
    grain = np.sin(np.arange(big_w)[None, :] / rng.uniform(3, 9) + rng.normal(0, 0.3, (big_h, 1))) * rng.uniform(0, 10)
    wood = level + grain + cv2.GaussianBlur(rng.normal(0, 12, (big_h, big_w)).astype(np.float32), (0, 0), 3)
    ground = np.clip(wood, 0, 255)[..., None] * np.array([1.0, 0.85, 0.7], np.float32)
    x0, y0 = (big_w - w) / 2 + rng.uniform(-0.1, 0.1) * big_w, (big_h - h) / 2 + rng.uniform(-0.1, 0.1) * big_h
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + np.float32([x0, y0]) + rng.uniform(-0.05, 0.05, (4, 2)).astype(np.float32) * np.float32([w, h])
    m = cv2.getPerspectiveTransform(src, dst)
    page = cv2.warpPerspective(image.astype(np.float32), m, (big_w, big_h))
    on = cv2.warpPerspective(np.ones((h, w), np.float32), m, (big_w, big_h))[..., None]
    photo = cv2.GaussianBlur(ground * (1 - on) + page * on, (0, 0), 0.7)
    return np.clip(photo, 0, 255).astype(np.uint8), m


def turned(image: np.ndarray, degrees: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A photo of `image` taken turned by `degrees` (counter-clockwise as shown): turned about its centre and the
    middle (w, h) = `size` cut out, so no corner needs filling; and the 2x3 map from `image`'s pixels to the photo's."""
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    x0, y0 = (w - size[0]) // 2, (h - size[1]) // 2
    photo = cv2.warpAffine(image, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)[y0 : y0 + size[1], x0 : x0 + size[0]]
    turn[:, 2] -= (x0, y0)
    return np.ascontiguousarray(photo), turn


def random_numbers(rng: np.random.Generator, lines: int = 2, min_len: int = 2, max_len: int = 5) -> list[str]:
    return ["".join(str(d) for d in rng.integers(0, 10, rng.integers(min_len, max_len + 1))) for _ in range(lines)]


def shaky_frames(image: np.ndarray, n: int, rng: np.random.Generator, shake_px: float = 3.0, noise: float = 4.0):
    """Yield n RGB frames of one page as a hand-held camera sees it: jitter, small rotation,
    flickering exposure, sensor noise."""
    h, w = image.shape[:2]
    for _ in range(n):
        angle = rng.uniform(-1.5, 1.5)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        m[:, 2] += rng.uniform(-shake_px, shake_px, 2)
        f = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        f = f * rng.uniform(0.9, 1.08) + rng.normal(0, noise, f.shape)
        yield np.clip(f, 0, 255).astype(np.uint8)


def write_video(path: str, pages: list[Page], frames_per_page: int, rng: np.random.Generator, fps: float = 30.0) -> list[str]:
    """Write an mp4 that shows each page for `frames_per_page` frames; returns the expected numbers per frame."""
    h, w = pages[0].image.shape[:2]
    out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    truth = []
    for page in pages:
        for f in shaky_frames(page.image, frames_per_page, rng):
            out.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
            truth.append("\n".join(page.numbers))
    out.release()
    return truth
