"""The fused CUDA kernels against the readable NumPy path they stand in for, on a GPU.

    python benchmarks/bench_kernels.py            # needs CuPy and an NVIDIA GPU; ~30 s

Each line runs the same minigrad call with the kernels off (the NumPy path,
running on CuPy) and on, and prints the median milliseconds of 20 calls after
3 warm-up calls (the first compiles the kernel), each call ended by a device
synchronize, float32 throughout. Optimizer steps update three tensors of 21M
numbers in all; the layer ops run forward and backward (first order).
"""
import statistics
import time

import numpy as np

import minigrad
import minigrad.functional as F
import minigrad.optim as optim
from minigrad import backend, kernels

rng = np.random.default_rng(0)


def milliseconds(call, repeats=20, warmup=3):
    for _ in range(warmup):
        call()
    backend.synchronize("cuda:0")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        backend.synchronize("cuda:0")
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def compare(name, make_call):
    """make_call() -> a function to time; built afresh for each side."""
    timings = []
    for fused in (False, True):
        with kernels.set_enabled(fused):
            timings.append(milliseconds(make_call()))
    numpy_path, fused = timings
    print(f"{name:46s} NumPy path {numpy_path:8.3f} ms   fused {fused:8.3f} ms   "
          f"{numpy_path / fused:5.2f}x", flush=True)


def cuda_tensor(shape, requires_grad=False):
    return minigrad.tensor(rng.standard_normal(shape).astype(np.float32), device="cuda",
                           requires_grad=requires_grad)


def optimizer_step(make_optimizer):
    def make_call():
        params = [cuda_tensor(s, True) for s in [(4096, 4096), (4096, 1024), (1024,)]]
        for p in params:
            p.grad = cuda_tensor(p.shape)
        optimizer = make_optimizer(params)
        optimizer.step()  # the first step creates the state (momentum: g itself)
        return optimizer.step
    return make_call


def forward_backward(function, *shapes):
    def make_call():
        inputs = [cuda_tensor(s, True) for s in shapes]
        upstream = cuda_tensor(function(*inputs).shape)
        return lambda: minigrad.grad(function(*inputs), inputs, upstream)
    return make_call


def cross_entropy_call():
    logits = cuda_tensor((4096, 1000), True)
    target = minigrad.tensor(rng.integers(0, 1000, 4096), device="cuda")
    return lambda: minigrad.grad(F.cross_entropy(logits, target), [logits])


def main():
    if not minigrad.cuda.is_available():
        raise SystemExit("bench_kernels.py needs CuPy and an NVIDIA GPU")
    compare("SGD momentum step, 21M params", optimizer_step(
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9)))
    compare("Adam step, 21M params", optimizer_step(lambda p: optim.Adam(p, lr=1e-3)))
    compare("AdamW step, 21M params", optimizer_step(lambda p: optim.AdamW(p, lr=1e-3)))
    compare("Lion step, 21M params", optimizer_step(lambda p: optim.Lion(p, lr=1e-4)))
    compare("RMSprop step, 21M params", optimizer_step(lambda p: optim.RMSprop(p, lr=1e-3)))
    compare("GELU (4096, 4096)", forward_backward(F.gelu, (4096, 4096)))
    compare("GELU tanh (4096, 4096)", forward_backward(
        lambda x: F.gelu(x, approximate="tanh"), (4096, 4096)))
    compare("batch_norm training (256, 64, 32, 32)", forward_backward(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        (256, 64, 32, 32), (64,), (64,)))
    compare("conv2d 3x3 (128, 64, 32, 32) -> 64", forward_backward(
        lambda x, w: F.conv2d(x, w, padding=1), (128, 64, 32, 32), (64, 64, 3, 3)))
    compare("conv2d 3x3 stride 2 (128, 64, 32, 32) -> 128", forward_backward(
        lambda x, w: F.conv2d(x, w, stride=2, padding=1), (128, 64, 32, 32), (128, 64, 3, 3)))
    compare("max_pool2d 3x3 stride 2 (128, 64, 32, 32)", forward_backward(
        lambda x: F.max_pool2d(x, 3, stride=2, padding=1), (128, 64, 32, 32)))
    compare("cross_entropy (4096, 1000)", cross_entropy_call)


if __name__ == "__main__":
    main()
