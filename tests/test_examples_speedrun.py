"""The CIFAR-10 speedrun example end to end, on its --smoke data: it trains, prints one line
per epoch, ends with the test accuracy and the total time, and writes its curves; --ablate
runs the full recipe and each trick switched off, and says so in a table."""
import os

import cifar10_speedrun
import numpy as np
import pytest

import minigrad


def _tail(capsys):
    return capsys.readouterr().out.strip().splitlines()


def test_smoke_run_prints_epochs_then_accuracy_and_time(tmp_path, capsys):
    result = cifar10_speedrun.main(["--smoke", "--epochs", "2", "--epoch-eval", "--out", str(tmp_path)])
    lines = _tail(capsys)
    assert any("SYNTHETIC" in line for line in lines[:2])
    assert sum(line.startswith("epoch ") for line in lines) == 2
    assert lines[-2] == f"test accuracy {100 * result['test_accuracy']:.2f}%"
    assert lines[-1].startswith("total time ") and lines[-1].endswith(" s")
    assert os.path.getsize(tmp_path / "curves.png") > 0
    saved = minigrad.load(tmp_path / "model.npz")  # the weights that were tested
    for name, value in result["model"].state_dict().items():
        np.testing.assert_array_equal(saved[name], value)
    # the synthetic classes are learnable: 10 steps lower the loss and beat chance (10%) on
    # the 160 training images (GELU, seeds 0-3: losses 2.29-2.31 -> 2.26-2.28, down by
    # 0.024-0.034; 21-28% accuracy in epoch 2; the 64 test images are too few for a
    # threshold: 20-38% TTA accuracy)
    assert result["history"]["train_loss"][-1] < result["history"]["train_loss"][0] - 0.015
    assert result["history"]["train_accuracy"][-1] > 0.2
    assert 0.0 <= result["test_accuracy"] <= 1.0


def test_every_trick_can_be_switched_off(tmp_path, capsys):
    flags = ["--no-whiten", "--no-dirac", "--no-bias-lr", "--no-lookahead", "--no-smoothing",
             "--no-translate", "--no-alt-flip", "--no-tta"]
    result = cifar10_speedrun.main(["--smoke", "--epochs", "1",
                                    "--out", str(tmp_path)] + flags)
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert _tail(capsys)[-2].startswith("test accuracy ")


def test_ablate_prints_a_row_per_trick(tmp_path, capsys, monkeypatch):
    import _speedrun_recipe as recipe
    monkeypatch.setattr(recipe, "TRICKS", {"tta": recipe.TRICKS["tta"]})
    rows = cifar10_speedrun.main(["--smoke", "--epochs", "1", "--ablate",
                                  "--out", str(tmp_path)])
    assert [name for name, _, _ in rows] == ["full recipe", "no tta"]
    table = [line for line in _tail(capsys) if line.startswith("| ")]
    assert len(table) == 1 + 2 and "vs full recipe" in table[0]


def test_smoke_run_on_cuda(tmp_path, capsys):
    """The same script with --device cuda (on the suite's CuPy stand-in without a GPU)."""
    if not minigrad.cuda.is_available():
        pytest.skip("CuPy with a CUDA GPU (or the suite's stand-in) is not available")
    result = cifar10_speedrun.main(["--smoke", "--epochs", "1", "--device", "cuda",
                                    "--out", str(tmp_path)])
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert _tail(capsys)[-2].startswith("test accuracy ")


def test_parameter_groups_scale_the_biases_and_leave_frozen_weights_out():
    import argparse

    import _speedrun_recipe as recipe
    args = argparse.Namespace(widths=recipe.WIDTHS, width=1 / 16, act="gelu", device="cpu", smoke=True,
                              seed=0)
    data = recipe.load_data(args)
    model = recipe.make_model(args, data, off=set())
    weights, biases = recipe.parameter_groups(model, lr=0.5, off=set())
    assert biases["lr"] == 0.5 * recipe.BIAS_SCALER and weights["lr"] == 0.5
    # the same shrinkage per step: lr * weight_decay
    assert abs(biases["lr"] * biases["weight_decay"] - 0.5 * weights["weight_decay"]) < 1e-12
    frozen = {id(model.whiten.weight)} | {id(m.weight) for m in model.modules()
                                          if isinstance(m, minigrad.nn.BatchNorm2d)}
    grouped = [id(p) for p in biases["params"] + weights["params"]]
    assert not frozen & set(grouped) and len(grouped) == len(set(grouped))
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable == set(grouped)
    # as airbench: only the BN biases get the x64 lr; the whitening bias trains at the weights'
    bn_biases = {id(m.bias) for m in model.modules() if isinstance(m, minigrad.nn.BatchNorm2d)}
    assert {id(p) for p in biases["params"]} == bn_biases
    assert id(model.whiten.bias) in {id(p) for p in weights["params"]}


def test_widths_and_width_set_the_blocks_channels(capsys):
    import _speedrun_recipe as recipe
    args = cifar10_speedrun.parse_args(["--widths", "32,64,48", "--width", "0.5"])
    data = {"train": recipe.load_data(cifar10_speedrun.parse_args(["--smoke"]))["train"]}
    model = recipe.make_model(args, data, off={"whiten"})
    assert [g.conv2.out_channels for g in model.layers] == [16, 32, 24]
    assert model.head.in_features == 24
    with pytest.raises(SystemExit):
        cifar10_speedrun.parse_args(["--widths", "64,128"])
    assert "expected three positive ints like 64,128,128, got '64,128'" in capsys.readouterr().err


def test_muon_takes_the_conv_filters_and_sgdw_the_rest():
    import argparse

    import _speedrun_recipe as recipe
    args = argparse.Namespace(widths=recipe.WIDTHS, width=1 / 16, act="gelu", device="cpu", smoke=True,
                              seed=0)
    model = recipe.make_model(args, recipe.load_data(args), off=set())
    both = recipe.make_optimizer(model, lr=0.5, off=set(), use_muon=True)
    sgd, muon = both.optimizers
    filters = {id(m.weight) for m in model.modules()
               if isinstance(m, minigrad.nn.Conv2d) and m.weight.requires_grad}
    assert len(filters) == 6 and {id(p) for p in muon.param_groups[0]["params"]} == filters
    assert muon.param_groups[0]["flatten"] and muon.param_groups[0]["normalize_weights"]
    rest = {id(p) for g in sgd.param_groups for p in g["params"]}
    assert not rest & filters
    assert rest | filters == {id(p) for p in model.parameters() if p.requires_grad}
    plain = recipe.make_optimizer(model, lr=0.5, off=set())  # the default: SGDW for all
    assert isinstance(plain, minigrad.optim.SGDW)


def test_a_smoke_run_with_muon_learns(tmp_path, capsys):
    result = cifar10_speedrun.main(["--smoke", "--epochs", "2", "--muon", "--out", str(tmp_path)])
    losses = result["history"]["train_loss"]
    assert losses[-1] < losses[0] and 0.0 <= result["test_accuracy"] <= 1.0


def test_a_smoke_run_with_small_crops_says_so_and_trains(tmp_path, capsys):
    # 16x16 smoke images: 12x12 windows in epoch 1 of 2 (40% of 2 epochs, rounded), then whole
    result = cifar10_speedrun.main(["--smoke", "--epochs", "2", "--small-crops",
                                    "--out", str(tmp_path)])
    lines = _tail(capsys)
    assert "small crops: epochs 1-1 on 12x12 windows, then whole images" in lines
    assert len(result["history"]["train_loss"]) == 2 and 0.0 <= result["test_accuracy"] <= 1.0


def test_muon_and_small_crops_run_on_cuda(tmp_path, capsys):
    """The opt-in paths on the device too (the suite's CuPy stand-in without a GPU): Muon's
    flattened, renormalised filters and the loader's crop changing between epochs."""
    if not minigrad.cuda.is_available():
        pytest.skip("CuPy with a CUDA GPU (or the suite's stand-in) is not available")
    result = cifar10_speedrun.main(["--smoke", "--epochs", "2", "--muon", "--small-crops",
                                    "--device", "cuda", "--out", str(tmp_path)])
    assert "small crops: epochs 1-1 on 12x12 windows, then whole images" in _tail(capsys)
    losses = result["history"]["train_loss"]
    assert len(losses) == 2 and losses[-1] < losses[0]
    assert all(p.device.startswith("cuda") for p in result["model"].parameters())
