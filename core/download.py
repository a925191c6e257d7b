"""Fetch the data sets from their publishers, for machines with internet.

    python -m core.download mnist pendigits fsdd [--data-dir DIR] [--mirror URL]

Every file is written to a temporary name beside its destination, verified, then renamed,
so an interrupted or corrupt download never looks like a good file. `--mirror` replaces the
publishers' hosts with one base URL that serves the same file names (tests use a local one).
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from core import data
from core.errors import DataError

CHUNK = 1 << 16
TIMEOUT_S = 30
MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
UCI_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/pendigits/"
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/"
EMNIST_URL = "https://biometrics.nist.gov/cs_links/EMNIST/"


@dataclass(frozen=True)
class Resource:
    name: str  # file name at the source
    dest: str  # path under the data root
    bases: tuple[str, ...]  # base URLs tried in order
    algo: str | None  # "sha256", "md5", or "md5-content" (md5 of the gunzipped content); None: no published checksum
    digest: str | None
    extract: str | None = None  # "fsdd" or "zip": unpack after verifying


RESOURCES: dict[str, list[Resource]] = {
    "mnist": [
        Resource(f"{name}.gz", f"mnist/{name}.gz", MNIST_URLS, "md5-content", md5) for name, md5 in data.MNIST_FILES.values()
    ],
    "pendigits": [Resource(name, f"pendigits/{name}", (UCI_URL,), "sha256", sha) for name, sha in data.PENDIGITS_FILES.values()],
    # GitHub makes release archives on the fly and publishes no checksum; the unpacked files are counted instead.
    "fsdd": [Resource("v1.0.10.tar.gz", "fsdd/v1.0.10.tar.gz", (FSDD_URL,), None, None, extract="fsdd")],
    "emnist": [Resource("gzip.zip", "emnist/gzip.zip", (EMNIST_URL,), "md5", "58c8d27c78d21e728a6bc7b3cc06412e", extract="zip")],
}
NOT_DOWNLOADABLE = {
    "unipen": "the UNIPEN digits come as unipen/unipen_1a_digits_train.npz, made from UNIPEN train_r01_v07 "
    "(category 1a); it has no public download URL: copy it into <data-dir>/unipen/ by hand",
}


def digest(path: Path, algo: str) -> str:
    if algo == "md5-content":
        return data.file_digest(path, "md5", gunzip=True)
    return data.file_digest(path, algo)


def fetch(url: str, dest: Path, algo: str | None = None, expected: str | None = None, progress: bool = True) -> Path:
    """Download `url` to `dest` atomically (temp file, verify, rename). Raises DataError."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".part{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp, open(tmp, "wb") as f:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress, leave=False) as bar:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    f.write(block)
                    bar.update(len(block))
        if algo and expected:
            try:
                got = digest(tmp, algo)
            except (OSError, EOFError) as e:
                raise DataError(f"downloaded {url} is corrupt ({e}); expected {algo} {expected}") from e
            if got != expected:
                raise DataError(f"downloaded {url} has {algo} {got}, expected {expected}; not saved, try again later")
        os.replace(tmp, dest)
        return dest
    except urllib.error.HTTPError as e:
        raise DataError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(
            f"cannot download {url}: {reason}. Without internet, copy the files into {dest.parent} by hand (see README)"
        ) from e
    finally:
        tmp.unlink(missing_ok=True)


def _extract(res: Resource, archive: Path, root: Path) -> None:
    if res.extract == "zip":
        with zipfile.ZipFile(archive) as z:
            z.extractall(archive.parent)
    elif res.extract == "fsdd":
        out = root / "fsdd" / "recordings"
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as t:
            members = [m for m in t.getmembers() if m.isfile() and "/recordings/" in m.name and m.name.endswith(".wav")]
            for m in tqdm(members, desc="unpacking fsdd", leave=False):
                src = t.extractfile(m)
                if src is not None:
                    (out / Path(m.name).name).write_bytes(src.read())
        n = len(list(out.glob("*.wav")))
        if n < data.FSDD_N_CLIPS:
            raise DataError(f"{archive} unpacked {n} recordings into {out}; expected {data.FSDD_N_CLIPS}")
    archive.unlink()


def download(dataset: str, root: str | Path | None = None, mirror: str | None = None, progress: bool = True) -> list[Path]:
    """Fetch one data set into the data root; files already present and valid are kept."""
    if dataset in NOT_DOWNLOADABLE:
        raise DataError(NOT_DOWNLOADABLE[dataset])
    if dataset not in RESOURCES:
        raise DataError(f"unknown data set {dataset!r}; expected one of {sorted(RESOURCES)}")
    root = data.data_root(root)
    done = []
    for res in RESOURCES[dataset]:
        dest = root / res.dest
        if res.algo and dest.is_file() and digest(dest, res.algo) == res.digest:
            done.append(dest)
            continue
        bases = (mirror,) if mirror else res.bases
        errors = []
        for base in bases:
            try:
                fetch(base.rstrip("/") + "/" + res.name, dest, res.algo, res.digest, progress)
                break
            except DataError as e:
                errors.append(str(e))
        else:
            raise DataError(" | ".join(errors))
        if res.extract:
            _extract(res, dest, root)
        done.append(dest)
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
