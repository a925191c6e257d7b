"""The serving API: `Recognizer.load()` once, then `.predict(...)` from any thread.

from core import Recognizer
r = Recognizer.load()
p = r.predict(image=Path("seven.png"), strokes=[[(10, 20), (30, 40)]], audio=Path("seven.wav"))
p.label, p.confidence, p.probs, p.by_modality
me = r.adapt(audios=[Path("3_a.wav"), ...], labels=[3, ...])   # teach mode (core/adapt.py): a new recognizer
me.save_profile("me.pt"); Recognizer.load(profile="me.pt")
c = Recognizer.load(model="characters")                # 62 classes (digits, A-Z, a-z): images and pen strokes
c.predict(strokes=..., classes="letters").text        # "A": a view of the classes (core/classes.py)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core import audio as A
from core import checkpoint, line_model, photo, reading, sphinx, voice
from core import classes as C
from core import image as I
from core import profile as profiles
from core import strokes as S
from core.errors import DataError, InputError
from core.model import MODALITIES, DigitNet, fold_batchnorm, fusion_inputs
from core.photo import read_lines  # noqa: F401 - where tests and older callers find it

log = logging.getLogger(__name__)
MAX_BATCH = 10_000  # items per predict_batch call: bounds one call's memory (10k images are ~30 MB)


@dataclass
class Prediction:
    label: int  # the answer's index in the recognizer's classes (0-9 for the digits model)
    confidence: float  # probability that the input is the digit `label`: calibrated, times `is_digit`
    probs: np.ndarray  # (10,) calibrated probabilities of each digit, given that it is a digit; sum to 1 (a view: see `names`)
    by_modality: dict[str, np.ndarray]  # each given modality's own calibrated probabilities, same view
    seen: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # what each branch saw
    sure: bool = True  # confidence >= the recognizer's threshold
    is_digit: float = 1.0  # how much every input looks like a digit of its modality at all (out-of-distribution check)
    text: str = ""  # the answer's class name: "7", "A", "g" (for the digits model str(label))
    names: list[str] = field(default_factory=list, repr=False)  # class names of `probs`' entries (the view asked for)

    def __post_init__(self):
        self.text = self.text or str(self.label)  # made by hand (tests) or by the digits model: the digit itself

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        order = np.argsort(-self.probs)[:k]
        return [(int(i), float(self.probs[i])) for i in order]


def preprocess(modality: str, value, sample_rate: int | None = None, waves: list | None = None) -> np.ndarray:
    """One raw input -> the array its encoder takes: (28, 28) uint8 image, (800,) float32 stroke
    vector (see strokes.strokes_to_input) or (40, 48) float32 log-mel. `waves`: a list that an audio
    input's trimmed 8 kHz waveform is appended to (for the PocketSphinx expert).

    The error contract lives here: whatever goes wrong reading a stranger's input comes out as
    InputError (unexpected failures are logged with their traceback first)."""
    try:
        if modality == "image":
            return I.to_mnist(value)
        if modality == "strokes":
            return S.strokes_to_input(value, y_down=True)
        if modality == "audio":
            wave = A.trim(A.load_audio(value, sample_rate))
            if waves is not None:
                waves.append(wave)
            return A.log_mel(wave)
    except (InputError, DataError):
        raise
    except RecursionError:
        raise InputError(f"the {modality} input is nested too deeply to read") from None
    except MemoryError:
        raise InputError(f"the {modality} input is too large to read") from None
    except Exception as e:  # noqa: BLE001 - a decoder's own exception types must not reach the caller
        log.warning("unexpected %s reading a %s input", type(e).__name__, modality, exc_info=True)
        raise InputError(f"the {modality} input cannot be read ({type(e).__name__}); see README for accepted inputs") from None
    raise InputError(f"unknown modality {modality!r}; expected one of {MODALITIES}")


def to_tensor(modality: str, arrays: Sequence[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(arrays))
    return x.float() / 255.0 if modality == "image" else x.float()


def preprocess_batch(
    images,
    strokes,
    audios,
    sample_rate: int | None,
    limit: int,
    what: str,
    name_items: bool = False,
    waves: dict[int, np.ndarray] | None = None,
) -> tuple[dict[str, list], int]:
    """Lists per modality (None entries where an item lacks one) -> ({modality: [array or None]}, n),
    every list checked (a list, equal lengths, at most `limit` items, an input per item) before the
    items are read. `name_items`: an unreadable item's message starts with "item k (modality): ".
    `waves`: a dict that gets {item: trimmed 8 kHz waveform} for the audio items."""
    given = {m: v for m, v in zip(MODALITIES, (images, strokes, audios)) if v is not None}
    if not given:
        raise InputError("nothing to recognize: give an image, strokes or audio")
    for m, v in given.items():
        if not isinstance(v, (list, tuple)):
            raise InputError(f"{what} takes a list per modality; got {type(v).__name__} for {m}")
    sizes = {len(v) for v in given.values()}
    if len(sizes) != 1:
        raise InputError(f"{what}: lists differ in length {sorted(sizes)}; expected one entry per item")
    n = sizes.pop()
    if n > limit:
        raise InputError(f"{what} got {n} items; at most {limit} per call")
    if any(all(given[m][k] is None for m in given) for k in range(n)):
        raise InputError("an item has no input at all: give an image, strokes or audio for each")
    seen = {m: [] for m in given}
    for m, v in given.items():
        for k, x in enumerate(v):
            try:
                kept: list = []
                seen[m].append(None if x is None else preprocess(m, x, sample_rate, kept if waves is not None else None))
                if kept:
                    waves[k] = kept[0]
            except InputError as e:
                if not name_items:
                    raise
                raise InputError(f"item {k} ({m}): {e}") from None
    return seen, n


def encode(model: DigitNet, seen: dict[str, list], n: int) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Preprocessed items -> {modality: (rows (k,), embeddings (k, embed), base logits (k, classes))}
    for the k items that have it: each branch runs once, on its items only."""
    parts = {}
    with torch.inference_mode():
        for m in MODALITIES:
            rows = [k for k in range(n) if m in seen and seen[m][k] is not None]
            if rows:
                e = model.encode(m, to_tensor(m, [seen[m][k] for k in rows]))
                parts[m] = (torch.tensor(rows), e, model.heads[m](e))
    return parts


def load_expert(folder: Path, card: dict) -> np.ndarray | None:
    """The PocketSphinx expert's weights beside digits.pt, where they fit this checkpoint and pocketsphinx is installed."""
    path = folder / sphinx.FILE
    if not path.is_file():
        return None
    if not sphinx.available():
        log.info("%s is there but pocketsphinx is not installed: the audio CNN answers alone", path)
        return None
    sha = (card.get("checkpoint") or {}).get("sha256") if isinstance(card, dict) else None
    w = sphinx.read_weights(path, sha)
    if w is None:
        log.warning("%s was not fitted for this digits.pt (or is damaged): the audio CNN answers alone", path)
    return w


def check_threshold(threshold: float) -> float:
    number = isinstance(threshold, (int, float, np.integer, np.floating)) and not isinstance(threshold, (bool, np.bool_))
    if not number or not 0.0 <= threshold <= 1.0:  # numpy scalars count (np.float32(0.5) was refused)
        raise InputError(f"threshold {threshold!r} is not valid; expected a number from 0 to 1")
    return float(threshold)


class Recognizer:
    """A loaded checkpoint, optionally adapted to one user (a profile). Inference holds no state
    between calls, so one instance serves many threads; adapting returns a new instance."""

    def __init__(
        self,
        model: DigitNet,
        card: dict,
        threshold: float | None = None,
        profile: profiles.Profile | None = None,
        reader: line_model.LineNet | None = None,
        expert: np.ndarray | None = None,
    ):
        self.model = model.eval()
        self.card = card
        default = float(self.model.calibration.threshold)
        self.threshold = default if threshold is None else check_threshold(threshold)
        self.profile = profile
        self.reader = None if reader is None else reader.eval()  # the line reader; None: `read` segments components
        self.expert = expert  # (2,) PocketSphinx evidence weights (core/sphinx.py); None: the audio CNN alone
        n = self.model.dims.n_classes
        default = C.DIGITS if n == len(C.DIGITS) else C.CHARACTERS if n == len(C.CHARACTERS) else [str(i) for i in range(n)]
        self.classes: list[str] = list(card.get("classes", default)) if isinstance(card, dict) else default
        self.modalities: tuple[str, ...] = tuple(card.get("modalities", MODALITIES)) if isinstance(card, dict) else MODALITIES
        self.model_name = "digits" if self.classes == C.DIGITS else "characters"

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        threshold: float | None = None,
        profile: str | Path | None = None,
        reader: str | Path | None = None,
        audio_expert: bool = True,
        model: str = "digits",
    ) -> Recognizer:
        """checkpoints/ by default; or a directory or digits.pt path. Verifies sha256, the model card and
        the version. `threshold`: answers below this confidence are "not sure" (default: the one chosen
        on validation data at training time, `model.calibration.threshold`). `profile`: a file written by
        `save_profile` (or `python -m core.adapt`) for this checkpoint. `reader`: the line reader's
        weights (default: reader.pt beside digits.pt where it exists; without one, `read` falls back to
        the component reader). `audio_expert`: weigh PocketSphinx's reading of speech in (sphinx.json beside
        digits.pt, fitted for it by `python -m core.fit_sphinx`; skipped where either is missing).
        `model`: "digits" (digits.pt, the default) or "characters" (characters.pt: 62 classes, images and
        strokes; no profiles, no line reader, no speech)."""
        name = model
        model, card = checkpoint.load(path, name=name)
        model = fold_batchnorm(model)  # the same answers, a little sooner: serving never trains these weights
        if name != "digits":
            if profile is not None or reader is not None:
                raise InputError(f"profiles and the line reader are for the digits model, not {name!r}")
            return cls(model, card, threshold)
        folder = Path(path) if path else checkpoint.DEFAULT_DIR
        folder = folder.parent if folder.is_file() else folder
        if reader is None:
            reader = folder / line_model.READER_WEIGHTS if (folder / line_model.READER_WEIGHTS).is_file() else None
        net = None if reader is None else line_model.load(reader)[0]
        expert = load_expert(folder, card) if audio_expert else None
        r = cls(model, card, threshold, reader=net, expert=expert)
        return r if profile is None else r.load_profile(profile)

    @property
    def base_sha256(self) -> str | None:
        """The checkpoint's sha256 from its card: what a profile is tied to (None for an unsaved model)."""
        ck = self.card.get("checkpoint") if isinstance(self.card, dict) else None
        sha = ck.get("sha256") if isinstance(ck, dict) else None
        return sha if isinstance(sha, str) else None

    def with_profile(self, profile: profiles.Profile | None) -> Recognizer:
        """The same model and threshold with another profile (None: the base model). Shares the weights."""
        return Recognizer(self.model, self.card, self.threshold, profile, self.reader, self.expert)

    def with_expert(self, weights: np.ndarray | None) -> Recognizer:
        """The same model, threshold and profile with other PocketSphinx weights (None: the audio CNN alone)."""
        return Recognizer(self.model, self.card, self.threshold, self.profile, self.reader, weights)

    def adapt(self, images=None, strokes=None, audios=None, labels=None, sample_rate: int | None = None) -> Recognizer:
        """A new recognizer adapted to a few labelled examples of one user (1-5 per digit is plenty).

        images / strokes / audios: lists aligned with `labels` (ints 0-9), as for `predict_batch`;
        an entry may be None where an example lacks that modality. Examples pass through the same
        preprocessing and bounds as `predict`. This recognizer is unchanged; adapting an adapted one
        adds to what it learned. See core/adapt.py for what is fitted and why."""
        from core import adapt

        self.digits_only("teach mode (adapt)")
        return adapt.adapt(self, images=images, strokes=strokes, audios=audios, labels=labels, sample_rate=sample_rate)

    def save_profile(self, path: str | Path) -> int:
        """Write what `adapt` learned to `path` (about 20 KB); returns the file's size in bytes."""
        if self.profile is None:
            raise InputError("this recognizer is not adapted: call adapt(...) first, then save its profile")
        return profiles.save(self.profile, path)

    def load_profile(self, path: str | Path) -> Recognizer:
        """A new recognizer with the profile in `path`, which must have been made for this checkpoint."""
        self.digits_only("profiles")
        sha = self.base_sha256
        if sha is None:
            raise DataError("this recognizer's checkpoint has no sha256 in its card, so no profile can be tied to it")
        d = self.model.dims
        return self.with_profile(profiles.load(path, sha, d.embed, d.n_classes))

    def digits_only(self, what: str) -> None:
        """Teach mode, profiles and photos of numbers exist for the digits model only: say so plainly."""
        if self.model_name != "digits":
            raise InputError(f"{what} is for the digits model; this is the {self.model_name} model (Recognizer.load())")

    def predict(
        self, image=None, strokes=None, audio=None, sample_rate: int | None = None, classes: str | None = None
    ) -> Prediction:
        """Any non-empty subset of image (array, PIL image or pathlib.Path), strokes (list of strokes in
        canvas pixels, y down, or their JSON text) and audio (1-D array with `sample_rate`, or a
        pathlib.Path) -> Prediction. A plain str is never opened as a file. `classes`: the view answered
        (core/classes.py): None (all of `self.classes`), "digits", "letters" (26, case merged, upper case
        names), "upper", "lower"; probabilities are the model's, not renormalized within the view."""
        return self.predict_batch(
            images=None if image is None else [image],
            strokes=None if strokes is None else [strokes],
            audios=None if audio is None else [audio],
            sample_rate=sample_rate,
            classes=classes,
        )[0]

    def predict_batch(
        self, images=None, strokes=None, audios=None, sample_rate: int | None = None, classes: str | None = None
    ) -> list[Prediction]:
        """Lists of equal length; an item may be None where that modality is missing for it.
        Every item needs at least one input. `classes`: as for `predict`."""
        self.check_request(audios is not None, classes)
        templates = self.profile.voice if self.profile is not None else None
        want = audios is not None and (self.expert is not None or templates is not None)
        waves: dict[int, np.ndarray] | None = {} if want else None
        seen, n = preprocess_batch(images, strokes, audios, sample_rate, MAX_BATCH, "predict_batch", waves=waves)
        evidence = {k: sphinx.evidence(w, A.SAMPLE_RATE) for k, w in (waves or {}).items()} if self.expert is not None else None
        voices = {k: voice.cepstra(w) for k, w in (waves or {}).items()} if templates is not None else None
        return self.answer(seen, encode(self.model, seen, n), n, classes, evidence, voices)

    def check_request(self, audio: bool, classes: str | None) -> None:
        """Refuse, before any input is read, a view this model lacks and audio for a model without speech."""
        if audio and "audio" not in self.modalities:
            raise InputError(
                f"the {self.model_name} model reads images and pen strokes, not speech (spoken letters are not in "
                "scope); give image= or strokes=, or use Recognizer.load() (digits) for audio"
            )
        C.view(np.zeros(len(self.classes)), self.classes, classes)  # an unknown or missing view raises InputError

    def answer(
        self,
        seen: dict[str, list],
        parts: dict,
        n: int,
        classes: str | None = None,
        evidence: dict[int, np.ndarray] | None = None,
        voices: dict[int, np.ndarray] | None = None,
    ) -> list[Prediction]:
        """Preprocessed items (`preprocess_batch`) and their branch outputs (`encode`) -> Predictions:
        the PocketSphinx expert's evidence ({item: (2, 10)}, core/sphinx.py), the profile's corrections
        and its voice templates' distances to the items' cepstra ({item: (N_CEPS, t)}, core/voice.py)
        added to the branch logits, the out-of-distribution check, fusion and calibration, then the view
        `classes` (core/classes.view: not renormalized, so confidence stays calibrated)."""
        cal = self.model.calibration
        temps = cal.log_temp.exp()
        is_digit, adapted = torch.ones(n), {}
        with torch.inference_mode():
            for i, m in enumerate(MODALITIES):
                if m not in parts:
                    continue
                rows, e, lg = parts[m]
                # the check reads the base logits: adapting never makes a non-digit look more like a digit to it
                is_digit[rows] = torch.minimum(is_digit[rows], cal.in_distribution(i, e, lg))
                if m == "audio" and evidence and self.expert is not None:
                    lg = sphinx.add_evidence(lg, rows, evidence, self.expert, temps[i])
                if self.profile is not None and m in self.profile.corrections:
                    lg = lg + temps[i] * self.profile.corrections[m](e)
                if m == "audio" and voices and self.profile is not None and self.profile.voice is not None:
                    lg = voice.add_evidence(lg, rows, voices, self.profile.voice, temps[i])
                adapted[m] = (rows, e, lg)
            embeds, logits, mask = fusion_inputs(n, adapted, self.model.dims)
            fused = self.model.fuse(embeds, logits, mask)
            single = [torch.softmax(lg / t, dim=1).numpy() for lg, t in zip(logits, temps)]
        out = []
        for k in range(n):
            present = [i for i in range(len(MODALITIES)) if mask[k, i] > 0]
            if len(present) == 1:  # one input: that branch's calibrated probability, never sharpened by fusion
                probs = single[present[0]][k].astype(np.float64)
            else:
                t = float(cal.log_temp_fused[cal.subset_index(mask[k] > 0)].exp())
                probs = torch.softmax(fused[k] / t, dim=0).numpy().astype(np.float64)
            probs /= probs.sum()
            names, probs = C.view(probs, self.classes, classes)
            best = int(probs.argmax())
            confidence = float(probs[best] * is_digit[k])
            out.append(
                Prediction(
                    label=self.classes.index(names[best]),
                    confidence=confidence,
                    probs=probs,
                    by_modality={
                        MODALITIES[i]: C.view(single[i][k].astype(np.float64), self.classes, classes)[1] for i in present
                    },
                    seen={m: seen[m][k] for m in seen if seen[m][k] is not None},
                    sure=confidence >= self.threshold,
                    is_digit=float(is_digit[k]),
                    text=names[best],
                    names=names,
                )
            )
        return out

    def classify_mnist(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(n) already-normalized (28, 28) uint8 images -> (n, 10) calibrated image-branch probabilities
        (adapted, with a profile) times the image check's in-distribution probability (so rows of
        non-digits sum to less than 1)."""
        if len(images) == 0:
            return np.zeros((0, self.model.dims.n_classes))
        cal = self.model.calibration
        with torch.inference_mode():
            e = self.model.encode("image", to_tensor("image", images))
            lg = self.model.heads["image"](e)
            z = lg / cal.log_temp[0].exp()
            if self.profile is not None and "image" in self.profile.corrections:
                z = z + self.profile.corrections["image"](e)
            probs = torch.softmax(z, dim=1) * cal.in_distribution(0, e, lg)[:, None]
            return probs.numpy().astype(np.float64)

    def read_strokes(self, strokes) -> reading.Reading:
        """A number drawn as pen strokes (canvas pixels, y down, or their JSON text; as `predict` takes them)
        -> Reading in canvas pixels: the strokes grouped into digits, each read from its strokes and its
        picture together, and the drawing read whole by the line reader (core/drawing.py). One digit reads
        as `predict(image=its picture, strokes=...)`; nothing drawn gives an empty Reading. `predict` stays
        one digit."""
        from core import drawing

        self.digits_only("reading drawn numbers")  # the line reader and the grouping read digits only
        return drawing.read_drawing(self, strokes)

    def read(self, image) -> reading.Reading:
        """A photo of handwritten digits on paper (array, PIL image or pathlib.Path) -> Reading with
        `.digits` (box, label, confidence; line by line, left to right), `.text` ("1947\n203") and
        `.lines` (each line's text, confidence and box). Read by the line reader where one is loaded
        (`read_lines`), else by the component reader (core/reading.py). A picture that decodes never
        raises: no digits gives an empty Reading."""
        self.digits_only("reading photos of numbers")
        try:
            picture, shrunk_by = I.opened(image)  # a big photo file decodes smaller: boxes go back to its pixels
            rgb = I.rgb_from_array(picture)
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 - same contract as preprocess
            log.warning("unexpected %s reading a photo", type(e).__name__, exc_info=True)
            raise InputError(f"the photo cannot be read ({type(e).__name__})") from None
        return photo.read_photo(rgb, self.reader, self.classify_mnist, self.threshold).scaled(shrunk_by)
