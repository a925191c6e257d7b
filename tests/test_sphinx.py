"""The PocketSphinx expert: its evidence, how it is combined with the audio CNN, and how its weights load."""

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core import Recognizer, checkpoint, sphinx
from core import audio as A
from tests import samples

needs_sphinx = pytest.mark.skipif(not sphinx.available(), reason="pocketsphinx is not installed (requirements.txt)")


def test_evidence_ranks_the_words_the_decoder_considered():
    ev = sphinx.evidence_from_scores({3: -10.0, 8: -10.5})
    assert ev.shape == (2, 10)
    assert ev[0, 3] == 0.0 and ev[0, 8] == pytest.approx(-0.5)
    assert ev[1, 3] == ev[1, 8] == 0.0 and ev[1].sum() == 8  # the eight others are absent
    assert (ev[0, [0, 1, 2, 4, 5, 6, 7, 9]] == sphinx.MISSING).all()


def test_no_hypothesis_favours_no_digit():
    ev = sphinx.evidence_from_scores({})
    lp = np.log(np.full(10, 0.1))
    assert np.allclose(sphinx.combine(lp, ev, np.array([5.0, -3.0])), lp)


def test_combine_is_a_distribution_and_weight_zero_changes_nothing():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 10))
    lp = z - np.logaddexp.reduce(z, axis=1, keepdims=True)
    ev = np.stack([sphinx.evidence_from_scores({int(k): -float(rng.random()) for k in rng.choice(10, 3)}) for _ in range(4)])
    assert np.allclose(sphinx.combine(lp, ev, np.zeros(2)), lp, atol=1e-6)
    both = sphinx.combine(lp, ev, np.array([4.0, -2.0]))
    assert np.allclose(np.exp(both).sum(1), 1.0, atol=1e-5)
    # a digit the decoder never named loses ground against one it did
    k = int(np.flatnonzero(ev[0, 1] == 0)[0])
    j = int(np.flatnonzero(ev[0, 1] == 1)[0])
    assert both[0, k] - both[0, j] > lp[0, k] - lp[0, j]


@needs_sphinx
def test_the_decoder_hears_real_recordings():
    """20 real FSDD test recordings, two of each digit: PocketSphinx alone (it never saw FSDD) gets most."""
    clips = samples.fsdd()
    right = sum(sphinx.evidence(A.trim(A.load_audio(c.path)), A.SAMPLE_RATE)[0].argmax() == c.digit for c in clips)
    assert right >= 11, f"{right}/20"


@needs_sphinx
def test_one_request_does_not_change_the_next():
    """The decoder is shared by every request: its answer on a clip must not depend on what came before."""
    clips = samples.fsdd()
    waves = [A.trim(A.load_audio(c.path)) for c in clips[:6]]
    first = [sphinx.evidence(w, A.SAMPLE_RATE) for w in waves]
    again = [sphinx.evidence(w, A.SAMPLE_RATE) for w in reversed(waves)][::-1]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


@needs_sphinx
def test_long_speech_gets_no_opinion_and_costs_nothing():
    w = A.trim(A.load_audio(samples.fsdd()[0].path))
    long = np.tile(w, int(sphinx.MAX_SECONDS * A.SAMPLE_RATE / len(w)) + 2)
    assert not sphinx.evidence(long, A.SAMPLE_RATE).any()
    assert sphinx.evidence(w, A.SAMPLE_RATE).any()


def weights_file(folder: Path, **change) -> Path:
    _, card = checkpoint.load(folder)
    doc = {
        "format": sphinx.FORMAT,
        "version": sphinx.VERSION,
        "weights": [2.0, -1.0],
        "digits_sha256": card["checkpoint"]["sha256"],
    }
    doc.update(change)
    (folder / sphinx.FILE).write_text(json.dumps(doc))
    return folder / sphinx.FILE


@pytest.fixture
def checkpoints_copy(tmp_path) -> Path:
    for name in ("digits.pt", "digits.json"):
        shutil.copy(checkpoint.DEFAULT_DIR / name, tmp_path / name)
    return tmp_path


@needs_sphinx
def test_weights_load_only_for_the_checkpoint_they_were_fitted_for(checkpoints_copy, caplog):
    weights_file(checkpoints_copy)
    assert np.allclose(Recognizer.load(checkpoints_copy).expert, [2.0, -1.0])
    assert Recognizer.load(checkpoints_copy, audio_expert=False).expert is None
    bad = [
        {"digits_sha256": "0" * 64},
        {"weights": [1e9, 0.0]},
        {"weights": [float("nan"), 0.0]},
        {"weights": [1.0]},
        {"format": "something-else"},
    ]
    for change in bad:
        weights_file(checkpoints_copy, **change)
        with caplog.at_level(logging.WARNING, logger="core.recognizer"):
            assert Recognizer.load(checkpoints_copy).expert is None, change
        assert "audio CNN answers alone" in caplog.text
    (checkpoints_copy / sphinx.FILE).write_text("{not json")
    assert Recognizer.load(checkpoints_copy).expert is None


@needs_sphinx
def test_the_expert_changes_audio_answers_and_nothing_else(checkpoints_copy):
    plain = Recognizer.load(checkpoints_copy, audio_expert=False)
    weights_file(checkpoints_copy, weights=[8.0, -2.0])
    expert = Recognizer.load(checkpoints_copy)
    clip = samples.fsdd()[0]
    img = samples.mnist()[0][0]
    a, b = plain.predict(audio=clip.path), expert.predict(audio=clip.path)
    assert np.isclose(b.probs.sum(), 1.0) and not np.allclose(a.probs, b.probs)
    assert a.is_digit == b.is_digit  # the out-of-distribution check reads the CNN alone
    assert np.allclose(plain.predict(image=img).probs, expert.predict(image=img).probs)
    fused_a, fused_b = plain.predict(image=img, audio=clip.path), expert.predict(image=img, audio=clip.path)
    assert np.isclose(fused_b.probs.sum(), 1.0) and not np.allclose(fused_a.probs, fused_b.probs)
    batch = expert.predict_batch(audios=[clip.path, None], images=[None, img])
    assert np.allclose(batch[0].probs, b.probs) and np.allclose(batch[1].probs, plain.predict(image=img).probs)


def test_adaptation_curve_learns_each_left_out_speakers_way_of_saying_digits():
    """fit_sphinx's Teach-mode curve on made-up fold outputs: every speaker says each digit with its own
    offset in embedding space the base head never saw; a few examples per digit must recover it, the k=0
    point must be the plain out-of-fold accuracy of the reported speakers (theo, a validation speaker, left
    out), and evidence that names the right digit must help the with-expert curve and only it."""
    from core import data
    from core import fit_sphinx as F

    rng = np.random.default_rng(0)
    y = np.tile(np.repeat(np.arange(10), 50), 6)
    speakers = np.repeat(np.array(data.FSDD_SPEAKERS), 500)
    means = rng.normal(size=(10, 32))
    shift = {s: rng.normal(size=(10, 32)) * 1.5 for s in data.FSDD_SPEAKERS}
    e = np.stack([means[d] + shift[s][d] + rng.normal(size=32) * 0.5 for d, s in zip(y, speakers)]).astype(np.float32)
    lp = F.log_probs((e @ means.T).astype(np.float32) / 5, 1.0)
    silent = np.zeros((len(y), 2, 10), np.float32)
    curve = F.adaptation_curve(lp, e, silent, y, speakers)
    reported = speakers != "theo"
    assert curve["reported_speakers"] == [s for s in data.FSDD_SPEAKERS if s != "theo"]
    assert curve["cnn"]["0"] == pytest.approx(float((lp[reported].argmax(1) == y[reported]).mean()), abs=1e-4)
    assert curve["cnn"]["0"] < 0.97
    assert curve["cnn"]["1"] > curve["cnn"]["0"] + 0.02 and curve["cnn"]["5"] >= 0.99
    assert curve["with_expert"] == curve["cnn"]  # no evidence, no change
    assert F.adaptation_table(curve).splitlines()[0].startswith("| examples per digit | 0 | 1 | 2 | 3 | 5 |")

    told = silent.copy()  # the decoder heard the right word on 80% of clips, nothing on the rest
    heard = rng.random(len(y)) < 0.8
    told[:, 0, :] = np.where(heard[:, None], -1.0, 0.0)
    told[heard, 0, y[heard]] = 0.0
    helped = F.adaptation_curve(lp, e, told, y, speakers)
    assert helped["cnn"] == curve["cnn"]
    assert helped["with_expert"]["0"] > curve["cnn"]["0"] + 0.01


def test_voice_templates_that_know_each_speakers_words_help_and_get_a_scale():
    """fit_sphinx's curve with template distances (made up): where a clip is nearer to the same digit's clips
    of its speaker, the templates' curves beat the plain ones and the fitted scale is positive; where the
    distances say nothing, the scale fitted is near zero and the curves stay where they were."""
    from core import data
    from core import fit_sphinx as F

    rng = np.random.default_rng(1)
    y = np.tile(np.repeat(np.arange(10), 20), 6)
    speakers = np.repeat(np.array(data.FSDD_SPEAKERS), 200)
    e = rng.normal(size=(len(y), 16)).astype(np.float32)
    lp = F.log_probs(rng.normal(size=(len(y), 10)).astype(np.float32) + 2.0 * np.eye(10)[y], 1.0)
    silent = np.zeros((len(y), 2, 10), np.float32)
    same = speakers[:, None] == speakers[None, :]
    told = np.where(same, 10.0 + rng.normal(size=(len(y), len(y))) - 3.0 * (y[:, None] == y[None, :]), np.inf)
    curve = F.adaptation_curve(lp, e, silent, y, speakers, dists=told.astype(np.float32))
    assert curve["voice_scale"] > 0.3 and all(v > 0.3 for v in curve["voice_scales"].values())
    for k in ("1", "3", "5"):
        assert curve["cnn_voice"][k] > curve["cnn"][k] + 0.05 and curve["with_voice"][k] > curve["with_expert"][k] + 0.05
    assert "voice templates" in F.adaptation_table(curve)
    noise = np.where(same, 10.0 + rng.normal(size=(len(y), len(y))), np.inf).astype(np.float32)
    blind = F.adaptation_curve(lp, e, silent, y, speakers, dists=noise)
    assert blind["voice_scale"] < 0.1
    assert all(abs(blind["cnn_voice"][k] - blind["cnn"][k]) < 0.03 for k in ("1", "3", "5"))


@pytest.mark.slow
def test_folds_in_worker_processes_match_folds_in_turn(fixture_data, monkeypatch):
    """`python -m core.fit_sphinx --workers 2` trains two folds at once in their own processes: each fold
    trains for its own speaker's epochs, its answers land on its left-out speaker's rows (the fold's reported
    accuracy is those rows' accuracy), and they are the answers a fold trained in turn on one thread gives."""
    from core import data, train
    from core import fit_sphinx as F

    epochs = {s: 1 + k % 2 for k, s in enumerate(data.FSDD_SPEAKERS)}
    cfg = train.Config(data_dir=str(fixture_data), verify=False, threads=1)
    monkeypatch.setattr(F, "FOLD_EPOCHS", {F.recipe(cfg): epochs})  # the epochs travel with each job to the workers
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in each worker: then the same arithmetic, in the same order
    try:
        serial = F.out_of_fold_logits(cfg, workers=1)
    finally:
        torch.set_num_threads(threads)
    parallel = F.out_of_fold_logits(cfg, workers=2)
    for a, b in zip(serial[1:3], parallel[1:3]):
        np.testing.assert_array_equal(a, b)  # labels and speakers, in data order
    np.testing.assert_allclose(serial[0], parallel[0], atol=1e-5)
    np.testing.assert_allclose(serial[4], parallel[4], atol=1e-5)
    logits, y, speakers, folds, embeds = parallel
    assert set(folds) == set(data.FSDD_SPEAKERS) and np.abs(logits).sum(1).min() > 0 and np.abs(embeds).sum(1).min() > 0
    for s in data.FSDD_SPEAKERS:
        assert folds[s]["epochs"] == epochs[s]
        rows = speakers == s
        assert folds[s]["accuracy"] == pytest.approx(float((logits[rows].argmax(1) == y[rows]).mean()), abs=1e-5)


def test_fold_epochs_come_from_the_recipes_table_or_are_chosen_again(monkeypatch, tmp_path):
    """Each audio recipe has its own per-fold epochs; a recipe without them (or --nested) chooses them again
    inside each fold, never borrowing another recipe's. Each fold's answers land on its own speaker's rows, in
    data order (FSDD's files interleave speakers); TTS clips only train and get no rows."""
    from dataclasses import replace
    from types import SimpleNamespace

    from core import data, train
    from core import fit_sphinx as F

    fsdd = np.array([data.FSDD_SPEAKERS[i % 6] for i in range(7)] + [data.FSDD_SPEAKERS[i % 6] for i in range(5)])
    speakers = np.concatenate([fsdd, ["tts:kal", "tts:slt"]])
    every = SimpleNamespace(y=torch.arange(14) % 10, speakers=speakers)
    asked = {}

    def fold(cfg, k, epochs, every=None):
        asked[data.FSDD_SPEAKERS[k]] = epochs
        n = int((fsdd == data.FSDD_SPEAKERS[k]).sum())
        return np.full((n, 10), k, np.float32), np.full((n, 4), -k, np.float32), {"epochs": epochs}

    monkeypatch.setattr(F, "all_speakers", lambda cfg: every)
    monkeypatch.setattr(F, "train_fold", fold)
    light = train.Config(tts=False, audio_aug="light", audio_patience=10)
    F.out_of_fold_logits(light)
    assert asked == F.FOLD_EPOCHS[("light", False, "cmn", 10, 0.0)]
    F.out_of_fold_logits(replace(light, audio_patience=60))  # the epochs were chosen with early stopping after 10
    assert set(asked.values()) == {None}
    F.out_of_fold_logits(light, nested=True)
    assert set(asked.values()) == {None}
    (tmp_path / "tts").mkdir()
    (tmp_path / "tts" / "manifest.json").write_text("{}")
    F.out_of_fold_logits(train.Config(tts_dir=str(tmp_path / "tts"), audio_norm="cmvn"))  # not in the table
    assert set(asked.values()) == {None}
    F.out_of_fold_logits(train.Config(data_dir=str(tmp_path), tts=True, audio_aug="voices", audio_patience=60))
    assert set(asked.values()) == {None}  # TTS asked for but not made: not the recipe in the table
    voices = train.Config(tts_dir=str(tmp_path / "tts"), tts=True, audio_aug="voices", audio_patience=60)
    F.out_of_fold_logits(voices)  # the opt-in recipe (README): tabulated too
    assert asked == F.FOLD_EPOCHS[F.recipe(voices)] and None not in asked.values()
    shipped = train.Config()  # scripts/train_core.sh: six trainings, not twelve
    logits, y, got, folds, embeds = F.out_of_fold_logits(shipped)
    assert asked == F.FOLD_EPOCHS[F.recipe(shipped)] and None not in asked.values()
    assert list(got) == list(fsdd) and list(y) == [i % 10 for i in range(12)]
    k = np.array([data.FSDD_SPEAKERS.index(s) for s in fsdd])
    np.testing.assert_array_equal(logits, np.repeat(k[:, None], 10, 1))
    np.testing.assert_array_equal(embeds, -np.repeat(k[:, None], 4, 1))
