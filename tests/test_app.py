"""The web app in a real browser: Debian's Chromium driven by Playwright, real mouse strokes,
real recordings, a photo composed from real MNIST test digits. Also the JSON API through
gradio_client. Screenshots of every tab go to reports/screenshots/ (git-ignored); with
DIGITS_UPDATE_DOCS=1 to docs/screenshots/, which README shows."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import Recognizer, data, sets, synth
from core import strokes as S
from core.classes import CHARACTERS
from core.strokes import pendigits_to_strokes
from tests import browser, samples
from tests.conftest import need

SHOWCASE_LETTER = "R"  # the letter of docs/screenshots/draw_letters.png
SHOTS = browser.REPO / ("docs" if os.environ.get("DIGITS_UPDATE_DOCS") == "1" else "reports") / "screenshots"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(browser.CHROMIUM).exists(), reason="Debian chromium not installed")]


@pytest.fixture(scope="module")
def app_url():
    with browser.running_app() as url:
        yield url


@pytest.fixture(scope="module")
def chrome():
    with browser.chromium() as b:
        yield b


@pytest.fixture(scope="module")
def page(chrome, app_url):
    p = browser.open_page(chrome, app_url)
    yield p
    p.close()


@contextlib.contextmanager
def fresh_page(chrome, url):
    p = browser.open_page(chrome, url)
    try:
        yield p
    finally:
        p.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_draw_30_pendigits_test_digits_with_the_mouse(page, real_data):
    pp, py = data.load_pendigits(real_data, "test")
    rng = np.random.default_rng(7)
    picks = [int(i) for d in range(10) for i in rng.choice(np.flatnonzero(py == d), 3, replace=False)]
    right = 0
    wrong = []
    for i in picks:
        browser.draw(page, "#draw-canvas", pendigits_to_strokes(pp[i].ravel()))
        label = browser.wait_result(page, "#draw-result")
        right += label == str(py[i])
        if label != str(py[i]):
            wrong.append((int(py[i]), label))
        if i == picks[-1]:
            shot(page, "draw")
        browser.clear(page, "#draw-canvas", "#draw-result")
    assert right >= 27, f"{right}/30 right; wrong (true, shown): {wrong}"


def test_a_three_digit_number_drawn_with_the_mouse_is_read(page):
    text, strokes = samples.pendigit_numbers(1, seed=21, digits=(3, 3))[0]  # committed pendigits test digits
    browser.draw(page, "#draw-canvas", [np.round(s, 1).tolist() for s in strokes])
    shown = browser.wait_strokes(page, "#draw-result", len(strokes))
    assert shown == text, f"drew {text}, the page shows {shown}"
    assert len(page.locator("#draw-result .digit-chip").all()) == 3
    assert "Read as a number: 3 digits" in page.inner_text("#draw-msg")
    shot(page, "draw_number")
    browser.clear(page, "#draw-canvas", "#draw-result")


def test_undo_and_clear(page):
    one = [[[140, 50], [140, 230]]]
    browser.draw(page, "#draw-canvas", one)
    first = browser.wait_result(page, "#draw-result")
    assert first == "1"
    browser.draw(page, "#draw-canvas", [[[60, 50], [220, 50]], [[60, 140], [220, 140]]])  # turns it into something else
    page.wait_for_timeout(500)
    page.click("#draw-canvas .undo")
    page.click("#draw-canvas .undo")
    page.wait_for_function(f"({browser.RESULT_JS.format(sel='#draw-result')}) === '1'", timeout=10_000)
    browser.clear(page, "#draw-canvas", "#draw-result")


def test_draw_tab_switch_reads_letters(chrome, app_url):
    """The switch beside the canvas: "letters" answers a letter (the characters model, letters view), "digits and
    letters" any of the 62 classes, "digits" a digit again; each switch re-reads the drawing on the canvas."""
    root = need("unipen_letters")
    u = data.load_unipen_letters(root)
    idx = np.random.default_rng(4).choice(sets.writer_split(u.segfile, "test"), 5, replace=False)
    with fresh_page(chrome, app_url) as p:
        p.locator("#draw-read-as").get_by_text("letters", exact=True).click()
        right = 0
        for i in idx:
            browser.draw(p, "#draw-canvas", [q.tolist() for q in sets.to_canvas(S.unipen_strokes(u.sample(i)))])
            shown = browser.wait_result(p, "#draw-result")
            assert shown in CHARACTERS[10:36], shown
            right += shown == CHARACTERS[u.labels[i]].upper()
            if i == idx[-1]:
                p.locator("#draw-read-as").get_by_text("digits", exact=True).click()
                p.wait_for_function(f"'0123456789'.includes({browser.RESULT_JS.format(sel='#draw-result')})", timeout=15_000)
                p.locator("#draw-read-as").get_by_text("digits and letters", exact=True).click()
                p.wait_for_timeout(1500)
                assert browser.result(p, "#draw-result") in CHARACTERS
            browser.clear(p, "#draw-canvas", "#draw-result")
        assert right >= 3, f"{right}/5 letters of test writers read right"
        # README's picture: the first R of the test writers, drawn with the mouse, switch on "letters", settled
        p.locator("#draw-read-as").get_by_text("letters", exact=True).click()
        k = next(i for i in sets.writer_split(u.segfile, "test") if CHARACTERS[u.labels[i]] == SHOWCASE_LETTER)
        browser.draw(p, "#draw-canvas", [q.tolist() for q in sets.to_canvas(S.unipen_strokes(u.sample(k)))])
        assert browser.wait_result(p, "#draw-result") in CHARACTERS[10:36]
        browser.settle(p)
        shot(p, "draw_letters")


def test_empty_canvas_shows_a_hint_not_an_error(page):
    page.click("#draw-canvas .clear")
    page.wait_for_timeout(500)
    msg = page.inner_text("#draw-msg")
    assert "Draw a digit" in msg
    assert "error" not in msg.lower() and "traceback" not in page.content().lower()


def upload_audio(page, path: str) -> str:
    page.get_by_role("tab", name="Speak", exact=True).click()
    page.locator("#speak-audio button[aria-label='Upload file']").click()
    page.locator("#speak-audio input[type=file]").set_input_files(path)
    page.wait_for_function(
        f"({browser.RESULT_JS.format(sel='#speak-result')}) !== '·' || "
        "document.querySelector('#speak-msg').innerText.includes('⚠')",
        timeout=30_000,
    )
    return browser.result(page, "#speak-result")


def test_speak_tab_recognizes_fsdd_and_espeak(chrome, app_url, real_data, tmp_path):
    clips = data.fsdd_split(data.list_fsdd(real_data), "test")
    rng = np.random.default_rng(3)
    picks = [clips[i] for i in rng.choice(len(clips), 6, replace=False)]
    files = [(str(c.path), c.digit) for c in picks]
    if shutil.which("espeak-ng"):
        for d, word in ((3, "three"), (7, "seven"), (9, "nine")):
            out = tmp_path / f"{word}.wav"
            subprocess.run(["espeak-ng", "-w", str(out), word], check=True, capture_output=True)
            files.append((str(out), d))
    right = 0
    for k, (path, digit) in enumerate(files):
        with fresh_page(chrome, app_url) as p:
            right += upload_audio(p, path) == str(digit)
            if k == 0:
                shot(p, "speak")
    assert right >= len(files) - 1, f"{right}/{len(files)}"


def test_speak_tab_bad_audio_gets_a_message(chrome, app_url, tmp_path):
    silent = tmp_path / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", str(silent), "trim", "0", "1"], check=True)
    with fresh_page(chrome, app_url) as p:
        upload_audio(p, str(silent))
        msg = p.inner_text("#speak-msg")
        assert "silent" in msg and "Traceback" not in p.content()


def test_draw_and_speak_fuses(chrome, app_url, real_data):
    pp, py = data.load_pendigits(real_data, "test")
    clip = [c for c in data.fsdd_split(data.list_fsdd(real_data), "test") if c.digit == 4][0]
    i = int(np.flatnonzero(py == 4)[0])
    with fresh_page(chrome, app_url) as p:
        p.get_by_role("tab", name="Draw + Speak").click()
        browser.draw(p, "#both-canvas", pendigits_to_strokes(pp[i].ravel()))
        browser.wait_result(p, "#both-result")
        p.locator("#both-audio button[aria-label='Upload file']").click()
        p.locator("#both-audio input[type=file]").set_input_files(str(clip.path))
        p.wait_for_function("document.querySelector('#both-votes').innerText.includes('audio')", timeout=30_000)
        assert browser.result(p, "#both-result") == "4"
        votes = p.inner_text("#both-votes")
        assert "image" in votes and "strokes" in votes and "audio" in votes
        shot(p, "draw_speak")


def test_photo_tab_reads_a_number(chrome, app_url, real_data, tmp_path):
    xi, yi = data.load_mnist(real_data, "test")
    page_img = synth.compose(xi, yi, ["1947", "203"], np.random.default_rng(5))
    path = tmp_path / "paper.png"
    Image.fromarray(page_img.image).save(path)
    with fresh_page(chrome, app_url) as p:
        p.get_by_role("tab", name="Photo").click()
        p.locator("#photo-in input[type=file]").set_input_files(str(path))
        p.wait_for_function("document.querySelector('#photo-text textarea').value.length > 0", timeout=30_000)
        assert p.input_value("#photo-text textarea") == "1947\n203"
        shot(p, "photo")
        p.get_by_role("tab", name="Model").click()
        p.wait_for_timeout(800)
        shot(p, "model")


def test_api_endpoints_with_gradio_client(app_url, real_data, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    xi, yi = data.load_mnist(real_data, "test")
    img = tmp_path / "d.png"
    Image.fromarray(255 - xi[0]).save(img)
    out = client.predict(handle_file(str(img)), api_name="/predict_image")
    assert out["label"] == yi[0] and abs(sum(out["probs"]) - 1) < 1e-4
    assert isinstance(out["sure"], bool)
    pp, py = data.load_pendigits(real_data, "test")
    strokes = json.dumps({"strokes": pendigits_to_strokes(pp[0].ravel())})
    assert client.predict(strokes, api_name="/predict_strokes")["label"] == py[0]
    clip = data.fsdd_split(data.list_fsdd(real_data), "test")[0]
    assert client.predict(handle_file(str(clip.path)), api_name="/predict_speech")["label"] == clip.digit
    both = client.predict(handle_file(str(img)), strokes, None, api_name="/predict_multimodal")
    assert set(both["by_modality"]) == {"image", "strokes"}
    page_img = synth.compose(xi, yi, ["58"], np.random.default_rng(1))
    photo = tmp_path / "p.png"
    Image.fromarray(page_img.image).save(photo)
    read = client.predict(handle_file(str(photo)), api_name="/read_photo")
    assert read["text"] == "58" and len(read["digits"]) == 2
    assert all(isinstance(d["sure"], bool) for d in read["digits"])
    bad = client.predict("[]", api_name="/predict_strokes")
    assert "empty" in bad["error"]


INK_JS = """(() => { const c = document.querySelector('#teach-canvas canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 0; i < d.length; i += 4) if (d[i] < 128) return true;
  return false; })()"""


def teach_one(page, digit: int, strokes: list, audio: str) -> str:
    browser.draw(page, "#teach-canvas", strokes)
    page.locator("#teach-audio button[aria-label='Upload file']").click()
    page.locator("#teach-audio input[type=file]").set_input_files(audio)
    page.wait_for_selector("#teach-audio audio", state="attached", timeout=30_000)  # uploaded
    page.click("#teach-add")
    done = f"document.querySelector('#teach-msg').innerText.includes('Added a {digit}')"
    page.wait_for_function(f"{done} || document.querySelector('#teach-msg').innerText.includes('⚠')", timeout=30_000)
    return page.inner_text("#teach-msg")


def test_teach_tab_adapts_this_session_only(chrome, app_url, tmp_path):
    pp, py = samples.pendigits()
    clips = {c.digit: c for c in samples.fsdd() if c.speaker in ("george", "jackson", "lucas")}
    with fresh_page(chrome, app_url) as p, fresh_page(chrome, app_url) as other:
        p.get_by_role("tab", name="Teach").click()
        p.wait_for_timeout(800)  # the canvas's script attaches its pointer listeners once the tab is shown
        for d in range(3):
            strokes = pendigits_to_strokes(pp[np.flatnonzero(py == d)[0]].ravel())
            assert teach_one(p, d, strokes, str(clips[d].path)) == f"Added a {d} (drawing + recording)."
        assert "Your profile is active" in p.inner_text("#teach-status")
        scores = p.inner_text("#teach-scores")
        assert "right after" in scores and "speech\t3" in scores and "drawing\t3" in scores
        assert not p.evaluate(INK_JS), "the canvas should be clear for the next digit"
        with p.expect_download() as download:
            p.click("#teach-download")
        saved = tmp_path / "mine.pt"
        download.value.save_as(saved)
        assert Recognizer.load(profile=saved).profile.counts()["audio"] == [1, 1, 1] + [0] * 7
        shot(p, "teach")
        # another visitor's tab knows nothing of it, until they load the file themselves
        other.get_by_role("tab", name="Teach").click()
        assert "No profile yet" in other.inner_text("#teach-status")
        with other.expect_file_chooser() as chooser:
            other.click("#teach-upload")
        chooser.value.set_files(str(saved))
        other.wait_for_function("document.querySelector('#teach-msg').innerText.includes('Loaded')", timeout=30_000)
        assert "Your profile is active" in other.inner_text("#teach-status")
