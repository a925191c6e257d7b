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
