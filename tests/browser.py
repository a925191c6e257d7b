"""Start the web app and drive Debian's Chromium with Playwright: shared by the browser tests
and scripts/benchmark_app.py."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULT_JS = "document.querySelector('{sel} .big-digit') && document.querySelector('{sel} .big-digit').textContent.trim()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """End a server started by a test: politely, then for sure."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextlib.contextmanager
def running_app(*args: str, timeout: float = 120) -> Iterator[str]:
    """`python -m demo.app` on a free loopback port; yields its URL, stops it afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo.app", "--port", str(port), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"demo.app exited early:\n{proc.stdout.read()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("demo.app did not answer in time")
            time.sleep(0.5)
        yield url
    finally:
        stop(proc)


@contextlib.contextmanager
def chromium():
    """Debian's Chromium, headless, under Playwright; yields the Browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, width: int = 1280, height: int = 1000):
    """A new tab on the app, ready when the drawing canvas is."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector("#draw-canvas canvas", timeout=60_000)
    return page


@contextlib.contextmanager
def browser_page(url: str, width: int = 1280, height: int = 1000):
    with chromium() as browser:
        yield open_page(browser, url, width, height)


def canvas_scale(page, canvas_sel: str) -> tuple[dict, float]:
    """(the canvas's box on the page, page pixels per canvas pixel)."""
    box = page.locator(f"{canvas_sel} canvas").bounding_box()
    return box, box["width"] / page.evaluate(f"document.querySelector('{canvas_sel} canvas').width")


def draw(page, canvas_sel: str, strokes: list, step: int = 2) -> None:
    """Move the real mouse along canvas strokes (in the canvas's own pixels), pen down to pen up."""
    for s in strokes:
        pen_along(page, canvas_sel, s[::step] + ([s[-1]] if (len(s) - 1) % step else []))
        page.mouse.up()


def pen_along(page, canvas_sel: str, pts: list) -> None:
    """Put the pen down at pts[0] and move it along the rest, still down: a benchmark times the lift itself."""
    box, f = canvas_scale(page, canvas_sel)
    page.mouse.move(box["x"] + pts[0][0] * f, box["y"] + pts[0][1] * f)
    page.mouse.down()
    for x, y, *_ in pts[1:]:
        page.mouse.move(box["x"] + x * f, box["y"] + y * f)


def result(page, sel: str) -> str:
    return page.evaluate(RESULT_JS.format(sel=sel)) or ""


def wait_result(page, sel: str, not_equal: str = "·", timeout: float = 15_000) -> str:
    """Wait until the big digit under `sel` differs from `not_equal`; return it."""
    page.wait_for_function(f"({RESULT_JS.format(sel=sel)}) && ({RESULT_JS.format(sel=sel)}) !== {not_equal!r}", timeout=timeout)
    return result(page, sel)


def wait_strokes(page, sel: str, n: int, timeout: float = 15_000) -> str:
    """Wait until the answer under `sel` is the one to a drawing of `n` strokes (its data-strokes); return it."""
    page.wait_for_function(f"document.querySelector('{sel} .big-digit[data-strokes=\"{n}\"]') !== null", timeout=timeout)
    return result(page, sel)


def settle(page, timeout: float = 15_000) -> None:
    """Wait until no output is pending (Gradio dims pending outputs), then for the fade back in (measured: an
    output is still at opacity 0.2 when the pending marks go, at 1 within 0.4 s): what a screenshot should show."""
    page.wait_for_function("document.querySelectorAll('.pending, .generating, .translucent').length === 0", timeout=timeout)
    page.wait_for_timeout(1000)


def clear(page, canvas_sel: str, result_sel: str) -> None:
    page.click(f"{canvas_sel} .clear")
    page.wait_for_function(f"({RESULT_JS.format(sel=result_sel)}) === '·'", timeout=15_000)
