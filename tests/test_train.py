"""A tiny training run end to end: it must learn, and write a loadable, self-describing checkpoint."""

import datetime
import json
import re

import numpy as np
import pytest

from core import Recognizer, checkpoint, data, train, train_audio
from core.model import parameter_count


@pytest.mark.slow
def test_tiny_training_run_learns(any_data, tmp_path):
    root, real = any_data
    cfg = train.Config(
        data_dir=str(root),
        verify=real,
        limit=2400,
        image_epochs=2,
        stroke_epochs=6,
        audio_epochs=12,
        fusion_epochs=1,
        fusion_tuples=3000,
        test_tuples=500,
        out=str(tmp_path / "ck"),
    )
    card = train.main(cfg)
    m = card["metrics"]
    # chance is 10%: every branch must be well above it after a few hundred steps. The generated
    # fixtures are easy (measured: image and strokes 1.0, audio 0.99 on the held-out speaker).
    floor = {"image": 0.6, "strokes": 0.6, "audio": 0.3} if real else {"image": 0.9, "strokes": 0.9, "audio": 0.8}
    assert m["mnist_val"] > floor["image"], m
    assert m["strokes_val"] > floor["strokes"], m
    assert m["audio_selection"]["val_acc_of_chosen_epoch"] > floor["audio"], m
    assert (
        m["fused_test_tuples"]["image+strokes+audio"]
        >= max(m["fused_test_tuples"][k] for k in ("image", "strokes", "audio")) - 0.02
    )
    ck = tmp_path / "ck"
    saved = json.loads((ck / checkpoint.CARD_NAME).read_text())
    weights = ck / checkpoint.WEIGHTS_NAME
    assert saved["checkpoint"]["sha256"] == data.file_digest(weights)
    assert saved["checkpoint"]["bytes"] == weights.stat().st_size
    files = saved["training_files_sha256"]
    assert set(files) == {
        "mnist/train-images-idx3-ubyte.gz",
        "mnist/train-labels-idx1-ubyte.gz",
        "pendigits/pendigits.tra",
        "unipen/unipen_1a_digits_train.npz",
        "fsdd/recordings/*.wav",
    }, files
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in files.values()), files
    assert files["pendigits/pendigits.tra"] == data.file_digest(root / "pendigits" / "pendigits.tra")
    if real:  # the published files: the card names exactly what the model learned from
        assert files["pendigits/pendigits.tra"] == data.PENDIGITS_FILES["train"][1]
        assert files["unipen/unipen_1a_digits_train.npz"] == data.UNIPEN_FILE[1]
    assert saved["config"]["limit"] == 2400 and saved["config"]["data_dir"] == str(root)
    assert (saved["config"]["tts"], saved["config"]["audio_aug"], saved["config"]["audio_patience"]) == (False, "light", 10)
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", saved["git_commit"]), saved["git_commit"]
    age = datetime.datetime.now(datetime.UTC) - datetime.datetime.fromisoformat(saved["date"])
    assert datetime.timedelta(0) <= age < datetime.timedelta(hours=2), saved["date"]
    r = Recognizer.load(ck)
    assert r.model.dims.embed == 128
    assert saved["parameters"] == parameter_count(checkpoint.load(ck)[0]) > 100_000  # as trained, BatchNorm unfolded


def test_leave_one_speaker_out_chooses_epochs_without_the_test_speaker(fixture_data, monkeypatch):
    """Nested: each fold trains and chooses its epochs without its test speaker, and scores only that speaker."""
    from core import data

    calls = []

    def fake_train_audio(model, audio, cfg, rng, gen, val_speaker):
        calls.append((set(audio.speakers.tolist()), val_speaker))
        return {"best_epoch": 7}

    monkeypatch.setattr(train_audio, "train_audio", fake_train_audio)
    out = train_audio.leave_one_speaker_out(train.Config(data_dir=str(fixture_data), verify=False))
    assert set(out["folds"]) == set(data.FSDD_SPEAKERS) and len(calls) == len(data.FSDD_SPEAKERS)
    for s, (heard, val_speaker) in zip(data.FSDD_SPEAKERS, calls):
        assert s not in heard and heard == set(data.FSDD_SPEAKERS) - {s}  # the fold never hears its test speaker
        assert val_speaker != s and val_speaker in heard  # epochs chosen on another speaker of the five
        assert out["folds"][s] == {**out["folds"][s], "epochs_chosen_on": val_speaker, "epochs": 7}
        assert 0.0 <= out[s] <= 1.0
    assert out["mean"] == pytest.approx(np.mean([out[s] for s in data.FSDD_SPEAKERS]), abs=1e-5)
