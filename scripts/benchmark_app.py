"""Speed of the web app against the targets of issue #3; prints a markdown table.

    .venv/bin/python scripts/benchmark_app.py [--data-dir DIR] [--draws 30] [--clients 20] [--requests 50]

1. Server time of one drawing prediction: `App.draw` on canvas JSON (raster PNG + strokes),
   in process, median over pendigits test digits.
2. Pen-up to result painted, in headless Chromium: real mouse strokes, time from mouse-up to
   the big digit changing in the page, median.
3. Load: N concurrent gradio_client clients x M requests to /predict_strokes; errors, p50, p95.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import Recognizer, data  # noqa: E402
from core.strokes import pendigits_to_strokes  # noqa: E402
from demo.app import App  # noqa: E402
from scripts.benchmark_core import draw_canvas, print_table  # noqa: E402
from tests import browser  # noqa: E402


def canvas_json(strokes: list) -> str:
    rgba = draw_canvas(strokes)
    rgba[..., :3] = 0
    png = io.BytesIO()
    white = Image.new("RGBA", (rgba.shape[1], rgba.shape[0]), (255, 255, 255, 255))
    white.alpha_composite(Image.fromarray(rgba))
    white.save(png, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    return json.dumps({"strokes": strokes, "image": url, "width": 280, "height": 280})


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q))


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--draws", type=int, default=30)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    pp, py = data.load_pendigits(data.data_root(args.data_dir), "test")
    rng = np.random.default_rng(0)
    picks = rng.choice(len(py), args.draws, replace=False)
    strokes = [pendigits_to_strokes(pp[i].ravel()) for i in picks]
    rows = []

    app = App(Recognizer.load())
    payloads = [canvas_json(s) for s in strokes]
    for p in payloads[:5]:
        app.draw(p)
    times = []
    for p in payloads * 3:
        t = time.perf_counter()
        app.draw(p)
        times.append(1000 * (time.perf_counter() - t))
    rows.append(("server time of a drawing prediction (`App.draw`), median", "≤ 30 ms", f"{statistics.median(times):.1f} ms"))

    with browser.running_app() as url:
        with browser.browser_page(url) as page:
            paint, right = [], 0
            for s, i in zip(strokes, picks):
                # all but the last stroke point, then time the last move + mouse-up to the painted result
                browser.draw(page, "#draw-canvas", s)
                label = browser.wait_result(page, "#draw-result")
                browser.clear(page, "#draw-canvas", "#draw-result")
                box = page.locator("#draw-canvas canvas").bounding_box()
                f = box["width"] / 280
                pts = s[0][::2]
                page.mouse.move(box["x"] + pts[0][0] * f, box["y"] + pts[0][1] * f)
                page.mouse.down()
                for x, y in pts[1:]:
                    page.mouse.move(box["x"] + x * f, box["y"] + y * f)
                t = time.perf_counter()
                page.mouse.up()
                label = browser.wait_result(page, "#draw-result")
                paint.append(1000 * (time.perf_counter() - t))
                right += label == str(py[i])
                browser.clear(page, "#draw-canvas", "#draw-result")
        rows.append(("pen-up to result painted, headless Chromium, median", "≤ 300 ms", f"{statistics.median(paint):.0f} ms"))
        rows.append(("  digits read right in that run", "", f"{right}/{len(picks)}"))

        from gradio_client import Client

        lat, errors = [], []
        lock = threading.Lock()
        body = json.dumps({"strokes": strokes[0]})

        def client_loop():
            try:
                c = Client(url, verbose=False)
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append(repr(e))
                return
            for _ in range(args.requests):
                t = time.perf_counter()
                try:
                    out = c.predict(body, api_name="/predict_strokes")
                    ok = "label" in out
                except Exception as e:  # noqa: BLE001
                    ok, out = False, repr(e)
                with lock:
                    lat.append(1000 * (time.perf_counter() - t))
                    if not ok:
                        errors.append(str(out))

        threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
        n = args.clients * args.requests
        rows.append((f"{args.clients} gradio_client clients x {args.requests} requests: errors", "0", f"{len(errors)} of {n}"))
        rows.append(("  latency p50 / p95", "reported", f"{pct(lat, 50):.0f} ms / {pct(lat, 95):.0f} ms"))
        rows.append(("  throughput", "reported", f"{len(lat) / wall:.0f} requests/s"))

    return print_table(rows, args.out)


if __name__ == "__main__":
    main()
