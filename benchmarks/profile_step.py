"""Where a training step's time goes, op by op, minigrad next to PyTorch.

    python benchmarks/profile_step.py --net vgg
    python benchmarks/profile_step.py --net speedrun --steps 10

Runs the nets of bench_train_step.py (same architecture, same weights, same
batch) for a few steps and prints, for each framework, the self time of each
kind of work per step (time inside an op minus the ops it calls), grouped into
the same categories so the two columns can be read side by side:

    conv forward, conv backward, batch-norm, pooling, activations, linear,
    loss, optimizer, other (graph bookkeeping, Python, framework overhead)

minigrad is measured by timing every Function's forward and backward (and the
optimizer's step) with perf_counter; PyTorch by its own profiler
(torch.profiler, self CPU time of each aten op). Both add some overhead of
their own, so the totals are a little above bench_train_step.py's step times:
read the shares, and take step times from bench_train_step.py.
"""
import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import bench_train_step as bench  # noqa: E402  (sets the BLAS threads before NumPy loads)
import numpy as np  # noqa: E402

from minigrad.autograd import Function  # noqa: E402

CATEGORIES = [  # (category, words in an op's name that put it there), first match wins
    ("conv backward", ["convgradweight", "convtranspose", "col2im", "convolution_backward"]),
    ("conv forward", ["conv", "im2col"]),
    ("batch-norm", ["batchnorm", "batch_norm"]),
    ("pooling", ["pool", "maxpool"]),
    ("activations", ["relu", "gelu", "threshold", "clamp_min"]),
    ("linear", ["linear", "matmul", "addmm", "mm", "transpose"]),
    ("loss", ["cross", "softmax", "nll", "entropy"]),
    ("optimizer", ["optimizer", "sgd", "_foreach", "add_", "mul_", "lerp", "fill_", "zero"]),
]


def category(name):
    lowered = name.lower()
    for label, words in CATEGORIES:
        if any(word in lowered for word in words):
            return label
    return "other"


# ---------------------------------------------------------------- minigrad
class SelfTimer:
    """Self time per label: a stack of open regions, each region's time minus
    the time of the regions it opened."""

    def __init__(self):
        self.totals = collections.Counter()
        self.stack = []

    def wrap(self, label, fn):
        def timed(*args, **kwargs):
            self.stack.append(0.0)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                children = self.stack.pop()
                self.totals[label] += elapsed - children
                if self.stack:
                    self.stack[-1] += elapsed
        return timed


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


def profile_minigrad(step, steps):
    timer = SelfTimer()
    patched = []
    call = Function.__call__
    Function.__call__ = lambda self, *xs: timer.wrap(type(self).__name__ + " forward",
                                                     lambda: call(self, *xs))()
    for cls in set(all_subclasses(Function)):
        if "backward" in cls.__dict__:
            patched.append((cls, cls.backward))
            cls.backward = (lambda original, label: lambda self, *g: timer.wrap(
                label, original)(self, *g))(cls.backward, cls.__name__ + " backward")
    optimizer_step = step.opt.step
    step.opt.step = timer.wrap("optimizer step", optimizer_step)
    try:
        step()  # warm-up, not counted
        timer.totals.clear()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        total = (time.perf_counter() - start) / steps
    finally:
        Function.__call__ = call
        for cls, original in patched:
            cls.backward = original
        step.opt.step = optimizer_step
    per_step = {label: seconds / steps for label, seconds in timer.totals.items()}
    per_step["(outside any op)"] = total - sum(per_step.values())
    return total, per_step


# ---------------------------------------------------------------- PyTorch
def profile_torch(torch, step, steps):
    step()  # warm-up
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        total = (time.perf_counter() - start) / steps
    per_step = {event.key: event.self_cpu_time_total / 1e6 / steps
                for event in prof.key_averages()}
    return total, per_step


# ---------------------------------------------------------------- report
def grouped(per_step):
    groups = collections.Counter()
    for label, seconds in per_step.items():
        groups["other" if label.startswith("(") else category(label)] += seconds
    return groups


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", choices=list(bench.NETS), default="vgg")
    bench.add_width_options(parser)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=12, help="also list the N costliest ops")
    args = parser.parse_args()
    bench.set_widths(args)
    batch = args.batch or bench.NETS[args.net]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    try:
        import torch
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        torch_model = getattr(bench, args.net)(torch.nn)
    except ImportError:
        torch, torch_model = None, None
    ours = bench.MinigradStep(args.net, "cpu", torch_model, x, y)
    results = {"minigrad": profile_minigrad(ours, args.steps)}
    if torch is not None:
        theirs = bench.TorchStep(torch, torch_model, x, y, "cpu")
        results["pytorch"] = profile_torch(torch, theirs, args.steps)

    print(f"{args.net}: batch {batch}, {args.steps} steps, {args.threads} thread(s), "
          f"ms per step (self time)")
    print(f"  {'':16s}" + "".join(f"{name:>12s}" for name in results)
          + ("     ratio" if len(results) == 2 else ""))
    groups = {name: grouped(per_step) for name, (_, per_step) in results.items()}
    for label in [c for c, _ in CATEGORIES] + ["other"]:
        ms = [groups[name][label] * 1e3 for name in results]
        ratio = f"{ms[0] / ms[1]:9.2f}x" if len(ms) == 2 and ms[1] > 0.05 else ""
        print(f"  {label:16s}" + "".join(f"{v:12.2f}" for v in ms) + ratio)
    totals = [total * 1e3 for total, _ in results.values()]
    print(f"  {'step (wall)':16s}" + "".join(f"{v:12.2f}" for v in totals)
          + (f"{totals[0] / totals[1]:9.2f}x" if len(totals) == 2 else ""))
    for name, (_, per_step) in results.items():
        print(f"\n{name}: the {args.top} costliest ops (ms per step, self time)")
        for label, seconds in sorted(per_step.items(), key=lambda kv: -kv[1])[:args.top]:
            print(f"  {seconds * 1e3:8.2f}  {label}  [{category(label)}]")


if __name__ == "__main__":
    main()
