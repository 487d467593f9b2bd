"""Time one training step (forward, cross-entropy, backward, SGD-momentum update)
of two CIFAR-10-sized CNNs, minigrad side by side with PyTorch.

    python benchmarks/bench_train_step.py                    # both nets, 30 steps
    python benchmarks/bench_train_step.py --net lenet --steps 100
    python benchmarks/bench_train_step.py --device cuda --batch 512   # CuPy next to PyTorch CUDA

Nets (float32, 3x32x32 inputs, 10 classes):
  lenet     the PyTorch-tutorial CIFAR-10 net: conv 3->6 5x5, relu, maxpool 2,
            conv 6->16 5x5, relu, maxpool 2, fc 400->120->84->10; batch 100
  vgg       conv-BN-ReLU 3->32, 32->32, maxpool, 32->64, 64->64, maxpool,
            64->128, maxpool, dropout, linear 2048->10; batch 128
  speedrun  the net of examples/cifar10_speedrun.py: a 2x2 conv 3->24, ReLU,
            then three blocks conv-maxpool-BN-ReLU-conv-BN-ReLU of --widths (default
            64, 128, 128, the example's), maxpool 3, linear;
            batch 512 (ReLU by default, as in the earlier figures; --act gelu for the
            example's default now, airbench's GELU in its tanh form)

GFLOP/s counts the multiply-adds of the convolutions and linear layers (two
FLOPs each) of one forward pass, times three for a training step (backward
computes two products of the forward's size: the input's and the weights'
gradients). --peak-gflops (default 204: two AMD Zen 4 cores at 3.2 GHz with
AVX-512, 32 fp32 FLOPs a cycle each) turns that into a share of the machine's
peak; the BLAS library and the kernels it picked are printed first
(minigrad.threads.blas_info, through threadpoolctl).

--load N runs N competing busy processes next to the benchmark (a loaded
machine: another job spinning on the same cores) and stops them at the end.

Both frameworks run the same architecture from the same initial weights; the
first step's loss is printed for each as a sanity check (equal up to float32
rounding for LeNet; the VGG net's dropout masks differ). The machine may be
shared and noisy, so the two frameworks' steps are interleaved (one of each,
alternating which goes first) and the table reports medians, and the median
of the per-round ratios. --threads (default 2) sets both PyTorch's threads
and NumPy's BLAS threads (OPENBLAS_NUM_THREADS etc.), and --openblas-core
OPENBLAS_CORETYPE: both must be set before NumPy loads, hence the early peek
at sys.argv below.

CPU time (all threads of the process) per step is printed too: on a machine
shared with other jobs it moves much less than wall time. With more than one
thread it includes time BLAS threads spend spinning while they wait.

With --device cuda, minigrad runs on CuPy and PyTorch on the same GPU (when
its build has CUDA), both in float32. A GPU call returns before the GPU has
done the work, so each step ends with a device synchronize (minigrad's
backend.synchronize, torch.cuda.synchronize) and the loss is read only after
the timing: `.item()` inside the step would be a second synchronization.
Full float32 by default; --tf32 lets both use TF32 tensor cores for matrix
products and convolutions: PyTorch through its fp32_precision settings (or
allow_tf32 on older versions), minigrad through CuPy's CUPY_TF32 (read when
CuPy runs its first float32 matrix product, hence set below before anything
runs; it is set to 0 without --tf32, so the comparison stays like for like).
"""
import argparse
import math
import os
import statistics
import sys
import time


def _option_from_argv(name, default):
    for i, arg in enumerate(sys.argv):
        if arg == name and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = _option_from_argv("--threads", "2")
if _option_from_argv("--openblas-core", None):
    os.environ["OPENBLAS_CORETYPE"] = _option_from_argv("--openblas-core", None)
if _option_from_argv("--device", "cpu").startswith("cuda"):
    os.environ["CUPY_TF32"] = "1" if "--tf32" in sys.argv else "0"

import numpy as np

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
import minigrad.threads

NETS = {"lenet": 100, "vgg": 128, "speedrun": 512}  # net -> default batch size (--batch overrides)
WIDTHS = (64, 128, 128)  # the speedrun net's blocks, the example's default (set from --widths)
WIDTH = 1.0  # a multiplier of WIDTHS (set from --width)
ACTIVATION = "relu"  # the speedrun net's (set from --act)


# ---------------------------------------------------------------- the nets
def lenet(lib):
    """`lib` is minigrad's nn or torch.nn: the same code builds both."""
    return lib.Sequential(
        lib.Conv2d(3, 6, 5), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(6, 16, 5), lib.ReLU(), lib.MaxPool2d(2),
        lib.Flatten(),
        lib.Linear(16 * 5 * 5, 120), lib.ReLU(),
        lib.Linear(120, 84), lib.ReLU(),
        lib.Linear(84, 10))


def vgg(lib):
    def block(c_in, c_out):
        return [lib.Conv2d(c_in, c_out, 3, padding=1, bias=False), lib.BatchNorm2d(c_out),
                lib.ReLU()]
    return lib.Sequential(
        *block(3, 32), *block(32, 32), lib.MaxPool2d(2),
        *block(32, 64), *block(64, 64), lib.MaxPool2d(2),
        *block(64, 128), lib.MaxPool2d(2),
        lib.Dropout(0.5), lib.Flatten(), lib.Linear(128 * 4 * 4, 10))


def activation(lib):
    """The speedrun net's activation: ReLU, or GELU in its tanh form (the example's)."""
    return lib.ReLU() if ACTIVATION == "relu" else lib.GELU(approximate="tanh")


def speedrun(lib):
    widths = [max(1, round(WIDTH * w)) for w in WIDTHS]

    def block(c_in, c_out):
        return [lib.Conv2d(c_in, c_out, 3, padding=1, bias=False), lib.MaxPool2d(2),
                lib.BatchNorm2d(c_out), activation(lib),
                lib.Conv2d(c_out, c_out, 3, padding=1, bias=False), lib.BatchNorm2d(c_out),
                activation(lib)]
    return lib.Sequential(
        lib.Conv2d(3, 24, 2), activation(lib),
        *block(24, widths[0]), *block(widths[0], widths[1]), *block(widths[1], widths[2]),
        lib.MaxPool2d(3), lib.Flatten(), lib.Linear(widths[2], 10, bias=False))


def add_width_options(parser):
    parser.add_argument("--widths", default="64,128,128", metavar="W1,W2,W3",
                        help="the speedrun net's blocks (default: the example's, airbench93's; "
                             "airbench94's are 64,256,256)")
    parser.add_argument("--width", type=float, default=1.0, help="a multiplier of --widths")
    parser.add_argument("--act", choices=["relu", "gelu"], default="relu",
                        help="the speedrun net's activation (gelu: its tanh form, the "
                             "example's default)")


def set_widths(args):
    """The speedrun net's widths and activation, from add_width_options' flags."""
    global WIDTHS, WIDTH, ACTIVATION
    WIDTHS, WIDTH = tuple(int(w) for w in args.widths.split(",")), args.width
    ACTIVATION = args.act


def training_gflop(model, x):
    """FLOPs of one training step, in GFLOP: 2 x 3 x the multiply-adds of the
    forward pass's convolutions and linear layers (see the module docstring)."""
    macs = []

    def count(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            w = module.weight.shape  # (F, C/groups, KH, KW)
            macs.append(math.prod(output.shape) * w[1] * w[2] * w[3])
        elif isinstance(module, nn.Linear):
            macs.append(math.prod(output.shape) * module.weight.shape[1])

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    with minigrad.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return 6 * sum(macs) / 1e9


def busy_neighbours(count):
    """`count` processes that spin on the CPU until stopped: another job on the machine."""
    import subprocess
    spin = "import time\nwhile True:\n    sum(i * i for i in range(10000))\n"
    return [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]


# ---------------------------------------------------------------- one step each
class MinigradStep:
    def __init__(self, name, device, torch_model, x, y):
        self.device = minigrad.backend.normalize_device(device)
        self.model = globals()[name](nn)
        if torch_model is not None:  # start from PyTorch's weights (still on the CPU)
            self.model.load_state_dict(torch_model.state_dict())
        self.model.to(self.device)
        self.opt = optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.x = minigrad.tensor(x, device=self.device)
        self.y = minigrad.tensor(y, device=self.device)

    def __call__(self):
        """One step; returns the loss tensor, read by the caller after the timing."""
        self.opt.zero_grad()
        loss = F.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        minigrad.backend.synchronize(self.device)
        return loss


class TorchStep:
    def __init__(self, torch, model, x, y, device):
        self.torch, self.device = torch, device
        self.model = model.to(device)  # moved before the optimizer takes its parameters
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.x, self.y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def __call__(self):
        self.opt.zero_grad()
        loss = self.torch.nn.functional.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        if self.device != "cpu":
            self.torch.cuda.synchronize(self.device)
        return loss


def timed(step):
    """(wall seconds, CPU seconds of the whole process) for one step."""
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    return time.perf_counter() - wall, time.process_time() - cpu


# ---------------------------------------------------------------- main
def run(name, args, torch):
    batch = args.batch or NETS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    torch_model = None
    if torch is not None:
        torch.manual_seed(0)
        torch_model = globals()[name](torch.nn)  # initialised on the CPU, as minigrad's copy
    ours = MinigradStep(name, args.device, torch_model, x, y)
    steps = {"minigrad": ours}
    if torch is not None:
        steps["pytorch"] = TorchStep(torch, torch_model, x, y, ours.device)

    first_loss = {k: step().item() for k, step in steps.items()}  # also warms up
    for _ in range(args.warmup - 1):
        for step in steps.values():
            step()
    times = {k: [] for k in steps}
    for i in range(args.steps):
        order = list(steps) if i % 2 == 0 else list(reversed(steps))
        for k in order:
            times[k].append(timed(steps[k]))

    setting = (f"{args.threads} thread(s) each" if ours.device == "cpu"
               else "TF32 on" if args.tf32 else "full float32 (no TF32)")
    print(f"\n{name}: batch {batch}, {args.steps} timed steps after {args.warmup} warm-up, "
          f"minigrad on {ours.device}, {setting}")
    print(f"  {'':10s} {'wall ms/step':>12s} {'(min)':>8s} {'images/s':>9s} "
          f"{'cpu ms/step':>12s} {'first loss':>11s}")
    wall = {k: [w for w, _ in ts] for k, ts in times.items()}
    cpu = {k: [c for _, c in ts] for k, ts in times.items()}
    for k in times:
        median = statistics.median(wall[k])
        print(f"  {k:10s} {median * 1e3:12.2f} {min(wall[k]) * 1e3:8.2f} {batch / median:9.0f} "
              f"{statistics.median(cpu[k]) * 1e3:12.2f} {first_loss[k]:11.6f}")
    gflop = training_gflop(ours.model, ours.x)
    rates = {k: gflop / statistics.median(wall[k]) for k in times}
    print(f"  {gflop:.2f} GFLOP per step: " + ", ".join(
        f"{k} {rate:.1f} GFLOP/s" + (f" ({100 * rate / args.peak_gflops:.0f}% of "
                                     f"{args.peak_gflops:g})" if ours.device == "cpu" else "")
        for k, rate in rates.items()))
    if torch is not None:
        ratio = statistics.median(wall["minigrad"]) / statistics.median(wall["pytorch"])
        paired = statistics.median(a / b for a, b in zip(wall["minigrad"], wall["pytorch"]))
        cpu_ratio = statistics.median(cpu["minigrad"]) / statistics.median(cpu["pytorch"])
        print(f"  minigrad / pytorch: wall {ratio:.2f}x (median of per-round ratios "
              f"{paired:.2f}x), cpu {cpu_ratio:.2f}x")


def set_torch_tf32(torch, on):
    """TF32 for PyTorch's CUDA matrix products and cuDNN convolutions, or full float32.

    cuDNN convolutions default to TF32 in PyTorch, so "off" must be said too.
    PyTorch 2.9+ has per-backend fp32_precision settings and refuses a mix of
    those and the older allow_tf32 flags: use the new ones when they exist."""
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        torch.backends.cuda.matmul.fp32_precision = "tf32" if on else "ieee"
        torch.backends.cudnn.conv.fp32_precision = "tf32" if on else "ieee"
        return (f"matmul {torch.backends.cuda.matmul.fp32_precision}, "
                f"cudnn conv {torch.backends.cudnn.conv.fp32_precision}")
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    return f"allow_tf32 {on}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", choices=list(NETS) + ["all"], default="all")
    add_width_options(parser)
    parser.add_argument("--peak-gflops", type=float, default=204.0,
                        help="the machine's fp32 peak, for the share printed next to GFLOP/s")
    parser.add_argument("--load", type=int, default=0, metavar="N",
                        help="run N competing busy processes during the benchmark")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per framework")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=None,
                        help="batch size (default: 100 for lenet, 128 for vgg)")
    parser.add_argument("--device", default="cpu", help="minigrad's device: cpu or cuda")
    parser.add_argument("--tf32", action="store_true",
                        help="on cuda, let both frameworks use TF32 tensor cores (default: "
                             "full float32 for both)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for PyTorch and for NumPy's BLAS")
    parser.add_argument("--openblas-core", metavar="NAME",
                        help="OpenBLAS's kernels (sets OPENBLAS_CORETYPE), e.g. SkylakeX for "
                             "its AVX-512 ones or Haswell for AVX2 (see README)")
    parser.add_argument("--no-torch", action="store_true", help="time minigrad alone")
    args = parser.parse_args()
    args.warmup = max(1, args.warmup)
    set_widths(args)
    on_gpu = args.device.startswith("cuda")
    if on_gpu and not minigrad.cuda.is_available():
        parser.error(f"--device {args.device} needs CuPy and a CUDA GPU, and none was found")

    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            print("PyTorch is not installed: timing minigrad alone")
    if torch is not None and on_gpu and not torch.cuda.is_available():
        print(f"PyTorch {torch.__version__} has no CUDA here: timing minigrad alone")
        torch = None
    print(f"minigrad {minigrad.__version__}, NumPy {np.__version__}"
          + (f", PyTorch {torch.__version__}" if torch else "")
          + f"; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset: auto-detect)')}"
          + f"; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    if on_gpu:
        gpu = (f"GPU {torch.cuda.get_device_name(minigrad.backend.normalize_device(args.device))}; "
               if torch else "")
        fused = getattr(minigrad.cuda, "fused_kernels_enabled", None)  # MINIGRAD_FUSED_KERNELS=0: off
        print(f"{gpu}minigrad: CUPY_TF32={os.environ.get('CUPY_TF32')}"
              + (f", fused kernels {'on' if fused() else 'off'}" if fused else "")
              + (f"; PyTorch: {set_torch_tf32(torch, args.tf32)}, "
                 f"cudnn.benchmark {torch.backends.cudnn.benchmark}" if torch else "")
              + (f"; NVIDIA_TF32_OVERRIDE={os.environ['NVIDIA_TF32_OVERRIDE']} (overrides both)"
                 if "NVIDIA_TF32_OVERRIDE" in os.environ else ""))
    if not on_gpu:
        print("BLAS: " + "; ".join(f"{lib['library']} {lib['version']}, {lib['architecture']} "
                                   f"kernels, {lib['num_threads']} thread(s)"
                                   for lib in minigrad.threads.blas_info()))
    neighbours = busy_neighbours(args.load)
    if neighbours:
        print(f"with {len(neighbours)} competing busy process(es) on the machine")
    try:
        for name in (NETS if args.net == "all" else [args.net]):
            run(name, args, torch)
    finally:
        for process in neighbours:
            process.kill()


if __name__ == "__main__":
    main()
