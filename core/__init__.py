"""Multimodal digit recognition: handwriting images, pen strokes and spoken digits, alone or fused.

from core import Recognizer
p = Recognizer.load().predict(image="digit.png")
"""

from core.errors import DataError, InputError
from core.recognizer import Prediction, Recognizer

__all__ = ["Recognizer", "Prediction", "InputError", "DataError"]
