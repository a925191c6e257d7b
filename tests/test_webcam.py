"""The webcam loop on real video files through OpenCV, in a real window under Xvfb, and the
voice path fed with a real FSDD recording through the function the microphone uses."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from core import audio as A
from core import synth
from demo import webcam
from tests import samples
from tests.conftest import REPO


@pytest.fixture(scope="module")
def mnist_test():
    return samples.mnist()  # 100 real MNIST test digits, committed


@pytest.fixture(scope="module")
def video(tmp_path_factory, mnist_test):
    xi, yi = mnist_test
    rng = np.random.default_rng(11)
    page = synth.compose(xi, yi, ["1947", "203"], rng)
    path = tmp_path_factory.mktemp("video") / "paper.mp4"
    synth.write_video(str(path), [page], 30, rng)
    return path


def run_webcam(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "demo.webcam", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env
    )


def test_headless_video_gives_the_numbers(video, tmp_path):
    out, js = tmp_path / "annotated.mp4", tmp_path / "results.jsonl"
    r = run_webcam("--source", video, "--headless", "--out", out, "--json", js)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in js.read_text().splitlines()]
    assert len(rows) == 30
    assert list(rows[0]) == ["frame", "time", "digits", "numbers"]
    assert rows[1]["frame"] == 1 and rows[1]["time"] == pytest.approx(1 / 30, abs=1e-3)
    d = rows[-1]["digits"][0]
    assert list(d) == ["box", "label", "confidence", "sure"] and len(d["box"]) == 4 and isinstance(d["sure"], bool)
    settled = [r["numbers"] for r in rows[8:]]
    assert sum(n == ["1947", "203"] for n in settled) >= 0.9 * len(settled), settled
    assert out.stat().st_size > 10_000


def test_folder_and_image_sources(tmp_path, mnist_test):
    import cv2

    xi, yi = mnist_test
    page = synth.compose(xi, yi, ["58"], np.random.default_rng(2))
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "b.png"), cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR))
    js = tmp_path / "r.jsonl"
    r = run_webcam("--source", tmp_path, "--headless", "--json", js)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["numbers"] for x in js.read_text().splitlines()] == [["58"], ["58"]]
    one = tmp_path / "one.jsonl"
    r = run_webcam("--source", tmp_path / "a.png", "--headless", "--json", one)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in one.read_text().splitlines()]
    assert [x["numbers"] for x in rows] == [["58"]]
    assert [d["label"] for d in sorted(rows[0]["digits"], key=lambda d: d["box"][0])] == [5, 8]


def test_a_folder_of_photos_of_many_sizes_keeps_every_frame_in_the_video(tmp_path, mnist_test):
    """A video writer takes one frame size; OpenCV dropped the others with only a log line (hostile review:
    4 photos in, 2 frames out). Each frame is fitted to the first one's size."""
    import cv2

    xi, yi = mnist_test
    page = cv2.cvtColor(synth.compose(xi, yi, ["58"], np.random.default_rng(2)).image, cv2.COLOR_RGB2BGR)
    for k, (w, h) in enumerate(((640, 480), (1280, 720), (640, 480), (300, 900))):
        cv2.imwrite(str(tmp_path / f"{k}.png"), cv2.resize(page, (w, h)))
    out, js = tmp_path / "o.mp4", tmp_path / "j.jsonl"
    r = run_webcam("--source", tmp_path, "--headless", "--out", out, "--json", js)
    assert r.returncode == 0, r.stderr
    assert len(js.read_text().splitlines()) == 4
    cap = cv2.VideoCapture(str(out))
    sizes = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        sizes.append(frame.shape[:2])
    cap.release()
    assert sizes == [(480, 640)] * 4
    tall = webcam.fit_frame(np.full((900, 300, 3), 255, np.uint8), (640, 480))
    assert tall.shape == (480, 640, 3) and tall[:, :200].max() == 0 and tall[:, 270:370].min() == 255  # centred


def test_bad_sources_exit_cleanly(tmp_path):
    fake = tmp_path / "notvideo.mp4"
    fake.write_text("this is text")
    for source, words in ((fake, "not a video"), ("9", "cannot open camera 9"), (tmp_path / "missing", "not a camera index")):
        r = run_webcam("--source", source, "--headless")
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_tracker_votes_away_a_flicker():
    from core.reading import Digit

    t = webcam.Tracker()
    seven, one = np.eye(10)[7] * 0.9 + 0.01, np.eye(10)[1] * 0.9 + 0.01
    for k in range(6):
        p = one if k == 4 else seven  # one bad frame
        out = t.update([Digit((10, 10, 20, 30), int(p.argmax()), 0.9, 0, p)])
        assert out[0].label == 7


def test_voice_is_fused_with_the_digit_nearest_the_centre(recognizer, mnist_test):
    xi, yi = mnist_test
    page = synth.compose(xi, yi, ["3"], np.random.default_rng(4), perspective=0)
    digits = recognizer.read(page.image).digits
    clip = [c for c in samples.fsdd() if c.digit == 3][0]
    wave = A.load_audio(clip.path)
    wave44 = np.interp(np.linspace(0, len(wave) - 1, int(len(wave) * 44100 / 8000)), np.arange(len(wave)), wave).astype(
        np.float32
    )
    p, d = webcam.fuse_voice(recognizer, digits, page.image.shape, wave44, 44100)  # as a 44.1 kHz microphone gives it
    assert d is not None and p.label == 3 and set(p.by_modality) == {"image", "audio"}
    p, d = webcam.fuse_voice(recognizer, [], page.image.shape, wave44, 44100)
    assert d is None and p.label == 3


def test_no_microphone_disables_voice_with_a_message(monkeypatch):
    import sounddevice as sd

    def no_device(*a, **k):
        raise sd.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sd, "query_devices", no_device)
    with pytest.raises(RuntimeError, match="voice disabled"):
        webcam.record_voice()


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")), reason="xvfb and xdotool not installed")
def test_real_window_under_xvfb_takes_keys(video, tmp_path):
    display = ":97"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1024x768x24"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(1.0)
        env = dict(os.environ, DISPLAY=display)
        proc = subprocess.Popen(
            [sys.executable, "-m", "demo.webcam", "--source", str(video)],
            cwd=tmp_path,
            env=dict(env, PYTHONPATH=str(REPO)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wid = ""
        for _ in range(100):
            r = subprocess.run(["xdotool", "search", "--name", "digits webcam"], env=env, capture_output=True, text=True)
            wid = r.stdout.split()[0] if r.stdout.split() else ""
            if wid:
                break
            time.sleep(0.2)
        assert wid, "no OpenCV window appeared"
        subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=env, check=False)
        for key in ("space", "s", "d", "q"):  # pause (so the video cannot end first), snapshot, mask view, quit
            subprocess.run(["xdotool", "key", key], env=env, check=True)
            time.sleep(0.6)
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
        snaps = list(tmp_path.glob("snapshot_*.png"))
        assert snaps, proc.stdout.read()
        import cv2

        snap = cv2.imread(str(snaps[0]))
        assert snap is not None and snap.shape[0] >= 240 and snap.shape[1] >= 320 and snap.std() > 10
    finally:
        xvfb.terminate()
