"""Data-parallel training on one machine: 1 process x 2 threads against 2 processes x 1 thread.

    python benchmarks/bench_distributed.py                 # the table (needs the mpi extra)
    python benchmarks/bench_distributed.py --steps 30 --batch 128

Every row trains the CIFAR-10 VGG of examples/cifar10_cnn.py (conv-BN-ReLU,
160k parameters, float32, SGD with momentum) on random CIFAR-shaped batches
of --batch images in all (the global batch, split evenly between the
processes), and reports images per second of that global batch: the same
work done per step, whatever the number of processes (strong scaling), and
the CPU time per image summed over the processes (on a shared machine the
steadier figure: it counts what the work cost, not how long it waited).

    1 proc x 1 thread     one process, one BLAS thread: the baseline for the CPU time
    1 proc x 2 threads    one process; BLAS (the convolutions' matrix products) on 2 threads
    2 procs x 1 thread    mpiexec -n 2, DistributedDataParallel, one BLAS thread each,
                          with bucket_cap_mb 25 (one bucket: the model is 0.6 MB), 0.1
                          (about 6 buckets) and 0.01 (one per parameter tensor or so)
    2 procs, no exchange  the same, every step inside no_sync(): the compute alone,
                          so the difference to the rows above is the cost of averaging

Each configuration runs in its own processes (thread counts must be set
before NumPy loads), after 3 warm-up steps; the time of --steps steps is
taken on rank 0 between two barriers. A shared machine is noisy: the table
gives the median of --repeats runs of each configuration.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(args):
    """One configuration, inside the process(es) the launcher started."""
    import numpy as np
    sys.path.insert(0, os.path.join(HERE, "..", "examples"))
    from cifar10_cnn import vgg

    import minigrad
    import minigrad.distributed as dist
    import minigrad.functional as F
    import minigrad.optim as optim
    from minigrad.nn.parallel import DistributedDataParallel as DDP

    distributed = args.procs > 1
    if distributed:
        dist.init_process_group("mpi")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    minigrad.manual_seed(0)
    model = vgg()
    if distributed:
        model = DDP(model, bucket_cap_mb=args.bucket_mb)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(rank)
    n = args.batch // world
    x = minigrad.tensor(rng.standard_normal((n, 3, 32, 32)).astype(np.float32))
    y = minigrad.tensor(rng.integers(0, 10, n))

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    def steps(count):
        for _ in range(count):
            if distributed and args.no_exchange:
                with model.no_sync():
                    step()
            else:
                step()

    steps(3)
    if distributed:
        dist.barrier()
    start, cpu_start = time.perf_counter(), time.process_time()
    steps(args.steps)
    cpu = minigrad.tensor([time.process_time() - cpu_start], dtype=minigrad.float64)
    if distributed:
        dist.barrier()
        dist.all_reduce(cpu)  # the CPU time of every process, summed
    seconds = time.perf_counter() - start
    if rank == 0:
        print(json.dumps({"images_per_s": args.batch * args.steps / seconds,
                          "cpu_ms_per_image": 1000 * float(cpu.data[0]) / (args.batch * args.steps),
                          "buckets": len(model._buckets) if distributed else 0}))


CONFIGS = [  # (label, processes, threads each, bucket_cap_mb, no exchange)
    ("1 proc x 1 thread", 1, 1, None, False),
    ("1 proc x 2 threads", 1, 2, None, False),
    ("2 procs x 1 thread, buckets of 25 MB", 2, 1, 25, False),
    ("2 procs x 1 thread, buckets of 0.1 MB", 2, 1, 0.1, False),
    ("2 procs x 1 thread, buckets of 0.01 MB", 2, 1, 0.01, False),
    ("2 procs x 1 thread, no exchange (no_sync)", 2, 1, 25, True),
]


def launch(label, procs, threads, bucket_mb, no_exchange, args):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), HYDRA_LAUNCHER="fork")
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--procs", str(procs),
               "--steps", str(args.steps), "--batch", str(args.batch),
               "--bucket-mb", str(bucket_mb or 25)] + (["--no-exchange"] if no_exchange else [])
    if procs > 1:
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        command = [mpiexec if os.path.exists(mpiexec) else "mpiexec", "-n", str(procs)] + command
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if run.returncode != 0:
        sys.exit(f"{label} failed:\n{run.stdout}\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=128, help="global batch (default 128)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--procs", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--bucket-mb", type=float, default=25, help=argparse.SUPPRESS)
    parser.add_argument("--no-exchange", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    print(f"VGG, float32, global batch {args.batch}, {args.steps} steps, median of "
          f"{args.repeats} runs; {os.cpu_count()} CPUs")
    results = {label: [] for label, *_ in CONFIGS}
    cpu, buckets = {label: [] for label, *_ in CONFIGS}, {}
    for _ in range(args.repeats):  # configurations interleaved: load changes hit them all
        for label, *config in CONFIGS:
            result = launch(label, *config, args)
            results[label].append(result["images_per_s"])
            cpu[label].append(result["cpu_ms_per_image"])
            buckets[label] = result["buckets"]
    base = statistics.median(results[CONFIGS[1][0]])
    print(f"{'configuration':44s} {'images/s':>9s} {'vs 1x2':>7s} {'CPU ms/img':>10s} "
          f"{'buckets':>7s}  images/s of each run")
    for label, values in results.items():
        median = statistics.median(values)
        print(f"{label:44s} {median:9.1f} {median / base:7.2f} {statistics.median(cpu[label]):10.2f} "
              f"{buckets[label] or '':>7}  " + " ".join(f"{v:.0f}" for v in values))


if __name__ == "__main__":
    main()
