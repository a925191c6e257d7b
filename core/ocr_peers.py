"""Off-the-shelf OCR engines that read numbers off photos, for the benchmarks to beat (issue #8).

Each takes an RGB or gray uint8 array and answers its lines of digits joined by "\\n" (the same
shape as `Reading.text`), or None when the engine is not installed here:
- Tesseract 5 (Debian's `tesseract-ocr`), held to the ten digits by its character whitelist;
- RapidOCR (`pip install rapidocr-onnxruntime`): PaddleOCR's PP-OCRv4 detector and recognizer as
  ONNX models inside the wheel; it reads any text, so everything but digits is dropped.
Both get the same upscaling as this project's reader gets: a picture shorter than UPSCALE_TO
pixels is enlarged to that height first (small crops are otherwise below what either can see).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile

import cv2
import numpy as np

UPSCALE_TO = 64  # px: pictures shorter than this are enlarged to it before any engine sees them
TESSERACT_TIMEOUT_S = 30  # a read that takes longer counts as reading nothing


def upscaled(image: np.ndarray) -> np.ndarray:
    """`image` enlarged (cubic) so that its height is at least UPSCALE_TO; RGB uint8."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = cv2.cvtColor(a.astype(np.uint8), cv2.COLOR_GRAY2RGB)
    a = a[..., :3].astype(np.uint8)
    h, w = a.shape[:2]
    if h < UPSCALE_TO:
        f = UPSCALE_TO / h
        a = cv2.resize(a, (max(1, round(w * f)), UPSCALE_TO), interpolation=cv2.INTER_CUBIC)
    return a


def digits_only(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def tesseract_read(image: np.ndarray, psm: int = 6) -> str | None:
    """Digits-only Tesseract (`--psm 6`: a block of lines; 7: one line); None when not installed."""
    from PIL import Image

    if not shutil.which("tesseract"):
        return None
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        Image.fromarray(upscaled(image)).save(f.name)
        try:
            r = subprocess.run(
                ["tesseract", f.name, "-", "--psm", str(psm), "-c", "tessedit_char_whitelist=0123456789"],
                capture_output=True,
                text=True,
                timeout=TESSERACT_TIMEOUT_S,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},  # one page per process; its threads only contend
            )
        except subprocess.TimeoutExpired:
            return ""
    lines = (digits_only(line) for line in r.stdout.splitlines())
    return "\n".join(line for line in lines if line)


@functools.cache
def _rapidocr():
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None
    return RapidOCR()


def rapidocr_read(image: np.ndarray) -> str | None:
    """RapidOCR's detected text boxes grouped into lines (top to bottom, left to right), digits
    only; None when rapidocr-onnxruntime is not installed."""
    engine = _rapidocr()
    if engine is None:
        return None
    result, _ = engine(upscaled(image))
    boxes = []
    for quad, text, _score in result or []:
        d = digits_only(text)
        if d:
            q = np.asarray(quad, np.float32)
            boxes.append((q[:, 1].min(), q[:, 1].max(), q[:, 0].min(), d))
    lines: list[list[tuple]] = []
    for b in sorted(boxes, key=lambda b: (b[0] + b[1]) / 2):
        mid = (b[0] + b[1]) / 2
        if lines and lines[-1][-1][0] <= mid <= lines[-1][-1][1]:  # vertical centre inside the last line's band
            lines[-1].append(b)
        else:
            lines.append([b])
    return "\n".join("".join(b[3] for b in sorted(line, key=lambda b: b[2])) for line in lines)
