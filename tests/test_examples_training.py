"""The training examples: CIFAR-10 CNN, Fashion-MNIST MLP, training-tricks ablation.

Each runs end to end on synthetic data (--smoke): the loss goes down, the
numbers are sane, the plots exist, and a run interrupted after an epoch and
resumed from its checkpoint ends with exactly (bit for bit) the weights of
an uninterrupted run. One test trains briefly on the real CIFAR-10 when it
is found in the usual places (set $MINIGRAD_DATA to the folder that holds it)."""
import os

import _training
import cifar10_cnn
import mnist_mlp
import numpy as np
import pytest
import training_tricks

import minigrad


def cifar10_source():
    """Where CIFAR-10 is, in the usual places ($MINIGRAD_DATA, ./data, ~/.cache/minigrad), or None."""
    from minigrad.data import find_cifar10
    try:
        return str(find_cifar10())
    except FileNotFoundError:
        return None


def assert_png(path):
    assert os.path.isfile(path) and os.path.getsize(path) > 1000, path
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def assert_sane(summary):
    for key in ("train_acc", "test_acc"):
        assert all(0.0 <= a <= 1.0 for a in summary[key]), (key, summary[key])
    assert all(np.isfinite(summary["train_loss"]))
    # A real descent, far above round-off: float32 epoch losses move by ~1e-6 between BLAS
    # kernels (AVX2/AVX-512) and thread counts; the smoke runs drop by 7e-3 (CIFAR-shaped,
    # lr 0.01, 3 epochs) to 1.0 (MNIST-shaped).
    assert summary["train_loss"][-1] < summary["train_loss"][0] - 1e-3, summary["train_loss"]


def checkpoint_weights(path):
    return {k: np.asarray(v.numpy() if isinstance(v, minigrad.Tensor) else v)
            for k, v in minigrad.load(path)["model"].items()}


@pytest.mark.parametrize("module", [cifar10_cnn, mnist_mlp, training_tricks])
def test_help_exits_cleanly(module, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    assert "--smoke" in capsys.readouterr().out


def test_cifar10_smoke_learns_and_plots(tmp_path):
    summary = cifar10_cnn.main(["--smoke", "--quiet", "--out", str(tmp_path), "--lr", "0.01"])
    assert summary["epochs_run"] == 3
    assert_sane(summary)
    assert 0.0 <= summary["final_test_acc"] <= 1.0
    assert summary["images_per_s"] > 0
    for path in summary["plots"]:
        assert_png(path)
    assert {os.path.basename(p) for p in summary["plots"]} == {"curves.png", "confusion.png"}
    assert os.path.isfile(summary["checkpoint"])


def resume_matches_uninterrupted(main, tmp_path, args):
    """Run 2 epochs straight; run 1 epoch, then resume to 2: same weights, bit for bit.

    Exact equality is right here, on any BLAS: all three runs are in one process,
    with the same kernels, thread count and shapes, so every operation repeats bit
    for bit; what is tested is that stopping and resuming changes nothing."""
    full = main(args + ["--epochs", "2", "--out", str(tmp_path / "full")])
    main(args + ["--epochs", "1", "--out", str(tmp_path / "cut")])
    resumed = main(args + ["--epochs", "2", "--resume", "--out", str(tmp_path / "cut")])
    assert resumed["epochs_run"] == 2
    assert resumed["train_loss"] == full["train_loss"]
    assert resumed["test_acc"] == full["test_acc"]
    a, b = checkpoint_weights(full["checkpoint"]), checkpoint_weights(resumed["checkpoint"])
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_cifar10_resume_is_exact(tmp_path):
    # VGG: batch norm (running statistics), dropout (random masks), augmentation,
    # SGD momentum buffers and a schedule that changes the lr every epoch.
    resume_matches_uninterrupted(cifar10_cnn.main, tmp_path, [
        "--smoke", "--quiet", "--no-plots", "--model", "vgg", "--limit-train", "100",
        "--limit-test", "50", "--schedule", "step", "--step-size", "1", "--early-stopping", "5"])


def test_cifar10_resume_with_the_classic_loader_is_exact(tmp_path):
    # The DataLoader's place in its sequence of shuffles and augmentations is in the
    # checkpoint: the resumed epoch draws what the uninterrupted run drew.
    resume_matches_uninterrupted(cifar10_cnn.main, tmp_path, [
        "--smoke", "--quiet", "--no-plots", "--loader", "classic", "--limit-train", "50",
        "--limit-test", "25"])


def test_mnist_smoke_learns_resumes_and_plots(tmp_path):
    summary = mnist_mlp.main(["--smoke", "--quiet", "--out", str(tmp_path / "plots")])
    assert_sane(summary)
    for path in summary["plots"]:
        assert_png(path)
    assert len(summary["plots"]) == 2
    resume_matches_uninterrupted(mnist_mlp.main, tmp_path, ["--smoke", "--quiet", "--no-plots"])


def test_resume_without_checkpoint_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        mnist_mlp.main(["--smoke", "--quiet", "--no-plots", "--resume", "--out", str(tmp_path)])


def test_training_tricks_smoke_table_and_plot(tmp_path):
    summary = training_tricks.main(["--smoke", "--out", str(tmp_path)])
    rows = {r["name"]: r for r in summary["rows"]}
    assert list(rows) == list(training_tricks.CONFIGS)
    for row in rows.values():
        assert 0.0 <= row["train_acc"] <= 1.0 and 0.0 <= row["val_acc"] <= 1.0
        assert 1 <= row["epochs_run"] <= 2 and row["seconds"] > 0
    baseline = rows["baseline"]["history"]["train_loss"]
    assert baseline[-1] < baseline[0] - 0.01  # 2.30 -> 2.17: a descent, not round-off
    # batch 32 takes 4x the steps of batch 128 over the same epochs
    assert rows["batch-32"]["history"]["steps"] == [8, 8]
    assert rows["baseline"]["history"]["steps"] == [2, 2]
    # half-way (epoch 2 of 2): lr-drop divides the lr by 4, batch-growth multiplies the batch
    assert rows["lr-drop"]["history"]["lr"] == pytest.approx([0.02, 0.005], rel=1e-12)
    assert rows["batch-growth"]["history"]["steps"] == [2, 1]  # 256 images: 2 x 128, 1 x 512
    assert_png(summary["plots"][0])


def test_training_tricks_rejects_unknown_configuration():
    with pytest.raises(SystemExit):
        training_tricks.main(["--smoke", "--only", "baseline,magic"])


# ------------------------------------------------------------- the helpers
def test_make_optimizer_by_name_passes_only_accepted_hyperparameters():
    import minigrad.optim as optim
    w = minigrad.zeros(3, requires_grad=True)
    opt, given = _training.make_optimizer("ADAMW", [w], lr=0.01, momentum=0.9, weight_decay=0.1)
    assert type(opt) is optim.AdamW and given == {"lr": 0.01, "weight_decay": 0.1}
    opt, given = _training.make_optimizer("sgd", [w], lr=0.1, momentum=0.9, weight_decay=None)
    assert type(opt) is optim.SGD and opt.param_groups[0]["momentum"] == 0.9
    with pytest.raises(ValueError, match="unknown optimizer 'nope'.*SGD"):
        _training.make_optimizer("nope", [w], lr=0.1)


@pytest.mark.parametrize("name, interval", [("step", "epoch"), ("cosine", "epoch"),
                                            ("onecycle", "step"), ("plateau", "epoch"),
                                            ("warmup-cosine", "step"), ("none", "epoch")])
def test_make_scheduler_derives_arguments_from_the_run(name, interval):
    import minigrad.optim as optim
    w = minigrad.zeros(3, requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    scheduler, got = _training.make_scheduler(name, opt, epochs=4, steps_per_epoch=5, step_size=2)
    assert got == interval and (scheduler is None) == (name == "none")
    steps = {"epoch": 4, "step": 20}[interval]
    on_metric = getattr(scheduler, "steps_on_metric", False)  # (fit gives it the monitored loss)
    assert on_metric == (name == "plateau")
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        if scheduler is not None:
            scheduler.step(1.0) if on_metric else scheduler.step()
    assert all(0 <= lr <= 1.0 for lr in lrs)
    if name == "step":
        np.testing.assert_allclose(lrs, [0.1, 0.1, 0.01, 0.01])
    if name == "cosine":  # 0.1 * (1 + cos(pi t / 4)) / 2
        np.testing.assert_allclose(lrs, [0.1 * (1 + np.cos(np.pi * t / 4)) / 2 for t in range(4)])
    if name == "onecycle":
        assert max(lrs) == pytest.approx(1.0, rel=0.05) and lrs[-1] < lrs[0]
    if name == "warmup-cosine":
        assert lrs[0] < lrs[1] and lrs[-1] < 0.1 * max(lrs)
    with pytest.raises(ValueError, match="unknown schedule"):
        _training.make_scheduler("sawtooth", opt, 4, 5)


@pytest.mark.parametrize("name", ["sgd", "LBFGS", "sam", "lookahead", "adahessian",
                                  "schedulefreesgd"])
def test_fit_drives_rules_that_need_a_closure_a_wrapper_or_second_order(name):
    """make_optimizer's rules in minigrad.training.fit: LBFGS and SAM get a closure,
    SAM/Lookahead wrap SGD, AdaHessian needs backward(create_graph=True), schedule-free
    rules switch train/eval."""
    import minigrad.functional as F
    import minigrad.nn as nn
    from minigrad.data import DataLoader, TensorDataset
    from minigrad.training import evaluate, fit
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)  # linearly separable
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
    before = [p.data.copy() for p in model.parameters()]
    optimizer, _ = _training.make_optimizer(name, model.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=0, num_workers=0)
    history = fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=4,
                  progress=False, seed=0)
    first, last = history["train_loss"][0], history["train_loss"][-1]
    assert np.isfinite(first) and np.isfinite(last)
    assert all(not np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))
    # 4 epochs cut the loss to 0.32-0.69 of the first epoch's (schedule-free SGD, the
    # slowest: 0.91); round-off across BLAS kernels is ~1e-6 of it
    assert last < 0.97 * first, (first, last)
    result = evaluate(model, loader, loss_fn=F.cross_entropy)
    assert 0.0 <= result["accuracy"] <= 1.0


@pytest.mark.skipif(minigrad.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_a_clear_command_line_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cifar10_cnn.main(["--smoke", "--device", "cuda"])
    assert exit_info.value.code == 2
    assert "--device cuda needs CuPy and a CUDA GPU" in capsys.readouterr().err


class FixedLogits:
    """A stand-in model that returns precomputed logits batch by batch."""

    def __init__(self, logits):
        self.logits, self.at = logits, 0

    def train(self, mode=True):
        return self

    def eval(self):
        return self

    def __call__(self, x):
        out = self.logits[self.at:self.at + len(x.data)]
        self.at += len(x.data)
        return minigrad.tensor(out)


def test_the_confusion_matrix_of_predict_matches_numpy():
    import _plots

    from minigrad.data import DataLoader, TensorDataset
    from minigrad.training import predict
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(23, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=23)
    loader = DataLoader(TensorDataset(np.zeros((23, 1), np.float32), labels), batch_size=5,
                        num_workers=0)
    outputs, targets = predict(FixedLogits(logits), loader)  # 5 batches, the last of 3
    np.testing.assert_array_equal(outputs, logits)
    np.testing.assert_array_equal(targets, labels)
    expected = np.zeros((4, 4), dtype=np.int64)
    for t, p in zip(labels, logits.argmax(axis=1)):
        expected[t, p] += 1
    np.testing.assert_array_equal(_plots.confusion_matrix(outputs, targets, 4), expected)


def test_synthetic_images_are_uint8_hwc_and_balanced():
    images, labels = _training.synthetic_images(50, 28, 28, 1, seed=3)
    assert images.dtype == np.uint8 and images.shape == (50, 28, 28, 1)
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [5] * 10


# ------------------------------------------------------ real CIFAR-10 data
@pytest.mark.skipif(cifar10_source() is None, reason="CIFAR-10 not found ($MINIGRAD_DATA, ./data, ...)")
def test_cifar10_real_data_learns_well_above_chance(tmp_path):
    summary = cifar10_cnn.main([
        "--data", cifar10_source(), "--epochs", "3", "--limit-train", "5000", "--limit-test", "1000",
        "--optimizer", "adam", "--lr", "0.003", "--schedule", "none", "--quiet",
        "--out", str(tmp_path)])
    assert summary["final_test_acc"] > 0.25, summary["test_acc"]
    for path in summary["plots"]:
        assert_png(path)


@pytest.mark.parametrize("rule", ["lookahead", "ranger"])
def test_wrapper_checkpoints_resume_exactly(rule, tmp_path):
    """Wrappers nest their state dicts (Lookahead: the inner optimizer's inside);
    resume must not read the saved lr from the outer dict's layout."""
    resume_matches_uninterrupted(mnist_mlp.main, tmp_path, [
        "--smoke", "--quiet", "--no-plots", "--optimizer", rule, "--lr", "0.01"])
