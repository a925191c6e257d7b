import json
import shutil
import threading

import numpy as np
import pytest
import torch

from core import DataError, InputError, Recognizer, checkpoint, data
from core.strokes import pendigits_to_strokes


def test_prediction_shape(recognizer, real_data):
    clips = data.fsdd_split(data.list_fsdd(real_data), "test")
    p = recognizer.predict(audio=clips[0].path)
    assert isinstance(p.label, int) and 0 <= p.label <= 9
    assert p.probs.shape == (10,) and abs(p.probs.sum() - 1) < 1e-6
    assert p.confidence == pytest.approx(p.probs[p.label])
    assert set(p.by_modality) == {"audio"}


def test_committed_checkpoint_recognizes_each_modality_and_fuses(recognizer, real_data):
    xi, yi = data.load_mnist(real_data, "test")
    pp, py = data.load_pendigits(real_data, "test")
    clips = data.fsdd_split(data.list_fsdd(real_data), "test")
    rng = np.random.default_rng(1)
    right = {"image": 0, "strokes": 0, "audio": 0, "fused": 0}
    n = 40
    for k in range(n):
        d = k % 10
        img = xi[rng.choice(np.flatnonzero(yi == d))]
        stroke = pendigits_to_strokes(pp[rng.choice(np.flatnonzero(py == d))].ravel())
        clip = [c for c in clips if c.digit == d][k // 10]
        p = recognizer.predict(image=img, strokes=stroke, audio=clip.path)
        assert set(p.by_modality) == {"image", "strokes", "audio"}
        for m, q in p.by_modality.items():
            right[m] += int(q.argmax()) == d
        right["fused"] += p.label == d
    assert right["fused"] == n, right
    assert min(right["image"], right["strokes"], right["audio"]) >= n - 3, right


def test_pendigits_test_strokes_drawn_on_a_canvas(recognizer, real_data):
    pp, py = data.load_pendigits(real_data, "test")
    idx = np.random.default_rng(2).choice(len(py), 300, replace=False)
    preds = recognizer.predict_batch(strokes=[pendigits_to_strokes(pp[i].ravel()) for i in idx])
    assert np.mean([p.label == py[i] for p, i in zip(preds, idx)]) >= 0.95


def test_predict_batch_mixes_missing_modalities(recognizer, real_data):
    xi, yi = data.load_mnist(real_data, "test")
    pp, py = data.load_pendigits(real_data, "test")
    out = recognizer.predict_batch(images=[xi[0], None], strokes=[None, pendigits_to_strokes(pp[0].ravel())])
    assert set(out[0].by_modality) == {"image"} and set(out[1].by_modality) == {"strokes"}
    assert out[0].label == yi[0] and out[1].label == py[0]
    with pytest.raises(InputError, match="no input"):
        recognizer.predict_batch(images=[xi[0], None], strokes=[None, None])
    with pytest.raises(InputError, match="differ in length"):
        recognizer.predict_batch(images=[xi[0]], strokes=[None, None])


def test_thread_safe(recognizer, real_data):
    xi, yi = data.load_mnist(real_data, "test")
    expected = [p.label for p in recognizer.predict_batch(images=list(xi[:40]))]
    results, errors = {}, []

    def work(k):
        try:
            results[k] = [recognizer.predict(image=xi[i]).label for i in range(40)]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(v == expected for v in results.values())


def test_nothing_to_recognize(recognizer):
    with pytest.raises(InputError, match="nothing to recognize"):
        recognizer.predict()


@pytest.fixture()
def ck_copy(tmp_path):
    dst = tmp_path / "ck"
    shutil.copytree(checkpoint.DEFAULT_DIR, dst)
    return dst


def test_truncated_checkpoint_is_refused(ck_copy):
    w = ck_copy / checkpoint.WEIGHTS_NAME
    w.write_bytes(w.read_bytes()[:-1000])
    with pytest.raises(DataError, match="truncated or was modified"):
        Recognizer.load(ck_copy)


def test_tampered_checkpoint_is_refused(ck_copy):
    w = ck_copy / checkpoint.WEIGHTS_NAME
    b = bytearray(w.read_bytes())
    b[len(b) // 2] ^= 0xFF
    w.write_bytes(bytes(b))
    with pytest.raises(DataError, match="sha256"):
        Recognizer.load(ck_copy)


def _rewrite(ck_copy, mutate):
    w = ck_copy / checkpoint.WEIGHTS_NAME
    blob = torch.load(w, weights_only=True)
    mutate(blob)
    torch.save(blob, w)
    card = json.loads((ck_copy / checkpoint.CARD_NAME).read_text())
    card["checkpoint"]["sha256"] = data.file_digest(w)
    (ck_copy / checkpoint.CARD_NAME).write_text(json.dumps(card))


def test_incompatible_version_is_refused(ck_copy):
    _rewrite(ck_copy, lambda b: b.update(format_version=99))
    with pytest.raises(DataError, match="format version 99"):
        Recognizer.load(ck_copy)


def test_other_preprocessing_is_refused(ck_copy):
    _rewrite(ck_copy, lambda b: b["preprocessing"]["audio"].update(n_mels=64))
    with pytest.raises(DataError, match="preprocessing"):
        Recognizer.load(ck_copy)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(DataError, match="missing checkpoint"):
        Recognizer.load(tmp_path)
