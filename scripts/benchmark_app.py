"""Speed of the web app against the targets of issue #3; prints a markdown table.

    .venv/bin/python scripts/benchmark_app.py [--data-dir DIR] [--draws 30] [--clients 20] [--requests 50]

1. Server time of one drawing prediction: `App.draw` on canvas JSON (raster PNG + strokes),
   in process, median over pendigits test digits.
2. Pen-up to result painted, in headless Chromium: real mouse strokes, time from mouse-up to
   the big digit changing in the page, median.
3. Load with hostile traffic: N concurrent gradio_client clients x M requests, mixing valid
   drawings and MNIST images with hostile inputs (server paths as stroke text, deep nesting,
   400-digit numbers, too many strokes, NaN, a 12000x12000 PNG bomb, 1x1 and corrupt images,
   corrupt audio, raw FileData naming /etc/passwd or a URL). Valid answers must equal the
   in-process answer for the same input (0 wrong), hostile ones must be `{"error": ...}` or a
   refusal, and nothing may crash; p50/p95 of the valid requests.

    .venv/bin/python scripts/benchmark_app.py --load-only --clients 4 --requests 10   # a quick check
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

REPO = Path(__file__).resolve().parent.parent


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


def hostile_inputs(folder: Path) -> list[tuple[str, str, object]]:
    """(name, endpoint, input) for the load run; files are written to `folder`. Endpoint "raw:API"
    is a raw HTTP call with FileData naming a server path or a URL (gradio_client cannot send those)."""
    from tests.test_hostile_app import png_bomb

    png_bomb(folder / "bomb.png", 12000, 12000)
    Image.new("L", (1, 1), 0).save(folder / "one.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (folder / "corrupt.wav").write_bytes(b"RIFF" + bytes(range(256)) * 16)
    return [
        ("stroke text naming /etc/passwd", "/predict_strokes", "/etc/passwd"),
        ("stroke JSON nested 100k deep", "/predict_strokes", "[" * 100_000 + "]" * 100_000),
        ("400-digit integer", "/predict_strokes", "[[[1" + "0" * 400 + ", 2], [3, 4]]]"),
        ("600 empty strokes", "/predict_strokes", "[" + "[]," * 600 + "[]]"),
        ("NaN coordinates", "/predict_strokes", "[[[NaN, 1], [2, 3]]]"),
        ("12000x12000 PNG bomb", "/predict_image", folder / "bomb.png"),
        ("1x1 image", "/predict_image", folder / "one.png"),
        ("corrupt image", "/read_photo", folder / "corrupt.png"),
        ("corrupt audio", "/predict_speech", folder / "corrupt.wav"),
        ("FileData /etc/passwd", "raw:predict_image", {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}),
        ("FileData URL", "raw:predict_image", {"path": "http://203.0.113.9/x.png", "meta": {"_type": "gradio.FileData"}}),
    ]


def raw_refused(url: str, api: str, value: dict) -> bool:
    """POST a FileData the way any HTTP client can; True when it is refused (400, or Gradio's error event)."""
    import httpx

    r = httpx.post(f"{url}gradio_api/call/{api}", json={"data": [value]}, timeout=60)
    if r.status_code == 400 and "error" in r.json():
        return True
    stream = httpx.get(f"{url}gradio_api/call/{api}/{r.json()['event_id']}", timeout=60).text
    return "event: error" in stream


def leaks(message: str) -> bool:
    """Does an error message name a server folder?"""
    return any(d in message for d in ("/tmp/", "/etc/", "/home/", "/root/", str(REPO)))


def load_rows(url: str, args, pp, py, picks) -> list[tuple[str, str, str]]:
    """Section 3: N gradio_client clients x M requests, valid and hostile mixed."""
    import tempfile

    from gradio_client import Client, handle_file

    r = Recognizer.load()
    app = App(r)
    xi, yi = data.load_mnist(data.data_root(args.data_dir), "test")
    folder = Path(tempfile.mkdtemp(prefix="benchmark_app_"))
    valid = []  # (endpoint, input, expected answer from the same code in process, true label)
    for i in picks[:20]:
        text = json.dumps({"strokes": pendigits_to_strokes(pp[i].ravel())})
        valid.append(("/predict_strokes", text, app.api_strokes(text)["label"], int(py[i])))
    for k in range(10):
        path = folder / f"mnist_{k}.png"
        Image.fromarray(255 - xi[k]).save(path)
        valid.append(("/predict_image", path, app.api_image(str(path))["label"], int(yi[k])))
    hostile = hostile_inputs(folder)
    lat, lock = [], threading.Lock()
    counts = {"valid": 0, "wrong": 0, "true": 0, "hostile": 0, "hostile_ok": 0, "crashes": 0}
    problems: list[str] = []

    def client_loop(seed: int):
        rng = np.random.default_rng(seed)
        try:
            c = Client(url, verbose=False)
        except Exception as e:  # noqa: BLE001
            with lock:
                counts["crashes"] += 1
                problems.append(f"client could not connect: {e!r}")
            return
        for _ in range(args.requests):
            if rng.random() < args.hostile:
                name, api, value = hostile[rng.integers(len(hostile))]
                try:
                    if api.startswith("raw:"):
                        ok = raw_refused(url, api[4:], value)
                    else:
                        out = c.predict(handle_file(str(value)) if isinstance(value, Path) else value, api_name=api)
                        ok = isinstance(out, dict) and set(out) == {"error"} and not leaks(out["error"])
                    crashed = False
                except Exception as e:  # noqa: BLE001
                    ok, crashed, name = False, True, f"{name}: {e!r}"
                with lock:
                    counts["hostile"] += 1
                    counts["hostile_ok"] += ok
                    counts["crashes"] += crashed
                    if not ok:
                        problems.append(f"hostile {name} was not answered with a clean error")
                continue
            api, value, expected, truth = valid[rng.integers(len(valid))]
            t = time.perf_counter()
            try:
                out = c.predict(handle_file(str(value)) if isinstance(value, Path) else value, api_name=api)
            except Exception as e:  # noqa: BLE001
                out = {"crash": repr(e)}
            took = 1000 * (time.perf_counter() - t)
            with lock:
                counts["valid"] += 1
                if "crash" in out:
                    counts["crashes"] += 1
                    problems.append(f"valid {api} crashed: {out['crash']}")
                    continue
                lat.append(took)
                counts["wrong"] += out.get("label") != expected
                counts["true"] += out.get("label") == truth
                if out.get("label") != expected:
                    problems.append(f"valid {api} answered {out}, expected label {expected}")

    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(args.clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    alive = Client(url, verbose=False).predict(valid[0][1], api_name=valid[0][0]).get("label") == valid[0][2]
    for p in problems[:10]:
        print("problem:", p, file=sys.stderr)
    n = args.clients * args.requests
    v = counts["valid"]
    return [
        (
            f"{args.clients} gradio_client clients x {args.requests} requests, {100 * args.hostile:.0f}% hostile",
            "",
            f"{n} requests",
        ),
        ("  crashes (exceptions, unanswered requests)", "0", f"{counts['crashes']}"),
        ("  valid requests answered differently than in process", "0", f"{counts['wrong']} of {v}"),
        ("  valid requests read right (true label)", "reported", f"{counts['true']} of {v}"),
        ("  hostile requests answered with an error or refused", "all", f"{counts['hostile_ok']} of {counts['hostile']}"),
        ("  valid latency p50 / p95", "reported", f"{pct(lat, 50):.0f} ms / {pct(lat, 95):.0f} ms" if lat else "-"),
        ("  throughput", "reported", f"{n / wall:.1f} requests/s"),
        ("  server answers correctly after the run", "yes", "yes" if alive else "NO"),
    ]


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--draws", type=int, default=30)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--hostile", type=float, default=0.3, help="share of hostile requests in the load run")
    ap.add_argument("--load-only", action="store_true", help="only the load run (section 3)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    pp, py = data.load_pendigits(data.data_root(args.data_dir), "test")
    rng = np.random.default_rng(0)
    picks = rng.choice(len(py), args.draws, replace=False)
    strokes = [pendigits_to_strokes(pp[i].ravel()) for i in picks]
    rows = []
    if args.load_only:
        with browser.running_app() as url:
            rows += load_rows(url, args, pp, py, picks)
        return print_table(rows, args.out)

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
                browser.pen_along(page, "#draw-canvas", s[0][::2])
                t = time.perf_counter()
                page.mouse.up()
                label = browser.wait_result(page, "#draw-result")
                paint.append(1000 * (time.perf_counter() - t))
                right += label == str(py[i])
                browser.clear(page, "#draw-canvas", "#draw-result")
        rows.append(("pen-up to result painted, headless Chromium, median", "≤ 300 ms", f"{statistics.median(paint):.0f} ms"))
        rows.append(("  digits read right in that run", "", f"{right}/{len(picks)}"))

        rows += load_rows(url, args, pp, py, picks)

    return print_table(rows, args.out)


if __name__ == "__main__":
    main()
