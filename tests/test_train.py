"""A tiny training run end to end: it must learn, and write a loadable, self-describing checkpoint."""

import json

from core import Recognizer, train


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
    # chance is 10%: every branch must be well above it after a few hundred steps
    assert m["mnist_val"] > 0.6, m
    assert m["strokes_val"] > 0.6, m
    assert m["audio_val_heldout_speaker"] > 0.3, m
    assert (
        m["fused_test_tuples"]["image+strokes+audio"]
        >= max(m["fused_test_tuples"][k] for k in ("image", "strokes", "audio")) - 0.02
    )
    saved = json.loads((tmp_path / "ck" / "digits.json").read_text())
    assert saved["checkpoint"]["sha256"] and saved["parameters"] > 0 and saved["training_files_sha256"]
    assert saved["config"]["limit"] == 2400 and "git_commit" in saved and "date" in saved
    r = Recognizer.load(tmp_path / "ck")
    assert r.model.dims.embed == 128
