"""Download code against a local HTTP server on 127.0.0.1 serving files the tests make."""

import functools
import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest

from core import data, download
from core.errors import DataError
from tests.fixtures import write_idx


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_fetch_verifies_and_writes_atomically(server, tmp_path):
    www, url = server
    payload = b"1,2,3\n" * 1000
    (www / "f.csv").write_bytes(payload)
    good = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "out" / "f.csv"
    download.fetch(url + "f.csv", dest, "sha256", good, progress=False)
    assert dest.read_bytes() == payload
    bad_dest = tmp_path / "out" / "g.csv"
    with pytest.raises(DataError, match="expected 0000"):
        download.fetch(url + "f.csv", bad_dest, "sha256", "0000", progress=False)
    assert not bad_dest.exists() and not list((tmp_path / "out").glob("*.part*"))  # nothing half-written


def test_download_dataset_through_mirror(server, tmp_path, monkeypatch):
    www, url = server
    rows = "\n".join(",".join(["50"] * 16 + [str(d % 10)]) for d in range(20)) + "\n"
    res = []
    for name in ("pendigits.tra", "pendigits.tes"):
        (www / name).write_text(rows)
        res.append(download.Resource(name, f"pendigits/{name}", (url,), "sha256", hashlib.sha256(rows.encode()).hexdigest()))
    monkeypatch.setitem(download.RESOURCES, "pendigits", res)
    paths = download.download("pendigits", tmp_path / "d", progress=False)
    assert [p.name for p in paths] == ["pendigits.tra", "pendigits.tes"]
    x, y = data.load_pendigits(tmp_path / "d", "train", verify=False)
    assert x.shape == (20, 8, 2)


def test_mnist_content_checksum_from_mirror(server, tmp_path, monkeypatch):
    www, url = server
    write_idx(www / "tiny-idx1-ubyte.gz", np.arange(10, dtype=np.uint8))
    md5 = hashlib.md5(gzip.decompress((www / "tiny-idx1-ubyte.gz").read_bytes())).hexdigest()
    res = [download.Resource("tiny-idx1-ubyte.gz", "mnist/tiny-idx1-ubyte.gz", (url,), "md5-content", md5)]
    monkeypatch.setitem(download.RESOURCES, "mnist", res)
    assert download.main(["mnist", "--data-dir", str(tmp_path), "--mirror", url]) == 0
    assert data.read_idx(tmp_path / "mnist" / "tiny-idx1-ubyte.gz").tolist() == list(range(10))


def test_offline_gives_a_clear_error(tmp_path, capsys):
    # port 9 on loopback: nothing listens, the connection is refused at once
    with pytest.raises(DataError, match="cannot download .* copy the files"):
        download.fetch("http://127.0.0.1:9/x.gz", tmp_path / "x.gz", progress=False)
    assert download.main(["pendigits", "--data-dir", str(tmp_path), "--mirror", "http://127.0.0.1:9/"]) == 2
    assert "cannot download" in capsys.readouterr().err


def test_missing_file_on_server(server, tmp_path):
    _, url = server
    with pytest.raises(DataError, match="404"):
        download.fetch(url + "nope.gz", tmp_path / "nope.gz", progress=False)


def test_unipen_and_unknown_names():
    with pytest.raises(DataError, match="no public download"):
        download.download("unipen")
    with pytest.raises(DataError, match="expected one of"):
        download.download("cifar")


# ---------------------------------------------------------------- a broken or hostile mirror (hostile review)


class Endless(http.server.BaseHTTPRequestHandler):
    """Zeros forever (no Content-Length), a Content-Length far over the bound, or a chunked body cut mid-chunk."""

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(200)
        if self.path.endswith("/huge"):
            self.send_header("Content-Length", str(1 << 40))
            self.end_headers()
            return
        if self.path.endswith("/cut"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"1000\r\n" + b"x" * 100)  # promises 4096 bytes, sends 100, hangs up
            return
        self.end_headers()
        try:
            while True:
                self.wfile.write(b"\0" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture()
def hostile():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_a_server_sending_too_much_or_breaking_off_is_refused(hostile, tmp_path):
    """An endless body filled the disk (4.8 GB in 8 s for a 0.4 MB file); a cut chunked body raised a raw
    IncompleteRead. Each is a DataError, with nothing left behind."""
    for name, words in (("endless", "larger than"), ("huge", "larger than"), ("cut", "IncompleteRead")):
        with pytest.raises(DataError, match=words):
            download.fetch(hostile + name, tmp_path / "f.bin", progress=False, max_bytes=1 << 20)
        assert list(tmp_path.iterdir()) == []
    assert download.deadline(1 << 20) < download.deadline(640 << 20) < 3 * 3600  # a trickle is given up in time


def test_a_broken_first_host_falls_through_to_the_next(server, hostile, tmp_path, monkeypatch):
    www, url = server
    (www / "pendigits.tra").write_text("1,2\n")
    sha = hashlib.sha256(b"1,2\n").hexdigest()
    res = [download.Resource("pendigits.tra", "pendigits/pendigits.tra", (hostile + "cut/", url), "sha256", sha)]
    monkeypatch.setitem(download.RESOURCES, "pendigits", res)
    assert download.download("pendigits", tmp_path, progress=False) == [tmp_path / "pendigits" / "pendigits.tra"]


def test_a_corrupt_file_in_place_is_fetched_again(server, tmp_path, monkeypatch):
    www, url = server
    write_idx(www / "tiny-idx1-ubyte.gz", np.arange(10, dtype=np.uint8))
    md5 = hashlib.md5(gzip.decompress((www / "tiny-idx1-ubyte.gz").read_bytes())).hexdigest()
    tiny = download.Resource("tiny-idx1-ubyte.gz", "mnist/tiny-idx1-ubyte.gz", (url,), "md5-content", md5)
    monkeypatch.setitem(download.RESOURCES, "mnist", [tiny])
    (tmp_path / "mnist").mkdir()
    for bad in ((www / "tiny-idx1-ubyte.gz").read_bytes()[:15], b"not gzip at all"):  # crashed with EOFError before
        (tmp_path / "mnist" / "tiny-idx1-ubyte.gz").write_bytes(bad)
        assert download.main(["mnist", "--data-dir", str(tmp_path)]) == 0
        assert data.read_idx(tmp_path / "mnist" / "tiny-idx1-ubyte.gz").tolist() == list(range(10))


def fsdd_archive(path, names: list[str], size: int = 800, extra: dict | None = None) -> None:
    """A .tar.gz laid out as GitHub's FSDD release: folder/recordings/NAME.wav, each a real little WAV."""
    import io
    import tarfile
    import wave

    with tarfile.open(path, "w:gz") as t:
        for name in names:
            buf = io.BytesIO()
            with wave.open(buf, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(8000)
                w.writeframes(b"\0\1" * size)
            info = tarfile.TarInfo(f"free-spoken-digit-dataset-1.0.10/recordings/{name}")
            info.size = len(buf.getvalue())
            t.addfile(info, io.BytesIO(buf.getvalue()))
        for name, content in (extra or {}).items():
            info = tarfile.TarInfo(f"free-spoken-digit-dataset-1.0.10/recordings/{name}")
            info.size = len(content)
            t.addfile(info, io.BytesIO(content))


def test_fsdd_is_checked_before_it_is_unpacked_and_kept_without_its_archive(server, tmp_path, monkeypatch):
    """FSDD has no published checksum: anything named .wav was unpacked and the folder's count trusted (stale
    files counted; a 1 GB member read whole). Now only FSDD's names, small, exactly N of them, readable WAVs,
    unpacked aside and moved in whole; the next run keeps them by their note, with the archive gone."""
    www, url = server
    monkeypatch.setattr(data, "FSDD_N_CLIPS", 12)
    names = [f"{d}_george_{i}.wav" for d in range(4) for i in range(3)]
    monkeypatch.setitem(download.RESOURCES, "fsdd", [download.Resource("v.tar.gz", "fsdd/v.tar.gz", (url,), None, None, "fsdd")])
    d = tmp_path / "d"
    for why, build, words in (
        ("names not FSDD's", lambda p: fsdd_archive(p, [f"junk{k}.wav" for k in range(12)]), "not an FSDD recording"),
        ("a member too large", lambda p: fsdd_archive(p, names[:11] + ["9_george_0.wav"], size=200_000), "not an FSDD"),
        ("too few", lambda p: fsdd_archive(p, names[:5]), "holds 5 recordings"),
        ("not WAVs", lambda p: fsdd_archive(p, names[:11], extra={"9_theo_1.wav": b"not a wav"}), "not a readable WAV"),
        ("not a tar", lambda p: p.write_bytes(b"\x1f\x8b" + b"junk" * 100), "cannot unpack"),
    ):
        build(www / "v.tar.gz")
        with pytest.raises(DataError, match=words):
            download.download("fsdd", d, progress=False)
        left = sorted(p.name for p in (d / "fsdd").iterdir())
        assert left == [], f"{why}: {left}"
    fsdd_archive(www / "v.tar.gz", names)
    assert download.download("fsdd", d, progress=False) == [d / "fsdd" / "recordings"]
    assert sorted(p.name for p in (d / "fsdd" / "recordings").iterdir()) == sorted(names)
    (www / "v.tar.gz").unlink()  # the mirror is gone: the unpacked files are kept by their note
    assert download.download("fsdd", d, progress=False) == [d / "fsdd" / "recordings"]
    (d / "fsdd" / "recordings" / names[0]).unlink()  # one missing: fetched again (and the mirror is gone)
    with pytest.raises(DataError, match="404"):
        download.download("fsdd", d, progress=False)


def test_idx_files_are_read_no_further_than_their_header_says(tmp_path):
    """A 7 MB .gz declaring one image then 1.5 GB of zeros cost +3 GB; np.prod wrapped; zlib.error escaped."""
    lying = tmp_path / "lying-idx3-ubyte.gz"
    with gzip.open(lying, "wb", compresslevel=1) as f:
        f.write(bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (1, 28, 28)) + b"\0" * (28 * 28 * 50))
    with pytest.raises(DataError, match="truncated IDX"):
        data.read_idx(lying)
    wraps = tmp_path / "wraps-idx3-ubyte"
    wraps.write_bytes(bytes([0, 0, 8, 4]) + (65536).to_bytes(4, "big") * 4)
    with pytest.raises(DataError, match="at most"):
        data.read_idx(wraps)
    good = tmp_path / "good-idx1-ubyte.gz"
    write_idx(good, np.arange(200, dtype=np.uint8))
    raw = bytearray(good.read_bytes())
    raw[20:40] = bytes(b ^ 0xFF for b in raw[20:40])
    flipped = tmp_path / "flipped-idx1-ubyte.gz"
    flipped.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="corrupt"):
        data.read_idx(flipped)
    assert data.read_idx(good).tolist() == list(range(200))
