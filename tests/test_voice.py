"""Teach mode's voice templates (core/voice.py): the DTW matcher against librosa's, the templates kept,
real recordings matched, the profile that carries them and the checks on a stranger's profile file."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from core import DataError, Recognizer, data
from core import audio as A
from core import profile as P
from core import voice as V
from core.limits import MAX_PROFILE_BYTES
from tests import samples
from tests.conftest import REPO, need


def test_dtw_distance_is_librosas_dtw_divided_by_both_lengths():
    import librosa

    rng = np.random.default_rng(0)
    for n, m in ((1, 1), (5, 9), (40, 33), (100, 3)):
        a, b = rng.normal(size=(24, n)).astype(np.float32), rng.normal(size=(24, m)).astype(np.float32)
        cost, _ = librosa.sequence.dtw(X=a, Y=b, metric="euclidean")
        assert V.distance(a, b) == pytest.approx(cost[-1, -1] / (n + m), rel=1e-5)
        assert V.distance(a, b) == pytest.approx(V.distance(b, a), rel=1e-5)
    assert V.distance(a, a) == 0.0
    slow = np.repeat(a, 2, axis=1)  # the same word said twice as slowly costs nothing to warp onto it
    assert V.distance(a, slow) == 0.0 and V.distance(a, slow[:, ::-1]) > 0


def test_the_newest_templates_of_each_digit_are_kept():
    c = [np.full((V.N_CEPS, 10), k, np.float32) for k in range(2 * V.MAX_PER_DIGIT + 1)]
    t = V.Templates((), np.zeros(0, np.int64)).plus(c[: V.MAX_PER_DIGIT + 3], [7] * (V.MAX_PER_DIGIT + 3))
    assert t.counts()[7] == V.MAX_PER_DIGIT and [float(x[0, 0]) for x in t.ceps] == list(range(3, V.MAX_PER_DIGIT + 3))
    t = t.plus([c[-1]], [2])
    assert t.counts()[2] == 1 and t.counts()[7] == V.MAX_PER_DIGIT and all(x.dtype == V.DTYPE for x in t.ceps)


def test_an_untaught_digit_is_as_near_as_the_nearest_taught_one():
    d = np.array([[3.0, 1.0, 2.0], [5.0, 6.0, 4.0]], np.float32)
    got = V.nearest(d, np.array([4, 4, 8]))
    assert got[0, 4] == 1.0 and got[0, 8] == 2.0 and got[1, 4] == 5.0 and got[1, 8] == 4.0
    assert set(got[0, [0, 1, 2, 3, 5, 6, 7, 9]]) == {1.0} and set(got[1, [0, 1, 2, 3, 5, 6, 7, 9]]) == {4.0}


def test_cepstra_are_bounded_and_ignore_loudness():
    clip = samples.fsdd()[0]
    wave = A.trim(A.load_audio(clip.path))
    c = V.cepstra(wave)
    assert c.shape[0] == V.N_CEPS and V.MIN_FRAMES <= c.shape[1] <= V.MAX_FRAMES
    assert np.allclose(c.mean(axis=1), 0, atol=1e-4)  # the channel (mean cepstrum) is removed
    assert V.cepstra(np.tile(wave, 5)).shape[1] == V.MAX_FRAMES  # a long recording is resampled, never unbounded
    quiet = V.cepstra(wave * 0.1)  # a gain is a constant in c0, which is left out, and in the mean, which is removed
    assert np.abs(quiet - c).max() < 1e-2 * np.abs(c).max()


def test_one_recording_per_digit_reads_the_same_speakers_other_recordings():
    """The matcher alone, on real speech: one clip per digit (index 5) of each FSDD speaker as templates, their
    test clips (0-4) read by the nearest template. Measured: 72% (nicolas) to 100% (jackson), 92.3% over all six."""
    clips = data.list_fsdd(need("fsdd"))
    right = total = 0
    for s in data.FSDD_SPEAKERS:
        mine = [c for c in clips if c.speaker == s]
        teach = [c for c in mine if c.index == 5]
        t = V.Templates(tuple(V.cepstra(A.trim(A.load_audio(c.path))) for c in teach), np.array([c.digit for c in teach]))
        for c in (c for c in mine if c.index < 5):
            right += int(V.evidence(V.cepstra(A.trim(A.load_audio(c.path))), t).argmin() == c.digit)
            total += 1
    assert right / total >= 0.88, right / total


def test_a_taught_recording_pulls_toward_its_digit_and_only_where_the_profile_has_templates(recognizer):
    clips = [c for c in samples.fsdd() if c.speaker in ("george", "jackson", "lucas")]  # one clip per digit
    me = recognizer.adapt(audios=[c.path for c in clips], labels=[c.digit for c in clips])
    assert list(me.profile.voice.counts()) == [1] * 10
    # taught as the *next* digit: the same recordings are then pulled away from what they say
    liar = recognizer.adapt(audios=[c.path for c in clips], labels=[(c.digit + 1) % 10 for c in clips])
    truth = [p.label for p in recognizer.predict_batch(audios=[c.path for c in clips])]
    lied = liar.predict_batch(audios=[c.path for c in clips])
    assert sum(p.label == (c.digit + 1) % 10 for p, c in zip(lied, clips)) >= 5, ([p.label for p in lied], truth)
    assert sum(p.label == t for p, t in zip(lied, truth)) <= 5
    plain = liar.with_profile(P.Profile(liar.profile.base_sha256, liar.profile.corrections, liar.profile.l2))
    unpulled = plain.predict_batch(audios=[c.path for c in clips])
    assert all(not np.allclose(a.probs, b.probs) for a, b in zip(lied, unpulled))  # the templates moved every answer
    img = samples.mnist()[0][0]  # pictures never read the voice
    assert np.array_equal(liar.predict(image=img).probs, plain.predict(image=img).probs)


def test_profiles_keep_their_templates_and_version_1_files_still_load(recognizer, tmp_path):
    clips = samples.fsdd()
    me = recognizer.adapt(audios=[c.path for c in clips], labels=[c.digit for c in clips])
    path = tmp_path / "me.pt"
    me.save_profile(path)
    back = Recognizer.load(profile=path)
    assert np.array_equal(back.profile.voice.labels, me.profile.voice.labels)
    assert all(np.array_equal(a, b) for a, b in zip(back.profile.voice.ceps, me.profile.voice.ceps))
    for x, y in zip(me.predict_batch(audios=[c.path for c in clips]), back.predict_batch(audios=[c.path for c in clips])):
        assert np.array_equal(x.probs, y.probs)
    # a version 1 file (written before the templates) has none and reads as it always did
    old = P.Profile(me.profile.base_sha256, me.profile.corrections, me.profile.l2)
    raw = torch.load(io.BytesIO(P.to_bytes(old)), weights_only=True)
    (tmp_path / "v1.pt").write_bytes(_with_version(raw, 1))
    v1 = Recognizer.load(profile=tmp_path / "v1.pt")
    assert v1.profile.voice is None and v1.profile.counts() == me.profile.counts()


def _with_version(outer: dict, version: int) -> bytes:
    buf = io.BytesIO()
    torch.save({**outer, "version": version}, buf)
    return buf.getvalue()


def test_the_most_templates_a_profile_holds_fit_its_size_bound(recognizer, tmp_path):
    longest = np.ones((V.N_CEPS, V.MAX_FRAMES), np.float32)
    full = V.Templates(tuple([longest] * (10 * V.MAX_PER_DIGIT)), np.repeat(np.arange(10), V.MAX_PER_DIGIT))
    clips = samples.fsdd()
    me = recognizer.adapt(audios=[c.path for c in clips], labels=[c.digit for c in clips])
    big = P.Profile(me.profile.base_sha256, me.profile.corrections, me.profile.l2, voice=full)
    size = P.save(big, tmp_path / "full.pt")
    assert size < MAX_PROFILE_BYTES / 2, size
    assert len(recognizer.load_profile(tmp_path / "full.pt").profile.voice.labels) == 10 * V.MAX_PER_DIGIT


def test_a_strangers_templates_are_checked_before_use(recognizer, tmp_path):
    clips = samples.fsdd()[:4]
    me = recognizer.adapt(audios=[c.path for c in clips], labels=[c.digit for c in clips])
    good = me.profile
    inner = {
        "ceps": torch.zeros(40, V.N_CEPS, dtype=torch.float16),
        "lengths": torch.tensor([20, 20]),
        "labels": torch.tensor([1, 2]),
    }
    bad = {
        "dtype": {**inner, "ceps": inner["ceps"].float()},
        "width": {**inner, "ceps": torch.zeros(40, V.N_CEPS + 1, dtype=torch.float16)},
        "sum": {**inner, "lengths": torch.tensor([20, 19])},
        "short": {**inner, "lengths": torch.tensor([1, 39])},
        "long": {
            "ceps": torch.zeros(V.MAX_FRAMES + 1, V.N_CEPS, dtype=torch.float16),
            "lengths": torch.tensor([V.MAX_FRAMES + 1]),
            "labels": torch.tensor([3]),
        },
        "label": {**inner, "labels": torch.tensor([1, 10])},
        "count": {**inner, "labels": torch.tensor([1])},
        "nan": {**inner, "ceps": torch.full((40, V.N_CEPS), float("nan"), dtype=torch.float16)},
        "huge": {**inner, "ceps": torch.full((40, V.N_CEPS), 6e4, dtype=torch.float16)},
        "many": {
            "ceps": torch.zeros(V.MIN_FRAMES * (V.MAX_PER_DIGIT + 1), V.N_CEPS, dtype=torch.float16),
            "lengths": torch.full((V.MAX_PER_DIGIT + 1,), V.MIN_FRAMES),
            "labels": torch.full((V.MAX_PER_DIGIT + 1,), 4),
        },
        "table": [1, 2, 3],
        "extra": {**inner, "note": torch.zeros(1000)},
        "sparse": {**inner, "ceps": inner["ceps"].to_sparse()},
        "sparse lengths": {**inner, "lengths": inner["lengths"].to_sparse()},
        "csr": {**inner, "ceps": inner["ceps"].float().to_sparse_csr().to(torch.float16)},
        "meta": {**inner, "ceps": torch.zeros(40, V.N_CEPS, dtype=torch.float16, device="meta")},
        "meta labels": {**inner, "labels": torch.tensor([1, 2], device="meta")},
    }
    for name, voice in bad.items():
        path = tmp_path / f"{name}.pt"
        path.write_bytes(_content_with(good, {"voice": voice}))
        with pytest.raises(DataError, match="voice templates"):
            recognizer.load_profile(path)
    path = tmp_path / "v1.pt"  # a version 1 file never held templates
    path.write_bytes(_with_version(torch.load(io.BytesIO(_content_with(good, {"voice": inner})), weights_only=True), 1))
    with pytest.raises(DataError, match="version 1"):
        recognizer.load_profile(path)
    c = good.corrections["audio"]  # the corrections' tensors are held to the same layout
    for weight in (c.weight.to_sparse(), torch.zeros_like(c.weight, device="meta")):
        path.write_bytes(_content_with(good, {"corrections": {"audio": {"weight": weight, "bias": c.bias, "counts": c.counts}}}))
        with pytest.raises(DataError, match="audio correction"):
            recognizer.load_profile(path)


def test_a_profile_built_in_code_with_no_templates_reads_as_without(recognizer):
    clips = samples.fsdd()[:10]
    me = recognizer.adapt(audios=[c.path for c in clips], labels=[c.digit for c in clips])
    p = me.profile
    empty = me.with_profile(P.Profile(p.base_sha256, p.corrections, p.l2, V.Templates((), np.zeros(0, np.int64))))
    none = me.with_profile(P.Profile(p.base_sha256, p.corrections, p.l2))
    assert np.array_equal(empty.predict(audio=clips[0].path).probs, none.predict(audio=clips[0].path).probs)
    with pytest.raises(ValueError, match="features"):
        V.distance(np.zeros((24, 5), np.float32), np.zeros((12, 5), np.float32))


def _content_with(profile: P.Profile, extra: dict) -> bytes:
    """A well-formed profile file (valid checksum) whose content has `extra` added, as another program could write."""
    import hashlib

    outer = torch.load(io.BytesIO(P.to_bytes(profile)), weights_only=True)
    content = torch.load(io.BytesIO(outer["payload"].numpy().tobytes()), weights_only=True)
    buf = io.BytesIO()
    torch.save({**content, **extra}, buf)
    payload = buf.getvalue()
    outer = {
        **outer,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
    }
    buf = io.BytesIO()
    torch.save(outer, buf)
    return buf.getvalue()


def test_the_shipped_scale_is_what_fit_sphinx_fitted():
    """core.voice.SCALE is the scale core.fit_sphinx fitted on held-out FSDD speakers for the shipped checkpoint."""
    doc = json.loads((REPO / "checkpoints" / "sphinx.json").read_text())
    assert V.SCALE == pytest.approx(doc["loso"]["adaptation"]["voice_scale"], abs=0.005)


def test_leave_one_out_never_reads_an_example_with_its_own_template(recognizer):
    """Teach mode's check (each example read by a profile taught from the others) must drop the example's
    recording from the templates too: with it, every recording would be 0 away from itself and read right."""
    from core import adapt as AD
    from core.recognizer import encode

    clips = samples.fsdd()
    ex = AD.prepare(audios=[c.path for c in clips], labels=[(c.digit + 1) % 10 for c in clips])  # mislabelled
    parts = encode(recognizer.model, ex.seen, len(ex))
    for k in (0, 7, 19):
        p = AD.fit(recognizer, parts, ex.labels, leave_out=k, voice=ex.voice)
        assert len(p.voice.labels) == len(clips) - 1
        assert not any(t.shape == ex.voice[k].shape and np.array_equal(t, ex.voice[k].astype(V.DTYPE)) for t in p.voice.ceps)
    scores = AD.leave_one_out(recognizer, ex)["speech"]
    # taught shifted labels, the other clip of each digit teaches the shift (measured: 12 of 20 read as taught);
    # a profile that held each example's own template reads all 20 as taught
    assert scores[2] <= 16, scores
