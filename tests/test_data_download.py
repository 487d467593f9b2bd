"""download_url and download=True, with the network replaced by local bytes."""
import hashlib
import io

import numpy as np
import pytest

import minigrad.data.cifar as cifar
import minigrad.data.download as download
from minigrad.data import CIFAR10, MNIST, ChecksumError, DownloadError, download_url


class FakeResponse(io.BytesIO):
    def __init__(self, data, content_length=None):
        super().__init__(data)
        size = len(data) if content_length is None else content_length
        self.headers = {"Content-Length": str(size)}


@pytest.fixture
def server(monkeypatch):
    """Serve `server.files[url]` (bytes, or a list of bytes served in turn); log the URLs."""
    class Server:
        files, requests, lengths = {}, [], {}

    def fake_open(url, timeout=60):
        Server.requests.append(url)
        if url not in Server.files:
            raise OSError(f"404 for {url}")
        data = Server.files[url]
        if isinstance(data, list):
            data = data.pop(0) if len(data) > 1 else data[0]
        return FakeResponse(data, Server.lengths.get(url))

    monkeypatch.setattr(download, "_open_url", fake_open)
    return Server


def md5(data):
    return hashlib.md5(data).hexdigest()


def test_download_writes_the_file_and_checks_it(tmp_path, server):
    payload = b"some data" * 1000
    server.files["http://x/f.bin"] = payload
    path = download_url("http://x/f.bin", tmp_path / "sub" / "f.bin", md5(payload))
    assert path.read_bytes() == payload
    assert not (tmp_path / "sub" / "f.bin.part").exists()
    download_url("http://x/f.bin", path, md5(payload))
    assert len(server.requests) == 1  # a good existing file is not fetched again


def test_bad_checksum_raises_and_leaves_nothing_behind(tmp_path, server):
    server.files["http://x/f.bin"] = b"tampered"
    with pytest.raises(ChecksumError, match=r"(?s)f\.bin.*MD5.*expected 0123"):
        download_url("http://x/f.bin", tmp_path / "f.bin", "0123" + "0" * 28)
    assert list(tmp_path.iterdir()) == []
    assert len(server.requests) == 2  # fetched twice before giving up


def test_corrupt_existing_file_is_refetched(tmp_path, server):
    payload = b"the real thing"
    (tmp_path / "f.bin").write_bytes(b"the real th")  # an earlier download cut short
    server.files["http://x/f.bin"] = payload
    download_url("http://x/f.bin", tmp_path / "f.bin", md5(payload))
    assert (tmp_path / "f.bin").read_bytes() == payload


def test_corrupt_first_try_is_retried_and_mirrors_are_tried(tmp_path, server):
    payload = b"payload"
    server.files["http://a/f"] = [b"garbage", payload]
    download_url(["http://a/f"], tmp_path / "f", md5(payload))
    assert (tmp_path / "f").read_bytes() == payload
    server.files["http://b/g"] = payload
    download_url(["http://down/g", "http://b/g"], tmp_path / "g", md5(payload))
    assert (tmp_path / "g").read_bytes() == payload


def test_short_download_is_an_error(tmp_path, server):
    server.files["http://x/f"] = b"12345"
    server.lengths["http://x/f"] = 10
    with pytest.raises(DownloadError, match="cut short: got 5 of 10 bytes"):
        download_url("http://x/f", tmp_path / "f", md5(b"1234567890"))
    assert list(tmp_path.iterdir()) == []


def test_cifar10_download_true(tmp_path, server, monkeypatch):
    from test_data_cifar import check_matches, official_batches, write_archive
    monkeypatch.setenv("MINIGRAD_CACHE", str(tmp_path / "cache"))
    batches = official_batches()
    archive = write_archive(tmp_path / "served.tar.gz", batches)
    server.files[cifar.URL] = archive.read_bytes()
    monkeypatch.setattr(cifar, "MD5", md5(archive.read_bytes()))
    root = tmp_path / "data"
    check_matches(CIFAR10(root, download=True), CIFAR10(root, train=False, download=True),
                  batches)
    assert (root / "cifar-10-python.tar.gz").is_file()
    assert server.requests == [cifar.URL]  # the second dataset found the downloaded file
    monkeypatch.setattr(cifar, "MD5", "f" * 32)
    (root / "cifar-10-python.tar.gz").write_bytes(b"corrupt")
    with pytest.raises(ChecksumError, match="cifar-10-python.tar.gz"):
        CIFAR10(root, download=True)


def test_mnist_download_true(tmp_path, server, monkeypatch):
    import gzip

    from test_data_mnist import idx_bytes
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5).astype(np.uint8)
    files = {"t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images)),
             "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels))}
    for name, data in files.items():
        server.files[MNIST.mirrors[1] + name] = data  # only the second mirror answers
    monkeypatch.setattr(MNIST, "md5", {name: md5(data) for name, data in files.items()})
    ds = MNIST(tmp_path / "mnist", train=False, download=True)
    np.testing.assert_array_equal(ds.data, images)
    np.testing.assert_array_equal(ds.targets, labels)
