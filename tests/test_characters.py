"""The characters model (issue #11): checkpoint, class views, answers, refusals, CLI; the digits model unchanged."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core import DataError, InputError, Recognizer, data, negatives, sets
from core import strokes as S
from core.classes import CHARACTERS, DIGITS, LOWER, UPPER
from tests import samples
from tests.conftest import REPO, need

VIEW_SIZES = {None: 62, "digits": 10, "letters": 26, "upper": 26, "lower": 26}
L_SHAPE = [[(100, 40), (100, 230), (200, 230)]]  # canvas pixels, y down
N_REAL = 52  # held-out characters read per real-data test
MIN_LETTERS_RIGHT = 0.7  # of them read right, letters view (case merged); the benchmark measures the full test writers


@pytest.fixture(scope="module")
def chars() -> Recognizer:
    return Recognizer.load(model="characters")


def test_checkpoint_loads_through_the_checked_code(chars, tmp_path):
    assert chars.classes == CHARACTERS and chars.modalities == ("image", "strokes")
    assert chars.card["checkpoint"]["file"] == "characters.pt" and chars.card["classes"] == CHARACTERS
    assert (REPO / "checkpoints" / "characters.pt").stat().st_size <= 10e6
    for name in ("characters.pt", "characters.json"):
        shutil.copy(REPO / "checkpoints" / name, tmp_path / name)
    blob = bytearray((tmp_path / "characters.pt").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (tmp_path / "characters.pt").write_bytes(bytes(blob))
    with pytest.raises(DataError, match="sha256"):
        Recognizer.load(tmp_path, model="characters")
    with pytest.raises(DataError, match="unknown model"):
        Recognizer.load(model="letters")


def test_views_text_label_and_honest_probabilities(chars):
    answers = {v: chars.predict(strokes=L_SHAPE, classes=v) for v in VIEW_SIZES}
    for v, p in answers.items():
        assert p.probs.shape == (VIEW_SIZES[v],) and len(p.names) == VIEW_SIZES[v]
        assert p.text == p.names[int(p.probs.argmax())] and p.label == chars.classes.index(p.text)
        assert p.confidence == pytest.approx(p.probs.max() * p.is_digit)
        assert set(p.by_modality) == {"strokes"} and p.by_modality["strokes"].shape == (VIEW_SIZES[v],)
    assert answers["letters"].text in UPPER and answers["upper"].text in UPPER and answers["lower"].text in LOWER
    assert answers["digits"].text in DIGITS
    # not renormalized: a view holds the model's own mass inside it, so digits + letters is everything
    assert answers["digits"].probs.sum() + answers["letters"].probs.sum() == pytest.approx(1.0)
    assert answers["upper"].probs.sum() + answers["lower"].probs.sum() == pytest.approx(answers["letters"].probs.sum())
    letter = answers["letters"].text
    full = answers[None].probs
    assert answers["letters"].probs[UPPER.index(letter)] == pytest.approx(
        full[CHARACTERS.index(letter)] + full[CHARACTERS.index(letter.lower())]
    )
    batch = chars.predict_batch(strokes=[L_SHAPE, L_SHAPE], classes="letters")
    assert [p.text for p in batch] == [letter, letter]


def test_refusals_say_what_to_do(chars, recognizer):
    with pytest.raises(InputError, match="not speech"):
        chars.predict(audio=samples.fsdd()[0].path)
    with pytest.raises(InputError, match="unknown classes view"):
        chars.predict(strokes=L_SHAPE, classes="greek")
    with pytest.raises(InputError, match="needs classes this model lacks"):
        recognizer.predict(strokes=L_SHAPE, classes="letters")
    with pytest.raises(InputError, match="digits model"):
        chars.adapt(strokes=[L_SHAPE], labels=[1])
    with pytest.raises(InputError, match="digits model"):
        chars.read(np.zeros((40, 40), np.uint8))
    with pytest.raises(InputError, match="digits model"):  # it answered class indices as text: "A" read "10"
        chars.read_strokes([L_SHAPE[0], [[x + 300, y] for x, y in L_SHAPE[0]]])


def test_digits_model_is_unchanged(recognizer):
    assert recognizer.classes == DIGITS and recognizer.model_name == "digits"
    xi, _ = samples.mnist()
    for p in recognizer.predict_batch(images=list(xi[:20])):
        assert p.text == str(p.label) and p.probs.shape == (10,)
    p = recognizer.predict(image=xi[0], classes="digits")
    assert p.text == str(p.label) and p.label == recognizer.predict(image=xi[0]).label


def held_out_letters(root, rng) -> tuple[np.ndarray, np.ndarray]:
    """N_REAL raw FEMNIST letters of test writers (writer_split bucket 1), at least some ink each."""
    f = data.load_femnist(root)
    idx = sets.writer_split(f.writers, "test")
    idx = idx[f.labels[idx] >= 10]
    _, kept = sets.femnist_images(f.images[idx])
    pick = rng.choice(idx[kept], N_REAL, replace=False)
    return f.images[pick], f.labels[pick]


def test_reads_femnist_letters_of_held_out_writers(chars):
    images, labels = held_out_letters(need("femnist"), np.random.default_rng(11))
    answers = chars.predict_batch(images=list(images), classes="letters")
    right = sum(p.text == CHARACTERS[y].upper() for p, y in zip(answers, labels))
    assert right >= MIN_LETTERS_RIGHT * N_REAL, f"{right}/{N_REAL}"


def test_reads_unipen_letter_trajectories_of_held_out_writers(chars):
    u = data.load_unipen_letters(need("unipen_letters"))
    idx = np.random.default_rng(12).choice(sets.writer_split(u.segfile, "test"), N_REAL, replace=False)
    strokes = [sets.to_canvas(S.unipen_strokes(u.sample(i))) for i in idx]  # the canvas path: pixels, y down
    answers = chars.predict_batch(strokes=strokes, classes="letters")
    right = sum(p.text == CHARACTERS[u.labels[i]].upper() for p, i in zip(answers, idx))
    assert right >= MIN_LETTERS_RIGHT * N_REAL, f"{right}/{N_REAL}"


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.predict", *map(str, args)], cwd=REPO, capture_output=True, text=True)


def test_cli_reads_letters(tmp_path):
    img = np.full((120, 120), 255, np.uint8)
    img[20:100, 30:40] = 0
    img[90:100, 30:90] = 0  # a black "L" on white paper
    Image.fromarray(img).save(tmp_path / "l.png")
    r = cli("--model", "characters", "--classes", "letters", tmp_path / "l.png")
    assert r.returncode == 0, r.stderr
    name, modality, label = r.stdout.strip().split("\t")[:3]
    assert modality == "image" and (label in UPPER or label == "not-sure")
    r = cli("--model", "characters", samples.fsdd()[0].path)
    assert r.returncode == 2 and "not speech" in r.stderr
    r = cli(tmp_path / "l.png")  # the default is still the digits model
    assert r.returncode == 0 and r.stdout.split("\t")[2] in DIGITS + ["not-sure"]


def test_cli_reads_a_held_out_femnist_letter(tmp_path):
    images, labels = held_out_letters(need("femnist"), np.random.default_rng(13))
    for k, im in enumerate(images[:8]):
        Image.fromarray(im).save(tmp_path / f"{k}.png")
    r = cli("--model", "characters", "--classes", "letters", "--threshold", "0", *sorted(tmp_path.glob("*.png")))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    right = sum(ln.split("\t")[2] == CHARACTERS[y].upper() for ln, y in zip(lines, labels[:8]))
    assert right >= 5, r.stdout


@pytest.mark.slow
def test_tiny_characters_training_writes_a_loadable_checkpoint(fixture_data, tmp_path):
    from dataclasses import replace

    from core import train_characters
    from core.config import Config

    cfg = replace(
        Config(), **{**train_characters.DEFAULTS, "image_epochs": 1, "stroke_epochs": 1, "fusion_epochs": 1},
        data_dir=str(fixture_data), verify=False, limit=300, out=str(tmp_path),
    )  # fmt: skip
    card = train_characters.main(cfg)
    assert card["classes"] == CHARACTERS and card["checkpoint"]["file"] == "characters.pt"
    r = Recognizer.load(tmp_path, model="characters")
    assert r.classes == CHARACTERS and r.predict(strokes=L_SHAPE, classes="lower").text in LOWER
    assert not (tmp_path / "digits.pt").exists()


@pytest.mark.slow
def test_benchmark_reports_honest_confidence():
    """scripts/benchmark_characters.py on a few test writers: a sure answer is right far more often than an
    answer at all, and most generated non-characters are not sure (each row is measured, none fixed)."""
    root = need("femnist", "unipen_letters")
    sys.path.insert(0, str(REPO))
    from scripts import benchmark_characters as B

    text = B.main(["--data-dir", str(root), "--limit", "150", "--no-peers"])
    section = text.split("## Honest confidence")[1].split("## The usual confusions")[0]
    femnist = next(line for line in section.splitlines() if line.startswith("| FEMNIST pictures"))
    sure, sure_right, right = (float(c.strip().rstrip("%")) for c in femnist.split("|")[2:5])
    assert 20 < sure < 100 and sure_right > right + 3
    negative_rows = section.split("| no character at all")[1].splitlines()[2:]
    unsure = [float(line.split("|")[2].strip().rstrip("%")) for line in negative_rows if line.startswith("|")]
    assert len(unsure) == len(negatives.IMAGE_KINDS) + len(negatives.STROKE_KINDS) and np.mean(unsure) > 70
