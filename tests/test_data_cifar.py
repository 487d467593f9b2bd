"""CIFAR10 on tiny files in the real formats: the official pickled archive, its extracted
folder, and the image-folder layout (folder and .tar.gz); the cache; clear errors."""
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

import minigrad.data.cifar as cifar
from minigrad.data import CIFAR10, CorruptFileError, DataLoader, find_cifar10
from minigrad.data import transforms as T

PER_BATCH = 3  # images per pickled batch: 15 train, 3 test


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private cache, no $MINIGRAD_DATA, and no ./data."""
    monkeypatch.setenv("MINIGRAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


def official_batches(seed=0):
    """{name: (rows uint8 (n, 3072), labels list)} like the official batches."""
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {n: (rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8),
                [int(v) for v in rng.integers(0, 10, PER_BATCH)]) for n in names}


def pickled(name, rows, labels):
    # The official files are Python 2 pickles (protocol 2) with bytes keys.
    return pickle.dumps({b"batch_label": name.encode(), b"labels": labels, b"data": rows,
                         b"filenames": [b"x.png"] * len(labels)}, protocol=2)


def write_archive(path, batches, extra=()):
    with tarfile.open(path, "w:gz") as tar:
        for name, (rows, labels) in list(batches.items()) + list(extra):
            data = pickled(name, rows, labels) if rows is not None else labels
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def expected_images(rows):
    """Row layout: 1024 red, 1024 green, 1024 blue values, each 32x32 row-major."""
    out = np.zeros((len(rows), 32, 32, 3), np.uint8)
    for n in range(len(rows)):
        for c in range(3):
            for i in range(32):
                out[n, i, :, c] = rows[n, c * 1024 + i * 32: c * 1024 + i * 32 + 32]
    return out


def check_matches(ds_train, ds_test, batches):
    train_rows = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    train_labels = sum((batches[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert ds_train.data.shape == (5 * PER_BATCH, 32, 32, 3) and ds_train.data.dtype == np.uint8
    np.testing.assert_array_equal(ds_train.data, expected_images(train_rows))
    assert ds_train.targets.dtype == np.int64
    np.testing.assert_array_equal(ds_train.targets, train_labels)
    np.testing.assert_array_equal(ds_test.data, expected_images(batches["test_batch"][0]))
    np.testing.assert_array_equal(ds_test.targets, batches["test_batch"][1])


def test_official_archive_as_file_and_in_folder(tmp_path):
    batches = official_batches()
    archive = write_archive(tmp_path / "cifar-10-python.tar.gz", batches,
                            extra=[("batches.meta", (None, b"meta"))])
    check_matches(CIFAR10(archive), CIFAR10(archive, train=False), batches)
    check_matches(CIFAR10(tmp_path), CIFAR10(tmp_path, train=False), batches)
    assert CIFAR10(tmp_path).source == archive
    assert CIFAR10.classes[0] == "airplane" and CIFAR10.classes[9] == "truck"


def test_extracted_batches_folder(tmp_path):
    batches = official_batches(1)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, (rows, labels) in batches.items():
        (folder / name).write_bytes(pickled(name, rows, labels))
    check_matches(CIFAR10(tmp_path), CIFAR10(tmp_path, train=False), batches)
    check_matches(CIFAR10(folder), CIFAR10(folder, train=False), batches)


def write_image_tree(root, fmt="png", per_class=2, seed=0):
    """root/{train,test}/<class>/NNNN.<fmt>; returns {(split, class, i): pixels}."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    pixels = {}
    for split in ("train", "test"):
        for cls in cifar.CLASSES:
            (root / split / cls).mkdir(parents=True)
            for i in range(per_class):
                image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                if fmt == "jpg":  # smooth images survive JPEG almost unchanged
                    image = np.full((32, 32, 3), rng.integers(0, 256, 3), np.uint8)
                Image.fromarray(image).save(root / split / cls / f"{i:04d}.{fmt}")
                pixels[split, cls, i] = image
    return pixels


def check_image_tree(ds, pixels, split, atol=0):
    assert len(ds) == 10 * 2 and ds.data.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(ds.targets, np.repeat(np.arange(10), 2))
    for k, cls in enumerate(cifar.CLASSES):
        for i in range(2):
            np.testing.assert_allclose(ds.data[2 * k + i], pixels[split, cls, i], atol=atol)


@pytest.mark.parametrize("as_archive", [False, True])
def test_image_folder_layout_png(tmp_path, as_archive):
    tree = tmp_path / "tree"
    pixels = write_image_tree(tree)
    root = tree
    if as_archive:
        root = tmp_path / "cifar10-jpg.tar.gz"
        with tarfile.open(root, "w:gz") as tar:
            tar.add(tree / "train", "train")
            tar.add(tree / "test", "test")
    check_image_tree(CIFAR10(root), pixels, "train")
    check_image_tree(CIFAR10(root, train=False), pixels, "test")


def test_image_folder_layout_jpg(tmp_path):
    pixels = write_image_tree(tmp_path, fmt="jpg")
    check_image_tree(CIFAR10(tmp_path, train=False), pixels, "test", atol=3)


def test_second_load_comes_from_the_cache_and_a_changed_source_is_reread(tmp_path, monkeypatch):
    archive = write_archive(tmp_path / "cifar-10-python.tar.gz", official_batches())
    first = CIFAR10(archive)
    assert len(list((tmp_path / "cache").glob("cifar10-*.npz"))) == 1
    assert not list((tmp_path / "cache").glob("*.tmp"))
    calls = []
    real = cifar.load_cifar10_arrays
    monkeypatch.setattr(cifar, "load_cifar10_arrays", lambda s: calls.append(s) or real(s))
    np.testing.assert_array_equal(CIFAR10(archive).data, first.data)
    assert calls == []  # served from the cache
    other = official_batches(seed=5)
    write_archive(archive, other)
    os.utime(archive, ns=(1, 1))  # a different mtime for sure
    check_matches(CIFAR10(archive), CIFAR10(archive, train=False), other)
    assert len(calls) == 1  # the new archive was decoded again (once: both splits cached)


def test_the_cache_write_of_a_killed_run_is_removed_by_the_next_one(tmp_path):
    import subprocess
    import sys

    from minigrad import serialization
    from minigrad.data import storage
    archive = write_archive(tmp_path / "cifar-10-python.tar.gz", official_batches())
    cache = tmp_path / "cache"
    cache.mkdir()
    target = f"cifar10-{storage.source_key(archive)}.npz"
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # a process that has ended
    child.wait()
    host = serialization._HOST
    killed = cache / f".{target}.{host}.{child.pid}.{'0' * 32}.tmp"  # its half-written cache
    other = cache / f".cifar10-0123456789abcdef.npz.{host}.{child.pid}.{'0' * 32}.tmp"
    for leftover in (killed, other):
        leftover.write_bytes(b"PK\x03\x04 half a cache")
    CIFAR10(archive)
    assert (cache / target).is_file()
    assert not killed.exists() or os.name != "posix"  # by pid on POSIX; elsewhere by age
    assert other.exists()  # another cache file's leftover waits for that file's next write


def test_loader_over_cifar_with_transforms(tmp_path):
    batches = official_batches()
    archive = write_archive(tmp_path / "cifar-10-python.tar.gz", batches)
    ds = CIFAR10(archive, transform=T.ToTensor())
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 3, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64
    images = expected_images(batches["data_batch_1"][0][:3])
    np.testing.assert_allclose(x.numpy()[:3], images.transpose(0, 3, 1, 2) / 255.0, rtol=1e-6)
    single, label = ds[1]
    assert single.shape == (3, 32, 32) and label == batches["data_batch_1"][1][1]


def test_not_found_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)Looked in.*data.*download=True"):
        CIFAR10()
    with pytest.raises(FileNotFoundError, match="empty"):
        find_cifar10(tmp_path / "empty")


def test_find_cifar10_searches_the_usual_places(tmp_path, monkeypatch):
    data = tmp_path / "somewhere"
    data.mkdir()
    archive = write_archive(data / "cifar-10-python.tar.gz", official_batches())
    monkeypatch.setenv("MINIGRAD_DATA", str(data))
    assert find_cifar10() == archive
    monkeypatch.delenv("MINIGRAD_DATA")
    (tmp_path / "data").mkdir()
    moved = (tmp_path / "data" / "cifar-10-python.tar.gz")
    archive.rename(moved)
    assert find_cifar10() == moved  # ./data
    (tmp_path / "cache").mkdir()
    moved.rename(tmp_path / "cache" / "cifar10-jpg.tar.gz")
    assert find_cifar10() == tmp_path / "cache" / "cifar10-jpg.tar.gz"  # ~/.cache/minigrad
    assert cifar.search_places() == [tmp_path / "data", tmp_path / "cache"]


def test_the_library_names_no_folder_of_a_development_machine():
    """Only the caller, $MINIGRAD_DATA, ./data and the cache folder say where data is:
    nothing found relative to where minigrad's files happen to be installed."""
    package = Path(cifar.__file__).resolve().parents[1]  # minigrad/
    for file in package.rglob("*.py"):
        text = file.read_text(encoding="utf-8")
        for needle in ("../shared", "shared/data", "/work/", "parents[2]"):
            assert needle not in text, f"{file} names {needle!r}"


def test_truncated_archive_names_the_file_and_the_fix(tmp_path):
    archive = write_archive(tmp_path / "cifar-10-python.tar.gz", official_batches())
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match=r"cifar-10-python.tar.gz is truncated or corrupt"
                                               r".*download"):
        CIFAR10(archive)
    archive.write_bytes(b"this is not a tar file at all" * 10)
    with pytest.raises(CorruptFileError, match="cifar-10-python.tar.gz"):
        CIFAR10(archive)


def test_archive_missing_batches(tmp_path):
    batches = official_batches()
    del batches["data_batch_3"]
    archive = write_archive(tmp_path / "cifar-10-python.tar.gz", batches)
    with pytest.raises(CorruptFileError, match="data_batch_3"):
        CIFAR10(archive)


class Sneaky:
    def __reduce__(self):
        return (os.getcwd, ())


def test_pickle_reader_refuses_anything_but_arrays(tmp_path):
    batches = official_batches()
    archive = tmp_path / "cifar-10-python.tar.gz"
    evil = pickle.dumps({b"data": Sneaky(), b"labels": [0]}, protocol=2)
    write_archive(archive, {k: v for k, v in batches.items() if k != "test_batch"},
                  extra=[("test_batch", (None, evil))])
    with pytest.raises(CorruptFileError, match="refusing to load posix.getcwd"):
        CIFAR10(archive)
