"""The four digit data sets (plus EMNIST) and the two letter sets (FEMNIST, UNIPEN 1b/1c), read from
their publishers' own file layouts.

Root directory: `--data-dir`, else the `DIGITS_DATA` environment variable, else `./data`.
Every loader checks what it reads and names the file and the expected checksum when a
file is missing or corrupt. Validation splits are carved from the training files only;
the test files are never used to choose anything.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.classes import CHARACTERS
from core.errors import DataError

DEFAULT_ROOT = Path("data")

# MNIST: md5 of the *uncompressed* IDX content, so the original gzip files, re-gzipped
# copies and torchvision's unpacked MNIST/raw/ files all verify the same way.
MNIST_FILES = {
    ("train", "images"): ("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb"),
    ("train", "labels"): ("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624"),
    ("test", "images"): ("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637"),
}
PENDIGITS_FILES = {
    "train": ("pendigits.tra", "e2b9eb9f0d0467e2b64a4816a3420edf2b8043447576f4b84337aba44a9f97d3"),
    "test": ("pendigits.tes", "8bd03229c5c5291fefe43e45465dd948d2645bf23328b9d993e0b777666b2015"),
}
UNIPEN_FILE = ("unipen_1a_digits_train.npz", "2de60c1907718970dad380f37a9abe829b32df102bfe0f3e49f2387546687d4c")
UNIPEN_LETTERS_FILE = ("unipen_1bc_letters_train.npz", "ac21cc0aafb828cf859bf51af5f4dbd59f1f726042fbe4068cb29ef5f6999022")
FEMNIST_FILE = ("femnist_train.npz", "ca41a96bef456d84f5a6daeadda1114b4fb93c0c64acf5391fb8387dde456d53")
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
FSDD_N_CLIPS = 3000
MAX_IDX_BYTES = 1 << 30  # an IDX file's declared data (EMNIST byclass, the largest, is about 550 MB)

# Validation and test splits, fixed before any model was trained.
MNIST_VAL = 6000  # last rows of the MNIST training file (no writer ids are published)
PENDIGITS_VAL = 1494  # last rows of pendigits.tra (about 6 of its 30 writers if rows are grouped by writer)
UNIPEN_TEST_SOURCES = ("ced", "uqb", "art")  # donor institutions never trained on nor used for choices
UNIPEN_VAL_SOURCES = ("ibm", "imp")  # donor institutions for early stopping
# The UNIPEN letters (1b/1c) are split by the same donors: a donor's writers wrote digits and letters, so a
# characters model that learns both never meets a held-out donor's hand in either file.
WRITER_BUCKETS = 10  # FEMNIST writers fall in bucket crc32(writer id) % 10 (core/sets.writer_split) ...
FEMNIST_HELD_OUT = {"val": (0,), "test": (1,)}  # ... these buckets are held out (the file has no test split)
FSDD_VAL_SPEAKER = "theo"  # whole speaker held out to choose the number of audio epochs
FSDD_TEST_INDICES = range(5)  # customary split: indices 0-4 of each speaker and digit are test


def data_root(path: str | Path | None = None) -> Path:
    """`--data-dir` if given, else $DIGITS_DATA, else ./data."""
    return Path(path or os.environ.get("DIGITS_DATA") or DEFAULT_ROOT)


def file_digest(path: Path, algo: str = "sha256", gunzip: bool = False) -> str:
    """Hex digest of a file's bytes, or of its decompressed content when `gunzip`."""
    h = hashlib.new(algo)
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check(path: Path, expected: str, algo: str = "sha256", gunzip: bool = False) -> None:
    if not path.is_file():
        raise DataError(f"missing data file {path} ({algo} {expected}); run `python -m core.download` or see README")
    try:
        got = file_digest(path, algo, gunzip)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:  # zlib.error is no OSError: a flipped byte in a .gz
        raise DataError(f"corrupt data file {path}: {e}; expected {algo} {expected}") from e
    if got != expected:
        raise DataError(f"corrupt data file {path}: {algo} is {got}, expected {expected}; delete it and download again")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip or plain) -> its array, checking the magic number and the size. The header is read
    first and the data after it only up to the size it declares (at most MAX_IDX_BYTES): a 7 MB .gz declaring
    one image then holding 1.5 GB of zeros cost +3 GB when the whole stream was read before the check."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 0x08 or not 1 <= head[3] <= 4:
                raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number {head[:4].hex()})")
            dims_raw = f.read(4 * head[3])
            dims = tuple(int.from_bytes(dims_raw[4 * i : 4 * i + 4], "big") for i in range(len(dims_raw) // 4))
            size = math.prod(dims)  # Python integers: np.prod wrapped (65536,)*4 round to 0
            if len(dims) != head[3] or size > MAX_IDX_BYTES:
                raise DataError(f"{path}: its header declares {dims}, {size:,} bytes; at most {MAX_IDX_BYTES:,} are read")
            raw = f.read(size + 1)
    except DataError:
        raise
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"corrupt IDX file {path}: {e}") from e
    if len(raw) != size:
        raise DataError(f"truncated IDX file {path}: header says {dims}, found {len(raw):,} bytes of data or more")
    return np.frombuffer(raw, dtype=np.uint8).reshape(dims)


def _find(root: Path, candidates: list[str]) -> Path:
    for c in candidates:
        if (root / c).is_file():
            return root / c
    return root / candidates[0]


def mnist_path(root: Path, split: str, kind: str) -> tuple[Path, str]:
    name, md5 = MNIST_FILES[(split, kind)]
    cands = [f"mnist/{name}.gz", f"MNIST/raw/{name}.gz", f"MNIST/raw/{name}", f"mnist/{name}"]
    return _find(root, cands), md5


def load_mnist(root: str | Path | None = None, split: str = "train", verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MNIST -> (n, 28, 28) uint8 white-on-black images, (n,) int64 labels. split: train | test."""
    if split not in ("train", "test"):
        raise ValueError(f"split {split!r}; expected 'train' or 'test'")
    root = data_root(root)
    out = []
    for kind in ("images", "labels"):
        path, md5 = mnist_path(root, split, kind)
        if verify:
            _check(path, md5, "md5", gunzip=path.suffix == ".gz")
        out.append(read_idx(path))
    images, labels = out
    if len(images) != len(labels):
        raise DataError(f"MNIST {split}: {len(images)} images but {len(labels)} labels")
    return images, labels.astype(np.int64)


def load_emnist(root: str | Path | None = None, subset: str = "digits", split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """EMNIST from the official gzip IDX files -> (n, 28, 28) uint8 upright images, (n,) labels.

    The official files store each image transposed (column-major); they are turned back here.
    Looks in <root>/emnist/gzip/ (the official zip's layout) and <root>/emnist/.
    """
    if subset not in ("digits", "letters", "mnist", "balanced", "byclass", "bymerge"):
        raise ValueError(f"EMNIST subset {subset!r}; expected digits, letters, mnist, balanced, byclass or bymerge")
    root = data_root(root)
    arrays = []
    for kind in ("images-idx3", "labels-idx1"):
        name = f"emnist-{subset}-{split}-{kind}-ubyte.gz"
        path = _find(root, [f"emnist/gzip/{name}", f"emnist/{name}", f"EMNIST/raw/{name}"])
        if not path.is_file():
            raise DataError(f"missing data file {path}; run `python -m core.download emnist` or see README")
        arrays.append(read_idx(path))
    images, labels = arrays
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(
            f"EMNIST {subset} {split}: images {images.shape} and labels {labels.shape}; expected (n, 28, 28) and (n,)"
        )
    return np.ascontiguousarray(images.transpose(0, 2, 1)), labels.astype(np.int64)


def load_pendigits(root: str | Path | None = None, split: str = "train", verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """UCI pendigits -> (n, 8, 2) float32 points in 0..100 (y up), (n,) int64 labels."""
    name, sha = PENDIGITS_FILES[split]
    path = data_root(root) / "pendigits" / name
    if verify:
        _check(path, sha)
    try:
        a = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as e:
        raise DataError(f"corrupt data file {path}: {e}; expected rows of 17 integers") from e
    if a.shape[1] != 17 or a[:, :16].min() < 0 or a[:, :16].max() > 100 or not np.isin(a[:, 16], range(10)).all():
        raise DataError(f"corrupt data file {path}: expected rows x1,y1,...,x8,y8 in 0..100 and a label 0-9")
    return a[:, :16].reshape(-1, 8, 2).astype(np.float32), a[:, 16]


@dataclass
class Unipen:
    """UNIPEN isolated digits (1a) or letters (1b/1c): full pen trajectories, sample i is
    points[offsets[i]:offsets[i+1]]."""

    points: np.ndarray  # (m, 3) float32 [x, y, stroke], raw tablet units, y up
    offsets: np.ndarray  # (n + 1,) int64
    labels: np.ndarray  # (n,) int64 class index in EMNIST byclass order (core/classes.CHARACTERS): 0-9, 10-61
    source: np.ndarray  # (n,) donor institution code
    segfile: np.ndarray  # (n,) the writer: session file (digits) or the file's donor/writer id (letters)

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, i: int) -> np.ndarray:
        return self.points[self.offsets[i] : self.offsets[i + 1]]

    def split_indices(self, split: str) -> np.ndarray:
        """Donor-institution split: train | val | test (see UNIPEN_*_SOURCES)."""
        test = np.isin(self.source, UNIPEN_TEST_SOURCES)
        val = np.isin(self.source, UNIPEN_VAL_SOURCES)
        mask = {"train": ~test & ~val, "val": val, "test": test}[split]
        return np.flatnonzero(mask)


def _read_npz(root: str | Path | None, folder: str, file: tuple[str, str], verify: bool, build):
    """(path, build(the opened .npz)) for one checksummed data file; a missing key, an unreadable file or a
    ValueError from `build` is one DataError naming the file and its expected sha256."""
    name, sha = file
    path = data_root(root) / folder / name
    if verify:
        _check(path, sha)
    try:
        with np.load(path, allow_pickle=False) as d:
            return path, build(d)
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"corrupt data file {path}: {e}; expected sha256 {sha}") from e


def load_unipen(root: str | Path | None = None, verify: bool = True) -> Unipen:
    path, u = _read_npz(
        root, "unipen", UNIPEN_FILE, verify,
        lambda d: Unipen(d["points"], d["offsets"], d["labels"].astype(np.int64), d["source"], d["segfile"]),
    )  # fmt: skip
    if len(u.offsets) != len(u.labels) + 1 or u.offsets[-1] != len(u.points):
        raise DataError(f"corrupt data file {path}: offsets do not match points and labels")
    return u


def load_unipen_letters(root: str | Path | None = None, verify: bool = True) -> Unipen:
    """UNIPEN 1b/1c upper and lower case letters -> `Unipen` with labels 10-61 (EMNIST byclass order) and
    the file's donor/writer ids as `segfile`; split by donor like the digits (`Unipen.split_indices`)."""
    index = {c: i for i, c in enumerate(CHARACTERS)}

    def build(d) -> Unipen:
        chars = d["labels"]
        bad = sorted(set(chars.tolist()) - set(CHARACTERS[10:]))
        if bad:
            raise ValueError(f"labels {bad[:5]} are not letters A-Z, a-z")
        labels = np.array([index[c] for c in chars.tolist()], np.int64)
        return Unipen(d["points"], d["offsets"], labels, d["source"], d["writer"])

    path, u = _read_npz(root, "unipen", UNIPEN_LETTERS_FILE, verify, build)
    if len(u.offsets) != len(u.labels) + 1 or u.offsets[-1] != len(u.points) or len(u.segfile) != len(u.labels):
        raise DataError(f"corrupt data file {path}: offsets and writers do not match points and labels")
    return u


@dataclass
class Femnist:
    """FEMNIST (NIST SD19 by writer): the whole 128x128 NIST box shrunk to 28x28, so characters are small,
    thin and off-centre; core/sets.femnist_images brings them to the MNIST convention."""

    images: np.ndarray  # (n, 28, 28) uint8, white ink on black, as stored
    labels: np.ndarray  # (n,) int64 0-61, EMNIST byclass order (core/classes.CHARACTERS)
    writers: np.ndarray  # (n,) writer id, e.g. "f0175_47"

    def __len__(self) -> int:
        return len(self.labels)


def load_femnist(root: str | Path | None = None, verify: bool = True) -> Femnist:
    """femnist/femnist_train.npz -> `Femnist` (the only FEMNIST file: validation and test are held-out writers)."""
    path, f = _read_npz(
        root, "femnist", FEMNIST_FILE, verify, lambda d: Femnist(d["images"], d["labels"].astype(np.int64), d["writers"])
    )
    n = len(f.labels)
    if f.images.shape != (n, 28, 28) or f.images.dtype != np.uint8 or len(f.writers) != n:
        raise DataError(f"corrupt data file {path}: expected (n, 28, 28) uint8 images with n labels and n writers")
    if n and (f.labels.min() < 0 or f.labels.max() > 61):
        raise DataError(f"corrupt data file {path}: labels must be 0-61 (EMNIST byclass order)")
    return f


@dataclass
class Clip:
    path: Path
    digit: int
    speaker: str
    index: int


FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def list_fsdd(root: str | Path | None = None) -> list[Clip]:
    """Free Spoken Digit Dataset recordings/ -> clips parsed from `{digit}_{speaker}_{index}.wav`."""
    folder = data_root(root) / "fsdd" / "recordings"
    if not folder.is_dir():
        raise DataError(f"missing data folder {folder} (3,000 wav files); run `python -m core.download fsdd`")
    clips = []
    for p in sorted(folder.iterdir()):
        m = FSDD_NAME.match(p.name)
        if m:
            clips.append(Clip(p, int(m.group(1)), m.group(2), int(m.group(3))))
    if not clips:
        raise DataError(f"no recordings named {{digit}}_{{speaker}}_{{index}}.wav in {folder}")
    return clips


def fsdd_split(clips: list[Clip], split: str, held_out: str | None = None) -> list[Clip]:
    """Customary split: test = indices 0-4; train = the rest. `held_out` removes (train) or keeps
    only (val) one speaker's training clips, for speaker-independent choices."""
    test = [c for c in clips if c.index in FSDD_TEST_INDICES]
    rest = [c for c in clips if c.index not in FSDD_TEST_INDICES]
    if split == "test":
        return test
    if split == "train":
        return [c for c in rest if c.speaker != held_out]
    if split == "val":
        return [c for c in rest if c.speaker == held_out]
    raise ValueError(f"split {split!r}; expected train, val or test")


TTS_FOLDER = "tts_digits"  # under the data root: spoken digits from flite and festival voices (core/tts.py)
TTS_NAME = re.compile(r"^(\d)_([a-z0-9-]+)_([a-z0-9]+)\.wav$")


@dataclass
class TtsClip:
    path: Path
    digit: int
    voice: str  # engine and voice, e.g. "flite-kal16"
    speaker: str  # the person recorded for the voice (several voices can share one)
    variant: str  # rate and pitch, e.g. "r080p130"


def tts_folder(root: str | Path | None = None, folder: str | Path | None = None) -> Path:
    """`folder` if given, else DATA_ROOT/tts_digits."""
    return Path(folder) if folder else data_root(root) / TTS_FOLDER


def list_tts(root: str | Path | None = None, folder: str | Path | None = None, verify: bool = False) -> list[TtsClip]:
    """Spoken digits made by scripts/make_tts_digits.sh -> clips with digit, voice and speaker, from the
    folder's manifest.json (`folder`, else DATA_ROOT/tts_digits). `verify` checks every file's sha256."""
    folder = tts_folder(root, folder)
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise DataError(f"missing {manifest}; make the spoken digits with scripts/make_tts_digits.sh")
    try:
        entries = json.loads(manifest.read_text())["clips"]
        clips = []
        for e in entries:
            m = TTS_NAME.match(e["file"])
            if not m or int(m.group(1)) != e["digit"] or m.group(2) != e["voice"]:
                raise ValueError(f"entry {e['file']!r} does not match {{digit}}_{{voice}}_{{variant}}.wav")
            clips.append(TtsClip(folder / e["file"], int(e["digit"]), e["voice"], str(e["speaker"]), m.group(3)))
            if verify:
                _check(clips[-1].path, e["sha256"])
            elif not clips[-1].path.is_file():
                raise DataError(f"missing data file {clips[-1].path}; run scripts/make_tts_digits.sh again")
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DataError(f"corrupt {manifest}: {e}; run scripts/make_tts_digits.sh again") from e
    if not clips:
        raise DataError(f"{manifest} lists no clips; run scripts/make_tts_digits.sh again")
    return clips


def list_tts_words(folder: Path) -> list[tuple[Path, str, str]]:
    """Non-digit words in a spoken-digits folder (OUT/words, scripts/make_tts_digits.sh) -> [(path, word,
    speaker)]; [] when the folder has none (made before the words were added)."""
    manifest = folder / "words" / "manifest.json"
    if not manifest.is_file():
        return []
    try:
        entries = json.loads(manifest.read_text())["clips"]
        return [(folder / "words" / Path(e["file"]).name, str(e["word"]), str(e["speaker"])) for e in entries]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataError(f"corrupt {manifest}: {e}; run scripts/make_tts_digits.sh again") from e


def training_files(root: str | Path | None = None, tts: str | Path | None = None) -> dict[str, str]:
    """sha256 of every training file a checkpoint learned from (for its model card); `tts`: the spoken-digits
    folder when training used it (its manifest holds every clip's sha256)."""
    root = data_root(root)
    files = [mnist_path(root, "train", k)[0] for k in ("images", "labels")]
    files += [root / "pendigits" / PENDIGITS_FILES["train"][0], root / "unipen" / UNIPEN_FILE[0]]
    out = {str(p.relative_to(root)): file_digest(p) for p in files if p.is_file()}
    h = hashlib.sha256()
    for c in list_fsdd(root):
        h.update(c.path.name.encode())
        h.update(c.path.read_bytes())
    out["fsdd/recordings/*.wav"] = h.hexdigest()
    if tts is not None:
        out[f"{TTS_FOLDER}/manifest.json"] = file_digest(Path(tts) / "manifest.json")
    return out
