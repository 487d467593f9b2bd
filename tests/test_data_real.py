"""The real data sets of this workplace, when present (skipped elsewhere).

The CIFAR-10 test decodes 60,000 JPEGs on its first run (about 6-8 s here),
then reads the cached arrays (well under a second)."""
from pathlib import Path

import numpy as np
import pytest

from minigrad.data import CIFAR10, DataLoader, FashionMNIST
from minigrad.data import transforms as T

CIFAR_JPG = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10-jpg.tar.gz"
FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not CIFAR_JPG.is_file(), reason=f"{CIFAR_JPG} is not here")
def test_real_cifar10_jpg_archive():
    train, test = CIFAR10(CIFAR_JPG), CIFAR10(CIFAR_JPG, train=False)
    assert train.data.shape == (50000, 32, 32, 3) and test.data.shape == (10000, 32, 32, 3)
    assert train.data.dtype == np.uint8 and train.targets.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(train.targets), [5000] * 10)
    np.testing.assert_array_equal(np.bincount(test.targets), [1000] * 10)
    # CIFAR-10's per-channel means are about (125, 123, 114) of 255: real photos, not noise
    means = train.data[::50].reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(means, [125.3, 123.0, 113.9], atol=3)
    # the classes differ: ships and airplanes are bluer than frogs
    blue = [train.data[train.targets == k][:500, ..., 2].mean() for k in range(10)]
    assert blue[8] > blue[6] and blue[0] > blue[6]
    loader = DataLoader(test, batch_size=256, transform=T.ToTensor())
    x, y = next(iter(loader))
    assert x.shape == (256, 3, 32, 32) and x.dtype == np.float32 and 0 <= x.numpy().min()
    assert len(loader) == 40


@pytest.mark.skipif(not FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist():
    train, test = FashionMNIST(), FashionMNIST(train=False)
    assert train.data.shape == (60000, 28, 28) and test.data.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(train.targets), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test.targets), [1000] * 10)
    assert 60 < train.data.mean() < 90  # Fashion-MNIST's mean pixel is about 72.9
