"""Reading numbers off paper against the targets of issue #8, beside the peers; prints a markdown table.

    .venv/bin/python scripts/benchmark_reader.py [--data-dir DIR] [--lines 300] [--pages 100] [--crops 300]
                                                 [--robust 2000] [--out FILE]

Every item is written by test writers only (MNIST t10k, FEMNIST test writers, UNIPEN test donors:
core/line_synth.py `benchmark_lines`; core/synth.py pages of MNIST test digits), or with --split val by
validation writers (for decisions: whether reader.pt ships), and every method reads the same items:
- this project's `Recognizer.read` (the line reader: core/line_finder.py + core/line_model.py),
- today's component reader (core/reading.py: connected components + the image branch),
- Tesseract 5 held to digits and RapidOCR (PP-OCRv4) with digits kept (core/ocr_peers.py), given the
  same upscaling.
Rows: synthetic test lines (exact line, character error rate), photos of pages with one to three
numbers (exact page, one frame), tight crops of single numbers 30-60 px tall (exact), the pages lying
on a darker desk (core/paper.py finds the sheet) and turned 5-15 degrees (core/skew.py), printed text
said "not sure", zero exceptions on generated pictures of every size and content, and speed
(median, 2 threads).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core import Recognizer, data, paper, photo, synth  # noqa: E402
from core import line_synth as LS  # noqa: E402
from core.ocr_peers import rapidocr_read, tesseract_read  # noqa: E402
from core.text_metrics import character_error_rate  # noqa: E402
from core.timing import median_ms, median_ms_per_item  # noqa: E402
from demo.render import draw_reading  # noqa: E402
from scripts.benchmark_core import pct, print_table  # noqa: E402

CROP_HEIGHT = (30, 60)  # px: tight crops of one number are this tall
PAGE_SIZE = (640, 480)
BIG_PAGE = (1600, 1200)
PICTURE_WIDTH = 1400  # px: the saved picture of a page on a desk (a JPEG: a photo's noise makes PNGs large)
PRINTED = ("Total amount due", "Invoice No", "hello world", "ABC DEF", "Name:", "page of", "Ref. XQ", "kg EUR")


# ---------------------------------------------------------------- the items


def pages(x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> list[tuple[np.ndarray, str]]:
    """Photos of paper with one to three handwritten numbers of 2-5 digits."""
    out = []
    for _ in range(n):
        p = synth.compose(x, y, synth.random_numbers(rng, int(rng.integers(1, 4)), 2, 5), rng, size=PAGE_SIZE)
        out.append((p.image, "\n".join(p.numbers)))
    return out


def desk_pages(x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> list[tuple[np.ndarray, str]]:
    """The same kind of pages photographed lying on a darker desk (core/synth.py `on_desk`): 45-80% of the photo."""
    return [(synth.on_desk(im, rng)[0], text) for im, text in pages(x, y, n, rng)]


def turned_pages(x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> list[tuple[np.ndarray, str]]:
    """The same kind of pages photographed turned by 5-15 degrees either way (core/synth.py `turned`)."""
    out = []
    for _ in range(n):
        nums = synth.random_numbers(rng, int(rng.integers(1, 4)), 2, 5)
        page = synth.compose(x, y, nums, rng, size=(PAGE_SIZE[0] * 3 // 2, PAGE_SIZE[1] * 3 // 2))
        degrees = rng.uniform(5, 15) * rng.choice([-1, 1])
        out.append((synth.turned(page.image, degrees, PAGE_SIZE)[0], "\n".join(nums)))
    return out


def desk_picture(r: Recognizer, image: np.ndarray, path: str) -> None:
    """Save a page on a desk read two ways, side by side: the whole picture as one page (how every photo was read
    before core/paper.py) and as `read` does now (the sheet found, outlined in blue)."""
    before = photo.read_inks(image, r.reader, r.classify_mnist, r.threshold)
    now = r.read(image)
    left, right = draw_reading(image, before), draw_reading(image, now)
    sheet = paper.cut_sheet(image)
    if sheet is not None:
        x, y, w, h = sheet.box
        cv2.rectangle(right, (x, y), (x + w - 1, y + h - 1), (40, 90, 255), 3)
    for view, text in ((left, f"whole picture: {before.text!r}"), (right, f"sheet found: {now.text!r}")):
        text = text.replace("\\n", " / ")
        cv2.putText(view, text, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 5, cv2.LINE_AA)
        cv2.putText(view, text, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2, cv2.LINE_AA)
    both = np.hstack([left, np.full((image.shape[0], 12, 3), 255, np.uint8), right])
    f = min(1.0, PICTURE_WIDTH / both.shape[1])
    both = cv2.resize(both, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(path, cv2.cvtColor(both, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


def tight_crop(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One number of 1-6 digits on paper, cropped close around its ink and scaled to 30-60 px tall."""
    text = synth.random_numbers(rng, 1, 1, 6)[0]
    p = synth.compose(x, y, [text], rng, size=PAGE_SIZE, perspective=0.0)
    b = np.array(p.boxes)
    x0, y0 = b[:, 0].min(), b[:, 1].min()
    x1, y1 = (b[:, 0] + b[:, 2]).max(), (b[:, 1] + b[:, 3]).max()
    pad = int(0.12 * (y1 - y0))
    crop = p.image[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad]
    h = int(rng.integers(CROP_HEIGHT[0], CROP_HEIGHT[1] + 1))
    w = max(1, round(crop.shape[1] * h / crop.shape[0]))
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA), text


def printed_text(rng: np.random.Generator) -> np.ndarray:
    """A line of printed words (no digits) on paper: must come back empty or "not sure"."""
    text = str(rng.choice(PRINTED))
    scale = rng.uniform(0.6, 1.4)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    img = np.full((th * 3, tw + 2 * th, 3), int(rng.integers(200, 250)), np.uint8)
    cv2.putText(img, text, (th, 2 * th), int(rng.choice([0, 2, 3, 4])), scale, (30, 30, 30), 2, cv2.LINE_AA)
    return img


def hostile(k: int, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Picture number k of the robustness set: blank, noise, text, a giant digit, tiny, huge, odd shapes."""
    kind = k % 8
    h, w = (int(v) for v in rng.integers(8, 900, 2))
    if kind == 0:
        return np.full((h, w, 3), int(rng.integers(0, 256)), np.uint8)
    if kind == 1:
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if kind == 2:
        return printed_text(rng)
    if kind == 3:  # one digit filling the whole picture, thick pen
        d = cv2.resize(255 - x[int(rng.integers(len(x)))], (w, h), interpolation=cv2.INTER_CUBIC)
        return cv2.cvtColor(d, cv2.COLOR_GRAY2RGB)
    if kind == 4:
        s = int(rng.integers(8, 17))
        return rng.integers(0, 256, (s, s), dtype=np.uint8)
    if kind == 5:
        if k % 200 == 5:  # a few of the largest size: each one costs a full-page read
            return np.full((4000, 4000, 3), 235, np.uint8)
        return cv2.GaussianBlur(rng.integers(0, 256, (h, w), dtype=np.uint8), (0, 0), float(rng.uniform(0.5, 8)))
    if kind == 6:  # stripes and rules
        img = np.full((h, w), 230, np.uint8)
        img[:: max(2, h // 20)] = 40
        return img
    return np.full((int(rng.integers(8, 40)), int(rng.integers(400, 3000)), 4), 200, np.uint8)  # RGBA strip


# ---------------------------------------------------------------- scoring


def exact_and_cer(got: list[str | None], truth: list[str]) -> tuple[float, float]:
    got = [g or "" for g in got]
    return float(np.mean([g == t for g, t in zip(got, truth)])), character_error_rate(got, truth)


def methods(r: Recognizer) -> dict[str, Callable[[np.ndarray], str | None]]:
    components = Recognizer(r.model, r.card, r.threshold)  # no line reader: `read` segments components
    ours = "this project (line reader)" if r.reader is not None else "this project (no reader.pt: component reader)"
    return {
        ours: lambda im: r.read(im).text,
        "component reader (before the line reader)": lambda im: components.read(im).text,
        "Tesseract 5, digits": tesseract_read,
        "RapidOCR PP-OCRv4, digits kept": rapidocr_read,
    }


def accuracy_rows(name: str, target: str, items: list[tuple[np.ndarray, str]], fns: dict, line: bool) -> list[tuple]:
    rows, truth = [], [t for _, t in items]
    for method, fn in fns.items():
        read = (lambda im, fn=fn: tesseract_read(im, psm=7)) if (line and fn is tesseract_read) else fn
        got = [read(im) for im, _ in tqdm(items, desc=f"{name}: {method}", leave=False)]
        if got and got[0] is None:
            rows.append((f"{name}: {method}", "", "not installed here"))
            continue
        ex, cer = exact_and_cer(got, truth)
        ms = median_ms_per_item(read, [im for im, _ in items[:20]], warmup=2)
        ours = method.startswith("this project")
        rows.append((f"{name}: {method}", target if ours else "", f"{pct(ex)} exact, CER {pct(cer)}, {ms:.1f} ms"))
    return rows


def robustness_row(r: Recognizer, x: np.ndarray, n: int, rng: np.random.Generator) -> tuple[str, str, str]:
    errors = []
    for k in tqdm(range(n), desc="robustness", leave=False):
        img = hostile(k, x, rng)
        try:
            r.read(img)
        except Exception as e:  # noqa: BLE001 - counting them is the point
            errors.append(f"{img.shape}: {type(e).__name__}: {e}")
    detail = "" if not errors else " (" + "; ".join(errors[:3]) + ")"
    what = f"exceptions from `read` on {n} generated pictures (blank, noise, text, giant digit, 8x8, 4000x4000)"
    return (what, "0", f"{len(errors)}{detail}")


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--checkpoints", default=None)
    ap.add_argument("--lines", type=int, default=300, help="synthetic test lines (default: 300)")
    ap.add_argument("--pages", type=int, default=100, help="photos of pages (default: 100)")
    ap.add_argument("--crops", type=int, default=300, help="tight crops of single numbers (default: 300)")
    ap.add_argument("--robust", type=int, default=2000, help="generated pictures for the no-exception count (default: 2000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="whose writing: test writers (the report) or validation writers (for decisions; default: test)",
    )
    ap.add_argument("--no-peers", action="store_true", help="only this project's readers (no Tesseract, no RapidOCR)")
    ap.add_argument("--out", default=None, help="also write the table to this file")
    ap.add_argument("--picture", default=str(REPO / "reports" / "desk.jpg"), help="save a page on a desk, read, here")
    ap.add_argument("--update-docs", action="store_true", help="save that picture as docs/desk.jpg (README shows it)")
    args = ap.parse_args(argv)
    if args.update_docs:
        args.picture = str(REPO / "docs" / "desk.jpg")
    torch.set_num_threads(2)
    root = data.data_root(args.data_dir)
    rng = np.random.default_rng(args.seed)
    r = Recognizer.load(args.checkpoints)
    if args.split == "test":
        x, y = data.load_mnist(root, "test")
        written = LS.benchmark_lines(root, args.lines, args.seed)
    else:  # MNIST's last 6,000 training images and the other validation writers: what decisions are made on
        x, y = data.load_mnist(root, "train")
        x, y = x[-data.MNIST_VAL :], y[-data.MNIST_VAL :]
        written = LS.make_lines(LS.load_pool(root, "val"), args.lines, seed=20_000 + args.seed)
    fns = methods(r)
    if args.no_peers:
        fns = {k: v for k, v in fns.items() if v not in (tesseract_read, rapidocr_read)}

    lines = [(ln.image, ln.text) for ln in written]
    rows = accuracy_rows(f"synthetic lines, {args.split} writers", "≥ 98% exact, CER ≤ 0.5%", lines, fns, line=True)
    rows += accuracy_rows("photos of pages, one frame", "≥ 97% exact", pages(x, y, args.pages, rng), fns, line=False)
    crops = [tight_crop(x, y, rng) for _ in range(args.crops)]
    rows += accuracy_rows("tight crops 30-60 px", "≥ 97% exact", crops, fns, line=True)
    desk = desk_pages(x, y, args.pages, np.random.default_rng(args.seed + 1))  # its own draws: the rows above stay
    rows += accuracy_rows("photos of pages lying on a darker desk", "≥ 97% exact", desk, fns, line=False)
    turned = turned_pages(x, y, args.pages, np.random.default_rng(args.seed + 2))
    rows += accuracy_rows("photos of pages turned 5-15 degrees", "≥ 97% exact", turned, fns, line=False)
    if args.picture and desk:
        desk_picture(r, desk[0][0], args.picture)

    texts = [printed_text(rng) for _ in range(200)]
    quiet = np.mean([all(not d.sure for d in r.read(im).digits) for im in texts])
    rows.append(('printed words (no digits): nothing read, or every digit "not sure"', "high", pct(quiet)))
    rows.append(robustness_row(r, x, args.robust, rng))

    big = synth.compose(x, y, synth.random_numbers(rng, 3, 3, 6), rng, size=BIG_PAGE, digit_px=150).image
    crop, _ = tight_crop(x, y, rng)
    crop = cv2.resize(crop, (300, 60), interpolation=cv2.INTER_AREA)
    page_ms, crop_ms = median_ms(lambda: r.read(big), runs=30, warmup=3), median_ms(lambda: r.read(crop), runs=100)
    rows.append(("`read` of a 1600x1200 page, median (2 threads)", "≤ 60 ms", f"{page_ms:.1f} ms"))
    on_desk = cv2.resize(synth.on_desk(big, rng, fill=0.6)[0], BIG_PAGE, interpolation=cv2.INTER_AREA)
    desk_ms = median_ms(lambda: r.read(on_desk), runs=30, warmup=3)  # the whole photo and the sheet are both read
    rows.append(("... of the same page on a desk, 1600x1200", "", f"{desk_ms:.1f} ms"))
    rows.append(("`read` of a 300x60 crop, median (2 threads)", "≤ 10 ms", f"{crop_ms:.1f} ms"))
    return print_table(rows, args.out)


if __name__ == "__main__":
    main()
