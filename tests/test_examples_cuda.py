"""Every example that trains a model runs with --device cuda (on a real GPU, or
else on the strict CuPy stand-in) and learns what it learns on the CPU; the
confusion matrix costs two reads from the device; a non-finite loss, found at
the epoch's one read (minigrad.training.fit), is named by its first bad step.

Examples without --device: optimizer_zoo, gradient_descent and higher_order
(a few scalar parameters: a GPU only adds a kernel launch per operation),
and lr_schedules (it trains nothing). gradient_flow runs on cuda but reads
every step's loss by design (the lesson plots each one)."""
import os

import _cli
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
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.data import DataLoader, TensorDataset
from minigrad.training import TrainingDiverged, fit, predict

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


# ------------------------------------------------------ reads from the device
def separable(n=40):
    x = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def test_predict_reads_the_device_twice_in_all_for_the_confusion_matrix():
    import _plots
    model = nn.Linear(4, 2).to("cuda")
    loader = DataLoader(TensorDataset(*separable()), batch_size=5, device="cuda")  # 8 batches
    before = device_reads()
    outputs, targets = predict(model, loader)
    assert device_reads() - before == (2 if not real_gpu() else 0)
    cpu = predict(model.to("cpu"), DataLoader(TensorDataset(*separable()), batch_size=5))
    np.testing.assert_allclose(outputs, cpu[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(_plots.confusion_matrix(outputs, targets, 2),
                                  _plots.confusion_matrix(*cpu, 2))


class NaNAfter(nn.Module):
    """Linear(2, 2) whose output turns NaN from call number `bad` on."""

    def __init__(self, bad):
        super().__init__()
        self.linear, self.bad, self.calls = nn.Linear(2, 2), bad, 0

    def forward(self, x):
        self.calls += 1
        out = self.linear(x)
        return out * float("nan") if self.calls >= self.bad else out


def test_on_cuda_divergence_is_found_at_the_epochs_read_naming_the_first_bad_step(tmp_path,
                                                                                   capsys):
    loader = DataLoader(TensorDataset(np.zeros((50, 2), np.float32), np.zeros(50, np.int64)),
                        batch_size=5, device="cuda")  # 10 steps
    model = NaNAfter(bad=3).to("cuda")
    with pytest.raises(TrainingDiverged) as info:
        fit(model, loader, loss_fn=F.cross_entropy, optimizer=optim.SGD(model.parameters(), lr=0.1),
            epochs=2, progress=False)
    assert (info.value.epoch, info.value.step) == (0, 2)  # 0-based: the 3rd step
    assert model.calls == 10  # the loop never waits for the device: the epoch ran to its end
    # ... and a script says it 1-based, with the epoch's number of steps
    args = type("Args", (), {"epochs": 2, "out": str(tmp_path), "lr": 0.1})
    with pytest.raises(SystemExit):
        _cli.diverged("x.py", info.value, [], args, str(tmp_path / "none.npz"), len(loader), 0.1)
    assert "training diverged in epoch 1/2, step 3/10: the loss is nan" in capsys.readouterr().err
