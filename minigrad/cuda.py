"""`minigrad.cuda.is_available()`, like `torch.cuda.is_available()`: never raises."""
from .backend import cuda_device_count as device_count
from .backend import cuda_is_available as is_available

__all__ = ["is_available", "device_count"]
