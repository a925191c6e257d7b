import json
import shutil
import threading

import numpy as np
import pytest
import torch

from core import DataError, InputError, Recognizer, checkpoint, data
from core.strokes import pendigits_to_strokes
from tests import samples
from tests.conftest import need


def test_prediction_shape(recognizer):
    p = recognizer.predict(audio=samples.fsdd()[0].path)
    assert isinstance(p.label, int) and 0 <= p.label <= 9
    assert p.probs.shape == (10,) and abs(p.probs.sum() - 1) < 1e-6
    # confidence: the calibrated probability times how digit-like the input is (the out-of-distribution check)
    assert 0 < p.is_digit <= 1 and p.confidence == pytest.approx(p.probs[p.label] * p.is_digit)
    assert p.sure == (p.confidence >= recognizer.threshold)
    assert set(p.by_modality) == {"audio"}


def test_serving_folds_batchnorm_and_answers_as_the_checkpoint_does(recognizer):
    """Recognizer.load serves the committed model with each BatchNorm folded into the layer before it: none
    is left, and the answers are those of the model as checkpoint.load gives it, statistics and all."""
    norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)
    assert not [m for m in recognizer.model.modules() if isinstance(m, norms)]
    model, card = checkpoint.load()
    assert [m for m in model.modules() if isinstance(m, norms)]  # training and checkpoints keep them
    as_trained = Recognizer(model, card, recognizer.threshold, expert=recognizer.expert)
    xi, yi = samples.mnist()
    pp, _ = samples.pendigits()
    clip = samples.fsdd()[0]
    for k in range(3):
        args = {"image": xi[k], "strokes": pendigits_to_strokes(pp[k].ravel()), "audio": clip.path}
        a, b = recognizer.predict(**args), as_trained.predict(**args)
        assert a.label == b.label and a.sure == b.sure
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
        for m in a.by_modality:
            np.testing.assert_allclose(a.by_modality[m], b.by_modality[m], atol=1e-5)


def test_committed_checkpoint_recognizes_each_modality_and_fuses(recognizer):
    # the committed real samples: 20 recordings, each with a handwritten and a pen-drawn digit of its label
    xi, yi = samples.mnist()
    pp, py = samples.pendigits()
    clips = samples.fsdd()
    right = {"image": 0, "strokes": 0, "audio": 0, "fused": 0}
    n = len(clips)
    for k, clip in enumerate(clips):
        d = clip.digit
        img = xi[np.flatnonzero(yi == d)[k % 2]]
        stroke = pendigits_to_strokes(pp[np.flatnonzero(py == d)[k % 2]].ravel())
        p = recognizer.predict(image=img, strokes=stroke, audio=clip.path)
        assert set(p.by_modality) == {"image", "strokes", "audio"}
        for m, q in p.by_modality.items():
            right[m] += int(q.argmax()) == d
        right["fused"] += p.label == d
    # measured with the committed checkpoint: fused 20/20; image 19, strokes 20, audio 19
    assert right["fused"] == n, right
    assert min(right["image"], right["strokes"], right["audio"]) >= n - 2, right


def test_pendigits_test_sample_drawn_on_a_canvas(recognizer):
    pp, py = samples.pendigits()
    preds = recognizer.predict_batch(strokes=[pendigits_to_strokes(p.ravel()) for p in pp])
    right = sum(p.label == y for p, y in zip(preds, py))
    assert right >= 96, f"{right}/100 committed pendigits test rows (measured 98)"


def test_pendigits_test_strokes_drawn_on_a_canvas(recognizer):
    pp, py = data.load_pendigits(need("pendigits"), "test")
    idx = np.random.default_rng(2).choice(len(py), 300, replace=False)
    preds = recognizer.predict_batch(strokes=[pendigits_to_strokes(pp[i].ravel()) for i in idx])
    acc = np.mean([p.label == py[i] for p, i in zip(preds, idx)])
    assert acc >= 0.96, acc  # measured 0.977 (293/300)


def test_predict_batch_mixes_missing_modalities(recognizer):
    xi, yi = samples.mnist()
    pp, py = samples.pendigits()
    out = recognizer.predict_batch(images=[xi[0], None], strokes=[None, pendigits_to_strokes(pp[0].ravel())])
    assert set(out[0].by_modality) == {"image"} and set(out[1].by_modality) == {"strokes"}
    assert out[0].label == yi[0] and out[1].label == py[0]
    with pytest.raises(InputError, match="no input"):
        recognizer.predict_batch(images=[xi[0], None], strokes=[None, None])
    with pytest.raises(InputError, match="differ in length"):
        recognizer.predict_batch(images=[xi[0]], strokes=[None, None])


def test_thread_safe(recognizer):
    xi, yi = samples.mnist()
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
