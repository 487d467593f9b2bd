"""minigrad.data: datasets, transforms and the DataLoader that feeds batches to a model.

    from minigrad.data import CIFAR10, DataLoader, transforms as T

    train = CIFAR10(train=True, transform=T.Compose([
        T.ToTensor(), T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
        T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))]))
    for x, y in DataLoader(train, batch_size=128, shuffle=True, device="cuda"):
        ...   # x: float32 (128, 3, 32, 32), y: int64 (128,), both on the GPU

Files, from the simplest: dataset.py (Dataset, TensorDataset, Subset,
random_split), dataloader.py, transforms.py, device_loader.py (a whole image
dataset kept on the device, batches cropped, flipped and normalised there),
then the real data sets and their plumbing: image_folder.py, cifar.py,
mnist.py, download.py, storage.py; sampler.py (DistributedSampler, each
rank's share for data-parallel training).
"""
from . import transforms
from .cifar import CIFAR10, find_cifar10
from .dataloader import DataLoader
from .dataset import ArrayDataset, Dataset, Subset, TensorDataset, random_split
from .device_loader import DeviceLoader
from .download import ChecksumError, DownloadError, download_url, md5sum
from .image_folder import ImageFolder
from .mnist import MNIST, FashionMNIST, read_idx
from .sampler import DistributedSampler
from .storage import CorruptFileError

__all__ = ["transforms", "CIFAR10", "find_cifar10", "DataLoader", "DeviceLoader", "ArrayDataset",
           "Dataset", "Subset", "TensorDataset", "random_split", "ChecksumError", "DownloadError",
           "download_url", "md5sum", "ImageFolder", "MNIST", "FashionMNIST", "read_idx",
           "CorruptFileError", "DistributedSampler"]
