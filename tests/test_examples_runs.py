"""The example scripts never misuse a run silently.

--smoke writes to its own folder and says its data are synthetic; a checkpoint
records the run's settings and --resume either applies a changed setting
correctly or refuses, naming it; impossible counts are usage errors; a
diverging run stops at its first non-finite loss; Ctrl-C keeps the last
completed epoch and prints the command that resumes it; progress bars stay out
of logs; helper files are recognisable as helpers; and the loop asks the
optimizer what it needs instead of matching class names."""
import ast
import math
import os
import shlex

import _cli
import _training
import cifar10_cnn
import gradient_descent
import higher_order
import hparam_search
import linear_regression
import lr_schedules
import mnist_mlp
import numpy as np
import optimizer_zoo
import pytest
import training_tricks

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.data import DataLoader, TensorDataset
from minigrad.training import fit

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
# A small CIFAR-shaped smoke run: 4 batches of 25 per epoch, ~0.1 s an epoch.
CIFAR = ["--smoke", "--quiet", "--no-plots", "--limit-train", "100", "--limit-test", "50"]
MNIST = ["--smoke", "--quiet", "--no-plots", "--limit-train", "128", "--limit-test", "50"]


def checkpoint(path):
    return minigrad.load(os.path.join(path, "checkpoint.npz"))


# ------------------------------------------------------------ --smoke's files
SMOKE_RUNS = [  # (module, its default folder name, arguments that keep the run short)
    (cifar10_cnn, "cifar10_cnn", ["--limit-train", "50", "--limit-test", "25", "--epochs", "1"]),
    (mnist_mlp, "mnist_mlp", ["--limit-train", "64", "--limit-test", "25", "--epochs", "1"]),
    (training_tricks, "training_tricks", ["--only", "baseline"]),
    (hparam_search, "hparam_search", []),
    (optimizer_zoo, "optimizer_zoo", ["--rules", "SGD", "--problems", "quadratic"]),
    (lr_schedules, "lr_schedules", []),
    (linear_regression, "linear_regression", []),
    (higher_order, "higher_order", []),
    (gradient_descent, "gradient_descent", []),
]


@pytest.mark.parametrize("module, name, extra", SMOKE_RUNS, ids=[r[1] for r in SMOKE_RUNS])
def test_smoke_never_writes_into_the_real_runs_folder(module, name, extra, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module.main(["--smoke"] + extra)
    assert not os.path.exists(os.path.join("runs", name))
    written = os.listdir(os.path.join("runs", f"{name}-smoke"))
    assert any(f.endswith(".png") for f in written), written


def figure_text(figure):
    suptitle = figure._suptitle.get_text() if figure._suptitle is not None else ""
    return " ".join([suptitle] + [ax.get_title() for ax in figure.axes])


@pytest.mark.parametrize("module, args", [
    (cifar10_cnn, ["--quiet", "--limit-train", "50", "--limit-test", "25", "--epochs", "1"]),
    (mnist_mlp, ["--quiet", "--limit-train", "64", "--limit-test", "25", "--epochs", "1"]),
    (training_tricks, ["--only", "baseline"]),
    (hparam_search, []),
], ids=["cifar10_cnn", "mnist_mlp", "training_tricks", "hparam_search"])
def test_smoke_output_and_plot_titles_say_the_data_are_synthetic(module, args, tmp_path,
                                                                  monkeypatch, capsys):
    from matplotlib.figure import Figure
    texts, savefig = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda figure, *a, **k: (
        texts.append(figure_text(figure)), savefig(figure, *a, **k)))
    summary = module.main(["--smoke"] + args + ["--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out.splitlines()[0]  # the line that says which data
    if module in (cifar10_cnn, mnist_mlp):  # ... and the line with the results
        assert any("SYNTHETIC" in line and "test accuracy" in line for line in out.splitlines())
    assert len(texts) == len(summary["plots"]) >= 1
    assert all("SYNTHETIC" in text for text in texts), texts


# ------------------------------------------------------------------- --resume
def test_resume_with_more_epochs_keeps_annealing_a_cosine_schedule(tmp_path):
    """A fresh 3-epoch cosine run has lr 0.001 (1 + cos(2 pi / 3)) / 2 in epoch 3;
    the old resume kept the 2-epoch schedule's end, lr 0."""
    out = str(tmp_path)
    cifar10_cnn.main(CIFAR + ["--schedule", "cosine", "--epochs", "2", "--out", out])
    resumed = cifar10_cnn.main(CIFAR + ["--schedule", "cosine", "--epochs", "3", "--out", out,
                                        "--resume"])
    assert resumed["epochs_run"] == 3
    assert resumed["lr"][2] == pytest.approx(0.001 * (1 + math.cos(2 * math.pi / 3)) / 2, rel=1e-9)


def test_resume_with_more_epochs_replans_onecycle(tmp_path):
    """From the resumed step on, the lr is a fresh OneCycleLR's over the new length
    (the old resume crashed: "stepped 9 times but total_steps is 8")."""
    out = str(tmp_path)
    cifar10_cnn.main(CIFAR + ["--schedule", "onecycle", "--epochs", "2", "--out", out])
    resumed = cifar10_cnn.main(CIFAR + ["--schedule", "onecycle", "--epochs", "3", "--out", out,
                                        "--resume"])
    steps_per_epoch = 4  # 100 images in batches of 25
    fresh = optim.SGD([minigrad.zeros(1, requires_grad=True)], lr=0.001, momentum=0.9)
    schedule = optim.lr_scheduler.OneCycleLR(fresh, max_lr=0.01, total_steps=3 * steps_per_epoch)
    for _ in range(2 * steps_per_epoch):
        schedule.step()
    assert resumed["lr"][2] == pytest.approx(fresh.param_groups[0]["lr"], rel=1e-9)
    for _ in range(steps_per_epoch):
        schedule.step()
    saved = checkpoint(out)["optimizer"]["param_groups"][0]
    for key in ("lr", "momentum"):  # (OneCycle cycles the momentum too)
        assert saved[key] == pytest.approx(fresh.param_groups[0][key], rel=1e-9), key


def test_resume_with_a_new_lr_trains_at_it(tmp_path, capsys):
    """(The old resume printed the new lr in its banner and trained at the saved one.)"""
    out = str(tmp_path)
    cifar10_cnn.main(CIFAR + ["--epochs", "1", "--out", out])
    resumed = cifar10_cnn.main(CIFAR + ["--epochs", "2", "--lr", "0.005", "--out", out,
                                        "--resume"])
    assert resumed["lr"] == pytest.approx([0.001, 0.005], rel=1e-12)
    assert checkpoint(out)["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.005, rel=1e-12)
    assert "lr 0.001 -> 0.005" in capsys.readouterr().out


def test_resume_refuses_another_optimizer_naming_each_difference(tmp_path, capsys):
    """(The old resume raised KeyError: 'step' from inside Adam.)"""
    out = str(tmp_path)
    cifar10_cnn.main(CIFAR + ["--epochs", "1", "--out", out])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cifar10_cnn.main(CIFAR + ["--epochs", "2", "--optimizer", "adam", "--batch-size", "20",
                                  "--out", out, "--resume"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    for line in ("--optimizer: SGD -> Adam", "--momentum: 0.9 -> (unset)", "--batch-size: 25 -> 20"):
        assert line in err
    assert "another --out" in err and "drop these flags" in err
    assert checkpoint(out)["epoch"] == 1  # untouched


def test_resume_refuses_another_loader_naming_it(tmp_path, capsys):
    """--loader device and classic shuffle and augment from different generators: a
    resume across them would not continue the saved run (it used to be accepted)."""
    out = str(tmp_path)
    cifar10_cnn.main(CIFAR + ["--epochs", "1", "--out", out])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cifar10_cnn.main(CIFAR + ["--epochs", "2", "--loader", "classic", "--out", out,
                                  "--resume"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--loader: device -> classic" in err and "drop these flags" in err
    assert checkpoint(out)["epoch"] == 1  # untouched


def test_resume_refuses_to_mix_synthetic_and_real_data_or_to_replan_a_finished_run(tmp_path,
                                                                                   capsys):
    # (a real run needs the data set: the refusal's wording is checked on its own)
    message = _training.resume_refusal("a.npz", _training.ResumeError("x", {"smoke": (True, False)}))
    assert "--smoke: True -> False" in message and "synthetic data" in message
    out = str(tmp_path)
    mnist_mlp.main(MNIST + ["--epochs", "1", "--out", out])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:  # a new lr, and no epoch left to train at it
        mnist_mlp.main(MNIST + ["--epochs", "1", "--lr", "0.01", "--out", out, "--resume"])
    assert exit_info.value.code == 2
    assert "has done 1 epochs already" in capsys.readouterr().err


# ------------------------------------------------------------- usage errors
@pytest.mark.parametrize("module, args", [
    (cifar10_cnn, ["--epochs", "0"]), (cifar10_cnn, ["--epochs", "-2"]),
    (cifar10_cnn, ["--limit-train", "0"]), (cifar10_cnn, ["--limit-test", "0"]),
    (cifar10_cnn, ["--batch-size", "0"]), (cifar10_cnn, ["--val-size", "-1"]),
    (cifar10_cnn, ["--step-size", "0"]), (mnist_mlp, ["--epochs", "0"]),
    (mnist_mlp, ["--limit-train", "0"]), (mnist_mlp, ["--batch-size", "-64"]),
    (training_tricks, ["--epochs", "0"]), (hparam_search, ["--epochs", "0"]),
    (optimizer_zoo, ["--steps", "0"]), (linear_regression, ["--batch-size", "0"]),
])
def test_impossible_counts_are_one_line_usage_errors(module, args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--smoke", "--quiet"] + args if module in (cifar10_cnn, mnist_mlp)
                    else ["--smoke"] + args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"error: argument {args[0]}: must be" in err and args[1] in err
    assert "Traceback" not in err


def test_a_validation_set_as_big_as_the_training_set_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cifar10_cnn.main(CIFAR + ["--val-size", "300", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--val-size 300 leaves no training images" in capsys.readouterr().err


# --------------------------------------------------------------- divergence
def test_a_diverging_run_exits_naming_the_epoch_and_keeps_the_last_good_checkpoint(tmp_path,
                                                                                    capsys):
    out = str(tmp_path)
    args = MNIST + ["--optimizer", "sgd", "--out", out]
    mnist_mlp.main(args + ["--epochs", "1"])
    good = checkpoint(out)["model"]
    with pytest.raises(SystemExit) as exit_info:
        mnist_mlp.main(args + ["--epochs", "2", "--lr", "1e30", "--resume"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    # step 1 starts from the good weights; its update (lr 1e30) overflows step 2's logits
    assert "training diverged in epoch 2/2, step 2/2: the loss is nan" in err
    assert "smaller" in err and "still holds epoch 1" in err
    assert "--lr 1e+29" in err  # the command that resumes at a 10x smaller lr
    saved = checkpoint(out)
    assert saved["epoch"] == 1
    for key, value in saved["model"].items():
        np.testing.assert_array_equal(value.numpy(), good[key].numpy())


def test_a_fresh_run_that_diverges_does_not_offer_an_older_runs_checkpoint(tmp_path, capsys):
    """An earlier run's checkpoint in the same folder is not this run's last good epoch."""
    out = str(tmp_path)
    args = MNIST + ["--optimizer", "sgd", "--out", out]
    mnist_mlp.main(args + ["--epochs", "1"])
    with pytest.raises(SystemExit):
        mnist_mlp.main(args + ["--epochs", "2", "--lr", "1e30"])  # fresh: no --resume
    err = capsys.readouterr().err
    assert "training diverged in epoch 1/2" in err
    assert "--resume" not in err and "still holds" not in err


# ------------------------------------------------------------------- Ctrl-C
def interrupting_loader(after):
    """DataLoader whose shuffled (training) loaders raise KeyboardInterrupt once
    `after` training batches have been served in all."""
    served = [0]

    class Interrupting:
        def __init__(self, loader):
            self.loader = loader

        def __getattr__(self, name):  # state_dict, batch_size, ...: the loader's
            return getattr(self.loader, name)

        def __len__(self):
            return len(self.loader)

        def __iter__(self):
            for batch in self.loader:
                if served[0] == after:
                    raise KeyboardInterrupt
                served[0] += 1
                yield batch

    def make(*args, **kwargs):
        loader = DataLoader(*args, **kwargs)
        return Interrupting(loader) if kwargs.get("shuffle") else loader
    return make


def test_ctrl_c_keeps_the_last_epoch_plots_and_prints_the_resume_command(tmp_path, monkeypatch,
                                                                         capsys):
    args = ["--smoke", "--quiet", "--limit-train", "128", "--limit-test", "50", "--epochs", "3"]
    full = mnist_mlp.main(args + ["--no-plots", "--out", str(tmp_path / "full")])
    cut = str(tmp_path / "cut")
    monkeypatch.setattr(mnist_mlp, "DataLoader", interrupting_loader(after=2 + 1))  # epoch 2
    with pytest.raises(SystemExit) as exit_info:
        try:
            mnist_mlp.main(args + ["--out", cut])
        except KeyboardInterrupt:  # (would stop the whole test session)
            pytest.fail("Ctrl-C escaped main() as a KeyboardInterrupt instead of exit 130")
    assert exit_info.value.code == 130
    assert checkpoint(cut)["epoch"] == 1
    assert os.path.getsize(os.path.join(cut, "curves.png")) > 1000
    out = capsys.readouterr().out
    assert "interrupted (Ctrl-C) during epoch 2/3" in out
    command = shlex.split(out.split("resume with:\n")[1].splitlines()[0])
    assert command[:2] == ["python", "examples/mnist_mlp.py"] and command[-1] == "--resume"
    monkeypatch.setattr(mnist_mlp, "DataLoader", DataLoader)
    resumed = mnist_mlp.main(command[2:] + ["--no-plots"])
    # the interrupted epoch is re-run from its start: the same run, bit for bit (one
    # process, the same kernels and thread count: each operation repeats exactly)
    assert resumed["train_loss"] == full["train_loss"]


def test_ctrl_c_stops_the_ablation_instead_of_going_on_to_the_next_row(monkeypatch, capsys):
    monkeypatch.setattr(training_tricks, "DataLoader", interrupting_loader(after=1))
    with pytest.raises(SystemExit) as exit_info:
        try:
            training_tricks.main(["--smoke", "--no-plots", "--only", "baseline,dropout"])
        except KeyboardInterrupt:  # (would stop the whole test session)
            pytest.fail("Ctrl-C escaped main() as a KeyboardInterrupt instead of exit 130")
    assert exit_info.value.code == 130
    assert "interrupted during 'baseline'" in capsys.readouterr().err


# ------------------------------------------------------------ progress bars
def test_progress_bars_stay_out_of_logs_that_are_not_a_terminal(tmp_path, capsys):
    summary = mnist_mlp.main([a for a in MNIST if a != "--quiet"] + ["--epochs", "1",
                                                                    "--out", str(tmp_path)])
    captured = capsys.readouterr()  # (pytest's capture is not a tty)
    assert "\r" not in captured.err and "batch" not in captured.err
    assert summary["epochs_run"] == 1 and "epoch   1/1" in captured.out  # the epoch's line stays


# ------------------------------------------------------------- the helpers
def test_helper_files_are_recognisable_as_helpers():
    """A file under examples/ is a script (has a __main__ block) or a helper
    (_name.py, says so in its docstring, and has none)."""
    for name in sorted(os.listdir(EXAMPLES)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(EXAMPLES, name)) as f:
            source = f.read()
        is_script = 'if __name__ == "__main__":' in source
        assert is_script != name.startswith("_"), name
        if not is_script:
            docstring = " ".join(ast.get_docstring(ast.parse(source)).split())
            assert "a helper for the examples, not a script" in docstring, name


class Recording(optim.SGD):
    """SGD that declares capabilities and records what the loop gave it."""
    needs_closure = False
    needs_create_graph = False
    hessian_refresh_every = None

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.closures, self.graph_grads, self.refreshes = 0, 0, 0

    def step(self, closure=None):
        loss = None
        if closure is not None:
            self.closures += 1
            loss = closure()
        self.graph_grads += any(p.grad is not None and p.grad.requires_grad
                                for group in self.param_groups for p in group["params"])
        super().step()
        return loss

    @staticmethod
    def sample_labels(logits):
        return minigrad.tensor(np.zeros(len(logits.data), np.int64))

    def update_hessian(self):
        self.refreshes += 1


@pytest.mark.parametrize("capability, value, counter, expected", [
    ("needs_closure", True, "closures", 6), ("needs_create_graph", True, "graph_grads", 6),
    ("hessian_refresh_every", 2, "refreshes", 3), ("needs_closure", False, "closures", 0),
])
def test_the_loop_reads_the_optimizers_capabilities_not_its_class_name(capability, value,
                                                                       counter, expected):
    x = np.random.default_rng(0).normal(size=(60, 2)).astype(np.float32)
    loader = DataLoader(TensorDataset(x, np.zeros(60, np.int64)), batch_size=10, num_workers=0)
    model = nn.Linear(2, 2)
    rule = type("AnyName", (Recording,), {capability: value})  # no known class name
    optimizer = rule(model.parameters(), lr=0.1)
    fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=1, progress=False)
    assert getattr(optimizer, counter) == expected


def test_the_batch_size_reaches_rules_that_take_it():
    w = minigrad.zeros(3, requires_grad=True)
    optimizer, given = _training.make_optimizer("sophiag", [w], lr=0.01, batch_size=32)
    assert given["batch_size"] == 32 and optimizer.param_groups[0]["batch_size"] == 32
    optimizer, given = _training.make_optimizer("sgd", [w], lr=0.01, batch_size=32)
    assert "batch_size" not in given


def test_resume_command_replaces_out_and_the_changed_flags():
    command = _cli.resume_command("x.py", ["--lr", "1", "--out=a", "--resume", "--smoke"], "b",
                                  lr="0.1")
    assert shlex.split(command) == ["python", "examples/x.py", "--smoke", "--lr", "0.1",
                                    "--out", "b", "--resume"]
