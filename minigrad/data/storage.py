"""Reading archives safely, and caching decoded arrays so the second load is fast.

Two jobs every dataset loader shares:

- `tar_files(path)` streams the regular files out of a `.tar`/`.tar.gz`, and
  turns the many ways a damaged archive fails (tarfile.ReadError, EOFError,
  zlib.error, gzip.BadGzipFile) into one `CorruptFileError` that names the file
  and says what to do.
- `cached(name, source, build)` returns the arrays that `build()` decodes from
  `source`, saved once as an `.npz` in the cache folder. The cache file's name
  holds a key made of the source's path, size and modification time, so an
  edited or replaced source is decoded again, never served stale. It is
  written to a temporary file and renamed (atomic): an interrupted run never
  leaves a half-written cache behind, and the next write of that cache file
  removes the temporary files of runs killed while writing it (as
  minigrad.save does: see serialization.remove_stale_temporaries).
"""
import hashlib
import os
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..serialization import remove_stale_temporaries, temporary_path

__all__ = ["CorruptFileError", "cache_dir", "cached", "tar_files", "is_tar", "read_maybe_gzip"]

# What a truncated or damaged .tar.gz / .gz raises, depending on where the damage is.
ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


class CorruptFileError(RuntimeError):
    """A data file exists but cannot be read: truncated, damaged or of the wrong format."""


def corrupt(path, error, fix="delete it and download it again (download=True)"):
    return CorruptFileError(f"{path} is truncated or corrupt ({type(error).__name__}: {error}); "
                            f"{fix}")


def is_tar(path):
    name = str(path).lower()
    return name.endswith((".tar", ".tar.gz", ".tgz"))


def tar_files(path):
    """Yield (member name, bytes) for each regular file of a tar archive, in archive order.

    Streams the archive once ('r|*' mode: no seeking, gzip detected from the
    bytes), so memory holds one member at a time."""
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                if member.isfile():
                    yield member.name, archive.extractfile(member).read()
    except ARCHIVE_ERRORS as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise corrupt(path, error) from error


def read_maybe_gzip(path):
    """The bytes of a file, gunzipped if it starts with the gzip magic number."""
    import gzip
    try:
        with open(path, "rb") as f:
            raw = f.read()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except ARCHIVE_ERRORS as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise corrupt(path, error) from error


# ------------------------------------------------------------------ the cache
def cache_dir():
    """$MINIGRAD_CACHE if set, else ~/.cache/minigrad."""
    return Path(os.environ.get("MINIGRAD_CACHE") or Path.home() / ".cache" / "minigrad")


def source_key(source):
    """A short hash of what identifies the source data: path, size, mtime.

    For a folder, of every file in it (a stat per file: cheap next to decoding)."""
    source = Path(source).resolve()
    parts = [str(source)]
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for f in files:
        st = f.stat()
        parts.append(f"{f.relative_to(source.parent)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def cached(name, source, build, keys=None):
    """`build()`'s dict of arrays for `source`, from the cache when it is there.

    keys: read only these arrays from the cache (an .npz is read array by array).

    The cache file is `<cache_dir>/<name>-<key>.npz`, uncompressed so that
    loading it is one read per array. Failing to write it (a read-only home,
    a full disk) only costs speed next time, so it prints a warning instead
    of failing the load."""
    path = cache_dir() / f"{name}-{source_key(source)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in (keys or archive.files)}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            pass  # an unreadable cache is rebuilt below, and overwritten
    arrays = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)  # of runs killed while writing it: ~200 MB each
        tmp = temporary_path(path)
        try:
            with open(tmp, "xb") as f:  # the usual permissions (not mkstemp's 0o600): shareable
                np.savez(f, **arrays)
            os.replace(tmp, path)  # atomic: other readers see the old state or the full file
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as error:
        print(f"warning: could not write the cache {path} ({error}); the next load will decode "
              "the source again. Set $MINIGRAD_CACHE to a writable folder to fix this.",
              file=sys.stderr)
    return arrays
