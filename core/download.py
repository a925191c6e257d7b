"""Fetch the data sets from their publishers, for machines with internet.

    python -m core.download mnist pendigits fsdd [--data-dir DIR] [--mirror URL]

Nothing a server sends is trusted. Every file is written to a temporary name beside its destination,
bounded in size (`Resource.max_bytes`, checked against Content-Length and while it streams) and time
(`deadline`), verified, then renamed, so an interrupted or corrupt download never looks like a good file.
Archives are verified before they are unpacked (EMNIST's md5; FSDD, whose archive GitHub makes on the fly
without a checksum, by what it holds: only recordings named as FSDD names them, each small, exactly 3,000,
each a readable WAV), unpacked into a temporary folder and moved into place whole; a note beside the data
(`*.unpacked.json`: every file and its size) lets the next run keep them without the deleted archive. A file
already there that is corrupt is fetched again. `--mirror` replaces the publishers' hosts with one base URL
that serves the same file names (tests use a local one).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from core import data
from core.errors import DataError

CHUNK = 1 << 16
TIMEOUT_S = 30  # per socket read
MIN_RATE = 100_000  # bytes/s: a download may take 10 minutes plus its size at this rate, then it is given up
MAX_WAV_BYTES = 256 << 10  # an FSDD recording is under 40 KB: 3,000 of the largest allowed still fit in 750 MB
MAX_ENTRIES = 20_000  # entries an FSDD archive may hold (the release has a few hundred besides its recordings)
MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
UCI_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/pendigits/"
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/"
EMNIST_URL = "https://biometrics.nist.gov/cs_links/EMNIST/"
CORRUPT = (OSError, EOFError, gzip.BadGzipFile, zlib.error, tarfile.TarError, zipfile.BadZipFile)  # what bad bytes raise


@dataclass(frozen=True)
class Resource:
    name: str  # file name at the source
    dest: str  # path under the data root
    bases: tuple[str, ...]  # base URLs tried in order
    algo: str | None  # "sha256", "md5", or "md5-content" (md5 of the gunzipped content); None: no published checksum
    digest: str | None
    extract: str | None = None  # "fsdd" or "zip": unpack after verifying
    max_bytes: int = 16 << 20  # a larger download is refused: the file is known, a server sending more is broken


RESOURCES: dict[str, list[Resource]] = {
    "mnist": [
        Resource(f"{name}.gz", f"mnist/{name}.gz", MNIST_URLS, "md5-content", md5) for name, md5 in data.MNIST_FILES.values()
    ],  # the largest, train-images, is 9.9 MB
    "pendigits": [
        Resource(name, f"pendigits/{name}", (UCI_URL,), "sha256", sha, max_bytes=4 << 20)
        for name, sha in data.PENDIGITS_FILES.values()
    ],
    # GitHub makes release archives on the fly and publishes no checksum; what it holds is checked instead.
    "fsdd": [Resource("v1.0.10.tar.gz", "fsdd/v1.0.10.tar.gz", (FSDD_URL,), None, None, extract="fsdd", max_bytes=128 << 20)],
    "emnist": [
        Resource(
            "gzip.zip",
            "emnist/gzip.zip",
            (EMNIST_URL,),
            "md5",
            "58c8d27c78d21e728a6bc7b3cc06412e",
            extract="zip",
            max_bytes=640 << 20,
        )
    ],  # fmt: skip
}
NOT_DOWNLOADABLE = {
    "unipen": "the UNIPEN digits come as unipen/unipen_1a_digits_train.npz, made from UNIPEN train_r01_v07 "
    "(category 1a); it has no public download URL: copy it into <data-dir>/unipen/ by hand",
}


def digest(path: Path, algo: str) -> str:
    if algo == "md5-content":
        return data.file_digest(path, "md5", gunzip=True)
    return data.file_digest(path, algo)


def deadline(max_bytes: int) -> float:
    """Seconds a download of at most `max_bytes` may take in all (a server trickling a byte every 29 s never
    hits the socket timeout)."""
    return 600.0 + max_bytes / MIN_RATE


def fetch(
    url: str,
    dest: Path,
    algo: str | None = None,
    expected: str | None = None,
    progress: bool = True,
    max_bytes: int = Resource.max_bytes,
) -> Path:
    """Download `url` to `dest` atomically (temp file, bounded, verified, renamed). Raises DataError."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".part{os.getpid()}")
    too_big = f"cannot download {url}: it is larger than {max_bytes:,} bytes, far more than the file it should be"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp, open(tmp, "wb") as f:
            total = resp.length  # http.client's reading of Content-Length (None when absent or chunked)
            if total is not None and total > max_bytes:
                raise DataError(too_big)
            stop, received = time.monotonic() + deadline(max_bytes), 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress, leave=False) as bar:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    received += len(block)
                    if received > max_bytes:
                        raise DataError(too_big)
                    if time.monotonic() > stop:
                        raise DataError(f"cannot download {url}: still unfinished after {deadline(max_bytes):.0f} s")
                    f.write(block)
                    bar.update(len(block))
        if algo and expected:
            try:
                got = digest(tmp, algo)
            except CORRUPT as e:
                raise DataError(f"downloaded {url} is corrupt ({e}); expected {algo} {expected}") from e
            if got != expected:
                raise DataError(f"downloaded {url} has {algo} {got}, expected {expected}; not saved, try again later")
        os.replace(tmp, dest)
        return dest
    except urllib.error.HTTPError as e:
        raise DataError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:  # refused, cut, garbled, disk full
        reason = getattr(e, "reason", None) or f"{type(e).__name__}: {e}"
        raise DataError(
            f"cannot download {url}: {reason}. Without internet, copy the files into {dest.parent} by hand (see README)"
        ) from e
    finally:
        tmp.unlink(missing_ok=True)


def unpacked_note(archive: Path) -> Path:
    """Where the list of what `archive` unpacked is kept (the archive itself is deleted)."""
    return archive.with_name(archive.name + ".unpacked.json")


def still_unpacked(archive: Path, root: Path) -> bool:
    """Whether every file `archive` unpacked last time is still there at its size."""
    try:
        files = json.loads(unpacked_note(archive).read_text())["files"]
        return bool(files) and all((root / name).stat().st_size == size for name, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def unpacked_to(archive: Path, root: Path) -> list[Path]:
    """The folders and files `archive` was unpacked to, as its note says."""
    return [root / p for p in json.loads(unpacked_note(archive).read_text())["unpacked_to"]]


def fsdd_members(t: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """The recordings of an FSDD archive, refused unless it holds exactly FSDD's 3,000 small WAVs by FSDD's names
    (and at most MAX_ENTRIES entries in all: the headers are read one by one, never all at once)."""
    members, total = [], 0
    for k, m in enumerate(t):
        if k >= MAX_ENTRIES:
            raise DataError(f"the FSDD archive holds more than {MAX_ENTRIES:,} entries; refused unpacked")
        base = Path(m.name).name
        if not (m.isfile() and "/recordings/" in m.name and base.endswith(".wav")):
            continue
        if not data.FSDD_NAME.match(base) or m.size > MAX_WAV_BYTES:
            raise DataError(f"the FSDD archive holds {m.name} ({m.size:,} bytes): not an FSDD recording; refused unpacked")
        members.append(m)
        total += m.size
        if len(members) > data.FSDD_N_CLIPS:
            raise DataError(f"the FSDD archive holds more than {data.FSDD_N_CLIPS} recordings; refused unpacked")
    if len({Path(m.name).name for m in members}) != data.FSDD_N_CLIPS:
        raise DataError(f"the FSDD archive holds {len(members)} recordings; expected {data.FSDD_N_CLIPS}")
    return members


def _extract(res: Resource, archive: Path, root: Path) -> list[Path]:
    """Unpack a verified archive into place whole (a temporary folder, checked, then renamed); note what it
    held (`unpacked_note`) and delete it. -> the folders written."""
    import soundfile as sf

    part = archive.with_name(f"unpacking{os.getpid()}")
    shutil.rmtree(part, ignore_errors=True)
    try:
        part.mkdir()
        if res.extract == "zip":
            with zipfile.ZipFile(archive) as z:  # the archive's md5 is checked: the publisher's own files
                z.extractall(part)  # zipfile drops "..", drive letters and leading slashes from member names
            made = sorted(p for p in part.iterdir())
            targets = [archive.parent / p.name for p in made]
        else:
            out = part / "recordings"
            out.mkdir()
            with tarfile.open(archive) as t:
                for m in tqdm(fsdd_members(t), desc="unpacking fsdd", leave=False):
                    src = t.extractfile(m)
                    with src, open(out / Path(m.name).name, "wb") as f:
                        shutil.copyfileobj(src, f, CHUNK)
            for wav in out.iterdir():
                try:
                    sf.info(str(wav))
                except (sf.LibsndfileError, RuntimeError) as e:
                    raise DataError(f"the FSDD archive's {wav.name} is not a readable WAV ({e}); refused") from None
            made, targets = [out], [root / "fsdd" / "recordings"]
        for src, dst in zip(made, targets):  # the old copy goes only once the new one is complete
            old = dst.with_name(dst.name + f".old{os.getpid()}")
            if dst.exists():
                dst.rename(old)
            src.rename(dst)
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
        files = {str(p.relative_to(root)): p.stat().st_size for d in targets for p in (d.rglob("*") if d.is_dir() else [d])}
        folders = [str(d.relative_to(root)) for d in targets]
        unpacked_note(archive).write_text(json.dumps({"archive": res.name, "unpacked_to": folders, "files": files}, indent=0))
    except DataError:
        raise
    except CORRUPT as e:
        raise DataError(f"cannot unpack {archive.name}: {type(e).__name__}: {e}; delete it and download again") from e
    finally:
        shutil.rmtree(part, ignore_errors=True)
        archive.unlink(missing_ok=True)
    return targets


def present(dest: Path, res: Resource, root: Path) -> bool:
    """Whether a resource is already in place and valid; a corrupt file is not (it is fetched again)."""
    if res.extract:
        return still_unpacked(dest, root)
    if not (res.algo and dest.is_file()):
        return False
    try:
        return digest(dest, res.algo) == res.digest
    except CORRUPT:
        return False


def download(dataset: str, root: str | Path | None = None, mirror: str | None = None, progress: bool = True) -> list[Path]:
    """Fetch one data set into the data root; files already present and valid are kept. -> the files (or, for
    archives, the folders they unpacked to)."""
    if dataset in NOT_DOWNLOADABLE:
        raise DataError(NOT_DOWNLOADABLE[dataset])
    if dataset not in RESOURCES:
        raise DataError(f"unknown data set {dataset!r}; expected one of {sorted(RESOURCES)}")
    root = data.data_root(root)
    done = []
    for res in RESOURCES[dataset]:
        dest = root / res.dest
        if present(dest, res, root):
            done += unpacked_to(dest, root) if res.extract else [dest]
            continue
        bases = (mirror,) if mirror else res.bases
        errors = []
        for base in bases:
            try:
                fetch(base.rstrip("/") + "/" + res.name, dest, res.algo, res.digest, progress, res.max_bytes)
                break
            except DataError as e:
                errors.append(str(e))
        else:
            raise DataError(" | ".join(errors))
        done += _extract(res, dest, root) if res.extract else [dest]
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.download", description="Download the data sets.")
    ap.add_argument("datasets", nargs="*", default=["mnist", "pendigits", "fsdd"], help="mnist pendigits fsdd emnist")
    ap.add_argument("--data-dir", default=None, help="data root (default: $DIGITS_DATA or ./data)")
    ap.add_argument("--mirror", default=None, help="one base URL serving every file name instead of the publishers")
    args = ap.parse_args(argv)
    try:
        for d in args.datasets:
            for p in download(d, args.data_dir, args.mirror):
                print(f"ok {p}")
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
