"""Teach mode (core/adapt.py, core/profile.py, Recognizer.adapt / save_profile / load(profile=)):
real recordings and drawings, the profile file's checks, and the CLI."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from core import DataError, InputError, Recognizer, data
from core import adapt as AD
from core import profile as P
from core.limits import MAX_PROFILE_BYTES, MAX_TEACH_PER_DIGIT
from core.strokes import pendigits_to_strokes
from tests import samples
from tests.conftest import REPO, need

# the 20 committed FSDD clips split by speaker into two halves that each hold every digit once
HALF_A = ("george", "jackson", "lucas")


def halves() -> tuple[list[data.Clip], list[data.Clip]]:
    clips = samples.fsdd()
    a = [c for c in clips if c.speaker in HALF_A]
    b = [c for c in clips if c.speaker not in HALF_A]
    assert sorted(c.digit for c in a) == sorted(c.digit for c in b) == list(range(10))
    return a, b


def right(r: Recognizer, clips: list[data.Clip]) -> int:
    return sum(p.label == c.digit for p, c in zip(r.predict_batch(audios=[c.path for c in clips]), clips))


def drawings(k: int = 0) -> tuple[list, list[int]]:
    """One committed pendigits test row per digit (the k-th of each), as canvas strokes."""
    pp, py = samples.pendigits()
    rows = [int(np.flatnonzero(py == d)[k]) for d in range(10)]
    return [pendigits_to_strokes(pp[i].ravel()) for i in rows], [int(py[i]) for i in rows]


@pytest.fixture(scope="module")
def taught(recognizer) -> Recognizer:
    """Adapted on half the committed recordings and one drawing per digit (no example has both)."""
    a, _ = halves()
    strokes, ys = drawings(0)
    n = len(a)
    return recognizer.adapt(
        audios=[c.path for c in a] + [None] * len(strokes),
        strokes=[None] * n + strokes,
        labels=[c.digit for c in a] + ys,
    )


def test_adapting_to_some_voices_costs_other_voices_little(recognizer):
    """A profile is one user's: its voice templates (core/voice.py) pull toward how *they* say digits, so other
    speakers' recordings may lose a little, never much. Measured: 9/10 and 10/10 before; 8/10 and 10/10 adapted
    (nicolas's 9 read as 1 at 0.68 with george's, jackson's and lucas's templates; 9/10 with the correction alone)."""
    a, b = halves()
    lost = 0
    for teach, score in ((a, b), (b, a)):
        before = right(recognizer, score)
        me = recognizer.adapt(audios=[c.path for c in teach], labels=[c.digit for c in teach])
        lost += before - right(me, score)
    assert lost <= 1, lost


def test_three_examples_per_digit_of_heard_speakers_keep_their_test_clips(recognizer):
    before, after = {}, {}
    for speaker in ("nicolas", "yweweler"):
        clips = [c for c in data.list_fsdd(need("fsdd")) if c.speaker == speaker]
        teach = [c for c in clips if c.index in (5, 6, 7)]
        test = [c for c in clips if c.index < 5]  # the customary test clips: never trained on, never taught
        me = recognizer.adapt(audios=[c.path for c in teach], labels=[c.digit for c in teach])
        before[speaker], after[speaker] = right(recognizer, test), right(me, test)
    # the shipped branch was trained on their clips 5-49 already, so there is little to gain. Measured, with the
    # voice templates: nicolas 49 -> 48 (two clips read wrong at 0.43 and 0.57, one fixed), yweweler 49 -> 50
    assert sum(after.values()) >= sum(before.values()) and min(after.values()) >= 47, (before, after)


def espeak(tmp_path, word: str, speed: int, pitch: int):
    out = tmp_path / f"{word}_{speed}_{pitch}.wav"
    cmd = ["espeak-ng", "-v", "en-gb-x-gbcwmd+f2", "-s", str(speed), "-p", str(pitch), "-w", str(out), word]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def test_a_voice_the_model_never_heard_is_learned(recognizer, tmp_path):
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng not installed")
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    teach = [(espeak(tmp_path, w, s, p), d) for d, w in enumerate(words) for s, p in ((140, 40), (190, 60))]
    test = [(espeak(tmp_path, w, s, p), d) for d, w in enumerate(words) for s, p in ((125, 30), (165, 50), (210, 70))]
    me = recognizer.adapt(audios=[f for f, _ in teach], labels=[d for _, d in teach])
    before = sum(p.label == d for p, (_, d) in zip(recognizer.predict_batch(audios=[f for f, _ in test]), test))
    after = sum(p.label == d for p, (_, d) in zip(me.predict_batch(audios=[f for f, _ in test]), test))
    assert after >= before + 3 and after >= 27, (before, after)  # measured: 22 -> 30 of 30


def test_the_original_is_unchanged(recognizer, taught):
    assert recognizer.profile is None and set(taught.profile.corrections) == {"audio", "strokes"}
    assert taught.model is recognizer.model  # the weights are shared, never copied or touched
    _, b = halves()
    base = recognizer.predict_batch(audios=[c.path for c in b])
    fresh = Recognizer.load().predict_batch(audios=[c.path for c in b])
    assert all(np.array_equal(x.probs, y.probs) for x, y in zip(base, fresh))


def test_confidence_stays_honest(recognizer, taught):
    _, b = halves()
    base = recognizer.predict_batch(audios=[c.path for c in b])
    mine = taught.predict_batch(audios=[c.path for c in b])
    # the out-of-distribution check reads the base model: adapting never changes how digit-like an input looks
    assert [p.is_digit for p in base] == [p.is_digit for p in mine]
    assert all(p.confidence == pytest.approx(p.probs[p.label] * p.is_digit) for p in mine)
    assert all(p.sure == (p.confidence >= taught.threshold) for p in mine)
    rng = np.random.default_rng(0)
    noise = (0.3 * rng.standard_normal(8000)).astype(np.float32)
    assert not taught.predict(audio=noise, sample_rate=8000).sure
    scribble = [[(40, 40), (240, 60), (50, 200), (230, 230), (60, 120), (200, 100)]]
    assert taught.predict(strokes=scribble).is_digit == recognizer.predict(strokes=scribble).is_digit


def test_untaught_digits_are_never_pulled_toward_taught_ones(recognizer):
    clips = samples.fsdd()
    threes = [c for c in clips if c.digit == 3]
    me = recognizer.adapt(audios=[c.path for c in threes], labels=[3] * len(threes))
    others = [c for c in clips if c.digit != 3]
    assert [p.label for p in me.predict_batch(audios=[c.path for c in others])] == [
        p.label for p in recognizer.predict_batch(audios=[c.path for c in others])
    ]


def test_adapting_again_adds_to_what_was_learned(recognizer, taught):
    _, b = halves()
    again = taught.adapt(audios=[c.path for c in b], labels=[c.digit for c in b])
    assert again.profile.counts()["audio"] == [2] * 10 and again.profile.counts()["strokes"] == [1] * 10
    assert taught.profile.counts()["audio"] == [1] * 10  # the first adapted one is unchanged too


def test_profile_round_trip_gives_identical_predictions(taught, tmp_path):
    path = tmp_path / "me.pt"
    size = taught.save_profile(path)
    assert size == path.stat().st_size and size < 64 * 1024  # KBs, not the model's MBs
    loaded = Recognizer.load(profile=path)
    also = Recognizer.load().load_profile(path)
    _, b = halves()
    strokes, _ = drawings(1)
    for r in (loaded, also):
        for x, y in zip(taught.predict_batch(audios=[c.path for c in b]), r.predict_batch(audios=[c.path for c in b])):
            assert np.array_equal(x.probs, y.probs) and x.confidence == y.confidence
        for x, y in zip(taught.predict_batch(strokes=strokes), r.predict_batch(strokes=strokes)):
            assert np.array_equal(x.probs, y.probs)
    assert loaded.profile.counts() == taught.profile.counts()


def test_damaged_profiles_are_refused(taught, tmp_path):
    path = tmp_path / "me.pt"
    taught.save_profile(path)
    good = path.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    for name, content in (
        ("flipped.pt", bytes(flipped)),
        ("truncated.pt", good[:-500]),
        ("half.pt", good[: len(good) // 2]),
        ("junk.pt", b"not a profile at all"),
        ("empty.pt", b""),
    ):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match="truncated, was modified or is not a digits profile"):
            Recognizer.load(profile=tmp_path / name)
    huge = tmp_path / "huge.pt"
    huge.write_bytes(good + b"\0" * MAX_PROFILE_BYTES)
    with pytest.raises(DataError, match="at most"):
        Recognizer.load(profile=huge)
    with pytest.raises(DataError, match="cannot be read"):
        Recognizer.load(profile=tmp_path / "missing.pt")


def deflated(blob: bytes) -> bytes:
    """The same zip entries, deflated: what torch.load would unpack in full before any check of ours."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for info in zin.infolist():
            z.writestr(info.filename, zin.read(info.filename))
    return out.getvalue()


def test_a_small_profile_that_unpacks_to_gigabytes_is_refused_before_unpacking(taught, tmp_path):
    """A 200 KB file of deflated zeros unpacked to 1.6 GB (800 MB payload) before its checksum was read, and a
    1.7 KB one whose payload claims 1 GB over a single byte cost +1 GB (hostile review); the zip's entries are
    checked first (torch.save stores them uncompressed), then the payload's size before it is read."""
    bomb = {"format": P.FORMAT, "version": P.VERSION, "sha256": "0" * 64, "payload": torch.zeros(64 * 2**20, dtype=torch.uint8)}
    buf = io.BytesIO()
    torch.save(bomb, buf)
    small = deflated(buf.getvalue())
    assert len(small) < MAX_PROFILE_BYTES
    (tmp_path / "bomb.pt").write_bytes(small)
    with pytest.raises(DataError, match="compressed entries"):
        Recognizer.load(profile=tmp_path / "bomb.pt")
    taught.save_profile(tmp_path / "me.pt")  # a valid profile, deflated: refused the same way (never unpacked)
    (tmp_path / "me_deflated.pt").write_bytes(deflated((tmp_path / "me.pt").read_bytes()))
    with pytest.raises(DataError, match="compressed entries"):
        Recognizer.load(profile=tmp_path / "me_deflated.pt")
    strided = io.BytesIO()  # 1 GB claimed over one stored byte (stride 0): 1.7 KB on disk, +1 GB when read
    torch.save({**bomb, "payload": torch.zeros(1, dtype=torch.uint8).as_strided((2**30,), (0,))}, strided)
    (tmp_path / "strided.pt").write_bytes(strided.getvalue())
    with pytest.raises(DataError, match="stored bytes"):
        Recognizer.load(profile=tmp_path / "strided.pt")
    stored = io.BytesIO()  # stored entries that declare more than the bound (a payload over 1 MB) are refused too
    torch.save({**bomb, "payload": torch.zeros(MAX_PROFILE_BYTES + 1, dtype=torch.uint8)}, stored)
    with pytest.raises(DataError, match="unpack to more than"):
        P.check_zip(stored.getvalue(), "profile x")


def rewrite(profile: P.Profile, path, **changes) -> None:
    """A well-formed profile file (valid checksum) with some fields changed, as another program could write."""
    fields = {"base_sha256": profile.base_sha256, "corrections": profile.corrections, "l2": profile.l2, **changes}
    path.write_bytes(P.to_bytes(P.Profile(**fields)))


def test_a_profile_for_another_model_is_refused(recognizer, taught, tmp_path):
    rewrite(taught.profile, tmp_path / "other.pt", base_sha256="0" * 64)
    with pytest.raises(DataError, match="made for another model"):
        recognizer.load_profile(tmp_path / "other.pt")


def test_a_valid_file_with_absurd_values_is_refused(recognizer, taught, tmp_path):
    c = taught.profile.corrections["audio"]
    for name, bad in (
        ("nan", P.Correction(c.weight * float("nan"), c.bias, c.counts)),
        ("huge", P.Correction(c.weight + 1e6, c.bias, c.counts)),
        ("shape", P.Correction(c.weight[:5], c.bias, c.counts)),
        ("counts", P.Correction(c.weight, c.bias, c.counts * 0)),
    ):
        rewrite(taught.profile, tmp_path / f"{name}.pt", corrections={"audio": bad})
        with pytest.raises(DataError, match="audio"):
            recognizer.load_profile(tmp_path / f"{name}.pt")


def test_bad_examples_get_clear_messages(recognizer):
    clip = samples.fsdd()[0]
    for labels, words in (
        (None, "list of digits"),
        ([], "no examples"),
        ([10], "label 0 is 10"),
        ([-1], "expected an int from 0 to 9"),
        ([3.0], "label 0 is 3.0"),
        (["3"], "label 0 is '3'"),
        ([True], "label 0 is True"),
    ):
        with pytest.raises(InputError, match=words):
            recognizer.adapt(audios=[clip.path] * max(1, len(labels or [])), labels=labels)
    with pytest.raises(InputError, match="2 entries for 1 labels"):
        recognizer.adapt(audios=[clip.path, clip.path], labels=[1])
    with pytest.raises(InputError, match="give images, strokes or audios"):
        recognizer.adapt(labels=[1])
    with pytest.raises(InputError, match="no input at all"):
        recognizer.adapt(audios=[clip.path, None], labels=[clip.digit, 2])
    with pytest.raises(InputError, match=f"at most {MAX_TEACH_PER_DIGIT} per digit"):
        recognizer.adapt(audios=[clip.path] * (MAX_TEACH_PER_DIGIT + 1), labels=[4] * (MAX_TEACH_PER_DIGIT + 1))
    with pytest.raises(InputError, match=r"item 1 \(audio\).*silent"):
        recognizer.adapt(audios=[clip.path, np.zeros(8000, np.float32)], labels=[clip.digit, 2], sample_rate=8000)
    with pytest.raises(InputError, match="not adapted"):
        recognizer.save_profile("never.pt")


def write_examples(folder) -> None:
    """Two recordings (wav), one image (png) and one drawing (canvas JSON) per digit, plus files to skip."""
    folder.mkdir()
    for c in samples.fsdd():
        shutil.copy(c.path, folder / f"{c.digit}_{c.speaker}.wav")
    xi, yi = samples.mnist()
    for d in range(10):
        Image.fromarray(255 - xi[np.flatnonzero(yi == d)[0]]).save(folder / f"{d}_paper.png")
    strokes, ys = drawings(0)
    for s, d in zip(strokes, ys):
        (folder / f"{d}_canvas.json").write_text(json.dumps({"strokes": s, "width": 280, "height": 280}))
    (folder / "notes.txt").write_text("not an example")
    (folder / "take_3.wav").write_bytes((folder / "3_george.wav").read_bytes())
    (folder / "5_broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")


def test_cli_teaches_from_a_folder(tmp_path, capsys):
    write_examples(tmp_path / "mine")
    out = tmp_path / "me.pt"
    assert AD.main(["--data", str(tmp_path / "mine"), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "learned from 40 examples" in printed.out and "3 files skipped" in printed.out
    assert "| audio | 2 | 2 |" in printed.out and "| strokes | 1 |" in printed.out and "| image | 2 |" in printed.out
    assert "| speech | 20 |" in printed.out and "| drawing | 10 |" in printed.out and "| image | 10 |" in printed.out
    for name in ("notes.txt", "take_3.wav", "5_broken.wav"):
        assert f"skipped {name}: " in printed.err
    r = Recognizer.load(profile=out)
    assert r.profile.counts()["audio"] == [2] * 10 and r.profile.counts()["image"] == [2] * 10


def test_cli_usage_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        AD.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p.pt")])
    assert e.value.code == 2 and "is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert AD.main(["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "p.pt")]) == 2
    assert "no readable examples" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # a folder as --out: refused before any example is read or fitted
        AD.main(["--data", str(tmp_path / "empty"), "--out", str(tmp_path)])
    assert e.value.code == 2 and "is a folder" in capsys.readouterr().err
    done = subprocess.run([sys.executable, "-m", "core.adapt", "--help"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and "(default: profile.pt)" in done.stdout


def test_leave_one_out_counts_each_view(recognizer):
    a, _ = halves()
    strokes, ys = drawings(0)
    by_digit = {c.digit: c.path for c in a}
    ex = AD.prepare(strokes=strokes, audios=[by_digit[d] for d in ys], labels=ys)
    scores = AD.leave_one_out(recognizer, ex)
    assert set(scores) == {"strokes", "speech", "strokes + speech"}
    assert all(n == 10 and 0 <= b <= 10 and 0 <= a <= 10 for n, b, a in scores.values())
    assert "| speech | 10 |" in AD.loo_table(scores)


def test_correction_fit_is_deterministic_and_small(recognizer):
    a, _ = halves()
    one = recognizer.adapt(audios=[c.path for c in a], labels=[c.digit for c in a]).profile.corrections["audio"]
    two = recognizer.adapt(audios=[c.path for c in a], labels=[c.digit for c in a]).profile.corrections["audio"]
    assert torch.equal(one.weight, two.weight) and float(one.weight.abs().max()) < 1.0


def canvas_value(strokes) -> str:
    """What the Draw tab's canvas sends: the strokes and the PNG of them."""
    import base64
    import io

    from core.sets import draw_canvas

    buf = io.BytesIO()
    Image.fromarray(draw_canvas(strokes)).save(buf, format="PNG")
    return json.dumps({"strokes": strokes, "image": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()})


def test_app_teach_tab_keeps_each_session_to_itself(recognizer, tmp_path):
    from demo.app import App

    app = App(recognizer)
    a, _ = halves()
    clips = {c.digit: c for c in a}
    strokes, ys = drawings(0)
    mine = None
    for s, d in zip(strokes[:3], ys[:3]):
        mine, prompt, digit, status, scores, download, audio, message = app.teacher.add(
            canvas_value(s), str(clips[d].path), str(d), mine
        )
        assert message == f"Added a {d} (drawing + recording)." and digit == str(d + 1) and audio is None
    assert mine.labels == (0, 1, 2) and "active" in status and "| speech | 3 |" in scores
    assert Recognizer.load(profile=download.value["path"] if isinstance(download.value, dict) else download.value).profile
    # another browser tab (state None) reads with the shipped model; this one with its own profile
    from demo.render import probs_dict

    value = canvas_value(drawings(1)[0][1])
    strokes1, image1 = _parse(value)
    assert app.draw(value, None)[1] == probs_dict(recognizer.predict(image=image1, strokes=strokes1).probs)
    assert app.draw(value, mine)[1] == probs_dict(
        recognizer.with_profile(mine.profile).predict(image=image1, strokes=strokes1).probs
    )
    heard = recognizer.with_profile(mine.profile).predict(audio=clips[5].path)
    assert app.speak(str(clips[5].path), mine)[1] == probs_dict(heard.probs)
    # nothing to add, a broken upload: one line, and the session keeps what it had
    assert app.teacher.add(None, None, "4", mine)[-1].startswith("Draw the digit")
    (tmp_path / "bad.pt").write_bytes(b"junk")
    kept, *_, message = app.teacher.load(str(tmp_path / "bad.pt"), mine)
    assert kept is mine and message.startswith("⚠️ ") and "/tmp" not in message
    fresh, *_, message = app.teacher.reset(mine)
    assert fresh.profile is None and app.teacher.active(fresh) is recognizer


def _parse(value: str):
    from demo.canvas import parse_canvas

    return parse_canvas(value)
