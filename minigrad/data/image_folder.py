"""ImageFolder: a dataset from a tree of image files, one folder per class.

    root/airplane/0001.jpg        classes are the folder names, sorted
    root/airplane/0002.png        (so their label numbers do not depend on
    root/cat/0001.jpg              the order the file system lists them)
    ...

`root` may also be a `.tar.gz` (or `.tar`) of such a tree. An archive is read
once, and its compressed image bytes kept in memory (small: JPEG/PNG files);
images are decoded when asked for. Decoding needs Pillow.
"""
import io
from pathlib import Path

import numpy as np

from .dataset import Dataset, apply_transform
from .storage import CorruptFileError, is_tar, tar_files

__all__ = ["ImageFolder", "IMAGE_EXTENSIONS", "decode_image", "decode_images"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _pillow():
    try:
        from PIL import Image
    except ImportError as error:  # pragma: no cover - Pillow comes with matplotlib
        raise ImportError("decoding images needs Pillow: pip install pillow") from error
    return Image


def decode_image(source, mode="RGB", name=None):
    """One image file (a path, or its bytes) -> a uint8 array (H, W, C), or (H, W) for mode 'L'.

    mode: the Pillow mode to convert to ('RGB' for color, 'L' for grayscale)."""
    Image = _pillow()
    name = name or source
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            if image.mode != mode:
                image = image.convert(mode)
            return np.asarray(image)
    except OSError as error:  # PIL.UnidentifiedImageError and truncated files are OSErrors
        if isinstance(error, FileNotFoundError):
            raise
        raise CorruptFileError(f"cannot decode the image {name} ({error}); the file is damaged "
                               "or not an image: replace it, or delete it") from error


def decode_images(sources, names, mode="RGB"):
    """Decode many images of one size into one uint8 array (N, H, W, C).

    A plain loop: for small images such as CIFAR's 32x32 most of the time is
    Python overhead around Pillow's decoder, which holds the GIL, so a thread
    pool did not speed it up (measured: 60,000 CIFAR JPEGs, 1 thread 5.4 s,
    2 threads 5.8 s, on a 2-core machine)."""
    if not sources:
        raise ValueError("decode_images: no images to decode")
    images = [decode_image(s, mode, n) for s, n in zip(sources, names)]
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise ValueError(f"decode_images: images of different sizes {sorted(shapes)[:4]} cannot "
                         "be stacked into one array; resize them first")
    return np.stack(images)


def _split_image_path(name):
    """'a/b/train/cat/0001.jpg' -> ('a/b/train', 'cat'), or None if it is not an image
    inside a class folder."""
    parts = name.replace("\\", "/").strip("/").split("/")
    if len(parts) < 2 or not parts[-1].lower().endswith(IMAGE_EXTENSIONS) \
            or parts[-1].startswith("."):
        return None
    return "/".join(parts[:-2]), parts[-2]


def scan_image_tree(root, subdir=None):
    """All images of a class-folder tree (a folder or a tar archive).

    Returns (prefixes, files): files is a list of (prefix, class name, file
    name, source), source being the path (folder) or the bytes (archive), and
    prefix the folders above the class folders ('' for root/<class>/<image>,
    'train' for root/train/<class>/<image>)."""
    root = Path(root)
    files = []
    if root.is_dir():
        base = root / subdir if subdir else root
        for class_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            for f in sorted(class_dir.iterdir()):
                if f.is_file() and _split_image_path(f"{class_dir.name}/{f.name}"):
                    files.append((subdir or "", class_dir.name, f.name, f))
    elif root.is_file() and is_tar(root):
        wanted = subdir.strip("/") if subdir else None
        for name, data in tar_files(root):
            split = _split_image_path(name)
            if split is None or (wanted and not (split[0] == wanted or
                                                 split[0].endswith("/" + wanted))):
                continue
            files.append((split[0], split[1], name, data))
    elif not root.exists():
        raise FileNotFoundError(f"ImageFolder: {root} does not exist")
    else:
        raise ValueError(f"ImageFolder: {root} is neither a folder nor a .tar/.tar.gz archive")
    return files


class ImageFolder(Dataset):
    """Images in class folders: `ImageFolder(root)[i]` is `(image, label)`.

    root:      a folder of class folders, or a .tar/.tar.gz of one.
    transform: applied to each image, a uint8 array (H, W, C) as decoded
               (use ToTensor() first to get float32 (C, H, W) in [0, 1]).
    subdir:    the tree inside root to use, when it holds several (e.g. 'train').
    mode:      'RGB' (default) or 'L' for grayscale.

    Attributes: classes (sorted folder names), class_to_idx, samples
    [(file name, label)], targets (int64 array)."""

    def __init__(self, root, transform=None, subdir=None, mode="RGB"):
        self.root, self.transform, self.mode = Path(root), transform, mode
        files = scan_image_tree(root, subdir)
        prefixes = sorted({prefix for prefix, *_ in files})
        if len(prefixes) > 1:
            raise ValueError(f"ImageFolder: {root} holds several image trees "
                             f"({', '.join(p or '.' for p in prefixes)}); choose one with "
                             f"subdir={prefixes[-1]!r}")
        if not files:
            raise FileNotFoundError(
                f"ImageFolder: found no images ({', '.join(IMAGE_EXTENSIONS)}) in class folders "
                f"under {root}{' / ' + subdir if subdir else ''}; expected "
                "<root>/<class>/<image> (if the class folders sit one level deeper, as in "
                "<root>/train/<class>/<image>, pass subdir='train')")
        files.sort(key=lambda f: (f[1], f[2]))  # archive order is arbitrary: sort by class, name
        self.classes = sorted({cls for _, cls, _, _ in files})
        self.class_to_idx = {cls: i for i, cls in enumerate(self.classes)}
        self.samples = [(name, self.class_to_idx[cls]) for _, cls, name, _ in files]
        self.targets = np.array([label for _, label in self.samples], dtype=np.int64)
        self._sources = [source for *_, source in files]

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"ImageFolder: index {index} is out of range for {len(self)} images")
        name, label = self.samples[index]
        image = decode_image(self._sources[index], self.mode, name)
        return apply_transform(self.transform, image), label

    def to_arrays(self):
        """Decode every image at once: (images uint8 (N, H, W, C), labels int64 (N,)).

        All images must have the same size."""
        images = decode_images(self._sources, [name for name, _ in self.samples], self.mode)
        return images, self.targets.copy()

    def __repr__(self):
        return f"ImageFolder({str(self.root)!r}, {len(self)} images, {len(self.classes)} classes)"
