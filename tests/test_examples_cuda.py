"""Every example that trains a model runs with --device cuda (on a real GPU, or
else on the strict CuPy stand-in) and learns what it learns on the CPU; the
training loop reads the loss and the accuracy from the device once per log
interval, not once per step, and still stops at the first non-finite loss.

Examples without --device: optimizer_zoo, gradient_descent and higher_order
(a few scalar parameters: a GPU only adds a kernel launch per operation),
and lr_schedules (it trains nothing). gradient_flow runs on cuda but reads
every step's loss by design (the lesson plots each one)."""
import os

import _training
import cifar10_cnn
import gradient_flow
import hparam_search
import linear_regression
import mnist_mlp
import numpy as np
import pytest
import training_tricks
from gpu_only import real_gpu

import minigrad
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.data import DataLoader, TensorDataset

pytestmark = pytest.mark.skipif(not minigrad.cuda.is_available(),
                                reason="CuPy with a CUDA GPU (or the CuPy stand-in) is not available")

SMOKE = ["--smoke", "--no-plots"]
CIFAR = SMOKE + ["--quiet", "--limit-train", "50", "--limit-test", "25", "--epochs", "1"]
MNIST = SMOKE + ["--quiet", "--limit-train", "64", "--limit-test", "25", "--epochs", "1"]


def device_reads():
    """Device-to-host reads made so far (counted by the CuPy stand-in; 0 on a real GPU)."""
    import cupy_stand_in
    return sum(cupy_stand_in.sync_counts.values())


# ---------------------------------------------------------- --device cuda runs
# (module, arguments, the run's figures to compare with the CPU run's, or None when
#  the run draws its augmentation from the device's own generator)
RUNS = {
    "cifar10_cnn-device-loader": (cifar10_cnn, CIFAR, None),
    "cifar10_cnn-classic-loader": (cifar10_cnn, CIFAR + ["--loader", "classic"],
                                   lambda r: r["train_loss"] + [r["final_test_loss"]]),
    "mnist_mlp": (mnist_mlp, MNIST, lambda r: r["train_loss"] + r["test_loss"]),
    "training_tricks": (training_tricks, SMOKE + ["--only", "baseline", "--train-size", "64",
                                                "--val-size", "32", "--epochs", "1"],
                        lambda r: r["rows"][0]["history"]["train_loss"]),
    "hparam_search": (hparam_search, SMOKE,
                      lambda r: sorted(t["val_loss"] for t in r["leaderboard"])),
    "linear_regression": (linear_regression, SMOKE, lambda r: r["losses"]),
    "gradient_flow": (gradient_flow, SMOKE + ["--only", "relu-he,relu-he-bn,cnn-he"],
                      lambda r: [loss for x in r["results"].values() for loss in x["losses"]]
                      + [n for x in r["results"].values() for n in x["init"]["grad_norms"]]),
}


@pytest.mark.parametrize("name", RUNS)
def test_smoke_run_on_cuda_learns_as_on_the_cpu(name, tmp_path):
    module, args, figures = RUNS[name]
    on_cuda = module.main(args + ["--device", "cuda", "--out", str(tmp_path / "cuda")])
    if figures is None:  # (augmented on the device: other random crops than the CPU's)
        assert all(np.isfinite(on_cuda["train_loss"])) and 0 <= on_cuda["final_test_acc"] <= 1
        return
    on_cpu = module.main(args + ["--device", "cpu", "--out", str(tmp_path / "cpu")])
    # the same data, order and initial weights: only the arithmetic's rounding may differ
    np.testing.assert_allclose(figures(on_cuda), figures(on_cpu), rtol=1e-3)


def test_a_checkpoint_written_on_cuda_resumes_there_and_loads_on_the_cpu(tmp_path):
    out = str(tmp_path)
    mnist_mlp.main(MNIST + ["--device", "cuda", "--out", out])
    path = os.path.join(out, "checkpoint.npz")
    weights = minigrad.load(path)["model"]
    assert {w.device for w in weights.values()} == {"cuda:0"}
    assert {w.device for w in minigrad.load(path, map_location="cpu")["model"].values()} == {"cpu"}
    resumed = mnist_mlp.main(MNIST + ["--device", "cuda", "--out", out, "--epochs", "2",
                                      "--resume"])
    assert resumed["epochs_run"] == 2 and all(np.isfinite(resumed["train_loss"]))


# ------------------------------------------------ one read per log interval
def separable(n=40):
    x = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def test_train_epoch_reads_the_device_once_per_interval_and_agrees_with_the_cpu():
    """8 steps read every 3: reads after steps 3, 6 and 8 (the epoch's end)."""
    results = {}
    for device in ("cpu", "cuda"):
        minigrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).to(device)
        loader = DataLoader(TensorDataset(*separable()), batch_size=5, device=device, seed=0)
        before = device_reads()
        results[device] = _training.train_epoch(model, loader, optim.SGD(model.parameters(), lr=0.1),
                                                progress=False, read_every=3)
        reads = device_reads() - before
    assert reads == (3 if not real_gpu() else 0)  # (the step itself reads nothing: SGD, tanh)
    assert len(results["cuda"]["batch_losses"]) == 8
    np.testing.assert_allclose(results["cuda"]["batch_losses"], results["cpu"]["batch_losses"],
                               rtol=1e-5)
    assert results["cuda"]["accuracy"] == pytest.approx(results["cpu"]["accuracy"])


def test_evaluate_reads_the_device_twice_in_all():
    model = nn.Linear(4, 2).to("cuda")
    loader = DataLoader(TensorDataset(*separable()), batch_size=5, device="cuda")  # 8 batches
    before = device_reads()
    result = _training.evaluate(model, loader, num_classes=2)
    assert device_reads() - before == (2 if not real_gpu() else 0)
    cpu = _training.evaluate(model.to("cpu"), DataLoader(TensorDataset(*separable()), batch_size=5),
                             num_classes=2)
    np.testing.assert_array_equal(result["confusion"], cpu["confusion"])
    assert result["loss"] == pytest.approx(cpu["loss"], rel=1e-5)


class NaNAfter(nn.Module):
    """Linear(2, 2) whose output turns NaN from call number `bad` on."""

    def __init__(self, bad):
        super().__init__()
        self.linear, self.bad, self.calls = nn.Linear(2, 2), bad, 0

    def forward(self, x):
        self.calls += 1
        out = self.linear(x)
        return out * float("nan") if self.calls >= self.bad else out


def test_on_cuda_divergence_is_caught_at_the_next_read_naming_the_first_bad_step():
    loader = DataLoader(TensorDataset(np.zeros((50, 2), np.float32), np.zeros(50, np.int64)),
                        batch_size=5, device="cuda")  # 10 steps
    model = NaNAfter(bad=3).to("cuda")
    with pytest.raises(_training.Diverged, match=r"step 3/10: the loss is nan"):
        _training.train_epoch(model, loader, optim.SGD(model.parameters(), lr=0.1),
                              progress=False, read_every=4)
    assert model.calls == 4  # it ran on to the read after step 4, and no further
