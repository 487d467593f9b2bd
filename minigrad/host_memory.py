"""Keep freed host memory for reuse: an allocator setting that makes CPU steps faster.

A training step allocates and frees the same large arrays every time: the
activations and their gradients, tens of MB each at batch 512. glibc's malloc
serves such blocks with a fresh mmap and unmaps them at free, so every step
faults every page of every activation in again, and the kernel zeroes each one
first (NumPy asks for 2 MB huge pages on big arrays: fewer faults, each one
dearer). On a virtual machine the host may have to find the memory too, and a
step's time starts to vary by 2x from one step to the next.

keep_freed_memory() tells malloc to serve every block from its heap and never
to give the heap's free memory back: after the first step, each new array takes
memory that is already mapped. Measured on the speedrun net (batch 512, 2
cores): system time 0.8 -> 0.03 s per step, and the median step 1.62 -> 1.40 s,
with no step slower than 1.44 s (without it: up to 2.8 s). See
benchmarks/README.md.

The cost: the process keeps its peak memory (from the heap) until it exits,
as PyTorch's caching allocators keep theirs. minigrad applies the setting when
it is imported, on Linux with glibc; MINIGRAD_KEEP_MEMORY=0 in the environment
leaves malloc as it was. Elsewhere (macOS, musl) it does nothing.
"""
import ctypes
import os

__all__ = ["keep_freed_memory", "apply_default"]

# mallopt's parameter numbers, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1   # free memory at the heap's top above this goes back to the OS
M_MMAP_MAX = -4         # how many blocks may be mmapped at once (0: none, all from the heap)
NEVER = 2 ** 31 - 1     # the largest value mallopt takes (an int)


def _mallopt():
    """glibc's mallopt, or None where the C library has none."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


def keep_freed_memory():
    """Serve large blocks from malloc's heap and never shrink it; True if malloc took it.

    (Threads other than the main one allocate from their own arenas, whose
    largest blocks may still be mmapped: glibc falls back to it there.)"""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    took_mmap = mallopt(M_MMAP_MAX, 0)            # both calls made, whatever the first returns
    took_trim = mallopt(M_TRIM_THRESHOLD, NEVER)
    return bool(took_mmap and took_trim)


def apply_default():
    """What `import minigrad` does: keep_freed_memory() unless MINIGRAD_KEEP_MEMORY=0."""
    if os.environ.get("MINIGRAD_KEEP_MEMORY", "1").strip() == "0":
        return False
    return keep_freed_memory()
