"""Every bound on what one request may cost, in one place, each with its reason.

A request is from a stranger: these limits are checked *before* the expensive work (decoding
an image, an audio stream or a JSON body), so a small hostile input cannot cost gigabytes or
seconds. The preprocessing modules (image.py, audio.py, strokes.py), the web app and the
webcam loop all take their numbers from here.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from core.errors import InputError

# ---------------------------------------------------------------- images
# A 6000x4000 phone photo is 24 MP; more is never needed to read digits, and 24 MP of RGB is
# 72 MB decoded, within the 200 MB a request may cost.
MAX_IMAGE_PIXELS = 24_000_000
# Any photo of a page is below this after JPEG/PNG compression; a larger upload is refused unread.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
# Decoding targets this side: a digit needs far less; JPEG decodes straight to it (draft mode), other formats
# are shrunk to it by a whole factor once decoded (core/image.open_image).
DECODE_SIDE = 2048

# ---------------------------------------------------------------- audio
MAX_AUDIO_SECONDS = 30.0  # one spoken digit is under 1 s; longer recordings are refused, not cut
MAX_SAMPLE_RATE = 384_000  # Hz: the highest rate sound cards record
MIN_SAMPLE_RATE = 1_000  # Hz: below this no speech survives
# Samples (all channels) a file may decode to in MAX_AUDIO_SECONDS: 64 MB as float32. Mono at 384 kHz, stereo at
# 192 kHz and 8 channels at 48 kHz fit; 8 channels at 384 kHz (a 100 KB FLAC of silence) would be 370 MB.
MAX_DECODED_SAMPLES = 16_000_000
# Compressed audio of 30 s is under 2 MB even at lossless 48 kHz stereo 24-bit (~8.6 MB); refuse more unread.
MAX_AUDIO_BYTES = 20 * 1024 * 1024

# ---------------------------------------------------------------- strokes
# The canvas sends ~20 points per stroke and a digit has 1-5 strokes; a line of 12 digits with
# generous sampling stays far below these.
MAX_STROKE_JSON_BYTES = 2 * 1024 * 1024
MAX_STROKES = 500  # strokes in one request, empty ones included (they cost parsing too)
MAX_POINTS = 50_000  # points in one request
MAX_JSON_DEPTH = 6  # {"strokes": [[[x, y, t]]]} is 4 deep; deeper nesting is never a drawing
MAX_NUMBER_CHARS = 32  # a coordinate or timestamp never needs more digits (Python's int parser is quadratic)
MAX_COORDINATE = 1e7  # |x|, |y| in pixels or tablet units; larger is not a drawing
# A drawing of several digits is rendered for the line reader about 48 px tall, as wide as its aspect says:
# two dots 1e6 px apart would make that 1e6 px wide (gigabytes). A line of about 100 digits fits in this
# width; a wider drawing is shrunk to fit it (core/drawing.render).
MAX_RENDER_WIDTH = 4096

# ---------------------------------------------------------------- model card
MAX_CARD_BYTES = 4 * 1024 * 1024  # the model card is a few KB of JSON

# ---------------------------------------------------------------- teach mode (core/adapt.py, core/profile.py)
# A user teaches 1-5 examples of each digit; 10 is already more than the correction needs, and
# 200 examples cost about a second to read and fit (more would only cost a stranger's server time).
MAX_TEACH_PER_DIGIT = 10
MAX_TEACH_EXAMPLES = 200
# A profile holds one (128 x 10) correction per modality and its counts: about 20 KB. A larger
# file is not one and is refused before it is read.
MAX_PROFILE_BYTES = 1024 * 1024


def check_file_size(path: Path, limit: int, what: str) -> None:
    """Refuse a file over `limit` bytes before reading it (names only the file's name, never its folder)."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise InputError(f"{what} file {path.name} does not exist") from None
    except OSError as e:
        raise InputError(f"cannot read {what} file {path.name}: {e.strerror or e}") from None
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise InputError(f"{what} file {path.name} is not a regular file")
    if size == 0:
        raise InputError(f"cannot read {what} file {path.name}: it is empty")
    if size > limit:
        raise InputError(f"{what} file {path.name} is {size / 2**20:.1f} MB; at most {limit / 2**20:.0f} MB is accepted")


def check_pixels(width: int, height: int) -> None:
    """Refuse an image over MAX_IMAGE_PIXELS, given its header's dimensions (before decoding)."""
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(f"image is {width}x{height}; at most {MAX_IMAGE_PIXELS:,} pixels are accepted")


def json_shape(text: str | bytes) -> tuple[int, int]:
    """(deepest nesting, number of lists and objects) of JSON text, counted without parsing (brackets
    inside strings count too: they never occur in stroke JSON). Linear time, so it runs before json.loads
    and a body of half a million empty lists is refused before it costs a second to parse."""
    b = np.frombuffer(text.encode() if isinstance(text, str) else text, dtype=np.uint8)
    if b.size == 0:
        return 0, 0
    opens = (b == ord("[")) | (b == ord("{"))
    step = opens.astype(np.int32) - ((b == ord("]")) | (b == ord("}"))).astype(np.int32)
    return int(np.cumsum(step).max(initial=0)), int(opens.sum())


def json_depth(text: str | bytes) -> int:
    """Deepest nesting of [ and { in JSON text (see json_shape)."""
    return json_shape(text)[0]


def parse_number(s: str) -> float:
    """json.loads hook for numbers: bounded length, so a 400-digit integer costs nothing and never overflows."""
    if len(s) > MAX_NUMBER_CHARS:
        raise InputError(f"a number in the strokes has {len(s)} characters; at most {MAX_NUMBER_CHARS} are accepted")
    return float(s)
