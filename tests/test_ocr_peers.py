"""The OCR peers read what they can read: printed numbers, lines in order, digits only."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from core import ocr_peers


def printed(lines: list[str], scale: float = 1.6) -> np.ndarray:
    page = np.full((70 * len(lines) + 30, 420, 3), 245, np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(page, text, (20, 60 + 70 * i), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 3, cv2.LINE_AA)
    return page


def test_upscaled_reaches_the_height_and_keeps_the_aspect():
    a = ocr_peers.upscaled(np.zeros((16, 40), np.uint8))
    assert a.shape == (ocr_peers.UPSCALE_TO, 160, 3)
    big = np.zeros((100, 30, 3), np.uint8)
    assert ocr_peers.upscaled(big).shape == big.shape


def test_digits_only_drops_everything_else():
    assert ocr_peers.digits_only("$ 1,204.50 kg") == "120450"


@pytest.mark.skipif(not shutil.which("tesseract"), reason="needs Debian's tesseract-ocr (scripts/setup.sh --system)")
def test_tesseract_reads_printed_lines_in_order():
    assert ocr_peers.tesseract_read(printed(["2026", "417"])) == "2026\n417"


@pytest.mark.skipif(ocr_peers._rapidocr() is None, reason="needs rapidocr-onnxruntime (requirements.txt)")
def test_rapidocr_reads_printed_lines_in_order():
    assert ocr_peers.rapidocr_read(printed(["2026", "417"])) == "2026\n417"
    assert ocr_peers.rapidocr_read(np.full((60, 200, 3), 240, np.uint8)) == ""
