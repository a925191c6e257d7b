"""Numbers drawn on the Draw tab (issue #8, item 4); prints a markdown table.

    .venv/bin/python scripts/benchmark_numbers.py [--data-dir DIR] [--split test] [--numbers 300] [--browser 100]

Each number is 2-5 real digits of one data set's `--split` writers (pendigits test writers, or UNIPEN's
test donors; `--split val`: pendigits' validation rows and UNIPEN's validation donors, for choosing),
placed side by side on the wide canvas by `sets.number_on_canvas`, some touching.
1. In process: `Recognizer.read_strokes` exact-number rate under each combining rule of core/drawing.py
   (the shipped one first), and how often the stroke groups are exactly the digits.
2. In headless Chromium on the real app: the first `--browser` numbers drawn with the mouse, stroke by
   stroke; the number shown must be the number drawn. Latency: last pen-up to the number painted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import Recognizer, data, drawing, sets  # noqa: E402
from core.stroke_groups import group_strokes  # noqa: E402
from scripts.benchmark_core import drawing_trajectories, print_table  # noqa: E402

CANVAS_WIDTH = 3 * sets.CANVAS  # the Draw tab's canvas (demo/canvas.DRAW_WIDTH)


def make_numbers(
    pool: dict[str, tuple[list, np.ndarray]], n: int, seed: int = 0
) -> list[tuple[str, list[np.ndarray], list[int]]]:
    """n numbers (text, canvas strokes, digit index of each stroke), sources alternating in sorted order
    (number k from sorted(pool)[k % len(pool)]), 2-5 digits each."""
    rng = np.random.default_rng(seed)
    names = sorted(pool)
    out = []
    for k in range(n):
        parts, labels = pool[names[k % len(names)]]
        picks = rng.choice(len(labels), int(rng.integers(2, 6)), replace=False)
        strokes = sets.number_on_canvas([parts[i] for i in picks], rng, width=CANVAS_WIDTH)
        owner = [d for d, i in enumerate(picks) for _ in parts[i]]
        out.append(("".join(str(int(labels[i])) for i in picks), strokes, owner))
    return out


def in_process(r: Recognizer, numbers, sources: list[str]) -> list[tuple[str, str, str]]:
    rows = []
    grouped = sum(
        [sorted(set(owner[k] for k in g)) for g in group_strokes(s)] == [[d] for d in range(len(set(owner)))]
        for _, s, owner in numbers
    )
    rows.append(
        ("stroke groups are exactly the digits", "reported", f"{100 * grouped / len(numbers):.1f}% ({grouped}/{len(numbers)})")
    )
    for rule in (drawing.RULE, *(x for x in drawing.RULES if x != drawing.RULE)):
        times, right, wrong, by_source = [], 0, [], {}
        for k, (text, s, _) in enumerate(numbers):
            t = time.perf_counter()
            got = drawing.read_drawing(r, s, rule).text
            times.append(1000 * (time.perf_counter() - t))
            right += got == text
            by_source.setdefault(sources[k % len(sources)], []).append(got == text)
            if got != text and len(wrong) < 8:
                wrong.append(f"{text}->{got}")
        name = f"`read_strokes`, rule {rule}" + (" (shipped)" if rule == drawing.RULE else "")
        rows.append(
            (
                f"{name}: exact, median time",
                "≥ 95%" if rule == drawing.RULE else "",
                f"{100 * right / len(numbers):.1f}% ({right}/{len(numbers)}), {statistics.median(times):.0f} ms",
            )
        )
        split = " / ".join(f"{100 * np.mean(v):.1f}% ({sum(v)}/{len(v)})" for v in by_source.values())
        rows.append((f"  of them {' / '.join(by_source)}", "", split))
        print(f"{rule}: wrong (drawn->read) {wrong}", file=sys.stderr)
    return rows


def in_browser(numbers) -> list[tuple[str, str, str]]:
    from tests import browser

    right, lat, wrong = 0, [], []
    with browser.running_app() as url, browser.browser_page(url, width=1400) as page:
        for text, strokes, _ in numbers:
            lists = [np.round(s, 1).tolist() for s in strokes]
            browser.draw(page, "#draw-canvas", lists[:-1])
            browser.pen_along(page, "#draw-canvas", lists[-1][::2] + [lists[-1][-1]])
            t = time.perf_counter()
            page.mouse.up()
            got = browser.wait_strokes(page, "#draw-result", len(lists))
            lat.append(1000 * (time.perf_counter() - t))
            right += got == text
            if got != text:
                wrong.append(f"{text}->{got}")
            browser.clear(page, "#draw-canvas", "#draw-result")
    print(f"browser: wrong (drawn->shown) {wrong}", file=sys.stderr)
    n = len(numbers)
    return [
        ("numbers drawn with the mouse in headless Chromium: shown exactly", "≥ 95%", f"{100 * right / n:.1f}% ({right}/{n})"),
        ("  last pen-up to the number painted, median", "reported", f"{statistics.median(lat):.0f} ms"),
    ]


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None, help="data root (default: $DIGITS_DATA or data/)")
    ap.add_argument("--split", default="test", choices=("test", "val"), help="whose digits (default: test)")
    ap.add_argument("--numbers", type=int, default=300, help="numbers read in process (default: 300)")
    ap.add_argument("--browser", type=int, default=100, help="of them, drawn in the browser (default: 100; 0: none)")
    ap.add_argument("--seed", type=int, default=0, help="which numbers (default: 0)")
    ap.add_argument("--out", default=None, help="also write the table here")
    args = ap.parse_args(argv)
    pool = drawing_trajectories(data.data_root(args.data_dir), args.split)
    numbers = make_numbers(pool, args.numbers, args.seed)
    sizes = [len(t) for t, _, _ in numbers]
    rows = [
        (
            f"numbers ({args.split} writers: pendigits and UNIPEN alternating)",
            "",
            f"{len(numbers)}, {min(sizes)}-{max(sizes)} digits, {sum(sizes)} digits in all",
        )
    ]
    rows += in_process(Recognizer.load(), numbers, sorted(pool))
    if args.browser:
        rows += in_browser(numbers[: args.browser])
    return print_table(rows, args.out)


if __name__ == "__main__":
    main()
