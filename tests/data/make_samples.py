"""Cut the committed real samples in tests/data/ out of the full data sets (run once; kept for provenance).

    python tests/data/make_samples.py [DATA_ROOT]      # default: $DIGITS_DATA, else ../shared/data

Writes, in the publishers' own layouts so `core.data` loaders read them unchanged:
  mnist/t10k-images-idx3-ubyte.gz, mnist/t10k-labels-idx1-ubyte.gz  the first 10 test digits of each class
  pendigits/pendigits.tes                                           the first 10 test rows of each class
  fsdd/recordings/*.wav                                             2 test clips (index 0-4) per digit, copied byte for byte
and manifest.json: where each sample came from and the sha256 of every file written.
Nothing here is a training sample: MNIST t10k, pendigits .tes and FSDD indices 0-4 are the test splits.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
PER_CLASS = 10


def read_idx(path: Path) -> np.ndarray:
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    # mtime=0: the same samples give the same bytes on every run
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def fsdd_picks() -> list[str]:
    """Two test clips per digit, over all six speakers and all five test indices."""
    out = []
    for d in range(10):
        for k in range(2):
            spk = SPEAKERS[(d + 3 * k) % 6]
            out.append(f"{d}_{spk}_{(d + 2 * k) % 5}.wav")
    return out


def main(root: Path) -> None:
    sha = {}

    def record(path: Path) -> None:
        sha[str(path.relative_to(HERE))] = hashlib.sha256(path.read_bytes()).hexdigest()

    x = read_idx(root / "mnist" / "t10k-images-idx3-ubyte.gz")
    y = read_idx(root / "mnist" / "t10k-labels-idx1-ubyte.gz")
    mi = np.sort(np.concatenate([np.flatnonzero(y == d)[:PER_CLASS] for d in range(10)]))
    (HERE / "mnist").mkdir(exist_ok=True)
    write_idx(HERE / "mnist" / "t10k-images-idx3-ubyte.gz", x[mi])
    write_idx(HERE / "mnist" / "t10k-labels-idx1-ubyte.gz", y[mi])
    record(HERE / "mnist" / "t10k-images-idx3-ubyte.gz")
    record(HERE / "mnist" / "t10k-labels-idx1-ubyte.gz")

    lines = (root / "pendigits" / "pendigits.tes").read_text().splitlines()
    labels = np.array([int(ln.rsplit(",", 1)[1]) for ln in lines])
    pi = np.sort(np.concatenate([np.flatnonzero(labels == d)[:PER_CLASS] for d in range(10)]))
    (HERE / "pendigits").mkdir(exist_ok=True)
    (HERE / "pendigits" / "pendigits.tes").write_text("".join(lines[i] + "\n" for i in pi))
    record(HERE / "pendigits" / "pendigits.tes")

    rec = HERE / "fsdd" / "recordings"
    rec.mkdir(parents=True, exist_ok=True)
    clips = fsdd_picks()
    for name in clips:
        shutil.copyfile(root / "fsdd" / "recordings" / name, rec / name)
        record(rec / name)

    manifest = {
        "mnist": {"source": "mnist/t10k-*-ubyte.gz (MNIST test set)", "indices": mi.tolist()},
        "pendigits": {"source": "pendigits/pendigits.tes (UCI pendigits test set, writers not in training)", "rows": pi.tolist()},
        "fsdd": {"source": "fsdd/recordings (FSDD v1.0.10, test indices 0-4)", "files": clips},
        "sha256": sha,
    }
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(sha)} files, {sum((HERE / p).stat().st_size for p in sha) / 1e3:.0f} kB")


if __name__ == "__main__":
    default = os.environ.get("DIGITS_DATA") or HERE.parent.parent.parent / "shared" / "data"
    main(Path(sys.argv[1] if len(sys.argv) > 1 else default))
