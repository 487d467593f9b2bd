"""Fetching a data file: a progress bar, an MD5 check, and an atomic rename.

The steps, in the order they run:

1. If the file is already there and its MD5 matches, do nothing.
2. Otherwise stream the URL into `<file>.part` (a crash or Ctrl-C leaves only
   a `.part` file behind, never a half-written file under the real name).
3. Check the size against the server's Content-Length and the MD5 against
   the published one. A short or corrupt download is thrown away and fetched
   again (once per mirror, `attempts` times).
4. `os.replace(<file>.part, <file>)`: atomic, so another process never sees a
   half-written file.

Tests replace `_open_url` to serve local bytes: no network needed.
"""
import hashlib
import os
import sys
import urllib.request
from pathlib import Path

__all__ = ["download_url", "md5sum", "ChecksumError", "DownloadError"]

CHUNK = 1 << 20  # read and hash 1 MiB at a time: constant memory for any file size


class ChecksumError(RuntimeError):
    """A file's MD5 is not the published one: the file is corrupt or incomplete."""


class DownloadError(RuntimeError):
    """A download failed (network error, or a file cut short) on every mirror."""


def md5sum(path):
    """The MD5 hex digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_url(url, timeout=60):
    """An open HTTP response (file-like, with `.headers`). Replaced in tests."""
    request = urllib.request.Request(url, headers={"User-Agent": "minigrad"})
    return urllib.request.urlopen(request, timeout=timeout)


def _progress_bar(total, desc):
    """A tqdm bar when tqdm is installed (it is a dependency), else a silent stand-in."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in pyproject's dependencies
        class _Silent:
            def update(self, n):
                pass

            def close(self):
                pass
        return _Silent()
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, leave=False)


def _fetch(url, part):
    """Stream `url` into the file `part`; raise DownloadError if it is cut short."""
    with _open_url(url) as response:
        size = response.headers.get("Content-Length")
        size = int(size) if size else None
        bar = _progress_bar(size, Path(part).name[:-len(".part")])
        written = 0
        try:
            with open(part, "wb") as f:
                for block in iter(lambda: response.read(CHUNK), b""):
                    f.write(block)
                    written += len(block)
                    bar.update(len(block))
        finally:
            bar.close()
    if size is not None and written != size:
        raise DownloadError(f"the download of {url} was cut short: got {written} of {size} bytes")


def download_url(urls, path, md5, attempts=2):
    """Download a file to `path` unless a copy with the right MD5 is already there.

    urls:     one URL or a list of mirrors, tried in order.
    md5:      the published MD5 hex digest; every download is checked against it.
    attempts: tries per mirror (a corrupt or short file is fetched again).
    Returns `path` (a Path). Raises ChecksumError or DownloadError, naming the
    file, the URLs and what to do, when every try failed."""
    path = Path(path)
    urls = [urls] if isinstance(urls, str) else list(urls)
    if path.exists():
        if md5sum(path) == md5:
            return path
        print(f"{path} is corrupt or incomplete (MD5 mismatch): downloading it again",
              file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    problems = []
    for url in urls:
        for _ in range(attempts):
            try:
                _fetch(url, part)
                got = md5sum(part)
                if got == md5:
                    os.replace(part, path)  # atomic: readers see no file or the whole file
                    return path
                problems.append(f"{url}: MD5 {got}, expected {md5}")
            except (OSError, DownloadError) as error:  # URLError and timeouts are OSErrors
                problems.append(f"{url}: {error}")
            part.unlink(missing_ok=True)
    details = "\n  ".join(problems)
    message = (f"could not download {path.name} to {path}:\n  {details}\n"
               f"Check your network connection and try again, or download the file yourself "
               f"from {urls[0]} and put it at {path}.")
    if all("MD5" in p for p in problems):
        raise ChecksumError(message)
    raise DownloadError(message)
