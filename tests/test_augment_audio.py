"""The voices recipe for speech (core/augment_audio.py), the text-to-speech digits (core/tts.py, core/data.py)
and the audio encoder's normalization: each transform does what it says, measured on real FSDD clips."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from core import audio as A
from core import augment_audio as G
from core import checkpoint, data, negatives, sets, train, tts
from core import train_audio as TA
from core.config import Config, audio_config, kept_audio_recipe
from core.errors import DataError
from core.model import AudioEncoder, DigitNet, ModelDimensions
from tests import samples
from tests.fixtures import write_tone

SR = A.SAMPLE_RATE


@pytest.fixture(scope="module")
def waves() -> list[np.ndarray]:
    """The 20 committed FSDD test clips, trimmed as training trims them."""
    return [A.trim(A.load_audio(c.path)) for c in samples.fsdd()]


def f0(y: np.ndarray) -> float:
    """Median fundamental of the voiced frames, Hz."""
    import librosa

    f, voiced, _ = librosa.pyin(y, fmin=60, fmax=600, sr=SR, frame_length=512, hop_length=80)
    assert voiced.sum() >= 5
    return float(np.nanmedian(f[voiced]))


def band_db(y: np.ndarray, lo: float, hi: float) -> float:
    """Share of y's energy between lo and hi Hz, dB."""
    s = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / SR)
    return float(10 * np.log10(s[(f >= lo) & (f < hi)].sum() / s.sum() + 1e-30))


@pytest.mark.parametrize("semitones", [-5.0, 5.0])
def test_pitch_shift_moves_the_fundamental_and_keeps_the_duration(waves, semitones):
    y = waves[0]  # 0_george_0: a steady voiced vowel, F0 about 158 Hz
    z = G.pitch_shift(y, semitones)
    ratio = f0(z) / f0(y)
    assert ratio == pytest.approx(2 ** (semitones / 12), rel=0.04), ratio
    assert abs(len(z) - len(y)) <= 2


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_speed_changes_duration_and_pitch_by_the_factor(waves, factor):
    y = waves[2]
    z = G.speed(y, factor)
    assert len(y) / len(z) == pytest.approx(factor, rel=0.005)
    assert f0(z) / f0(y) == pytest.approx(factor, rel=0.03)


@pytest.mark.parametrize("kind", G.NOISE_KINDS)
@pytest.mark.parametrize("snr", [0.0, 10.0, 30.0])
def test_noise_is_added_at_the_requested_snr(waves, kind, snr):
    y = waves[4]
    out = G.add_noise(y, snr, kind, np.random.default_rng(3), pool=waves[5:])
    got = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean((out - y).astype(np.float64) ** 2))
    assert got == pytest.approx(snr, abs=1.0)


def test_pink_noise_falls_3_db_per_octave_and_babble_is_speech():
    rng = np.random.default_rng(0)
    pink = G.noise("pink", 4 * SR, rng)
    octaves = [band_db(pink, lo, 2 * lo) for lo in (250, 500, 1000)]
    assert np.allclose(np.diff(octaves), 0.0, atol=1.0)  # 1/f: every octave holds the same energy
    white = G.noise("white", 4 * SR, rng)
    assert band_db(white, 2000, 4000) - band_db(white, 1000, 2000) == pytest.approx(3.0, abs=0.5)
    with pytest.raises(ValueError, match="pool"):
        G.noise("babble", SR, rng)


def test_speech_power_not_padding_sets_the_snr(waves):
    y = waves[6]
    padded = G.pad_silence(y, 0.3, 0.2)
    assert len(padded) == len(y) + int(0.3 * SR) + int(0.2 * SR)
    out = G.add_noise(padded, 10.0, "white", np.random.default_rng(1), signal_power=float(np.mean(y**2)))
    speech = out[int(0.3 * SR) : int(0.3 * SR) + len(y)] - y
    assert 10 * np.log10(np.mean(y**2) / np.mean(speech**2)) == pytest.approx(10.0, abs=1.0)


def test_telephone_keeps_300_to_3400_hz_only():
    w = np.random.default_rng(0).normal(0, 0.1, 2 * SR).astype(np.float32)
    t = G.telephone(w)
    assert band_db(t, 3600, 4000) < band_db(w, 3600, 4000) - 25  # measured: 36 dB less
    assert band_db(t, 0, 200) < band_db(w, 0, 200) - 25
    assert band_db(t, 400, 3300) > -0.5  # the band itself is kept


@pytest.mark.parametrize("rate", [4000.0, 6000.0])
def test_narrowband_removes_what_a_lower_sample_rate_cannot_carry(rate):
    w = np.random.default_rng(1).normal(0, 0.1, SR).astype(np.float32)
    z = G.narrowband(w, rate)
    assert len(z) == len(w)
    assert band_db(z, rate / 2 + 150, SR / 2) < -40


@pytest.mark.parametrize("rt60", [0.2, 0.6])
def test_room_decays_60_db_in_rt60(rt60):
    h = G.room_impulse(rt60, np.random.default_rng(2)).astype(np.float64)
    edc = 10 * np.log10(np.cumsum((h**2)[::-1])[::-1] / np.sum(h**2))  # Schroeder's backward integral
    t30 = (np.argmax(edc < -35) - np.argmax(edc < -5)) / SR
    assert 2 * t30 == pytest.approx(rt60, rel=0.15)


def test_gain_and_clipping():
    y = np.sin(np.linspace(0, 20, 800)).astype(np.float32)
    assert np.abs(G.gain(y, -6.0)).max() == pytest.approx(10 ** (-6 / 20), rel=1e-3)
    c = G.clip(y, 0.5)
    assert np.abs(c).max() == pytest.approx(0.5 * np.abs(y).max(), rel=1e-6) and (np.abs(c) >= 0.5 * 0.9999).mean() > 0.3


def test_vtlp_warp_at_one_is_the_inference_features_and_moves_formants_up(waves):
    y = waves[8]
    assert np.allclose(G.log_mel_warped(y, 1.0), A.log_mel(y), atol=1e-5)
    basis = {a: G.warped_mel_basis(a) for a in (0.85, 1.0, 1.2)}
    freqs = np.linspace(0, SR / 2, basis[1.0].shape[1])
    centre = {a: (b * freqs).sum(1) / b.sum(1) for a, b in basis.items()}  # where each mel band listens, Hz
    # alpha > 1 reads each band from lower frequencies: energy shows up higher, as from a shorter vocal tract
    assert (centre[1.2][5:30] < centre[1.0][5:30]).all() and (centre[0.85][5:30] > centre[1.0][5:30]).all()


def test_voices_recipe_is_deterministic_given_the_seed(waves):
    a = G.voice_features(waves[0], np.random.default_rng(7), waves[1:])
    b = G.voice_features(waves[0], np.random.default_rng(7), waves[1:])
    c = G.voice_features(waves[0], np.random.default_rng(8), waves[1:])
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    w1, alpha1 = G.voice_wave(waves[3], np.random.default_rng(11), waves)
    w2, alpha2 = G.voice_wave(waves[3], np.random.default_rng(11), waves)
    assert np.array_equal(w1, w2) and alpha1 == alpha2


def test_bank_is_finite_the_right_shape_and_the_same_with_two_processes(waves):
    one = G.voice_bank(waves, 3, seed=5, pool=waves)
    assert one.shape == (3, len(waves), A.N_MELS, A.N_FRAMES) and one.dtype == np.float32
    assert np.isfinite(one).all()
    assert not np.array_equal(one[0], one[1])  # copies differ
    two = G.voice_bank(waves[:4], 3, seed=5, pool=waves, workers=2)
    assert np.array_equal(one[:, :4], two)


def test_spec_augment_masks_bands_and_frames_and_keeps_the_rest():
    x = torch.randn(64, A.N_MELS, A.N_FRAMES) + 5.0  # no element is 0 before masking
    y = G.spec_augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    kept = y != 0
    assert torch.equal(y[kept], x[kept])
    masked = 1 - kept.float().mean().item()
    assert 0.05 < masked < 0.5, masked  # two masks of up to 8 frames and two of up to 6 bands each
    assert torch.equal(G.spec_augment(x, torch.Generator().manual_seed(0), masks=0), x)


def test_bank_epochs_draw_copies_and_mask_them(waves):
    x, y = sets.pair(np.stack([A.log_mel(w) for w in waves]), [c.digit for c in samples.fsdd()])
    audio = sets.AudioSet(x, y, waves, np.array([c.speaker for c in samples.fsdd()]))
    cfg = train.Config(audio_aug="voices", audio_copies=2, threads=1)
    banked = TA.with_voice_bank(audio, cfg, np.random.default_rng(0), ("theo",))
    assert banked.bank.shape == (2, len(waves), A.N_MELS, A.N_FRAMES)
    xe, ye = TA.audio_epoch(banked, np.random.default_rng(1), spec_masks=0)
    assert torch.equal(ye, y) and all(any(torch.equal(xe[i], banked.bank[k, i]) for k in range(2)) for i in range(len(y)))
    rest, val = sets.held_out_speaker(banked, ("theo", "george"))
    assert set(val.speakers) == {"theo", "george"} and rest.bank.shape[1] == len(rest.y) == len(y) - len(val.y)
    light = TA.with_voice_bank(audio, train.Config(audio_aug="light"), np.random.default_rng(0), ())
    assert light.bank is None and TA.audio_epoch(light, np.random.default_rng(1))[0].shape == x.shape


# ---------------------------------------------------------------- the audio encoder's normalization


def test_cmvn_encoder_ignores_each_bands_gain_and_offset():
    torch.manual_seed(0)
    enc = AudioEncoder(ModelDimensions(audio_norm="cmvn")).eval()
    x = torch.randn(3, A.N_MELS, A.N_FRAMES)
    scale, offset = torch.rand(1, A.N_MELS, 1) + 0.5, torch.randn(1, A.N_MELS, 1)
    rel = lambda a, b: float((a - b).norm() / a.norm())  # noqa: E731
    with torch.no_grad():
        assert rel(enc(x), enc(x * scale + offset)) < 1e-4
        plain = AudioEncoder(ModelDimensions()).eval()
        assert rel(plain(x), plain(x * scale + offset)) > 0.05
    with pytest.raises(ValueError, match="audio_norm"):
        ModelDimensions(audio_norm="pcen")


def test_checkpoints_without_audio_norm_load_as_before(tmp_path):
    d = ModelDimensions.from_dict({k: v for k, v in ModelDimensions().to_dict().items() if k != "audio_norm"})
    assert d.audio_norm == "cmn"  # what every checkpoint before the field was trained with
    model, card = checkpoint.load()  # the committed checkpoint
    assert model.dims.audio_norm == "cmn"
    wide = DigitNet(ModelDimensions(audio_channels=(24, 48, 96), audio_norm="cmvn"))
    saved = checkpoint.save(wide, tmp_path, card)
    back, _ = checkpoint.load(tmp_path)
    assert back.dims == wide.dims and saved["checkpoint"]["bytes"] > 0
    x = torch.randn(2, A.N_MELS, A.N_FRAMES)
    with torch.no_grad():
        assert torch.allclose(back.encode("audio", x), wide.eval().encode("audio", x))


def test_older_cards_mean_the_original_audio_recipe():
    old = audio_config({"audio_epochs": 60, "stages": ["fusion"], "data_dir": "x"}, data_dir="y")
    assert (old.audio_aug, old.tts, old.audio_norm, old.audio_patience, old.data_dir) == ("light", False, "cmn", 10, "y")
    new = audio_config({"audio_aug": "voices", "tts": True, "audio_channels": [32, 64, 128]})
    assert (new.audio_aug, new.tts, new.audio_channels) == ("voices", True, (32, 64, 128))
    assert TA.audio_dims(new).audio_channels == (32, 64, 128)


def test_the_audio_stage_chooses_its_epochs_with_its_own_patience(monkeypatch):
    # its few held-out voices jump 10-20 points between epochs while the learning rate is high: the probe runs
    # with the audio stage's own patience (the voices recipe needs the whole schedule), the refit for the chosen epochs
    calls = []

    def fake_branch(model, modality, epoch_fn, epochs, lr, cfg, val, gen):
        calls.append((epochs, cfg.patience, val is not None))
        return [], 7

    monkeypatch.setattr(TA, "train_branch", fake_branch)
    speakers = np.array(["theo", "george", "tts:awb", "tts:ked", "tts:kal"] * 4)
    audio = sets.AudioSet(torch.randn(20, A.N_MELS, A.N_FRAMES), torch.arange(20) % 10, [np.zeros(800)] * 20, speakers)
    cfg = Config(patience=5, audio_patience=60)  # the voices recipe's: the whole schedule
    h = TA.train_audio(DigitNet(TA.audio_dims(cfg)), audio, cfg, np.random.default_rng(0), torch.Generator(), "theo")
    assert calls == [(cfg.audio_epochs, 60, True), (7, 5, False)] and h["best_epoch"] == 7


def test_a_run_that_keeps_the_audio_encoder_keeps_its_recipe():
    # `--stages fusion,calibrate` on a light-recipe checkpoint: today's defaults (voices, TTS) must not be what the
    # new card says the encoder learned with, nor what fusion and calibration load
    kept = kept_audio_recipe(train.Config(stages=("fusion", "calibrate"), fusion_epochs=3), {"audio_epochs": 60})
    assert (kept.audio_aug, kept.tts, kept.audio_norm, kept.fusion_epochs) == ("light", False, "cmn", 3)
    card = {"tts": True, "audio_aug": "voices", "tts_dir": "data/tts_digits", "audio_copies": 4}
    assert kept_audio_recipe(train.Config(tts=False), card).tts_dir == "data/tts_digits"
    moved = kept_audio_recipe(train.Config(tts_dir="/elsewhere"), card)  # where the same clips are on this machine
    assert (moved.tts, moved.tts_dir, moved.audio_copies) == (True, "/elsewhere", 4)


# ---------------------------------------------------------------- text-to-speech digits


def write_tts_folder(folder, voices: dict[str, str], rng, words: int = 0) -> None:
    """A spoken-digits folder in make_tts_digits' layout, with fixture tones for words; with `words`, that many
    non-digit "words" per voice too (tones of other pitches, in OUT/words with their manifest)."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for k, (voice, speaker) in enumerate(voices.items()):
        for d in range(10):
            name = f"{d}_{voice}_r100p100.wav"
            write_tone(folder / name, d, 10 + k, rng)
            clips.append({"file": name, "digit": d, "voice": voice, "speaker": speaker,
                          "sha256": data.file_digest(folder / name)})  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps({"clips": clips}))
    if words:
        (folder / "words").mkdir(exist_ok=True)
        entries = []
        for k, (voice, speaker) in enumerate(voices.items()):
            for w in range(words):
                name = f"{w}_{voice}_r100p100.wav"
                write_tone(folder / "words" / name, 10 + w, 30 + k, rng)
                entries.append({"file": name, "word": f"word{w}", "voice": voice, "speaker": speaker})
        (folder / "words" / "manifest.json").write_text(json.dumps({"clips": entries}))


def test_list_tts_reads_the_manifest_and_refuses_a_broken_one(tmp_path):
    folder = tmp_path / data.TTS_FOLDER
    write_tts_folder(folder, {"flite-kal": "kal", "fest-kal": "kal", "flite-slt": "slt"}, np.random.default_rng(0))
    clips = data.list_tts(tmp_path, verify=True)
    assert len(clips) == 30 and {c.speaker for c in clips} == {"kal", "slt"}
    seven = [c for c in clips if c.path.name == "7_flite-slt_r100p100.wav"]
    assert [(c.digit, c.voice, c.variant) for c in seven] == [(7, "flite-slt", "r100p100")]
    assert data.list_tts(folder=folder) == data.list_tts(tmp_path)
    (folder / "3_flite-kal_r100p100.wav").write_bytes(b"RIFF")
    with pytest.raises(DataError, match="sha256"):
        data.list_tts(tmp_path, verify=True)
    (folder / "manifest.json").write_text("{")
    with pytest.raises(DataError, match="corrupt"):
        data.list_tts(tmp_path)
    with pytest.raises(DataError, match="make_tts_digits"):
        data.list_tts(tmp_path / "elsewhere")


def test_tts_voices_are_all_flite_and_festival():
    assert {v.engine for v in tts.VOICES} == {"flite", "festival"}
    assert not any("espeak" in v.name for v in tts.VOICES)  # espeak-ng voices are the tests' unheard speakers
    assert all(data.TTS_NAME.match(f"0_{v.id}_{tts.variant_name(r, p)}.wav") for v in tts.VOICES for r, p in tts.variants(v))
    assert len({v.id for v in tts.VOICES}) == len(tts.VOICES)


@pytest.mark.skipif(tts.missing_tools() != [], reason="flite and festival not installed (scripts/make_tts_digits.sh --install)")
def test_tts_digits_are_made_with_a_manifest(tmp_path):
    voices = tuple(v for v in tts.VOICES if v.id in ("flite-kal", "fest-ked"))
    m = tts.make(tmp_path, voices)
    per_voice = len(tts.RATES) * len(tts.PITCHES) * 10
    assert len(m["clips"]) == 2 * per_voice and m["duplicates_skipped"] == 0
    clips = data.list_tts(folder=tmp_path, verify=True)
    y = A.load_audio(clips[0].path)
    assert 0.2 < len(y) / SR < 2.0 and np.abs(y).max() > 0.05
    slow = [c for c in m["clips"] if c["voice"] == "flite-kal" and c["digit"] == 7]
    dur = {(c["rate"], c["pitch"]): c["seconds"] for c in slow}
    assert dur[(0.8, 1.0)] > dur[(1.0, 1.0)] > dur[(1.25, 1.0)]  # the rate setting is honoured


def test_tts_set_marks_its_speakers_and_holds_whole_speakers_out(tmp_path):
    folder = tmp_path / data.TTS_FOLDER
    write_tts_folder(folder, {"flite-kal": "kal", "flite-awb": "awb", "fest-ked": "ked"}, np.random.default_rng(1))
    t = sets.tts_set(folder, 0, True, np.random.default_rng(0))
    assert len(t.y) == 30 and set(t.speakers) == {"tts:kal", "tts:awb", "tts:ked"}
    cfg = train.Config(tts_val_speakers=("awb", "ked"))
    rest, val = sets.held_out_speaker(t, TA.held_out_speakers(cfg, "theo"))
    assert set(rest.speakers) == {"tts:kal"} and set(val.speakers) == {"tts:awb", "tts:ked"}


@pytest.mark.slow
@pytest.mark.parametrize("outliers", [0.0, 0.5])
def test_tiny_audio_training_with_tts_and_the_voices_recipe(fixture_data, tmp_path, outliers):
    tts_dir = tmp_path / "tts"
    write_tts_folder(tts_dir, {"flite-kal": "kal", "flite-awb": "awb", "fest-ked": "ked"}, np.random.default_rng(2), words=2)
    cfg = train.Config(
        data_dir=str(fixture_data),
        verify=False,
        limit=800,
        audio_epochs=3,
        audio_copies=2,
        tts=True,
        audio_aug="voices",
        audio_norm="cmvn",
        tts_dir=str(tts_dir),
        audio_channels=(8, 16, 32),
        audio_outliers=outliers,
        test_metrics=False,
        out=str(tmp_path / "ck"),
        stages=("audio",),
    )
    card = train.main(cfg)
    h = card["history"]["audio"]
    assert h["held_out_speakers"] == ["theo", "tts:awb", "tts:ked"]
    assert set(h["val_acc_by_speaker"]) == {"theo", "tts:awb", "tts:ked"}
    assert h["clips"]["tts"] > 0 and len(h["refit"]) == h["best_epoch"]
    assert card["config"]["audio_outliers"] == outliers
    # with outlier exposure: a quarter as many generated non-digits, half of them kal's words (awb, ked held out)
    assert h["clips"]["outliers"] == (round(TA.OUTLIER_SHARE * h["clips"]["train"]) if outliers else 0)
    assert "tts_digits/manifest.json" in card["training_files_sha256"]
    # a later run that keeps this encoder (here: only the stroke branch) keeps what it learned from in the card
    keep = {**cfg.__dict__, "stages": ("strokes",), "stroke_epochs": 1, "tts": False, "tts_dir": None}
    later = train.main(train.Config(**keep))
    assert later["config"]["tts"] and later["config"]["audio_outliers"] == outliers
    assert later["splits"]["tts"] == card["splits"]["tts"] != "not used"
    assert later["training_files_sha256"]["tts_digits/manifest.json"] == card["training_files_sha256"]["tts_digits/manifest.json"]
    model, _ = checkpoint.load(tmp_path / "ck")
    assert model.dims.audio_norm == "cmvn" and model.dims.audio_channels == (8, 16, 32)
    with pytest.raises(DataError, match="tts-dir"):
        train.main(train.Config(**{**cfg.__dict__, "tts_dir": str(tmp_path / "none"), "out": str(tmp_path / "ck2")}))


def test_non_digit_words_are_read_from_their_manifest_and_become_negatives(tmp_path):
    words = tmp_path / "words"
    words.mkdir()
    rng = np.random.default_rng(3)
    clips = []
    for k, (word, speaker) in enumerate((("hello", "kal"), ("stop", "awb"))):
        name = f"{k}_flite-{speaker}_r100p100.wav"
        sf.write(words / name, (0.3 * np.sin(np.arange(6000) * 0.05 * (k + 1))).astype(np.float32), 8000)
        clips.append({"file": name, "word": word, "voice": f"flite-{speaker}", "speaker": speaker, "sha256": ""})
    (words / "manifest.json").write_text(json.dumps({"words": ["hello", "stop"], "clips": clips}))
    listed = data.list_tts_words(tmp_path)
    assert [(p.name, w, s) for p, w, s in listed] == [(c["file"], c["word"], c["speaker"]) for c in clips]
    assert data.list_tts_words(tmp_path / "nowhere") == []
    waves = [sf.read(p, dtype="float32")[0] for p, _, _ in listed]
    y = negatives.negative_audio(negatives.WORD_KIND, rng, words=waves)
    assert len(y) == 6000 and 0.05 < np.abs(y).max() <= 0.9
    with pytest.raises(ValueError, match="non-digit words"):
        negatives.negative_audio(negatives.WORD_KIND, rng)


def test_recipe_comparison_never_trains_on_the_voices_it_scores(fixture_data, tmp_path, monkeypatch):
    # scripts/compare_audio_recipes.py: the held-out voices (an FSDD speaker, a TTS speaker) are scored, never trained
    # on, and a recipe without "tts" trains on FSDD alone; the epochs are chosen on theo (+ TTS awb)
    from scripts import compare_audio_recipes as C

    folder = tmp_path / "tts_digits"
    write_tts_folder(folder, {"flite-awb": "awb", "flite-kal": "kal", "flite-slt": "slt"}, np.random.default_rng(0))
    seen = []

    def spy(model, audio, cfg, rng, gen, val_speaker):
        seen.append((set(np.unique(audio.speakers.astype(str))), cfg.tts_val_speakers, val_speaker, cfg.audio_aug))
        return {"best_epoch": 1, "val_acc_by_speaker": {val_speaker: 0.5}}

    monkeypatch.setattr(C, "train_audio", spy)
    base = Config(data_dir=str(fixture_data), tts_dir=str(folder), verify=False, threads=1)
    held = ("jackson", "tts:slt")
    with_tts = C.run_recipe("light+tts", held, base)
    fsdd_only = C.run_recipe("light", held, base)
    assert seen[0][0] == set(data.FSDD_SPEAKERS) - {"jackson"} | {"tts:awb", "tts:kal"}
    assert seen[0][1:] == (("awb",), "theo", "light")  # each recipe is what its name says, whatever the defaults
    assert seen[1][0] == set(data.FSDD_SPEAKERS) - {"jackson"} and seen[1][1] == () and seen[1][3] == "light"
    for r in (with_tts, fsdd_only):
        assert set(held) <= set(r) and all(0.0 <= r[s] <= 1.0 for s in held)
    with pytest.raises(SystemExit):
        C.main(["--tts-dir", str(folder), "--held-out", "theo,jackson"])  # a selection speaker cannot be scored


# ---------------------------------------------------------------- outlier exposure


def test_outlier_rows_are_trained_towards_the_uniform_answer():
    from core.train_branch import branch_loss

    logits = torch.randn(6, 10, requires_grad=True)
    y = torch.tensor([3, 1, -1, 7, -1, 0])
    digits = y >= 0
    plain = torch.nn.functional.cross_entropy(logits, y.clamp(min=0), label_smoothing=0.1)
    assert torch.equal(branch_loss(logits, y.clamp(min=0), 0.1, 0.5), plain)  # no non-digit: exactly the old loss
    got = branch_loss(logits, y, 0.1, 0.5)
    ce = torch.nn.functional.cross_entropy(logits[digits], y[digits], label_smoothing=0.1, reduction="sum")
    uniform = -torch.log_softmax(logits[~digits], 1).mean(1).sum()
    assert torch.allclose(got, (ce + 0.5 * uniform) / 6)
    # its gradient flattens a non-digit's answer: uniform logits are where the outlier term is least
    flat = torch.zeros(2, 10, requires_grad=True)
    branch_loss(flat, torch.tensor([-1, -1]), 0.0, 1.0).backward()
    assert flat.grad.abs().max() < 1e-7
    assert branch_loss(torch.zeros(1, 10), torch.tensor([-1]), 0.0, 1.0) < branch_loss(
        torch.eye(10)[:1] * 5, torch.tensor([-1]), 0.0, 1.0
    )


def test_outliers_come_from_training_voices_only(waves, monkeypatch):
    x, y = sets.pair(np.stack([A.log_mel(w) for w in waves]), [c.digit for c in samples.fsdd()])
    speakers = np.array([c.speaker for c in samples.fsdd()])
    audio = sets.AudioSet(x, y, waves, speakers)
    off = TA.with_outliers(audio, Config(), np.random.default_rng(0), ("theo",))
    assert off is audio  # the default recipe: nothing added
    held = ("theo",)
    out = TA.with_outliers(audio, Config(audio_outliers=0.5, tts=False), np.random.default_rng(0), held)
    n = len(y)
    added = out.y[n:]
    assert len(added) == round(TA.OUTLIER_SHARE * n) and (added == TA.OUTLIER_LABEL).all()
    kinds = {s.removeprefix(TA.OUTLIER_PREFIX) for s in out.speakers[n:]}
    assert kinds <= set(negatives.AUDIO_KINDS) and len(kinds) == min(len(added), len(negatives.AUDIO_KINDS))  # no words
    pools = []
    real = negatives.negative_audio
    spy = lambda k, rng, speech, words: pools.append(speech) or real(k, rng, speech, words)  # noqa: E731
    monkeypatch.setattr(negatives, "negative_audio", spy)
    TA.with_outliers(audio, Config(audio_outliers=0.5, tts=False), np.random.default_rng(0), held)
    theo = {w.tobytes() for w, s in zip(waves, speakers) if s in held}
    assert theo and pools and all(len(p) == n - len(theo) for p in pools)
    assert not any(w.tobytes() in theo for p in pools for w in p)  # a held-out voice is never made a non-digit
    assert TA.without_outliers(out).y.tolist() == y.tolist()
    rest, val = sets.held_out_speaker(out, held)
    assert (val.y >= 0).all() and (rest.y < 0).sum() == len(added)  # validation reads digits only


def test_outlier_words_come_from_the_tts_voices_not_held_out(waves, tmp_path):
    folder = tmp_path / "tts"
    write_tts_folder(folder, {"flite-kal": "kal", "flite-awb": "awb", "fest-ked": "ked"}, np.random.default_rng(4), words=3)
    cfg = Config(audio_outliers=0.5, tts=True, tts_dir=str(folder))
    held = ("theo", "tts:awb", "tts:ked")
    words = TA.training_words(cfg, held)
    kal = [A.trim(A.load_audio(folder / "words" / f"{w}_flite-kal_r100p100.wav")) for w in range(3)]
    assert len(words) == 3 and all(np.array_equal(a, b) for a, b in zip(words, kal))  # kal's only: awb, ked held out
    x, y = sets.pair(np.stack([A.log_mel(w) for w in waves]), [c.digit for c in samples.fsdd()])
    audio = sets.AudioSet(x, y, waves, np.array([c.speaker for c in samples.fsdd()]))
    out = TA.with_outliers(audio, cfg, np.random.default_rng(0), held)
    kinds = [s.removeprefix(TA.OUTLIER_PREFIX) for s in out.speakers[len(y) :]]
    n = round(TA.OUTLIER_SHARE * len(y))
    assert len(kinds) == n and kinds.count(negatives.WORD_KIND) == round(TA.WORD_SHARE * n)


@pytest.mark.parametrize("weight", ["-1", "nan", "inf"])
def test_a_negative_or_unbounded_outlier_weight_is_refused_before_any_work(weight, monkeypatch):
    monkeypatch.setattr(train, "main", lambda cfg: pytest.fail("training started"))
    monkeypatch.setattr("sys.argv", ["core.train", "--audio-outliers", weight])
    with pytest.raises(SystemExit, match="--audio-outliers"):
        train.cli()
