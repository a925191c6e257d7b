"""Any picture of one digit -> the MNIST convention: 28x28 uint8, white digit on black.

MNIST's own recipe (LeCun et al.): the digit's bounding box is scaled to fit 20x20 keeping
its aspect ratio, then placed in a 28x28 field so that its centre of mass is at the centre.
Training, evaluation, the web app and the webcam loop all call `to_mnist`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from core import limits as L
from core.errors import InputError

SIZE = 28  # MNIST field, pixels
BOX = 20  # the digit's larger side after scaling, pixels
WORK_SIDE = 512  # larger inputs are shrunk to this side first; the result is 28x28 anyway
INK_THRESHOLD = 0.25  # fraction of the ink range that counts as part of the digit's bounding box
MIN_CONTRAST = 0.08  # ink range (0..1) below which the picture is called blank
FLOAT_UNIT_TOP = 2.0  # a float picture whose maximum is at most this is 0..1 (resampling overshoots 1 a little)
EXIF_ORIENTATION = 0x0112  # the EXIF tag saying how a stored picture is turned to be shown, and how to turn it
EXIF_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}  # as PIL.ImageOps.exif_transpose, applied to the shrunk picture
SHRUNK_BY = "shrunk_by"  # open_image's note in the decoded image's info: file pixels per decoded pixel
ROW_BAND = 256  # rows converted at a time where a picture needs float copies (a 24 MP RGBA: +1 GB in one piece)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luminance weights of R, G, B

ImageLike = np.ndarray | Image.Image | Path

Image.MAX_IMAGE_PIXELS = 2 * L.MAX_IMAGE_PIXELS  # PIL's own bomb guard, behind ours (header checked first)


def open_image(path: Path, side: int = L.DECODE_SIDE) -> Image.Image:
    """An explicit image file -> decoded PIL image. Bytes and header dimensions are checked *before*
    decoding; JPEGs decode straight at about `side` pixels (draft mode), so a big photo costs little.
    How much smaller than the file's own pixels it came out is in `info[SHRUNK_BY]` (1.0: full size)."""
    L.check_file_size(path, L.MAX_IMAGE_BYTES, "image")
    im, keep = None, False
    try:
        im = Image.open(path)
        L.check_pixels(im.width, im.height)
        full = max(im.size)
        if im.format == "JPEG":
            im.draft(im.mode, (side, side))
        im.load()  # a one-frame file is closed once decoded: `im` is kept, not copied (+67 MB for a 16 MP RGBA)
        out = im
        if max(im.size) >= 2 * side:  # other formats decode whole: shrunk the same way, by a whole factor
            if im.mode in ("P", "PA", "1") or im.mode.startswith("I;16"):  # modes reduce() refuses (a palette kept
                out = im.convert(palette_mode(im))  # whole cost +1 GB): converted first
            out = out.reduce(max(im.size) // side)
        # a phone stores a turned photo as shot, with an EXIF tag saying how to show it: read what people see
        # (after shrinking: turning the whole picture first cost a full-size copy)
        turn = EXIF_TURNS.get(im.getexif().get(EXIF_ORIENTATION, 1))
        if turn is not None:
            out = out.transpose(turn)
        if out is im and im.fp is not None:  # several frames keep their file open: the first is copied, the file closed
            out = im.copy()
        out.info[SHRUNK_BY] = full / max(out.size)
        keep = out is im
        return out
    except InputError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError) as e:
        why = str(e).replace(str(path), path.name)  # the file's folder is nobody's business
        raise InputError(f"cannot read image file {path.name}: {why}; expected PNG, JPEG or another PIL format") from None
    finally:
        if im is not None and not keep:
            im.close()


def palette_mode(im: Image.Image) -> str:
    """The mode a palette, 1-bit or 16-bit grey image becomes before it is shrunk (or a palette read): RGBA only
    where it is transparent (a quarter less memory than RGBA for every opaque palette PNG), L for 1-bit, I for 16-bit."""
    if im.mode == "1":
        return "L"
    if im.mode.startswith("I;16"):
        return "I"  # 16-bit grey as 32-bit integers: the bit depth is still read from the data
    return "RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB"


def pil_to_array(im: Image.Image) -> np.ndarray:
    """PIL image in any mode -> (H, W) or (H, W, 3|4) array, its colour model and bit depth resolved:
    CMYK, HSV, YCbCr and palettes become RGB(A); LAB gives its lightness; 16- and 32-bit modes keep
    their integers (the bit depth is read from the data in `to_unit`)."""
    L.check_pixels(im.width, im.height)
    mode = im.mode
    if mode == "LAB":
        return np.asarray(im.getchannel("L"))
    if mode in ("1", "L", "RGB", "RGBA", "F") or mode.startswith("I"):
        a = np.asarray(im)
        return a.astype(np.int32) if a.dtype.byteorder not in ("=", "|") else a  # big-endian I;16B
    if mode in ("P", "PA"):
        return np.asarray(im.convert(palette_mode(im)))
    if mode in ("LA", "La", "RGBa"):
        return np.asarray(im.convert("RGBA"))
    try:
        return np.asarray(im.convert("RGB"))  # CMYK, HSV, YCbCr, ...
    except (ValueError, OSError) as e:
        raise InputError(f"image mode {mode} is not supported: {e}") from None


def as_array(image: ImageLike, side: int = L.DECODE_SIDE) -> np.ndarray:
    """Path, PIL image or array -> array as `pil_to_array` gives; a path opens a file, a str never does."""
    if isinstance(image, Path):
        image = open_image(image, side)
    if isinstance(image, Image.Image):
        if min(image.size) < 1:
            raise InputError(f"image is {image.width}x{image.height}: there is nothing to read")
        return pil_to_array(image)
    if isinstance(image, (str, bytes)):
        raise InputError("image given as a string: pass an array, a PIL image, or a pathlib.Path to open a file")
    if not isinstance(image, np.ndarray):
        raise InputError(f"image must be a numpy array, PIL image or path, got {type(image).__name__}")
    image = np.asarray(image)  # a masked array or a matrix as the plain array of its values
    a = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or min(a.shape[:2]) < 2:
        raise InputError(f"image has shape {image.shape}; expected (H, W), (H, W, 3) or (H, W, 4) with H, W >= 2")
    L.check_pixels(a.shape[1], a.shape[0])
    return a


def unit_scale(a: np.ndarray) -> tuple[float, bool]:
    """(divisor, clip below 0) that bring a numeric image array to 0..1 (`to_unit`). Integers above 255 are
    read at their bit depth (10-, 12-, 14- or 16-bit data in a uint16 all reach full scale); floats up to
    FLOAT_UNIT_TOP are 0..1 (a 0..1 picture resized with cubic interpolation reaches 1.04: read as 0..255 it
    was blank), larger ones 0..255, and above 255 their own maximum is full scale."""
    if a.dtype == bool:
        return 1.0, False
    if np.issubdtype(a.dtype, np.integer):
        top = int(a.max(initial=0))
        if top <= 255:
            return 255.0, False
        return float(2 ** min(max(top.bit_length(), 9), 32) - 1), True  # ceil(log2(top + 1)), exact for any integer
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise InputError("image contains NaN or infinite values")
        top = float(np.float32(a.max(initial=0)))
        if top > 255.0:
            return top, True
        return (255.0, False) if top > FLOAT_UNIT_TOP else (1.0, False)
    raise InputError(f"image dtype {a.dtype} is not supported; expected uint8, integer, float or bool")


def to_unit(a: np.ndarray, scale: tuple[float, bool] | None = None) -> np.ndarray:
    """Any numeric image array -> float32 in 0..1 (`unit_scale`; pass it to convert a picture in parts)."""
    divisor, clip = unit_scale(a) if scale is None else scale
    f = a.astype(np.float32)
    if clip:
        np.clip(f, 0, None, out=f)
    return f / np.float32(divisor) if divisor != 1.0 else f


def paper_under(rgb_mean: np.ndarray, alpha: np.ndarray) -> float | None:
    """The paper a transparent drawing is composited over: white under dark ink, black under light ink
    (the alpha-weighted mean colour decides), so ink that lives only in the alpha channel stays visible.
    None when nothing is opaque. `rgb_mean`, `alpha`: (H, W) in 0..1."""
    return paper_from_sums(float((rgb_mean * alpha).sum()), float(alpha.sum()))


def paper_from_sums(inked: float, weight: float) -> float | None:
    """`paper_under` from its two sums (alpha-weighted mean colour, alpha), which a picture can give in parts."""
    if weight <= 0:
        return None
    return 1.0 if inked / weight < 0.5 else 0.0


def to_gray(a: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) array of any dtype -> (H, W) float32 luminance in 0..1, RGBA composited over the paper
    `paper_under` picks. Works on (H, W) planes, never on a float copy of all channels: a 280x280 canvas
    PNG costs about 1 ms here instead of 7 (the Draw tab sends one with every stroke)."""
    if a.dtype == np.uint8:
        f, scale = a, np.float32(1.0 / 255.0)
    else:
        f, scale = to_unit(a), np.float32(1.0)
    rgb = np.ascontiguousarray(f[..., :3], dtype=np.float32)
    if a.shape[2] != 4:
        return cv2.transform(rgb, (LUMA * scale).reshape(1, 3))
    # one pass over the pixels gives both planes: luminance, and the channel mean that picks the paper
    planes = cv2.transform(rgb, np.stack([LUMA * scale, np.full(3, scale / 3, np.float32)]))
    lum, mean = planes[..., 0], planes[..., 1]
    alpha = f[..., 3].astype(np.float32) * scale
    paper = paper_under(mean, alpha)
    return lum if paper is None else lum * alpha + paper * (1.0 - alpha)


def shrink(a: np.ndarray, side: int) -> np.ndarray:
    """Area-average an array so its longer side is `side` (thin strokes fade, they do not vanish)."""
    f = side / max(a.shape[:2])
    size = (max(1, round(a.shape[1] * f)), max(1, round(a.shape[0] * f)))
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype not in (np.uint8, np.uint16, np.float32):
        a = a.astype(np.float32)
    return cv2.resize(a, size, interpolation=cv2.INTER_AREA)


def load_gray(image: ImageLike) -> np.ndarray:
    """Path, PIL image or array -> (H, W) float32 in 0..1, at most WORK_SIDE on its longer side."""
    a = as_array(image, WORK_SIDE * 2)
    if max(a.shape[:2]) > 2 * WORK_SIDE:  # shrink before the float copies
        a = shrink(a, 2 * WORK_SIDE)
    a = to_gray(a) if a.ndim == 3 else to_unit(a)
    if max(a.shape) > WORK_SIDE:
        f = WORK_SIDE / max(a.shape)
        a = np.asarray(Image.fromarray(a).resize((max(1, round(a.shape[1] * f)), max(1, round(a.shape[0] * f))), Image.BOX))
    return np.clip(a, 0.0, 1.0).astype(np.float32)


def opened(image: ImageLike) -> tuple[np.ndarray, float]:
    """Path, PIL image or array -> (`as_array`'s array, file pixels per array pixel): what turns a box found on a
    big photo file, decoded smaller, back into the file's pixels (1.0 for anything but a path). The decoded PIL
    image is let go once it is an array (both held at once took a 16 MP RGBA PNG past the 200 MB bound)."""
    if isinstance(image, Path):
        im = open_image(image)
        shrunk_by = float(im.info.get(SHRUNK_BY, 1.0))
        return as_array(im), shrunk_by
    return as_array(image), 1.0


def load_rgb(image: ImageLike) -> np.ndarray:
    """Path, PIL image or array -> (H, W, 3) uint8 RGB (for photos of many digits; files decode at about DECODE_SIDE)."""
    return rgb_from_array(as_array(image))


def rgb_from_array(a: np.ndarray) -> np.ndarray:
    """`as_array`'s array -> (H, W, 3) uint8 RGB. Other dtypes and RGBA are converted ROW_BAND rows at a time: the
    float copies of a whole 24 MP RGBA picture cost +1 GB; the result keeps the input's size, so a digit's box is
    in the caller's pixels."""
    if a.dtype != np.uint8 or a.ndim == 3 and a.shape[2] == 4:
        scale = unit_scale(a)
        paper = None
        if a.ndim == 3 and a.shape[2] == 4:  # the paper under a transparent picture, from sums over all of it
            inked = weight = 0.0
            for r in range(0, a.shape[0], ROW_BAND):
                f = to_unit(a[r : r + ROW_BAND], scale)
                inked += float((f[..., :3].mean(axis=2) * f[..., 3]).sum())
                weight += float(f[..., 3].sum())
            paper = paper_from_sums(inked, weight)
        out = np.empty(a.shape[:2] + ((3,) if a.ndim == 3 else ()), np.uint8)
        for r in range(0, a.shape[0], ROW_BAND):
            f = to_unit(a[r : r + ROW_BAND], scale)
            if f.ndim == 3 and f.shape[2] == 4:
                f = f[..., :3] if paper is None else f[..., :3] * f[..., 3:4] + paper * (1.0 - f[..., 3:4])
            out[r : r + ROW_BAND] = np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)
        a = out
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return np.ascontiguousarray(a[..., :3])


def low_percentile(a: np.ndarray, q: float) -> float:
    """np.percentile(a, q) (linear interpolation), by partial sort: a third of its time on a canvas."""
    flat = a.ravel()
    pos = q / 100.0 * (flat.size - 1)
    k = int(np.floor(pos))
    k1 = min(k + 1, flat.size - 1)
    part = np.partition(flat, (k, k1))
    return float(part[k] + (pos - k) * (part[k1] - part[k]))


def ink_map(gray: np.ndarray) -> np.ndarray:
    """(H, W) 0..1 gray -> (H, W) 0..1 ink, white on black, whatever the input's polarity.

    Polarity comes from the border: the paper is whatever the outermost pixels mostly are.
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = 1.0 - gray if np.median(border) > 0.5 else gray
    lo = low_percentile(ink, 5)
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
