"""Real-time reading of handwritten digits on paper, from a camera, a video, an image or a folder.

    python -m demo.webcam                                   # camera 0, a window
    python -m demo.webcam --source video.mp4 --headless --out annotated.mp4 --json results.jsonl

Keys in the window: q / Esc quit, space pause, s snapshot, d threshold-mask view,
v record about 1 s of speech and fuse it with the digit nearest the centre.

Each JSON line is one frame:
    {"frame": 0, "time": 0.033, "numbers": ["1947", "203"],
     "digits": [{"box": [x, y, w, h], "label": 7, "confidence": 0.99, "sure": true}]}
with labels and numbers after temporal smoothing (boxes tracked across frames, votes over
the last HISTORY frames), so they do not flicker. Boxes under the recognizer's confidence
threshold are drawn in another colour.

A frame or file that cannot be read (corrupt, empty, 1x1, or over the pixel limit, which is
checked from the image header with PIL before OpenCV decodes anything) is skipped with a
one-line warning on stderr; the run goes on. `--out` and `--json` are checked before the first
frame: a missing folder or an unwritable file is a one-line error and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from core import DataError, InputError, Recognizer, reading
from core import limits as L
from demo.render import draw_reading

HISTORY = 8  # frames a track votes over
MAX_MISSING = 5  # frames a track survives without a matching box
MATCH_IOU = 0.3  # boxes overlapping this much are the same digit
DEFAULT_FPS = 30.0
VOICE_SECONDS = 1.2
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".avi", ".mkv"}  # containers OpenCV writes the mp4v codec into
WINDOW = "digits webcam (q quit, space pause, s snapshot, d mask, v voice)"


class SourceError(RuntimeError):
    """The camera, file or folder cannot be read."""


class OutputError(RuntimeError):
    """An output file (--out, --json) cannot be written."""


def warn(message: str) -> None:
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


def read_image(path: Path) -> np.ndarray:
    """An image file -> BGR array. Its size and header dimensions are checked with PIL before
    OpenCV decodes it, so a small file that claims 9000x9000 pixels costs nothing. Raises InputError."""
    L.check_file_size(path, L.MAX_IMAGE_BYTES, "image")
    try:
        with Image.open(path) as im:
            L.check_pixels(im.width, im.height)
    except InputError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise InputError(f"{path.name} is not a readable image ({type(e).__name__})") from None
    img = cv2.imread(str(path))
    if img is None:
        raise InputError(f"{path.name} is not a readable image (OpenCV cannot decode it)")
    return img


def check_output(path: str, what: str) -> Path:
    """Fail before the first frame when `path` cannot be written: missing folder, a folder, no permission."""
    p = Path(path)
    folder = p.parent
    if p.is_dir():
        raise OutputError(f"{what} {path} is a folder; expected a file name")
    if not folder.exists():
        raise OutputError(f"{what} {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise OutputError(f"{what} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise OutputError(f"{what} {path} is not writable")
    return p


# ---------------------------------------------------------------- sources


def frames(source: str) -> Iterator[tuple[np.ndarray, float, str]]:
    """Yield (BGR frame, time in s, what it is: a file name or "frame N") from a camera index, a video
    file, an image or a folder of images."""
    path = Path(source)
    if source.isdigit():
        cap = cv2.VideoCapture(int(source))
        if not cap.isOpened():
            raise SourceError(f"cannot open camera {source}: no such device, or it is busy; try --source VIDEO_FILE")
        t0 = time.monotonic()
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                cap.release()
                if n == 0:
                    raise SourceError(f"camera {source} opened but gave no frame")
                raise SourceError(f"camera stream {source} was lost after {n} frames")
            n += 1
            yield frame, time.monotonic() - t0, f"frame {n - 1}"
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise SourceError(f"folder {path} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        read = 0
        for i, f in enumerate(files):
            try:
                img = read_image(f)
            except InputError as e:
                warn(f"skipping {f.name}: {e}")
                continue
            read += 1
            yield img, i / DEFAULT_FPS, f.name
        if not read:
            raise SourceError(f"folder {path} holds no readable image ({len(files)} skipped)")
        return
    if not path.is_file():
        raise SourceError(f"{source} is not a camera index, a file or a folder")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        try:
            img = read_image(path)
        except InputError as e:
            raise SourceError(f"{path} is not a readable image: {e}") from None
        yield img, 0.0, path.name
        return
    cap = cv2.VideoCapture(str(path))
    if cap.isOpened():
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        try:
            L.check_pixels(w, h)
        except InputError as e:
            cap.release()
            raise SourceError(f"{path}: video frames are too large: {e}") from None
    ok, frame = cap.read() if cap.isOpened() else (False, None)
    if not ok:
        raise SourceError(f"{path} is not a video OpenCV can read (or it is empty)")
    fps = cap.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
    i = 0
    while ok:
        yield frame, i / fps, f"frame {i}"
        i += 1
        ok, frame = cap.read()
    cap.release()


# ---------------------------------------------------------------- tracking


def iou(a: tuple, b: tuple) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / max(aw * ah + bw * bh - inter, 1)


@dataclass
class Track:
    box: tuple
    votes: deque = field(default_factory=lambda: deque(maxlen=HISTORY))  # (10,) probabilities per frame
    missing: int = 0

    def label(self) -> tuple[int, float]:
        """Majority label over recent frames, and its mean probability."""
        counts = Counter(int(p.argmax()) for p in self.votes)
        best = max(counts, key=lambda k: (counts[k], sum(p[k] for p in self.votes)))
        return best, float(np.mean([p[best] for p in self.votes]))


class Tracker:
    """Boxes matched across frames by overlap; each track votes over its last HISTORY frames.
    A smoothed digit is sure when its mean probability reaches `threshold` (the recognizer's)."""

    def __init__(self, threshold: float = 0.0):
        self.tracks: list[Track] = []
        self.threshold = threshold

    def update(self, digits: list[reading.Digit]) -> list[reading.Digit]:
        used = set()
        out = []
        for d in digits:
            best, best_iou = None, MATCH_IOU
            for k, t in enumerate(self.tracks):
                if k not in used and (v := iou(t.box, d.box)) >= best_iou:
                    best, best_iou = k, v
            if best is None:
                self.tracks.append(Track(d.box))
                best = len(self.tracks) - 1
            used.add(best)
            t = self.tracks[best]
            t.box, t.missing = d.box, 0
            t.votes.append(d.probs if d.probs is not None else np.eye(10)[d.label])
            label, conf = t.label()
            out.append(reading.Digit(d.box, label, conf, d.line, d.probs, d.crop, sure=conf >= self.threshold))
        for k, t in enumerate(self.tracks):
            if k not in used:
                t.missing += 1
        self.tracks = [t for t in self.tracks if t.missing <= MAX_MISSING]
        return out


def numbers(digits: list[reading.Digit]) -> list[str]:
    lines = sorted({d.line for d in digits})
    return ["".join(str(d.label) for d in digits if d.line == li) for li in lines]


def frame_record(index: int, t: float, digits: list[reading.Digit]) -> dict:
    return {
        "frame": index,
        "time": round(t, 3),
        "digits": [
            {
                "box": [int(v) for v in d.box],
                "label": int(d.label),
                "confidence": round(float(d.confidence), 4),
                "sure": bool(d.sure),
            }
            for d in digits
        ],
        "numbers": numbers(digits),
    }


# ---------------------------------------------------------------- voice


def nearest_centre(digits: list[reading.Digit], shape: tuple[int, ...]) -> reading.Digit | None:
    if not digits:
        return None
    cy, cx = shape[0] / 2, shape[1] / 2
    return min(digits, key=lambda d: (d.box[0] + d.box[2] / 2 - cx) ** 2 + (d.box[1] + d.box[3] / 2 - cy) ** 2)


def fuse_voice(r: Recognizer, digits: list[reading.Digit], shape: tuple[int, ...], wave: np.ndarray, sample_rate: int):
    """Speech + the digit nearest the centre -> fused Prediction (or speech alone if no digit is in view).
    The microphone path and the tests both come through here."""
    d = nearest_centre(digits, shape)
    if d is None or d.crop is None:
        return r.predict(audio=wave, sample_rate=sample_rate), None
    return r.predict(image=d.crop, audio=wave, sample_rate=sample_rate), d


def record_voice(seconds: float = VOICE_SECONDS) -> tuple[np.ndarray, int]:
    """About a second from the default microphone. Raises RuntimeError when there is none."""
    try:
        import sounddevice as sd
    except OSError as e:  # PortAudio library missing
        raise RuntimeError(f"voice disabled: PortAudio is not installed ({e})") from e
    try:
        sr = int(sd.query_devices(kind="input")["default_samplerate"])
        wave = sd.rec(int(seconds * sr), samplerate=sr, channels=1, dtype="float32")
        sd.wait()
    except Exception as e:  # noqa: BLE001 - no device, busy device, host API errors
        raise RuntimeError(f"voice disabled: no usable microphone ({e})") from e
    return wave[:, 0], sr


# ---------------------------------------------------------------- loop


def fit_frame(view: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A frame -> exactly `size` (w, h), scaled to fit and centred on black: a video writer takes one size only,
    and OpenCV drops other frames with nothing but a log line (a folder of mixed photos lost half its frames)."""
    w, h = size
    if (view.shape[1], view.shape[0]) == (w, h):
        return view
    f = min(w / view.shape[1], h / view.shape[0])
    small = cv2.resize(view, (max(1, round(view.shape[1] * f)), max(1, round(view.shape[0] * f))), interpolation=cv2.INTER_AREA)
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def overlay(frame_bgr: np.ndarray, digits: list[reading.Digit], fps: float, note: str = "") -> np.ndarray:
    """Boxes, labels and confidences (digits that are not sure in another colour), numbers, FPS."""
    rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
    out = cv2.cvtColor(draw_reading(rgb, reading.Reading(digits, "\n".join(numbers(digits)))), cv2.COLOR_RGB2BGR)
    lines = [f"{fps:5.1f} FPS"] + [f"line {k + 1}: {n}" for k, n in enumerate(numbers(digits))] + ([note] if note else [])
    for k, text in enumerate(lines):
        y = 24 + 24 * k
        cv2.putText(out, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.65, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(out, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.65, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def run(args: argparse.Namespace) -> int:
    out_path = check_output(args.out, "--out") if args.out else None
    if out_path and out_path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise OutputError(f"--out {args.out}: expected a video file name ({', '.join(sorted(VIDEO_EXTENSIONS))})")
    json_path = check_output(args.json, "--json") if args.json else None
    r = Recognizer.load(args.checkpoints)
    tracker = Tracker(r.threshold)
    writer = None
    try:
        jsonl = open(json_path, "w") if json_path else None  # noqa: SIM115 - closed in finally
    except OSError as e:
        raise OutputError(f"--json {args.json} cannot be written: {e.strerror or e}") from None
    skipped = 0
    show = not args.headless
    paused, debug, note, note_until = False, False, "", 0.0
    voice_ok = True
    fps, last = 0.0, time.perf_counter()
    n = 0
    try:
        for frame, t, name in frames(args.source):
            if args.max_frames and n >= args.max_frames:
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
            try:
                found = r.read(rgb)
            except InputError as e:  # a frame that cannot be read is skipped, the run goes on
                skipped += 1
                warn(f"skipping {name}: {e}")
                continue
            digits = tracker.update(found.digits)
            now = time.perf_counter()
            fps = 0.9 * fps + 0.1 * (1.0 / max(now - last, 1e-6)) if n else 1.0 / max(now - last, 1e-6)
            last = now
            if jsonl:
                jsonl.write(json.dumps(frame_record(n, t, digits)) + "\n")
            view = overlay(frame, digits, fps, note if time.time() < note_until else "")
            if debug:
                mask = reading.ink_mask(reading.to_gray_u8(rgb)[0])
                view = cv2.cvtColor(cv2.resize(mask, (frame.shape[1], frame.shape[0])), cv2.COLOR_GRAY2BGR)
            if out_path:
                if writer is None:
                    size = (view.shape[1], view.shape[0])  # the first frame's; later ones are fitted to it
                    writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), DEFAULT_FPS, size)
                    if not writer.isOpened():
                        writer = None
                        raise OutputError(f"--out {args.out}: OpenCV cannot open a video writer for it (use a .mp4 name)")
                writer.write(fit_frame(view, size))
            n += 1
            if show:
                cv2.imshow(WINDOW, view)
                while True:
                    key = cv2.waitKey(1 if not paused else 50) & 0xFF
                    if key in (ord("q"), 27):
                        return 0
                    if key == ord(" "):
                        paused = not paused
                    elif key == ord("s"):
                        snap = Path(f"snapshot_{int(time.time() * 1000)}.png")
                        cv2.imwrite(str(snap), view)
                        note, note_until = f"saved {snap}", time.time() + 2
                        print(f"saved {snap}")
                    elif key == ord("d"):
                        debug = not debug
                    elif key == ord("v") and voice_ok:
                        try:
                            wave, sr = record_voice()
                            p, d = fuse_voice(r, digits, frame.shape, wave, sr)
                            note = f"voice + {'digit' if d else 'nothing in view'}: {p.label} ({100 * p.confidence:.0f}%)"
                        except RuntimeError as e:
                            voice_ok, note = False, str(e)
                            print(e, file=sys.stderr)
                        except InputError as e:
                            note = f"voice: {e}"
                        note_until = time.time() + 3
                    if not paused:
                        break
        if n == 0 and skipped:
            raise SourceError(f"no frame of {args.source} could be read ({skipped} skipped)")
        return 0
    finally:
        if writer is not None:
            writer.release()
        if jsonl:
            jsonl.close()
        if show:
            cv2.destroyAllWindows()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m demo.webcam", description="Read handwritten digits on paper in real time.")
    ap.add_argument("--source", default="0", help="camera index, video file, image, or folder of images (default: 0)")
    ap.add_argument("--headless", action="store_true", help="no window (for machines without a display)")
    ap.add_argument("--out", default=None, help="write the annotated video here (mp4)")
    ap.add_argument("--json", default=None, help="write one JSON line per frame here")
    ap.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0: no limit)")
    ap.add_argument("--checkpoints", default=None, help="checkpoint directory (default: checkpoints/)")
    args = ap.parse_args(argv)
    try:
        return run(args)
    except (SourceError, OutputError, DataError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
