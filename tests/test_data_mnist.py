"""MNIST/FashionMNIST on tiny IDX files (gzipped and raw), and ImageFolder."""
import gzip
import struct
import tarfile

import numpy as np
import pytest

from minigrad.data import MNIST, CorruptFileError, DataLoader, FashionMNIST, ImageFolder, read_idx
from minigrad.data import transforms as T


def idx_bytes(array):
    """The IDX encoding, written from the format's description (big-endian everything)."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f8"): 0x0E}
    array = np.asarray(array)
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_mnist(folder, train=True, n=6, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "train" if train else "t10k"
    for stem, array in ((f"{prefix}-images-idx3-ubyte", images),
                        (f"{prefix}-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return images, labels


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    monkeypatch.setenv("MINIGRAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def test_read_idx_types():
    for array in (np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
                  np.array([-5, 70000], dtype=">i4"), np.array([[1.5, -2.25]], dtype=">f8")):
        path = "a.idx"
        with open(path, "wb") as f:
            f.write(idx_bytes(array))
        out = read_idx(path)
        np.testing.assert_array_equal(out, array)
        assert out.dtype.isnative and out.shape == array.shape


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_train_and_test(tmp_path, gz):
    images, labels = write_mnist(tmp_path / "m", gz=gz)
    test_images, test_labels = write_mnist(tmp_path / "m", train=False, n=4, gz=gz, seed=1)
    train, test = MNIST(tmp_path / "m"), MNIST(tmp_path / "m", train=False)
    np.testing.assert_array_equal(train.data, images)
    assert train.targets.dtype == np.int64
    np.testing.assert_array_equal(train.targets, labels)
    np.testing.assert_array_equal(test.data, test_images)
    np.testing.assert_array_equal(test.targets, test_labels)
    x, y = train[2]
    assert x.shape == (28, 28, 1) and y == labels[2]


def test_mnist_batches_through_to_tensor(tmp_path):
    images, labels = write_mnist(tmp_path)
    ds = MNIST(tmp_path, transform=T.Compose([T.ToTensor(), T.Normalize(0.5, 0.5)]))
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x.numpy()[:, 0], (images[:4] / 255.0 - 0.5) / 0.5, atol=1e-6)
    np.testing.assert_array_equal(y.numpy(), labels[:4])


def test_torchvision_layout_and_search_places(tmp_path, monkeypatch):
    write_mnist(tmp_path / "root" / "FashionMNIST" / "raw")
    assert len(FashionMNIST(tmp_path / "root")) == 6
    write_mnist(tmp_path / "data" / "mnist", n=3)  # ./data/mnist is searched by default
    assert len(MNIST()) == 3
    write_mnist(tmp_path / "env" / "mnist", n=2)
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "env"))
    assert len(MNIST()) == 2


def test_fashion_mnist_looks_in_the_debian_package_folder(tmp_path, monkeypatch):
    write_mnist(tmp_path / "usr-share", n=2)
    monkeypatch.setattr(FashionMNIST, "system_dirs", [str(tmp_path / "usr-share")])
    ds = FashionMNIST()
    assert len(ds) == 2 and ds.classes[9] == "Ankle boot"


def test_missing_files_say_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setattr(FashionMNIST, "system_dirs", [])
    with pytest.raises(FileNotFoundError, match=r"(?s)train-images-idx3-ubyte.*Looked in.*"
                                                r"download=True.*apt-get install"):
        FashionMNIST()
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        MNIST(tmp_path, train=False)


def test_truncated_and_corrupt_idx_files(tmp_path):
    write_mnist(tmp_path / "a", gz=False)
    path = tmp_path / "a" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptFileError, match=r"train-images-idx3-ubyte is truncated.*"
                                               r"\(6, 28, 28\)"):
        MNIST(tmp_path / "a")
    write_mnist(tmp_path / "b")
    path = tmp_path / "b" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])  # a gzip stream cut off
    with pytest.raises(CorruptFileError, match="train-images-idx3-ubyte.gz is truncated or "
                                               "corrupt.*download"):
        MNIST(tmp_path / "b")
    path.write_bytes(gzip.compress(b"\x01\x02\x03\x04 nonsense"))
    with pytest.raises(CorruptFileError, match="not an IDX file"):
        MNIST(tmp_path / "b")


# ------------------------------------------------------------------ ImageFolder
def write_folder(root, fmt):
    from PIL import Image
    rng = np.random.default_rng(0)
    pixels = {}
    for cls in ("zebra", "ant", "moth"):  # sorted: ant, moth, zebra
        (root / cls).mkdir(parents=True)
        for i in range(2):
            image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
            if fmt == "jpg":
                image[:] = rng.integers(0, 256, 3, dtype=np.uint8)
            Image.fromarray(image).save(root / cls / f"{i}.{fmt}")
            pixels[cls, i] = image
    (root / "ant" / "notes.txt").write_text("not an image")
    return pixels


@pytest.mark.parametrize("fmt", ["png", "jpg"])
@pytest.mark.parametrize("as_archive", [False, True])
def test_image_folder(tmp_path, fmt, as_archive):
    pixels = write_folder(tmp_path / "pets", fmt)
    root = tmp_path / "pets"
    if as_archive:
        root = tmp_path / "pets.tar.gz"
        with tarfile.open(root, "w:gz") as tar:
            tar.add(tmp_path / "pets", "pets")
    ds = ImageFolder(root)
    assert ds.classes == ["ant", "moth", "zebra"] and len(ds) == 6
    np.testing.assert_array_equal(ds.targets, [0, 0, 1, 1, 2, 2])
    image, label = ds[3]
    assert image.dtype == np.uint8 and image.shape == (5, 7, 3) and label == 1
    np.testing.assert_allclose(image, pixels["moth", 1], atol=0 if fmt == "png" else 3)
    images, labels = ds.to_arrays()
    assert images.shape == (6, 5, 7, 3)
    x, y = next(iter(DataLoader(ImageFolder(root, transform=T.ToTensor()), batch_size=6,
                                shuffle=True, seed=0)))
    assert x.shape == (6, 3, 5, 7) and sorted(y.numpy()) == [0, 0, 1, 1, 2, 2]


def test_image_folder_subdir_choice_and_errors(tmp_path):
    write_folder(tmp_path / "train", "png")
    write_folder(tmp_path / "test", "png")
    archive = tmp_path / "both.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "train", "train")
        tar.add(tmp_path / "test", "test")
    with pytest.raises(ValueError, match="several image trees.*subdir="):
        ImageFolder(archive)
    assert len(ImageFolder(archive, subdir="test")) == 6
    assert len(ImageFolder(tmp_path, subdir="train")) == 6
    with pytest.raises(FileNotFoundError, match="subdir='train'"):
        ImageFolder(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolder(tmp_path / "missing")
    (tmp_path / "train" / "ant" / "0.png").write_bytes(b"not really a png")
    with pytest.raises(CorruptFileError, match=r"0\.png"):
        ImageFolder(tmp_path, subdir="train")[0]
