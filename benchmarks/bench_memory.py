"""Peak memory of one training step (forward, cross-entropy, backward, SGD-momentum
update) of the CNNs of bench_train_step.py, on the CPU.

    python benchmarks/bench_memory.py                  # the VGG net, batch 128
    python benchmarks/bench_memory.py --net lenet

What the graph keeps for backward is what sets the peak: every node holds the
arrays its backward needs until that backward has run. The figures come from
tracemalloc, which NumPy reports its array buffers to, measured after two
warm-up steps (so the optimizer's state and any reusable scratch buffers exist
already, and count in the baseline, not in the step):

  held after forward   what the graph of the loss holds once forward is done
  step peak            the highest allocation during the step, above the baseline

and the process's peak resident set (ru_maxrss) for reference, which includes
the interpreter, the model, the data and allocator slack. Compare two versions
of minigrad by running this script with PYTHONPATH pointing at each checkout.
"""
import argparse
import os
import resource
import sys
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# bench_train_step sets the BLAS thread variables, so it must come before NumPy.
# isort: off
from bench_train_step import NETS, lenet, vgg  # noqa: E402
import numpy as np  # noqa: E402
# isort: on

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402
import minigrad.nn as nn  # noqa: E402
import minigrad.optim as optim  # noqa: E402

MB = 1024 * 1024


def measure(name):
    batch = NETS[name]
    rng = np.random.default_rng(0)
    x = minigrad.tensor(rng.standard_normal((batch, 3, 32, 32)).astype(np.float32))
    y = minigrad.tensor(rng.integers(0, 10, batch).astype(np.int64))
    minigrad.manual_seed(0)
    model = {"lenet": lenet, "vgg": vgg}[name](nn)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(after_forward=None):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        if after_forward:
            after_forward()
        loss.backward()
        opt.step()
        return loss

    step()
    step()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    held = []
    step(after_forward=lambda: held.append(tracemalloc.get_traced_memory()[0] - baseline))
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    input_mb = x.data.nbytes / MB
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(f"{name}: batch {batch}, input {input_mb:.1f} MB, minigrad from "
          f"{os.path.dirname(os.path.dirname(minigrad.__file__))}")
    print(f"  held after forward {held[0] / MB:8.1f} MB")
    print(f"  step peak          {peak / MB:8.1f} MB")
    print(f"  process max RSS    {rss_mb:8.1f} MB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", choices=list(NETS), default="vgg")
    measure(parser.parse_args().net)


if __name__ == "__main__":
    main()
